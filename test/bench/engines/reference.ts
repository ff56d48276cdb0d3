// The in-memory reference: ranges kept in sorted typed arrays (firsts, lasts, ids, prots), found by
// binary search. It is both the oracle every engine is cross-checked against and the speed limit
// for a lookup in JavaScript: no I/O, no decoding, a load is a binary search and one small object.
//
// The arrays are cut into chunks of at most CHUNK_RANGES, with a Float64Array of each chunk's first
// key on top: a lookup is still ~log2(n) comparisons over typed arrays (two binary searches), but a
// store moves at most one chunk instead of half of a 1M-entry array (that took ~0.5 ms per store and
// made the reference the slowest writer of the bench).

import type { Engine, EngineFactory, EngineSnapshot, OpenSpec, RangeValue, RangeVisitor, SortedRanges, ValueShape, Writer } from './engine.js';
import { scanForGap } from './gapScan.js';

const CHUNK_RANGES = 1024;

/** One run of consecutive ranges in key order. */
class Chunk {
  constructor(
    readonly firsts = new Float64Array(CHUNK_RANGES),
    readonly lasts = new Float64Array(CHUNK_RANGES),
    readonly ids = new Float64Array(CHUNK_RANGES),
    readonly prots = new Uint8Array(CHUNK_RANGES),
    public count = 0,
  ) {}

  /** Index of the last range whose first ≤ index, or −1. */
  floor(index: number): number {
    let low = 0;
    let high = this.count; // invariant: firsts[< low] ≤ index < firsts[≥ high]
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.firsts[mid]! <= index) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  }

  /** The value at `at`, made again from its (id, prot): a load returns a new value, as a store's does. */
  value(at: number, shape: ValueShape): RangeValue {
    return shape.make(this.ids[at]!, this.prots[at]!);
  }

  /** Moves entries [from, count) to start at `to` (either direction). */
  shift(from: number, to: number): void {
    this.firsts.copyWithin(to, from, this.count);
    this.lasts.copyWithin(to, from, this.count);
    this.ids.copyWithin(to, from, this.count);
    this.prots.copyWithin(to, from, this.count);
    this.count += to - from;
  }

  set(at: number, first: number, last: number, value: RangeValue, shape: ValueShape): void {
    this.firsts[at] = first;
    this.lasts[at] = last;
    this.ids[at] = shape.idOf(value);
    this.prots[at] = shape.protOf(value);
  }

  /** A new chunk holding entries [from, count); this one keeps [0, from). */
  splitAt(from: number): Chunk {
    const right = new Chunk();
    right.firsts.set(this.firsts.subarray(from, this.count));
    right.lasts.set(this.lasts.subarray(from, this.count));
    right.ids.set(this.ids.subarray(from, this.count));
    right.prots.set(this.prots.subarray(from, this.count));
    right.count = this.count - from;
    this.count = from;
    return right;
  }

  copy(): Chunk {
    return new Chunk(this.firsts.slice(), this.lasts.slice(), this.ids.slice(), this.prots.slice(), this.count);
  }
}

/** A position: chunk number and index inside it. */
type Position = [chunk: number, at: number];

function comparePositions(a: Position, b: Position): number {
  return a[0] - b[0] || a[1] - b[1];
}

export class SortedRangeArrays {
  /** heads[c] = chunks[c].firsts[0]; rebuilt whenever a store changes the chunk list or a head. */
  private heads = new Float64Array(0);

  constructor(
    private readonly shape: ValueShape,
    private chunks: Chunk[] = [],
  ) {
    this.rebuildHeads();
  }

  static fromSorted(input: SortedRanges): SortedRangeArrays {
    const chunks: Chunk[] = [];
    for (let start = 0; start < input.count; start += CHUNK_RANGES) {
      const end = Math.min(input.count, start + CHUNK_RANGES);
      const chunk = new Chunk();
      chunk.firsts.set(input.firsts.subarray(start, end));
      chunk.lasts.set(input.lasts.subarray(start, end));
      chunk.ids.set(input.ids.subarray(start, end));
      chunk.prots.set(input.prots.subarray(start, end));
      chunk.count = end - start;
      chunks.push(chunk);
    }
    return new SortedRangeArrays(input.shape, chunks);
  }

