/**
 * The values of a commit's new leaves. A transaction's slots hold handles into its arena
 * (storage/format/valueArena.ts), and committed values a new leaf keeps (inline, in a value area,
 * in a record). At commit each new leaf's values are settled:
 *
 *  - at most MAX_INLINE_BYTES: inline in the slot (encodeNodeAt copies them);
 *  - up to the area limit (AREA_VALUE_MAX_BYTES; MAX_INLINE_BYTES with packValues off), and
 *    every value the leaf keeps from an older value area: in the leaf's new value area
 *    (storage/format/valueArea.ts), in slot order;
 *  - longer: a value record of its own (a NewValue viewing the arena), one per slot — a record
 *    has exactly one referencing slot.
 *
 * An area belongs to its leaf alone and is written with it, so nothing counts references: a leaf
 * rewritten later gets a new area and its old one is freed with it. Values are as dense as their
 * bytes whatever the commit's size, and a commit copies each value once, from the arena (or the
 * old area, through the buffer pool) into the cells it writes.
 */
import { assert } from '../../src/common/errors.js';
import { MAX_INLINE_BYTES } from '../../src/common/limits.js';
import { type MemNode, AreaSharing, AreaSlot, NewValue, inArea } from '../format/node.js';
import { AREA_HEADER_BYTES, areaCells, sealAreaAt } from '../format/valueArea.js';
import type { ValueArena } from '../format/valueArena.js';
import type { CellReader } from '../io/cellReader.js';

/** The slots sharing an area value, leaf by leaf (settleValues and encodeArea do not nest). */
const AREA_SHARING = new AreaSharing();

/** A new leaf's value area, to be placed (`cell`) and written. */
export interface LeafArea {
  leaf: MemNode;
  /** Value bytes. */
  bytes: number;
  cells: number;
  /** Its first cell, once placed. */
  cell: number;
}

/**
 * Settles the values of the new leaves `leaves` (new main-tree nodes; others are skipped): a
 * value of this transaction longer than `areaMaxBytes` becomes a value record (pushed to
 * `records`, with the records the leaves already hold); returns the areas the leaves need, in
 * the order given, each leaf's `area`/`areaCells` left for placement.
 */
export function settleValues(leaves: readonly MemNode[], arena: ValueArena | null, areaMaxBytes: number, records: NewValue[]): LeafArea[] {
  const areas: LeafArea[] = [];
  const sharing = AREA_SHARING;
  for (let k = 0; k < leaves.length; k++) {
    const leaf = leaves[k]!;
    if (!leaf.leaf) continue;
    const slots = leaf.slots;
    // One pass: the bytes the area needs (each value once: slots sharing one value share its bytes).
    let bytes = 0;
    sharing.reset();
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (typeof s === 'number') {
        const length = arena!.lengthOf(s);
        if (length <= MAX_INLINE_BYTES) continue;
        if (length > areaMaxBytes) {
          const record = new NewValue(arena!.view(s));
          slots[i] = record;
          records.push(record);
          continue;
        }
        if (sharing.of(slots, i) < 0) bytes += length;
      } else if (s instanceof AreaSlot) {
        if (sharing.of(slots, i) < 0) bytes += s.length;
      } else if (s instanceof NewValue) {
        records.push(s);
      }
    }
    leaf.area = 0;
    leaf.areaCells = 0;
    if (bytes > 0) areas.push({ leaf, bytes, cells: areaCells(bytes), cell: 0 });
  }
  return areas;
}

/**
 * Writes `area` into the zeroed cells at byte `at` of `buf` (`dv` views the same bytes): each
 * value the leaf keeps in its area, in slot order, copied from the arena or from the old area it
 * was read from (at `version`, through the buffer pool), then the header. The leaf has its cell.
 */
export function encodeArea(area: LeafArea, arena: ValueArena | null, pager: CellReader, version: number, commit: number, nonce: number, buf: Uint8Array, dv: DataView, at: number): void {
  const leaf = area.leaf;
  assert(leaf.cell !== 0 && leaf.area === area.cell, 'a value area is written with its placed leaf');
  const slots = leaf.slots;
  const base = at + AREA_HEADER_BYTES;
  let offset = 0;
  const sharing = AREA_SHARING;
  sharing.reset();
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (!inArea(s, arena) || sharing.of(slots, i) >= 0) continue;
    if (typeof s === 'number') {
      offset += arena!.copyTo(s, buf, base + offset);
    } else {
      const old = s as AreaSlot;
      const from = pager.areaValue(old.area, old.cells, old.leaf, old.leafCommit, old.offset, old.length);
      const start = pager.valueStart;
      const to = base + offset;
      for (let b = 0; b < old.length; b++) buf[to + b] = from[start + b]!;
      offset += old.length;
    }
  }
  assert(offset === area.bytes, "a value area holds exactly its leaf's values");
  sealAreaAt(buf, dv, at, offset, commit, nonce, leaf.cell);
}
