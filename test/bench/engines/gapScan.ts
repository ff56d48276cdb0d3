// Gap search by an ordered scan, shared by the engines that have no gap index (LMDB, SQLite's JS
// fallback, the reference). It walks ranges upward from `min` and returns the first hole that fits.

/** Streams ranges intersecting [min, max] ascending to `visit`; stops when `visit` returns false. */
export type AscendingScan = (min: number, max: number, visit: (first: number, last: number) => boolean) => void;

/** The lowest s ≥ min with [s, s+size−1] free and s+size−1 ≤ max, found by scanning; undefined if none. */
export function scanForGap(min: number, max: number, size: number, scan: AscendingScan): number | undefined {
  if (size < 1 || min + size - 1 > max) return undefined;
  let cursor = min; // lowest index not yet known to be occupied
  let settled = false;
  let found: number | undefined;
  scan(min, max, (first, last) => {
    if (last < cursor) return true; // a predecessor that ends before min
    if (first - cursor >= size) {
      found = cursor; // the hole [cursor, first−1] is big enough and was checked to end ≤ max
      settled = true;
      return false;
    }
    cursor = last + 1;
    if (cursor + size - 1 > max) {
      settled = true; // every later hole starts even higher
      return false;
    }
    return true;
  });
  if (settled) return found;
  // Past the last range that intersects the window: free up to max.
  return cursor + size - 1 <= max ? cursor : undefined;
}
