/**
 * The read half of the public API, shared by MapleStore, Snapshot and WriteTxn: argument checks
 * here, the walking in src/read/treeReader.ts.
 */
import { checkIndex, checkRange, checkSize } from './args.js';
import { invalid } from '../common/errors.js';
import { MAX_INDEX } from '../common/limits.js';
import type { Range, TreeReader } from '../read/treeReader.js';

export type { Range } from '../read/treeReader.js';

/**
 * Reading one version of the store. `MapleStore` (the current version), `Snapshot` (one
 * committed version, until closed) and `WriteTxn` (the transaction's own state) implement it.
 * Indices are integers 0 … MAX_INDEX (2^53 − 1); anything else is `EINVAL`.
 */
export interface ReadView<V> {
  /** The value of the range holding `index`, or undefined when `index` is empty. */
  load(index: number): V | undefined;
  /** The range holding `index`, with its true bounds, or undefined when `index` is empty. */
  entry(index: number): Range<V> | undefined;
  /** The first range that meets `[index, max]` (its `first` may lie below `index`). */
  find(index: number, max?: number): Range<V> | undefined;
  /** The last range that meets `[min, index]` (its `last` may lie above `index`). */
  findRev(index: number, min?: number): Range<V> | undefined;
  /**
   * Every range that meets `[from, to]`, ascending. The iterator reads the version current when it
   * was created, whatever is written meanwhile; on a transaction, the transaction as it was then.
   */
  ranges(from?: number, to?: number): IterableIterator<Range<V>>;
  /** Every range that meets `[from, to]`, descending (see `ranges`). */
  rangesRev(from?: number, to?: number): IterableIterator<Range<V>>;
  /**
   * The lowest `s` with `[s, s + size − 1]` empty and inside `[min, max]`, or undefined; O(log n).
   * The window comes first, as in the kernel's `mas_empty_area(mas, min, max, size)`; a window
   * narrower than `size` simply has no answer.
   */
  emptyArea(min: number, max: number, size: number): number | undefined;
  /** The highest `s` with `[s, s + size − 1]` empty and inside `[min, max]`, or undefined. */
  emptyAreaRev(min: number, max: number, size: number): number | undefined;
  /** The number of ranges. */
  count(): number;
  /** The commit this view reads: 0 for a new store, one more per commit. A transaction reports the version it started from. */
  readonly version: number;
}

export abstract class ReadViewBase<V> implements ReadView<V> {
  /** The reader for this view's version; throws ECLOSED when the view is closed. */
  protected abstract reader(): TreeReader;
  /** Wraps a range iterator (the store registers it as a reader of its version). */
  protected abstract iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>>;
  abstract get version(): number;

  load(index: number): V | undefined {
    const r = this.reader();
    checkIndex('index', index);
    return r.load(index) as V | undefined;
  }

  entry(index: number): Range<V> | undefined {
    const r = this.reader();
    checkIndex('index', index);
    return r.entry(index) as Range<V> | undefined;
  }

  find(index: number, max: number = MAX_INDEX): Range<V> | undefined {
    const r = this.reader();
    checkIndex('index', index);
    checkIndex('max', max);
    if (index > max) return undefined;
    return r.find(index, max, false) as Range<V> | undefined;
  }

  findRev(index: number, min = 0): Range<V> | undefined {
    const r = this.reader();
    checkIndex('index', index);
    checkIndex('min', min);
    if (min > index) return undefined;
    return r.find(min, index, true) as Range<V> | undefined;
  }

  ranges(from = 0, to: number = MAX_INDEX): IterableIterator<Range<V>> {
    const r = this.reader();
    checkRange(from, to, ['from', 'to']);
    return this.iterator(r, from, to, false);
  }

  rangesRev(from = 0, to: number = MAX_INDEX): IterableIterator<Range<V>> {
    const r = this.reader();
    checkRange(from, to, ['from', 'to']);
    return this.iterator(r, from, to, true);
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    const r = this.reader();
    checkArea(min, max, size);
    return r.emptyArea(min, max, size, false);
  }

  emptyAreaRev(min: number, max: number, size: number): number | undefined {
    const r = this.reader();
    checkArea(min, max, size);
    return r.emptyArea(min, max, size, true);
  }

  count(): number {
    return this.reader().tree.ranges;
  }
}

export function checkArea(min: unknown, max: unknown, size: unknown): void {
  checkIndex('min', min);
  checkIndex('max', max);
  checkSize(size);
  if ((min as number) > (max as number)) throw invalid(`min (${min}) must not be greater than max (${max})`);
}
