/**
 * The read hot path: a point lookup on a committed version, reading node fields straight out of
 * buffer-pool frames — no object per visited node. Offsets are those of storage/format/node.ts.
 */
import { SLOT_AREA, SLOT_RECORD, childAt, childCommitAt, leafAreaAt, nodeCommitAt, slotRecordCommit, leafAreaCellsAt, nodeCountAt, pivotAt, slotAreaLength, slotAreaOffset, slotAt, slotTag, slotTarget } from '../../storage/format/node.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { enterNode } from './frameNode.js';
import { MAX_INDEX, MAX_INLINE_BYTES, CELL_BYTES, CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, PAGE_BYTES } from '../common/limits.js';
import { corruptCell } from '../common/errors.js';


/** Where a lookup landed: reused between calls, so a lookup allocates nothing itself. */
export class Hit {
  first = 0;
  last = 0;
  /** Slab offset of the slot's 8 bytes. */
  slotOffset = 0;
  tag = 0;
  /** The leaf's cell. */
  cell = 0;
}

/**
 * Finds the non-empty slot holding `index` in the committed tree at `rootCell` (its commit's low
 * bits `rootCommit`, as the commit record names them; −1: not checked); false if empty.
 */
export function fastLookup(pager: CellReader, rootCell: number, rootCommit: number, height: number, version: number, index: number, hit: Hit): boolean {
  const pool = pager.pool;
  let cell = rootCell;
  let pointed = rootCommit;
  let min = 0;
  let max = MAX_INDEX;
  for (let depth = 0; depth < height; depth++) {
    // A resident, already verified node is the common case: no call into the pager for it.
    const inPage = cell & (CELLS_PER_PAGE - 1);
    const frame = pool.verifiedFrame(cell >>> CELLS_PER_PAGE_SHIFT, inPage);
    // The leaf level reads only the leaf's cell on a miss (a random load's leaf page is rarely
    // wanted again).
    const off = frame >= 0 ? frame * PAGE_BYTES + inPage * CELL_BYTES : depth === height - 1 ? pager.verifiedLeafOffset(cell) : pager.verifiedNodeOffset(cell);
    // Fetched after the read: a miss may have grown the pool (a new slab).
    const slab = pool.slab;
    const u32 = pool.words;
    const leaf = enterNode(slab, u32, off, cell, depth, height, version, pointed);
    const count = nodeCountAt(slab, off);
    // Slot i covers (pivot i−1, pivot i]: the scan keeps the pivot before the one it stops at, so
    // the slot's bounds cost no second read.
    const last = count - 1;
    let i = 0;
    let prev = 0;
    let hi = max;
    for (; i < last; i++) {
      const pivot = pivotAt(u32, off, i);
      if (pivot >= index) {
        hi = pivot;
        break;
      }
      prev = pivot;
    }
    const lo = i === 0 ? min : prev + 1;
    if (leaf) {
      const s = slotAt(off, i);
      const tag = slotTag(slab, s);
      if (tag === 0) return false;
      if (tag > MAX_INLINE_BYTES && tag !== SLOT_RECORD && tag !== SLOT_AREA) throw corruptCell(cell, `unknown slot tag ${tag}`);
      hit.first = lo;
      hit.last = hi;
      hit.slotOffset = s;
      hit.tag = tag;
      hit.cell = cell;
      return true;
    }
    cell = childAt(u32, off, i);
    pointed = childCommitAt(u32, off, i);
    min = lo;
    max = hi;
  }
  throw corruptCell(rootCell, `no leaf within the tree's height ${height}`);
}

/**
 * The value of the non-empty leaf slot at slab offset `s` (tag `tag`) of leaf `cell`, decoded in
 * place: nothing is allocated but the value. Reading a value area or record may evict frames:
 * callers read everything else of the leaf first.
 */
export function slotValue(pager: CellReader, version: number, s: number, tag: number, cell: number): unknown {
  const pool = pager.pool;
  const slab = pool.slab;
  if (tag <= MAX_INLINE_BYTES) return pager.codec.decodeAt(slab, s, s + tag, cell);
  if (tag === SLOT_AREA) {
    // Cells are CELL_BYTES-aligned in the slab: the leaf starts at the slot's cell boundary.
    const leafAt = s & ~(CELL_BYTES - 1);
    const area = leafAreaAt(pool.words, leafAt);
    const cells = leafAreaCellsAt(slab, leafAt);
    if (area === 0 || cells === 0) throw corruptCell(cell, 'a slot names a value area the leaf does not have');
    const length = slotAreaLength(slab, s);
    const buf = pager.areaValue(area, cells, cell, nodeCommitAt(pool.words, leafAt), slotAreaOffset(slab, s), length);
    return pager.codec.decodeAt(buf, pager.valueStart, pager.valueStart + length, area);
  }
  if (tag !== SLOT_RECORD) throw corruptCell(cell, `unknown slot tag ${tag}`);
  const target = slotTarget(slab, s);
  const buf = pager.recordValue(target, version, slotRecordCommit(slab, s));
  return pager.codec.decodeAt(buf, pager.valueStart, pager.valueStart + pager.valueLength, target);
}
