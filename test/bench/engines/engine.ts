// The one interface every benchmarked engine implements, so that each workload is written once and
// runs unchanged against maple-store, LMDB, SQLite and the in-memory reference.

import type { RangeValue, ValueShape } from '../values.js';

export type { RangeValue, ValueShape };

/** Calls `visit` for each range intersecting [from, to], ascending. */
export type RangeVisitor = (first: number, last: number, value: RangeValue) => void;

export interface ReadView {
  /** The value of the range containing `index`, or undefined (a miss). */
  load(index: number): RangeValue | undefined;
  /** Visits every range intersecting [from, to] in ascending order. */
  ranges(from: number, to: number, visit: RangeVisitor): void;
  /** The lowest s ≥ min with [s, s+size−1] empty and s+size−1 ≤ max; undefined if none. */
  emptyArea(min: number, max: number, size: number): number | undefined;
}

/** What a transaction body can do; reads see the transaction's own writes. */
export interface Writer extends ReadView {
  /** Stores [first, last] → value, trimming or removing whatever it overlaps. */
  store(first: number, last: number, value: RangeValue): void;
  /** Makes [first, last] empty, trimming neighbours. */
  clear(first: number, last: number): void;
}

export interface EngineSnapshot extends ReadView {
  close(): void;
}

/** Sorted, non-overlapping input for a bulk load; value i is `shape.make(ids[i], prots[i])`. */
export interface SortedRanges {
  readonly count: number;
  readonly shape: ValueShape;
  readonly firsts: Float64Array;
  readonly lasts: Float64Array;
  readonly ids: Float64Array;
  readonly prots: Uint8Array;
}

export interface OpenSpec {
  /** A directory owned by this engine instance; the engine keeps its file(s) inside. */
  readonly dir: string;
  /** true: every commit returns only once durable (fsync); false: no fsync at all. */
  readonly durable: boolean;
  /** Page-cache budget in bytes for the engine's own cache, where it has one. */
  readonly cacheBytes?: number;
  /** The values of this run (the reference keeps (id, prot) and makes values with it). */
  readonly shape: ValueShape;
}

export interface Engine extends ReadView {
  readonly name: string;
  /** One atomic commit (durable if opened durable). */
  transaction(body: (writer: Writer) => void): void;
  /** Loads sorted ranges into an empty store in one transaction, by the engine's fastest path. */
  bulkLoad(input: SortedRanges): void;
  /** A read view that keeps seeing the current version while later commits happen. */
  snapshot(): EngineSnapshot;
  /** Bytes the store needs on disk once compacted logs are folded in (SQLite: after a WAL checkpoint). */
  fileBytes(): number;
  /** Bytes on disk right now, logs included, without forcing anything. */
  diskBytes(): number;
  close(): Promise<void>;
}

export interface EngineFactory {
  /** Short name used by --engines and in tables. */
  readonly name: string;
  /** The configuration, stated for the output (sync mode, encodings, cache controls). */
  describe(durable: boolean, cacheBytes: number | undefined): string;
  /** Opens (creating when missing) the store kept in `spec.dir`. */
  open(spec: OpenSpec): Promise<Engine>;
  /** Only these workloads use the engine (undefined: all). */
  readonly onlyWorkloads?: readonly string[];
  /** For engine variants run on a copy of another engine's files (e.g. maple two-sync). */
  readonly cloneOf?: string;
  /** Not a store: in-memory answers only (no durability, no file). */
  readonly inMemory?: boolean;
}