  private rebuildHeads(): void {
    this.chunks = this.chunks.filter((chunk) => chunk.count > 0);
    this.heads = new Float64Array(this.chunks.length);
    this.chunks.forEach((chunk, c) => (this.heads[c] = chunk.firsts[0]!));
  }

  /** Position of the last range whose first ≤ index, or undefined. */
  private floor(index: number): Position | undefined {
    const heads = this.heads;
    let low = 0;
    let high = heads.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (heads[mid]! <= index) low = mid + 1;
      else high = mid;
    }
    const c = low - 1;
    return c < 0 ? undefined : [c, this.chunks[c]!.floor(index)];
  }

  /** The position after `position` (may be one past the end of the last chunk). */
  private next([c, at]: Position): Position {
    return at + 1 < this.chunks[c]!.count || c + 1 === this.chunks.length ? [c, at + 1] : [c + 1, 0];
  }

  /** Position of the first range intersecting [from, ∞) (possibly one past the end). */
  private firstIntersecting(from: number): Position {
    const at = this.floor(from);
    if (at === undefined) return [0, 0];
    return this.chunks[at[0]]!.lasts[at[1]]! >= from ? at : this.next(at);
  }

  load(index: number): RangeValue | undefined {
    const at = this.floor(index);
    if (at === undefined) return undefined;
    const chunk = this.chunks[at[0]]!;
    return chunk.lasts[at[1]]! >= index ? chunk.value(at[1], this.shape) : undefined;
  }

  /** Visits ranges intersecting [from, to] ascending until `visit` returns false. */
  private scan(from: number, to: number, visit: (first: number, last: number, chunk: Chunk, at: number) => boolean): void {
    let [c, at] = this.firstIntersecting(from);
    for (; c < this.chunks.length; c++, at = 0) {
      const chunk = this.chunks[c]!;
      for (; at < chunk.count; at++) {
        if (chunk.firsts[at]! > to) return;
        if (!visit(chunk.firsts[at]!, chunk.lasts[at]!, chunk, at)) return;
      }
    }
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    this.scan(from, to, (first, last, chunk, at) => {
      visit(first, last, chunk.value(at, this.shape));
      return true;
    });
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return scanForGap(min, max, size, (from, to, visit) => this.scan(from, to, (first, last) => visit(first, last)));
  }

  /** Stores [first, last] → value (or clears it when value is undefined), trimming neighbours. */
  replace(first: number, last: number, value: RangeValue | undefined): void {
    const low = this.firstIntersecting(first); // may be one past the end
    const high = this.floor(last);
    const lowChunk = this.chunks[low[0]];
    // Entries low..high (inclusive) intersect [first, last], if any.
    const intersects = lowChunk !== undefined && low[1] < lowChunk.count && high !== undefined && comparePositions(high, low) >= 0;
    const pieces: [number, number, RangeValue][] = [];
    if (intersects && lowChunk.firsts[low[1]]! < first) pieces.push([lowChunk.firsts[low[1]]!, first - 1, lowChunk.value(low[1], this.shape)]);
    if (value !== undefined) pieces.push([first, last, value]);
    if (intersects) {
      const highChunk = this.chunks[high[0]]!;
      if (highChunk.lasts[high[1]]! > last) pieces.push([last + 1, highChunk.lasts[high[1]]!, highChunk.value(high[1], this.shape)]);
      this.removeSpan(low, high);
    }
    const chunksBefore = this.chunks.length;
    this.insertAt(low, pieces);
    const touched = this.chunks[low[0]];
    const simple = (!intersects || high[0] === low[0]) && this.chunks.length === chunksBefore && touched !== undefined && touched.count > 0;
    if (simple) this.heads[low[0]] = touched.firsts[0]!; // the common case: one chunk changed in place
    else this.rebuildHeads();
  }

  /** Removes the entries from `low` to `high`, both included. */
  private removeSpan([lowC, lowAt]: Position, [highC, highAt]: Position): void {
    const lowChunk = this.chunks[lowC]!;
    if (lowC === highC) {
      lowChunk.shift(highAt + 1, lowAt);
      return;
    }
    lowChunk.count = lowAt;
    this.chunks[highC]!.shift(highAt + 1, 0);
    for (let c = lowC + 1; c < highC; c++) this.chunks[c]!.count = 0; // dropped by rebuildHeads
  }

  private insertAt([c, at]: Position, pieces: [number, number, RangeValue][]): void {
    if (pieces.length === 0) return;
    if (this.chunks.length === 0) this.chunks.push(new Chunk());
    let chunk = this.chunks[c]!;
    if (chunk.count + pieces.length > CHUNK_RANGES) {
      const half = chunk.count >> 1;
      const right = chunk.splitAt(half);
      this.chunks.splice(c + 1, 0, right);
      if (at > half) {
        chunk = right;
        at -= half;
      }
    }
    chunk.shift(at, at + pieces.length);
    pieces.forEach(([first, last, value], k) => chunk.set(at + k, first, last, value, this.shape));
  }

  /** An independent copy (a snapshot must not see later writes). */
  copy(): SortedRangeArrays {
    return new SortedRangeArrays(this.shape, this.chunks.map((chunk) => chunk.copy()));
  }
}

