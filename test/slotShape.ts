/** White-box test helper: a plain, comparable description of a leaf slot. */
import { InlineSlot, NewValue, PackedSlot, RecordSlot, type Slot } from '../storage/format/node.js';

export function slotShape(s: Slot | null | undefined): unknown {
  if (s === null || s === undefined) return null;
  if (s instanceof InlineSlot) return ['inline', Array.from(s.bytes)];
  if (s instanceof NewValue) return ['new', Array.from(s.bytes)];
  if (s instanceof RecordSlot) return ['record', s.cell];
  if (s instanceof PackedSlot) return ['packed', s.cell, s.offset];
  return ['unknown slot'];
}
