/**
 * A write transaction: copy-on-write changes to a private version of the tree. Reads see the
 * transaction's own writes; nothing reaches the file until the store commits it, and a throw
 * from the transaction's function discards it whole.
 */
import { type MemNode, type Ref, type Slot, newValuesCreated } from '../storage/node.js';
import type { Pager } from '../storage/pager.js';
import type { CellRun } from '../storage/spaceMap.js';
import { checkIndex, checkRange, checkSize } from './args.js';
import { MapleError } from './errors.js';
import { findFirst, lookup } from './cursor.js';
import { type ReadView, ReadViewBase, checkArea } from './readView.js';
import { appendRange } from './append.js';
import { type TreeState, type WriteSink, writeRange } from './tree.js';
import { type Range, TreeReader } from './view.js';

export interface WriteTxn<V> extends ReadView<V> {
  store(first: number, last: number, value: V): void;
  insert(first: number, last: number, value: V): void;
  erase(index: number): V | undefined;
  clear(first: number, last: number): void;
  allocRange(size: number, min: number, max: number, value: V): number;
  allocRangeRev(size: number, min: number, max: number, value: V): number;
}

export class WriteTxnImpl<V> extends ReadViewBase<V> implements WriteTxn<V>, WriteSink {
  readonly tree: TreeState;
  readonly frees: CellRun[] = [];
  /** Changes to the reference counts of packed value blocks, by block cell. */
  readonly packedDeltas = new Map<number, number>();
  changed = false;
  private active = true;

  /** newValuesCreated when the transaction began (storage/node.ts). */
  readonly newValueMark = newValuesCreated;

  constructor(private readonly pager: Pager, base: TreeState, private readonly baseVersion: number) {
    super();
    this.tree = { ...base };
  }

  /** The version this transaction will commit as, once it does. */
  get version(): number {
    this.reader();
    return this.baseVersion;
  }

  end(): void {
    this.active = false;
  }

  // WriteSink
  node(ref: Ref, max: number): MemNode {
    return this.pager.node(ref, max, this.baseVersion);
  }
  freeNode(cell: number): void {
    this.frees.push({ start: cell, count: 1 });
  }
  dropNew(): void {}
  freeRecord(cell: number): void {
    this.frees.push({ start: cell, count: this.pager.recordCellCount(cell) });
  }
  recordBytes(cell: number): Uint8Array {
    return this.pager.recordBytes(cell, this.baseVersion).slice();
  }
  refPacked(cell: number, delta: number): void {
    const n = (this.packedDeltas.get(cell) ?? 0) + delta;
    if (n === 0) this.packedDeltas.delete(cell);
    else this.packedDeltas.set(cell, n);
  }

  /** Writes check this instead of building a reader they would not use. */
  private live(): void {
    if (!this.active) throw new MapleError('ECLOSED', 'the transaction has ended; use the store, or a new transaction');
  }

  protected reader(): TreeReader {
    this.live();
    return new TreeReader(this.pager, { ...this.tree }, this.baseVersion);
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    return reader.ranges(from, to, reverse) as IterableIterator<Range<V>>;
  }

  private write(first: number, last: number, slot: Slot | null): void {
    writeRange(this, this.tree, first, last, slot);
    this.changed = true;
  }

  store(first: number, last: number, value: V): void {
    this.live();
    checkRange(first, last);
    this.write(first, last, this.pager.codec.encode(value));
  }

  insert(first: number, last: number, value: V): void {
    this.live();
    checkRange(first, last);
    const slot = this.pager.codec.encode(value);
    // Beyond every stored key nothing can overlap: the append path needs no search.
    if (appendRange(this.tree, first, last, slot)) {
      this.changed = true;
      return;
    }
    const hit = findFirst(this, this.tree, first, last, false);
    if (hit) throw new MapleError('EEXIST', `[${first}, ${last}] overlaps the stored range [${hit.first}, ${hit.last}]`);
    this.write(first, last, slot);
  }

  erase(index: number): V | undefined {
    const r = this.reader();
    checkIndex('index', index);
    const hit = lookup(this, this.tree, index);
    if (!hit) return undefined;
    const value = r.value(hit.slot) as V;
    this.write(hit.first, hit.last, null);
    return value;
  }

  clear(first: number, last: number): void {
    this.live();
    checkRange(first, last);
    this.write(first, last, null);
  }

  allocRange(size: number, min: number, max: number, value: V): number {
    return this.alloc(size, min, max, value, false);
  }

  allocRangeRev(size: number, min: number, max: number, value: V): number {
    return this.alloc(size, min, max, value, true);
  }

  private alloc(size: number, min: number, max: number, value: V, reverse: boolean): number {
    const r = this.reader();
    checkSize(size);
    checkArea(min, max, size);
    const slot = this.pager.codec.encode(value);
    const start = r.emptyArea(min, max, size, reverse);
    if (start === undefined) throw new MapleError('EBUSY', `no empty area of size ${size} in [${min}, ${max}]`);
    this.write(start, start + size - 1, slot);
    return start;
  }
}
