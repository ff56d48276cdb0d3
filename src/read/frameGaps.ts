/**
 * Gap search on a committed version, reading nodes straight from buffer-pool frames (as
 * src/read/frameLookup.ts does); the decoded-node search it mirrors is src/tree/gaps.ts, whose
 * header explains the algorithm.
 */
import { NODE_INTERNAL, NODE_LEAF, OFF_CHILDREN, OFF_COMMIT, OFF_COUNT, OFF_GAPS, OFF_LEAF_SLOTS, OFF_PIVOTS, OFF_TYPE } from '../../storage/format/node.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { MAX_INDEX, INTERNAL_SLOTS, LEAF_SLOTS } from '../common/limits.js';
import { corruptCell } from '../common/errors.js';

const TWO32 = 0x1_0000_0000;
const PIVOT_WORD = OFF_PIVOTS >>> 2;
const CHILD_WORD = OFF_CHILDREN >>> 2;
const GAP_WORD = OFF_GAPS >>> 2;

/**
 * The same search on a committed version, reading nodes straight from buffer-pool frames (as
 * src/read/frameLookup.ts does): each visited node is checked as pager.node() would (checksum once per
 * page load, type, count, commit not newer than `version`, leaves at the tree's height).
 */
export function fastEmptyArea(pager: CellReader, rootCell: number, height: number, version: number, min: number, max: number, size: number, reverse: boolean): number | undefined {
  if (max - min + 1 < size) return undefined;
  const found = searchCell(pager, rootCell, 0, height, version, 0, MAX_INDEX, min, max, size, reverse);
  return found < 0 ? undefined : found;
}

/** The answer inside node `cell` (bounds [nodeMin, nodeMax]), or −1. */
function searchCell(pager: CellReader, cell: number, depth: number, height: number, version: number, nodeMin: number, nodeMax: number, min: number, max: number, size: number, reverse: boolean): number {
  const pool = pager.pool;
  const off = pager.verifiedNodeOffset(cell);
  // Fetched after each read: a miss may have grown the pool (a new slab).
  let slab = pool.slab;
  let u32 = pool.words;
  let w = off >>> 2;
  const commit = u32[w + (OFF_COMMIT >>> 2)]! + u32[w + (OFF_COMMIT >>> 2) + 1]! * TWO32;
  if (commit > version) throw corruptCell(cell, `written by commit ${commit}, newer than the version ${version} being read`);
  const type = slab[off + OFF_TYPE]!;
  const count = slab[off + OFF_COUNT]!;
  const leaf = type === NODE_LEAF;
  if (leaf) {
    if (depth !== height - 1) throw corruptCell(cell, `leaf at depth ${depth} of a tree of height ${height}`);
    if (count < 1 || count > LEAF_SLOTS) throw corruptCell(cell, `slot count ${count}`);
  } else if (type === NODE_INTERNAL) {
    if (depth >= height - 1) throw corruptCell(cell, `internal node at depth ${depth} of a tree of height ${height}`);
    if (count < 1 || count > INTERNAL_SLOTS) throw corruptCell(cell, `slot count ${count}`);
  } else {
    throw corruptCell(cell, `unknown node type ${type}`);
  }
  const first = off + OFF_LEAF_SLOTS + 7;
  let p = (off >>> 2) + PIVOT_WORD;
  if (!reverse) {
    // Slot i covers [lo, hi]: lo follows the previous slot's hi.
    let lo = nodeMin;
    for (let i = 0; i < count; i++) {
      const hi = i === count - 1 ? nodeMax : u32[p + 2 * i]! + u32[p + 2 * i + 1]! * TWO32;
      if (hi < lo || hi > nodeMax) throw corruptCell(cell, `slot ${i} bounds [${lo}, ${hi}] do not ascend inside the node's [${nodeMin}, ${nodeMax}]`);
      if (hi >= min) {
        if (lo > max) return -1;
        if (leaf) {
          if (slab[first + 8 * i] === 0) {
            const s = lo > min ? lo : min;
            if ((hi < max ? hi : max) - s + 1 >= size) return s;
          }
        } else if (u32[w + GAP_WORD + 2 * i]! + u32[w + GAP_WORD + 2 * i + 1]! * TWO32 >= size) {
          const found = searchCell(pager, u32[w + CHILD_WORD + 2 * i]!, depth + 1, height, version, lo, hi, min, max, size, false);
          if (found >= 0) return found;
          // The child's walk may have evicted this node's frame or grown the pool: find it again.
          w = pager.verifiedNodeOffset(cell) >>> 2;
          p = w + PIVOT_WORD;
          slab = pool.slab;
          u32 = pool.words;
        }
      }
      lo = hi + 1;
    }
  } else {
    // Slot i covers [lo, hi]: hi precedes the next slot's lo.
    let hi = nodeMax;
    for (let i = count - 1; i >= 0; i--) {
      const lo = i === 0 ? nodeMin : u32[p + 2 * i - 2]! + u32[p + 2 * i - 1]! * TWO32 + 1;
      if (hi < lo || lo < nodeMin) throw corruptCell(cell, `slot ${i} bounds [${lo}, ${hi}] do not ascend inside the node's [${nodeMin}, ${nodeMax}]`);
      if (lo <= max) {
        if (hi < min) return -1;
        if (leaf) {
          if (slab[first + 8 * i] === 0) {
            const e = hi < max ? hi : max;
            if (e - (lo > min ? lo : min) + 1 >= size) return e - size + 1;
          }
        } else if (u32[w + GAP_WORD + 2 * i]! + u32[w + GAP_WORD + 2 * i + 1]! * TWO32 >= size) {
          const found = searchCell(pager, u32[w + CHILD_WORD + 2 * i]!, depth + 1, height, version, lo, hi, min, max, size, true);
          if (found >= 0) return found;
          w = pager.verifiedNodeOffset(cell) >>> 2;
          p = w + PIVOT_WORD;
          slab = pool.slab;
          u32 = pool.words;
        }
      }
      hi = lo - 1;
    }
  }
  return -1;
}
