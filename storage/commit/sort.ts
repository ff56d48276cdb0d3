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
  for (let i = 0; i < n; i++) keys[i] = key(i) * KEY_SCALE + i;
  keys.sort();
  for (let i = 0; i < n; i++) out[i] = (keys[i]! % KEY_SCALE) | 0;
  return out;
}
