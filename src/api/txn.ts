/**
 * A write transaction: copy-on-write changes to a private version of the tree. Reads see the
 * transaction's own writes; nothing reaches the file until the store commits it, and a throw
 * from the transaction's function discards it whole.
 */
import type { MemNode, RecordSlot, Ref, Slot } from '../../storage/format/node.js';
import type { ValueArena } from '../../storage/format/valueArena.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { checkIndex, checkRange, checkSize } from './args.js';
import { busy, closed, exists, invalid } from '../common/errors.js';
import { findFirst, lookup } from '../tree/walk.js';
import { type ReadView, ReadViewBase, checkArea } from './readView.js';
import { appendRange } from '../tree/append.js';
import { type TreeState, type WriteSink, writeRange } from '../tree/write.js';
import type { WriteScratch } from '../tree/writeScratch.js';
import { type Range, TreeReader } from '../read/treeReader.js';
import { type CellRun } from '../../storage/format/pageFile.js';

/**
 * Writing inside `transaction(fn)`: every call joins the transaction's one atomic commit, and the
 * transaction's reads (ReadView) see its own writes. A txn used after `fn` returned is `ECLOSED`.
 * The same calls on the store are each a commit of their own.
 */
export interface WriteTxn<V> extends ReadView<V> {
  /** Stores `value` over `[first, last]`: neighbours are trimmed or split, covered ranges vanish. `null`/`undefined` are `EINVAL` (use `clear`). */
  store(first: number, last: number, value: V): void;
  /** Stores `value` over `[first, last]` only if all of it is empty; else `EEXIST`. */
  insert(first: number, last: number, value: V): void;
  /** Removes the whole range holding `index`; returns its value (undefined when `index` was empty). */
  erase(index: number): V | undefined;
  /** Makes `[first, last]` empty, trimming the ranges that reach into it. */
  clear(first: number, last: number): void;
  /**
   * Stores `value` at `emptyArea(min, max, size)` and returns its start; `EBUSY` when no gap fits.
   * The size comes first, as in the kernel's `mtree_alloc_range(mt, startp, entry, size, min, max)`,
   * and the value last, as in every write here.
   */
  allocRange(size: number, min: number, max: number, value: V): number;
  /** Stores `value` at `emptyAreaRev(min, max, size)` (the highest gap) and returns its start; `EBUSY` when none fits. */
  allocRangeRev(size: number, min: number, max: number, value: V): number;
}

/**
 * What a transaction function may return: anything but a promise (or other thenable) or a
 * generator. The store commits when the function returns, so an async function's work after its
 * first `await` would run on a transaction that has already ended, and a generator function's body
 * runs only when its result is iterated: `transaction(async (t) => …)` and
 * `transaction(function* (t) { … })` do not compile, and at run time both are refused with EINVAL
 * before anything runs (MapleStore.transaction).
 */
export type SyncResult<T> = T extends { then(...args: never[]): unknown }
  ? TransactionMustBeSynchronous
  : T extends Generator<unknown, unknown, never> | AsyncGenerator<unknown, unknown, never>
    ? TransactionMustNotBeAGenerator
    : T;

/** The type a generator transaction function is told it should have returned instead. */
export interface TransactionMustNotBeAGenerator {
  'transaction functions must be synchronous: this one is a generator function, whose body would run only when its result is iterated, after the commit': never;
}

/** The type a promise-returning transaction function is told it should have returned instead. */
export interface TransactionMustBeSynchronous {
  'transaction functions must be synchronous: this one returns a promise, and the commit would not wait for it': never;
}

/**
 * A transaction function returned a promise: the function's synchronous part has run on a
 * transaction that is about to end uncommitted, and whatever the rest does will fail on it
 * (ECLOSED) later, where no caller waits. A handler is attached first so that rejection is never
 * unhandled (which would end the process), then the call is refused.
 */
/** Whether a transaction function's result is a promise (or any thenable). */
export function isThenable(result: unknown): result is PromiseLike<unknown> {
  return ((typeof result === 'object' && result !== null) || typeof result === 'function') && typeof (result as { then?: unknown }).then === 'function';
}

export function refuseThenable(result: PromiseLike<unknown>): never {
  try {
    result.then(undefined, () => {});
  } catch {
    // a thenable whose then() throws leaves nothing pending to handle
  }
  throw invalid('transaction functions must be synchronous (the function returned a promise); nothing was committed');
}

export class WriteTxnImpl<V> extends ReadViewBase<V> implements WriteTxn<V>, WriteSink {
  readonly tree: TreeState;
  readonly frees: CellRun[] = [];
  changed = false;
  /** Encoded bytes of the values this transaction stored (a group's size cap, src/api/writeQueue.ts). */
  valueBytes = 0;
  private active = true;
  /** Unfinished iterators of this transaction (detachIterators). */
  private iterators: Set<TxnRanges<V>> | null = null;

  /**
   * A transaction over `base` (the tree is copied, its nodes are not). `gen`, when given, is the
   * savepoint generation of this transaction's writes (TreeState.gen): the new nodes of `base`,
   * of earlier generations, stay as they are whatever this transaction does.
   *
   * @param scratch the store's write-path scratch (WriteSink.scratch)
   * @param arena where the transaction's values are encoded (the store's, reset by the caller when
   *   a transaction or a write group starts, not here: the savepoints of a group share it): the
   *   tree's new slots hold handles into it until the commit copies them into cells. A dropped
   *   savepoint's values stay in it, referenced by no slot, until the next reset.
   */
  constructor(
    private readonly pager: CellReader,
    readonly scratch: WriteScratch,
    base: TreeState,
    private readonly baseVersion: number,
    readonly arena: ValueArena,
    gen?: number,
  ) {
    super();
    this.tree = { ...base };
    if (gen !== undefined) this.tree.gen = gen;
  }