/** The reference's "file": its arrays outlive a close so that a reopen finds them again. */
interface ReferenceHolder {
  data: SortedRangeArrays;
}

class ReferenceEngine implements Engine {
  readonly name = 'reference';
  private readonly writer: Writer;

  constructor(private readonly holder: ReferenceHolder) {
    const data = (): SortedRangeArrays => this.holder.data;
    this.writer = {
      load: (index) => data().load(index),
      ranges: (from, to, visit) => data().ranges(from, to, visit),
      emptyArea: (min, max, size) => data().emptyArea(min, max, size),
      store: (first, last, value) => data().replace(first, last, value),
      clear: (first, last) => data().replace(first, last, undefined),
    };
  }

  load(index: number): RangeValue | undefined {
    return this.holder.data.load(index);
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    this.holder.data.ranges(from, to, visit);
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return this.holder.data.emptyArea(min, max, size);
  }

  transaction(body: (writer: Writer) => void): void {
    body(this.writer); // no workload aborts a transaction, so no undo log is kept
  }

  bulkLoad(input: SortedRanges): void {
    this.holder.data = SortedRangeArrays.fromSorted(input);
  }

  snapshot(): EngineSnapshot {
    const frozen = this.holder.data.copy();
    return {
      load: (index) => frozen.load(index),
      ranges: (from, to, visit) => frozen.ranges(from, to, visit),
      emptyArea: (min, max, size) => frozen.emptyArea(min, max, size),
      close: () => undefined,
    };
  }

  fileBytes(): number {
    return 0;
  }

  diskBytes(): number {
    return 0;
  }

  async close(): Promise<void> {
    // Nothing to release: the arrays are garbage once unreferenced.
  }
}

/** Each bench run gets its own factory, so reference "files" (keyed by directory) die with the run. */
export function createReferenceFactory(): EngineFactory {
  const holders = new Map<string, ReferenceHolder>();
  return {
    name: 'reference',
    inMemory: true,
    describe: () => `in-memory sorted typed arrays (Float64Array firsts/lasts/ids, Uint8Array prots) in ${CHUNK_RANGES}-range chunks, binary search; a load makes the value from (id, prot) (no decoding); no file, no I/O`,
    open: async (spec: OpenSpec) => {
      let holder = holders.get(spec.dir);
      if (holder === undefined) {
        holder = { data: new SortedRangeArrays(spec.shape) };
        holders.set(spec.dir, holder);
      }
      return new ReferenceEngine(holder);
    },
  };
}
