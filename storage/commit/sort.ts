/**
 * The commit's sorts of cell addresses and run lengths. Commits sort thousands of cells, so the
 * large cases sort a Float64Array of numeric keys (no comparator, no object per element) and the
 * small ones use an insertion sort that allocates nothing beyond its result.
 */
import { SMALL_SORT, SORT_INDEX_BITS } from '../../src/common/limits.js';

/** A sort key is key × 2^SORT_INDEX_BITS + position: keys below 2^32 keep it below 2^53. */
const KEY_SCALE = 2 ** SORT_INDEX_BITS;

/** The cell addresses (integers below 2^32) in ascending order, as a new array. */
export function sortNumbers(values: number[]): number[] {
  if (values.length >= SMALL_SORT) {
    // Cells are below 2^32: back from float64 as uint32, so they stay small integers for V8.
    const sorted = Float64Array.from(values).sort();
    const out = new Array<number>(sorted.length);
    for (let i = 0; i < sorted.length; i++) out[i] = sorted[i]! >>> 0;
    return out;
  }
  const out = values.slice();
  for (let i = 1; i < out.length; i++) {
    const v = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! > v) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = v;
  }
  return out;
}

/**
 * The positions 0 … n−1 in ascending order of `key(position)` (integers below 2^32: cell
 * addresses, run lengths), ties in position order (a stable order): a numeric typed-array sort of
 * key × 2^SORT_INDEX_BITS + position, much cheaper than a comparator sort of objects.
 */
export function orderByKey(n: number, key: (i: number) => number): number[] {
  const out = new Array<number>(n);
  if (n < SMALL_SORT) {
    // Insertion sort of the positions (stable; no allocation, unlike Array#sort).
    const keys = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const k = key(i);
      let j = i - 1;
      while (j >= 0 && keys[j]! > k) {
        keys[j + 1] = keys[j]!;
        out[j + 1] = out[j]!;
        j--;
      }
      keys[j + 1] = k;
      out[j + 1] = i;
    }
    return out;
  }
  if (n >= KEY_SCALE) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out.sort((a, b) => key(a) - key(b) || a - b);
  }
  const keys = new Float64Array(n);
  let runs = 1;
  for (let i = 0; i < n; i++) {
    const k = key(i);
    keys[i] = k;
    if (i > 0 && k < keys[i - 1]!) runs++;
  }
  if (runs === 1) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }
  if (runs <= n / MERGE_MAX_RUN_SHARE) return mergeRuns(keys, n, runs, out);
  for (let i = 0; i < n; i++) keys[i] = keys[i]! * KEY_SCALE + i;
  keys.sort();
  for (let i = 0; i < n; i++) out[i] = (keys[i]! % KEY_SCALE) | 0;
  return out;
}

/**
 * orderByKey merges instead of sorting when the keys come as at most n ÷ MERGE_MAX_RUN_SHARE
 * ascending runs. A commit's pending lists are mostly the runs of the free-list entries it loaded
 * and did not use, each entry's runs already in address order (a 300-byte single commit that
 * loads every entry sorts ~1,400 runs from ~35 entries, several times): docs/design.md, section 12.
 */
const MERGE_MAX_RUN_SHARE = 8;

/**
 * The positions 0 … n−1 in ascending order of keys[position], ties in position order, for keys
 * that come as `runs` ascending runs: the runs merged pairwise, in passes, into `out`.
 */
function mergeRuns(keys: Float64Array, n: number, runs: number, out: number[]): number[] {
  let src = new Int32Array(n);
  let dst = new Int32Array(n);
  // bounds[r] is where run r starts; bounds[runs] = n.
  let bounds = new Int32Array(runs + 1);
  let r = 0;
  for (let i = 0; i < n; i++) {
    src[i] = i;
    if (i === 0 || keys[i]! < keys[i - 1]!) bounds[r++] = i;
  }
  bounds[runs] = n;
  let next = new Int32Array(((runs + 1) >>> 1) + 1);
  while (runs > 1) {
    let merged = 0;
    for (let j = 0; j < runs; j += 2) {
      const lo = bounds[j]!;
      const mid = bounds[j + 1]!;
      const hi = j + 2 <= runs ? bounds[j + 2]! : mid;
      next[merged++] = lo;
      let a = lo;
      let b = mid;
      let o = lo;
      while (a < mid && b < hi) {
        // Ties take the left run first: positions stay in order (a stable order).
        if (keys[src[b]!]! < keys[src[a]!]!) dst[o++] = src[b++]!;
        else dst[o++] = src[a++]!;
      }
      while (a < mid) dst[o++] = src[a++]!;
      while (b < hi) dst[o++] = src[b++]!;
    }
    next[merged] = n;
    [src, dst] = [dst, src];
    [bounds, next] = [next, bounds];
    runs = merged;
  }
  for (let i = 0; i < n; i++) out[i] = src[i]!;
  return out;
}
