/**
 * The in-memory reference of API.md's model that the model-based and kernel tests judge the store
 * against. A plain sorted array of non-overlapping {first, last, value} ranges; every operation is
 * the most direct reading of the contract, O(n) where that is simpler. It must be obviously right,
 * never fast.
 *
 * Numbers: indices are plain numbers up to MAX_INDEX = 2^53 − 1. Every intermediate here stays an
 * exact integer: gap lengths are computed as `hi - lo + 1` (at most 2^53, exact), and an end index
 * `s + size - 1` is only formed after checking that it is ≤ max (so never past MAX_INDEX).
 *
 * Argument rules (the refusals API.md lists; all are EINVAL, so which one fires first is moot):
 * - an index is a number, an integer, 0 ≤ i ≤ MAX_INDEX (NaN, ±Infinity, strings, null → EINVAL);
 * - `first > last` (and `from > to` for ranges/rangesRev) → EINVAL;
 * - a size is an integer ≥ 1. Sizes above 2^53 (more indices than exist) are refused too: no such
 *   area can exist, and the store validates them the same way;
 * - a null or undefined value → EINVAL;
 * - emptyArea/emptyAreaRev/allocRange/allocRangeRev: `min > max` → EINVAL, like `first > last`.
 *
 * Decision (documented, differs from the kernel): the kernel's mas_empty_area also returns -EINVAL
 * when the window is narrower than the size (`max - min < size - 1`). API.md defines emptyArea as
 * "the lowest s with min ≤ s, s + size − 1 ≤ max … undefined if none" and lists no such EINVAL, so
 * here a too-narrow window is simply "no fit": emptyArea → undefined, allocRange → EBUSY.
 * Likewise find(index, max) with index > max and findRev(index, min) with min > index search an
 * empty interval and return undefined (the kernel's mt_find returns NULL there), not EINVAL.
 */

/** One write of the model tests that drive the store and this reference with the same operations. */
export type WriteOp<V> =
  | { op: 'store' | 'insert'; first: number; last: number; value: V }
  | { op: 'clear'; first: number; last: number }
  | { op: 'erase'; index: number }
  | { op: 'allocRange' | 'allocRangeRev'; size: number; min: number; max: number; value: V };

export const MAX_INDEX = Number.MAX_SAFE_INTEGER;
/** One more than the number of indices: the largest size that can ever fit. */
export const MAX_SIZE = MAX_INDEX + 1;

export interface RefRange<V> {
  readonly first: number;
  readonly last: number;
  readonly value: V;
}

export type RefCode = 'EINVAL' | 'EEXIST' | 'EBUSY';

/** A refusal of the reference; tests compare its `code` with the store's MapleError code. */
export class RefError extends Error {
  constructor(readonly code: RefCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'RefError';
  }
}

function refuse(message: string): never {
  throw new RefError('EINVAL', message);
}

export function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_INDEX;
}

function checkIndex(name: string, value: unknown): number {
  if (!isIndex(value)) refuse(`${name} is not an index: ${String(value)}`);
  return value;
}

function checkPair(a: string, first: unknown, b: string, last: unknown): void {
  const f = checkIndex(a, first);
  const l = checkIndex(b, last);
  if (f > l) refuse(`${a} (${f}) > ${b} (${l})`);
}

function checkSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_SIZE) refuse(`bad size ${String(size)}`);
  return size;
}

function checkValue(value: unknown): void {
  if (value === null || value === undefined) refuse('null/undefined value (use clear/erase)');
}

function checkArea(min: unknown, max: unknown, size: unknown): void {
  checkPair('min', min, 'max', max);
  checkSize(size);
}

export class Reference<V = unknown> {
  /** Ascending by `first`, never overlapping. Treat as read-only outside this class. */
  private items: RefRange<V>[] = [];

  /** An independent copy (ranges are immutable objects, so sharing them is safe). */
  clone(): Reference<V> {
    const copy = new Reference<V>();
    copy.items = this.items.slice();
    return copy;
  }

  /** Every range, ascending. */
  all(): RefRange<V>[] {
    return this.items.slice();
  }

  count(): number {
    return this.items.length;
  }

