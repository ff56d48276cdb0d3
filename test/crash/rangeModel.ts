/**
 * The reference the crash tests judge the store against: a plain sorted array of non-overlapping
 * ranges with the contract's semantics (API.md). Slow and obviously right; workloads stay small
 * enough that O(n) operations do not matter.
 */
export const MODEL_MAX_INDEX = Number.MAX_SAFE_INTEGER;

export interface ModelRange {
  first: number;
  last: number;
  value: unknown;
}

export class ModelError extends Error {
  constructor(readonly code: 'EEXIST' | 'EBUSY', message: string) {
    super(`${code}: ${message}`);
  }
}

export class RangeModel {
  /** Ascending by first; never overlapping. */
  ranges: ModelRange[] = [];

  clone(): RangeModel {
    const m = new RangeModel();
    m.ranges = this.ranges.map((r) => ({ ...r }));
    return m;
  }

  count(): number {
    return this.ranges.length;
  }

  entry(index: number): ModelRange | undefined {
    const i = this.lowerBound(index);
    const r = this.ranges[i];
    return r !== undefined && r.first <= index ? r : undefined;
  }

  load(index: number): unknown {
    return this.entry(index)?.value;
  }

  /** Makes [first, last] empty, trimming or splitting the ranges it overlaps. */
  clear(first: number, last: number): void {
    const out: ModelRange[] = [];
    for (const r of this.ranges) {
      if (r.last < first || r.first > last) {
        out.push(r);
        continue;
      }
      if (r.first < first) out.push({ first: r.first, last: first - 1, value: r.value });
      if (r.last > last) out.push({ first: last + 1, last: r.last, value: r.value });
    }
    this.ranges = out;
  }

  store(first: number, last: number, value: unknown): void {
    this.clear(first, last);
    const i = this.lowerBound(first);
    this.ranges.splice(i, 0, { first, last, value });
  }

  insert(first: number, last: number, value: unknown): void {
    if (this.ranges.some((r) => r.first <= last && r.last >= first)) {
      throw new ModelError('EEXIST', `[${first}, ${last}] is occupied`);
    }
    this.store(first, last, value);
  }

  erase(index: number): unknown {
    const r = this.entry(index);
    if (r === undefined) return undefined;
    this.ranges = this.ranges.filter((x) => x !== r);
    return r.value;
  }

  /** The lowest start of `size` empty indices inside [min, max]. */
  emptyArea(min: number, max: number, size: number): number | undefined {
    let candidate = min;
    for (const r of this.ranges) {
      if (r.last < candidate) continue;
      if (r.first > max) break;
      if (r.first - candidate >= size) break;
      candidate = r.last + 1;
    }
    return candidate + size - 1 <= max ? candidate : undefined;
  }

  /** The highest start of `size` empty indices inside [min, max]. */
  emptyAreaRev(min: number, max: number, size: number): number | undefined {
    let end = max; // highest index the area may use
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i] as ModelRange;
      if (r.first > end) continue;
      if (r.last < min) break;
      if (end - r.last >= size) break;
      end = r.first - 1;
      if (end < min) return undefined;
    }
    const start = end - size + 1;
    return start >= min ? start : undefined;
  }

  allocRange(size: number, min: number, max: number, value: unknown, rev = false): number {
    const at = rev ? this.emptyAreaRev(min, max, size) : this.emptyArea(min, max, size);
    if (at === undefined) throw new ModelError('EBUSY', `no gap of ${size} in [${min}, ${max}]`);
    this.store(at, at + size - 1, value);
    return at;
  }

  /** Index of the first range whose last ≥ index. */
  private lowerBound(index: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ranges[mid] as ModelRange).last < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Value equality across a msgpack round trip: bytes compare by content (Buffer vs Uint8Array). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return Buffer.compare(x, y) === 0;
  }
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !ArrayBuffer.isView(a) && !ArrayBuffer.isView(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** A short printable form of a value for failure messages. */
export function describeValue(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `<${v.byteLength} bytes>`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Compares `actual` (ranges read from a store) with a model; returns undefined when equal, else
 * a one-line description of the first difference.
 */
export function diffRanges(actual: readonly ModelRange[], expected: readonly ModelRange[]): string | undefined {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || a.first !== e.first || a.last !== e.last || !sameValue(a.value, e.value)) {
      const show = (r: ModelRange | undefined) => (r === undefined ? 'nothing' : `[${r.first}, ${r.last}] = ${describeValue(r.value)}`);
      return `range #${i}: store has ${show(a)}, model has ${show(e)} (store ${actual.length} ranges, model ${expected.length})`;
    }
  }
  return undefined;
}
