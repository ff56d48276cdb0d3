// Seeded data and query sets, identical for every engine in a run (and across runs with one seed).
//
// The ranges look like a process's mappings measured in pages: lengths skewed toward small
// (1..2048 pages), half of them adjacent to their predecessor and the rest after a hole of
// 1..4096 pages. Each range has an id and prot bits; its value is made from them by the run's
// value shape (values.ts).

import type { SortedRanges } from './engines/engine.js';
import type { ValueShape } from './values.js';

const TWO_32 = 2 ** 32;
export const MAX_RANGE_PAGES = 2048;
export const MAX_GAP_PAGES = 4096;
/** prot bits as in mmap: none, r, rw, rx. */
const PROTS = [0, 1, 3, 5] as const;

/** sfc32: small, fast, and good enough for workload generation; seeded deterministically. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 15; i++) this.nextUint32(); // mix the seed in
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_32;
  }

  /** Uniform integer in [0, n) for n up to 2^53. */
  below(n: number): number {
    if (n <= TWO_32) return Math.floor(this.next() * n);
    return Math.floor((this.nextUint32() * TWO_32 + this.nextUint32()) / 2 ** 64 * n) % n;
  }

  /** Roughly log-uniform integer in [1, max]: small sizes as common as large ones per octave. */
  logUniform(max: number): number {
    return Math.min(max, Math.floor(2 ** (this.next() * Math.log2(max + 1))));
  }

  prot(): number {
    return PROTS[this.nextUint32() & 3]!;
  }
}

export interface RangeData extends SortedRanges {
  /** One past the last index of the last range: queries are drawn from [0, endIndex). */
  readonly endIndex: number;
}

export function generateRanges(count: number, seed: number, shape: ValueShape): RangeData {
  const rng = new Rng(seed);
  const firsts = new Float64Array(count);
  const lasts = new Float64Array(count);
  const ids = new Float64Array(count);
  const prots = new Uint8Array(count);
  let next = 16; // leave a hole below the first range so that low misses exist
  for (let i = 0; i < count; i++) {
    const hole = rng.next() < 0.5 ? 0 : 1 + Math.floor(rng.next() ** 2 * MAX_GAP_PAGES);
    const length = 1 + Math.floor(rng.next() ** 3 * MAX_RANGE_PAGES);
    firsts[i] = next + hole;
    lasts[i] = firsts[i]! + length - 1;
    ids[i] = i;
    prots[i] = rng.prot();
    next = lasts[i]! + 1;
  }
  return { count, shape, firsts, lasts, ids, prots, endIndex: next };
}

/** `count` stabbing points, half inside a range and half in a hole, shuffled. */
/**
 * The position of the range of `firsts`/`lasts` (sorted, not overlapping; the first `count`) that
 * holds `index`, or −1: the in-memory lookup the concurrency workloads' controls use.
 */
export function rangeAt(firsts: ArrayLike<number>, lasts: ArrayLike<number>, count: number, index: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (lasts[mid]! < index) lo = mid + 1;
    else if (firsts[mid]! > index) hi = mid - 1;
    else return mid;
  }
  return -1;
}

export function stabQueries(data: RangeData, count: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const queries = new Float64Array(count);
  const hits = Math.ceil(count / 2);
  for (let q = 0; q < hits; q++) {
    const i = rng.below(data.count);
    queries[q] = data.firsts[i]! + rng.below(data.lasts[i]! - data.firsts[i]! + 1);
  }
  for (let q = hits; q < count; q++) queries[q] = missPoint(data, rng);
  for (let q = count - 1; q > 0; q--) {
    const other = rng.below(q + 1);
    const kept = queries[q]!;
    queries[q] = queries[other]!;
    queries[other] = kept;
  }
  return queries;
}

/** A point in a hole: after a random range (retrying adjacent pairs), or past the end. */
function missPoint(data: RangeData, rng: Rng): number {
  for (let attempt = 0; attempt < 64; attempt++) {
    const i = rng.below(data.count);
    const holeFirst = data.lasts[i]! + 1;
    const holeLast = i + 1 < data.count ? data.firsts[i + 1]! - 1 : holeFirst + MAX_GAP_PAGES;
    if (holeLast >= holeFirst) return holeFirst + rng.below(holeLast - holeFirst + 1);
  }
  return data.endIndex + rng.below(MAX_GAP_PAGES);
}

/** Small windows [from, to] spanning a few ranges on average. */
export function windowQueries(data: RangeData, count: number, seed: number): { froms: Float64Array; tos: Float64Array } {
  const rng = new Rng(seed);
  const meanSpan = data.endIndex / Math.max(1, data.count);
  const froms = new Float64Array(count);
  const tos = new Float64Array(count);
  for (let q = 0; q < count; q++) {
    froms[q] = rng.below(data.endIndex);
    tos[q] = froms[q]! + rng.below(Math.ceil(meanSpan * 4));
  }
  return { froms, tos };
}

export interface StoreOps {
  readonly count: number;
  readonly firsts: Float64Array;
  readonly lasts: Float64Array;
  readonly ids: Float64Array;
  readonly prots: Uint8Array;
}

/** Random overwriting stores over the data's span, shaped like the data's own ranges. */
export function storeOps(data: RangeData, count: number, seed: number, firstId: number): StoreOps {
  const rng = new Rng(seed);
  const firsts = new Float64Array(count);
  const lasts = new Float64Array(count);
  const ids = new Float64Array(count);
  const prots = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    firsts[k] = rng.below(data.endIndex);
    lasts[k] = firsts[k]! + Math.floor(rng.next() ** 3 * MAX_RANGE_PAGES);
    ids[k] = firstId + k;
    prots[k] = rng.prot();
  }
  return { count, firsts, lasts, ids, prots };
}

export interface GapQueries {
  readonly count: number;
  readonly mins: Float64Array;
  readonly maxes: Float64Array;
  readonly sizes: Float64Array;
}

/** Gap-search windows span up to this many keys (the setting: 2^24, ~8,000 ranges here). */
export const GAP_WINDOW_KEYS = 2 ** 24;

/**
 * emptyArea queries: log-uniform sizes (1..2×MAX_GAP_PAGES, so larger than any hole about half
 * the time) in windows of uniform width 1..GAP_WINDOW_KEYS keys at a uniform start.
 */
export function gapQueries(data: RangeData, count: number, seed: number): GapQueries {
  const rng = new Rng(seed);
  const mins = new Float64Array(count);
  const maxes = new Float64Array(count);
  const sizes = new Float64Array(count);
  for (let q = 0; q < count; q++) {
    mins[q] = rng.below(data.endIndex);
    maxes[q] = mins[q]! + rng.below(GAP_WINDOW_KEYS);
    sizes[q] = rng.logUniform(2 * MAX_GAP_PAGES);
  }
  return { count, mins, maxes, sizes };
}

/** First-fit queries over the whole key space: min 0, max MAX_INDEX, log-uniform sizes as above. */
export function firstFitQueries(count: number, seed: number): GapQueries {
  const rng = new Rng(seed);
  const mins = new Float64Array(count);
  const maxes = new Float64Array(count).fill(Number.MAX_SAFE_INTEGER);
  const sizes = new Float64Array(count);
  for (let q = 0; q < count; q++) sizes[q] = rng.logUniform(2 * MAX_GAP_PAGES);
  return { count, mins, maxes, sizes };
}