  /** Position of the first range whose `last` ≥ index (binary search). */
  private lowerBound(index: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.last < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- reads ----

  entry(index: number): RefRange<V> | undefined {
    checkIndex('index', index);
    const r = this.items[this.lowerBound(index)];
    return r !== undefined && r.first <= index ? r : undefined;
  }

  load(index: number): V | undefined {
    return this.entry(index)?.value;
  }

  find(index: number, max: number = MAX_INDEX): RefRange<V> | undefined {
    checkIndex('index', index);
    checkIndex('max', max);
    if (index > max) return undefined;
    const r = this.items[this.lowerBound(index)];
    return r !== undefined && r.first <= max ? r : undefined;
  }

  findRev(index: number, min = 0): RefRange<V> | undefined {
    checkIndex('index', index);
    checkIndex('min', min);
    if (min > index) return undefined;
    // The last range starting at or below index; it intersects [min, index] iff its last ≥ min.
    const i = this.lowerBound(index); // items[i] is the first range ending at or after index
    const r = this.items[i] !== undefined && this.items[i]!.first <= index ? this.items[i] : this.items[i - 1];
    return r !== undefined && r.last >= min ? r : undefined;
  }

  ranges(from = 0, to: number = MAX_INDEX): RefRange<V>[] {
    checkPair('from', from, 'to', to);
    const out: RefRange<V>[] = [];
    for (let i = this.lowerBound(from); i < this.items.length && this.items[i]!.first <= to; i++) out.push(this.items[i]!);
    return out;
  }

  rangesRev(from = 0, to: number = MAX_INDEX): RefRange<V>[] {
    return this.ranges(from, to).reverse();
  }

  /** The empty runs inside [min, max], clipped to it, ascending, as [lo, hi] inclusive. */
  gapsIn(min: number, max: number): Array<[number, number]> {
    const gaps: Array<[number, number]> = [];
    let next = min; // lowest index of [min, max] not yet accounted for; may become max + 1 (≤ 2^53)
    for (const r of this.ranges(min, max)) {
      if (r.first > next) gaps.push([next, r.first - 1]);
      next = r.last + 1;
    }
    if (next <= max) gaps.push([next, max]);
    return gaps;
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    checkArea(min, max, size);
    for (const [lo, hi] of this.gapsIn(min, max)) if (hi - lo + 1 >= size) return lo;
    return undefined;
  }

  emptyAreaRev(min: number, max: number, size: number): number | undefined {
    checkArea(min, max, size);
    const gaps = this.gapsIn(min, max);
    for (let i = gaps.length - 1; i >= 0; i--) {
      const [lo, hi] = gaps[i]!;
      if (hi - lo + 1 >= size) return hi - (size - 1);
    }
    return undefined;
  }

  // ---- writes ----

  /** Makes [first, last] empty: ranges inside disappear, overlapping neighbours are trimmed or split. */
  clear(first: number, last: number): void {
    checkPair('first', first, 'last', last);
    // The overlapping ranges are the run starting at lowerBound(first) while r.first ≤ last.
    const start = this.lowerBound(first);
    let end = start;
    const keep: RefRange<V>[] = [];
    for (; end < this.items.length && this.items[end]!.first <= last; end++) {
      const r = this.items[end]!;
      if (r.first < first) keep.push({ first: r.first, last: first - 1, value: r.value });
      if (r.last > last) keep.push({ first: last + 1, last: r.last, value: r.value });
    }
    this.items.splice(start, end - start, ...keep);
  }

  store(first: number, last: number, value: V): void {
    checkPair('first', first, 'last', last);
    checkValue(value);
    this.clear(first, last);
    this.items.splice(this.lowerBound(first), 0, { first, last, value });
  }

  insert(first: number, last: number, value: V): void {
    checkPair('first', first, 'last', last);
    checkValue(value);
    const hit = this.find(first, last);
    if (hit) throw new RefError('EEXIST', `[${first}, ${last}] overlaps [${hit.first}, ${hit.last}]`);
    this.store(first, last, value);
  }

  /** Removes the whole range containing index; returns its value (undefined when index is empty). */
  erase(index: number): V | undefined {
    const r = this.entry(index);
    if (r === undefined) return undefined;
    this.items.splice(this.items.indexOf(r), 1);
    return r.value;
  }

  allocRange(size: number, min: number, max: number, value: V): number {
    checkArea(min, max, size);
    checkValue(value);
    const s = this.emptyArea(min, max, size);
    if (s === undefined) throw new RefError('EBUSY', `no gap of ${size} in [${min}, ${max}]`);
    this.store(s, s + (size - 1), value);
    return s;
  }

  allocRangeRev(size: number, min: number, max: number, value: V): number {
    checkArea(min, max, size);
    checkValue(value);
    const s = this.emptyAreaRev(min, max, size);
    if (s === undefined) throw new RefError('EBUSY', `no gap of ${size} in [${min}, ${max}]`);
    this.store(s, s + (size - 1), value);
    return s;
  }

  /** Internal consistency of the reference itself (sorted, disjoint, valid bounds). */
  selfCheck(): void {
    let prev = -1;
    for (const r of this.items) {
      if (!isIndex(r.first) || !isIndex(r.last) || r.first > r.last || r.first <= prev) {
        throw new Error(`reference broken at [${r.first}, ${r.last}] after ${prev}`);
      }
      prev = r.last;
    }
  }
}