  /** The version this transaction started from (it commits as a later one). */
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
  freeNode(cell: number, node: MemNode): void {
    this.frees.push({ start: cell, count: 1 });
    // A leaf's value area is its alone: it goes with the leaf.
    if (node.area !== 0) this.frees.push({ start: node.area, count: node.areaCells });
  }
  dropNew(): void {}
  freeRecord(cell: number): void {
    this.frees.push({ start: cell, count: this.pager.recordCellCount(cell) });
  }
  copyRecord(slot: RecordSlot): Slot {
    const buf = this.pager.recordValue(slot.cell, this.baseVersion, slot.commit);
    const start = this.pager.valueStart;
    return this.arena.copyIn(buf, start, start + this.pager.valueLength);
  }

  /** Writes check this instead of building a reader they would not use. */
  private live(): void {
    if (!this.active) throw closed('the transaction has ended; use the store, or a new transaction');
  }

  protected reader(): TreeReader {
    this.live();
    return new TreeReader(this.pager, { ...this.tree }, this.baseVersion, this.arena);
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    const it = new TxnRanges<V>(this, reader.ranges(from, to, reverse) as Iterator<Range<V>>);
    (this.iterators ??= new Set()).add(it);
    return it;
  }

  /** @internal an iterator of this transaction finished */
  dropIterator(it: TxnRanges<V>): void {
    this.iterators?.delete(it);
  }

  /** @internal ECLOSED once the transaction has ended */
  checkLive(): void {
    this.live();
  }

  /**
   * Before a write: the transaction changes its own nodes in place, so an unfinished iterator reads
   * the rest of its range now — it yields the transaction's state when it was created, as store
   * iterators yield their version (a write during iteration costs a copy of what is left).
   */
  private detachIterators(): void {
    const its = this.iterators;
    if (its === null || its.size === 0) return;
    for (const it of its) it.materialize();
    its.clear();
  }

  private encode(value: V): Slot {
    const slot = this.pager.codec.encode(value, this.arena);
    // A handle (a number) is a value in the arena; anything else fits its slot's 8 bytes.
    this.valueBytes += typeof slot === 'number' ? this.arena.lengthOf(slot) : 8;
    return slot;
  }

  private write(first: number, last: number, slot: Slot | null): void {
    this.detachIterators();
    writeRange(this, this.tree, first, last, slot);
    this.changed = true;
  }

  store(first: number, last: number, value: V): void {
    this.live();
    checkRange(first, last);
    this.write(first, last, this.encode(value));
  }

  insert(first: number, last: number, value: V): void {
    this.live();
    checkRange(first, last);
    const slot = this.encode(value);
    this.detachIterators();
    // Beyond every stored key nothing can overlap: the append path needs no search.
    if (appendRange(this.scratch, this.tree, first, last, slot)) {
      this.changed = true;
      return;
    }
    const hit = findFirst(this, this.tree, first, last, false);
    if (hit) throw exists(`[${first}, ${last}] overlaps the stored range [${hit.first}, ${hit.last}]`);
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
    const slot = this.encode(value);
    const start = r.emptyArea(min, max, size, reverse);
    if (start === undefined) throw busy(`no empty area of size ${size} in [${min}, ${max}]`);
    this.write(start, start + size - 1, slot);
    return start;
  }
}

/**
 * A transaction's range iterator: it yields the transaction's state when it was created. Until
 * the transaction next writes, it walks the tree; the write first makes it read the rest of its
 * range into a list. Using it after the transaction has ended is ECLOSED, like any read of it.
 */
class TxnRanges<V> implements IterableIterator<Range<V>> {
  private rest: Range<V>[] | null = null;
  private at = 0;
  private finished = false;

  constructor(
    private readonly txn: WriteTxnImpl<V>,
    private readonly inner: Iterator<Range<V>>,
  ) {}

  [Symbol.iterator](): IterableIterator<Range<V>> {
    return this;
  }

  next(): IteratorResult<Range<V>> {
    if (this.finished) return { value: undefined, done: true };
    this.txn.checkLive();
    const rest = this.rest;
    if (rest !== null) {
      if (this.at < rest.length) return { value: rest[this.at++]!, done: false };
      return this.finish();
    }
    const r = this.inner.next();
    return r.done ? this.finish() : r;
  }

  return(value?: unknown): IteratorResult<Range<V>> {
    if (!this.finished && this.rest === null) this.inner.return?.();
    this.finish();
    return { value: value as Range<V>, done: true };
  }

  /** Reads everything still to come (called before the transaction writes). */
  materialize(): void {
    const rest: Range<V>[] = [];
    for (let r = this.inner.next(); !r.done; r = this.inner.next()) rest.push(r.value);
    this.rest = rest;
    this.at = 0;
  }

  private finish(): IteratorResult<Range<V>> {
    this.finished = true;
    this.rest = null;
    this.txn.dropIterator(this);
    return { value: undefined, done: true };
  }
}
