/**
 * Gap search on a committed version, reading nodes straight from buffer-pool frames (as
 * src/read/frameLookup.ts does); the decoded-node search it mirrors is src/tree/gaps.ts, whose
 * header explains the algorithm.
 */
import { childAt, childCommitAt, gapAt, nodeCountAt, pivotAt, slotAt, slotTag } from '../../storage/format/node.js';
import { badBounds, enterNode } from './frameNode.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { MAX_INDEX } from '../common/limits.js';


/**
 * The same search on a committed version, reading nodes straight from buffer-pool frames (as
 * src/read/frameLookup.ts does): each visited node is checked as pager.node() would (checksum once per
 * page load, type, count, commit not newer than `version`, leaves at the tree's height).
 */
export function fastEmptyArea(pager: CellReader, rootCell: number, rootCommit: number, height: number, version: number, min: number, max: number, size: number, reverse: boolean): number | undefined {
  if (max - min + 1 < size) return undefined;
  const found = searchCell(pager, rootCell, rootCommit, 0, height, version, 0, MAX_INDEX, min, max, size, reverse);
  return found < 0 ? undefined : found;
}

/** The answer inside node `cell` (bounds [nodeMin, nodeMax]; its pointer names commit bits `pointed`), or −1. */
function searchCell(pager: CellReader, cell: number, pointed: number, depth: number, height: number, version: number, nodeMin: number, nodeMax: number, min: number, max: number, size: number, reverse: boolean): number {
  const pool = pager.pool;
  const off = pager.verifiedNodeOffset(cell);
  // Fetched after each read: a miss may have grown the pool (a new slab).
  let slab = pool.slab;
  let u32 = pool.words;
  let at = off;
  const leaf = enterNode(slab, u32, at, cell, depth, height, version, pointed);
  const count = nodeCountAt(slab, at);
  if (!reverse) {
    // Slot i covers [lo, hi]: lo follows the previous slot's hi.
    let lo = nodeMin;
    for (let i = 0; i < count; i++) {
      const hi = i === count - 1 ? nodeMax : pivotAt(u32, at, i);
      if (hi < lo || hi > nodeMax) throw badBounds(cell, i, lo, hi, nodeMin, nodeMax);
      if (hi >= min) {
        if (lo > max) return -1;
        if (leaf) {
          if (slotTag(slab, slotAt(at, i)) === 0) {
            const s = lo > min ? lo : min;
            if ((hi < max ? hi : max) - s + 1 >= size) return s;
          }
        } else if (gapAt(u32, at, i) >= size) {
          const found = searchCell(pager, childAt(u32, at, i), childCommitAt(u32, at, i), depth + 1, height, version, lo, hi, min, max, size, false);
          if (found >= 0) return found;
          // The child's walk may have evicted this node's frame or grown the pool: find it again, and
          // check it again (its page may have been read back from a file whose write of it was lost).
          at = pager.verifiedNodeOffset(cell);
          slab = pool.slab;
          u32 = pool.words;
          enterNode(slab, u32, at, cell, depth, height, version, pointed);
        }
      }
      lo = hi + 1;
    }
  } else {
    // Slot i covers [lo, hi]: hi precedes the next slot's lo.
    let hi = nodeMax;
    for (let i = count - 1; i >= 0; i--) {
      const lo = i === 0 ? nodeMin : pivotAt(u32, at, i - 1) + 1;
      if (hi < lo || lo < nodeMin) throw badBounds(cell, i, lo, hi, nodeMin, nodeMax);
      if (lo <= max) {
        if (hi < min) return -1;
        if (leaf) {
          if (slotTag(slab, slotAt(at, i)) === 0) {
            const e = hi < max ? hi : max;
            if (e - (lo > min ? lo : min) + 1 >= size) return e - size + 1;
          }
        } else if (gapAt(u32, at, i) >= size) {
          const found = searchCell(pager, childAt(u32, at, i), childCommitAt(u32, at, i), depth + 1, height, version, lo, hi, min, max, size, true);
          if (found >= 0) return found;
          at = pager.verifiedNodeOffset(cell);
          slab = pool.slab;
          u32 = pool.words;
          enterNode(slab, u32, at, cell, depth, height, version, pointed);
        }
      }
      hi = lo - 1;
    }
  }
  return -1;
}
