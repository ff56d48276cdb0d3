/**
 * The read half of the public API, shared by MapleStore, Snapshot and WriteTxn: argument checks
 * here, the walking in src/read/treeReader.ts.
 */
import { checkIndex, checkRange, checkSize } from './args.js';
import { invalid } from '../common/errors.js';
import { MAX_INDEX } from '../common/limits.js';
import type { Range, TreeReader } from '../read/treeReader.js';

export type { Range } from '../read/treeReader.js';

export interface ReadView<V> {
  load(index: number): V | undefined;
  entry(index: number): Range<V> | undefined;
  find(index: number, max?: number): Range<V> | undefined;
  findRev(index: number, min?: number): Range<V> | undefined;
  ranges(from?: number, to?: number): IterableIterator<Range<V>>;
  rangesRev(from?: number, to?: number): IterableIterator<Range<V>>;
  emptyArea(min: number, max: number, size: number): number | undefined;
  emptyAreaRev(min: number, max: number, size: number): number | undefined;
  count(): number;
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
