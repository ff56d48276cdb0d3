/** White-box test helper: a plain, comparable description of a leaf slot. */
import { AreaSlot, InlineSlot, NewValue, RecordSlot, type Slot } from '../storage/format/node.js';

export function slotShape(s: Slot | null | undefined): unknown {
  if (s === null || s === undefined) return null;
  if (typeof s === 'number') return ['handle', s];
  if (s instanceof InlineSlot) return ['inline', Array.from(s.bytes)];
  if (s instanceof NewValue) return ['new', Array.from(s.bytes)];
  if (s instanceof RecordSlot) return ['record', s.cell];
  if (s instanceof AreaSlot) return ['area', s.area, s.offset, s.length];
  return ['unknown slot'];
}
