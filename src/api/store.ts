/**
 * MapleStore: the public store. One writer (this object, holding the file's writer lock), any
 * number of snapshots; every write is a copy-on-write transaction committed atomically.
 */
import { ValueArena } from '../../storage/format/valueArena.js';
import { type RecoveryReport } from '../../recovery/recover.js';
import { checkStore } from '../../recovery/check.js';
import type { BufferPool } from '../../storage/io/bufferPool.js';
import { type CommitContext, type CommitProtocol, type DurableState, pendingSplit, treeOf, writeCommit } from '../../storage/commit/commit.js';
import { CommitBuffers } from '../../storage/commit/writeCells.js';
import { WriteScratch } from '../tree/writeScratch.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import type { WriterLock } from '../../storage/io/lockFile.js';
import { OtherReaders, type ReaderFile, readersDir } from '../../storage/io/readerFiles.js';
import { CellReader, loadCodec } from '../../storage/io/cellReader.js';
import { type ReaderSet, mergeReaders } from '../../storage/io/readerSet.js';
import { describe } from './args.js';
import { MapleError, invalid, closed, ioFailed, readOnly, ioError, AssertionError } from '../common/errors.js';
import { ReaderRegistry } from '../read/readerRegistry.js';
import { ReadViewBase } from './readView.js';
import { Snapshot } from './snapshot.js';
import type { TreeState } from '../tree/write.js';
import { type SyncResult, type WriteTxn, WriteTxnImpl } from './txn.js';
import { type Range, TreeReader } from '../read/treeReader.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES } from '../common/limits.js';
import type { CheckedOptions } from './options.js';

/** What `stats()` reports: a snapshot of counters, taken when called. */
export interface StoreStats {
  /** The commit the store reads. */
  version: number;
  /** Ranges in the current version. */
  ranges: number;
  /** Levels of the tree (0 when empty). */
  height: number;
  /** Nodes of the tree. */
  nodes: number;
  /** The file's size. */
  fileBytes: number;
  /**
   * Bytes free for reuse by the next commit: below the high-water mark never allocated or freed
   * and reachable by no open reader, plus the file beyond the high-water mark.
   */
  freeBytes: number;
  /** Bytes freed by commits that an open reader (snapshot, iterator, read-only store in any process) may still reach. */
  pendingBytes: number;
  /** Snapshots open now. */
  snapshots: number;
  /** Read-only stores open on this file in any process (this one too), as the writer last counted them (storage/io/readerFiles.ts); 0 on a read-only store. */
  readOnlyReaders: number;
  /** Snapshots released by the garbage collector instead of `close()`. */
  snapshotsLeaked: number;
  /** Store iterators dropped unfinished and released by the garbage collector. */
  iteratorsLeaked: number;
  /** The most the buffer pool grows to (the `cacheSize` option, in whole pages). */
  cacheBytes: number;
  /** Page lookups the pool answered from memory. */
  cacheHits: number;
  /** Page lookups that read the file. */
  cacheMisses: number;
  /** Pages the pool cached around a miss (fault-around, storage/io/bufferPool.ts) without being asked for them. */
  cacheReadAhead: number;
  /** Commits this store object made. */
  commits: number;
  /** 256-byte cells those commits wrote. */
  cellsWritten: number;
  /** The end of the cells ever allocated; the file beyond it is free. */
  highWaterBytes: number;
  /** Levels of the space map (the maple tree of allocated cells). */
  spaceMapHeight: number;
  /** The `sync` option. */
  sync: 'full' | 'none';
  /** The `commitProtocol` option. */
  commitProtocol: CommitProtocol;
  /** What open found: the commit it chose, whether it fell back, cells validated, time, locks taken over. */
  recovery: RecoveryReport;
}

/**
 * A transaction function returned a promise: the function's synchronous part has run on a
 * transaction that is about to end uncommitted, and whatever the rest does will fail on it
 * (ECLOSED) later, where no caller waits. A handler is attached first so that rejection is never
 * unhandled (which would end the process), then the call is refused.
 */
function refuseThenable(result: PromiseLike<unknown>): never {
  try {
    result.then(undefined, () => {});
  } catch {
    // a thenable whose then() throws leaves nothing pending to handle
  }
  throw invalid('transaction functions must be synchronous (the function returned a promise); nothing was committed');
}

export class MapleStore<V = unknown> extends ReadViewBase<V> {
  private readonly pager: CellReader;
  private readonly readers = new ReaderRegistry();
  private state: DurableState;
  private tree: TreeState;
  private closed = false;
  private inTransaction = false;
  private poisoned: MapleError | null = null;
  private commits = 0;
  private cellsWritten = 0;
  private readonly otherReaders: OtherReaders | undefined;
  private treeReader: TreeReader | null = null;
  /** The writer's working memory, allocated once: the write path's scratch, the commit buffers. */
  private readonly committer: CommitContext;
  /** Where transactions encode their values (storage/format/valueArena.ts); made by the first one. */
  private arena: ValueArena | null = null;

  /** @internal use open() */
  constructor(
    readonly path: string,
    private readonly io: FileIO,
    private readonly pool: BufferPool,
    state: DurableState,
    private readonly recovery: RecoveryReport,
    private readonly opts: CheckedOptions,
    /** False when the file is a test's FileIO: it has no path others could open, and is not ours to close. */
    private readonly ownsFile: boolean,
    private readonly lock: WriterLock | undefined,
    private readonly readerFile?: ReaderFile,
  ) {
    super();
    // The writer keeps what readers in other processes read (storage/io/readerFiles.ts); a test's
    // file implementation (OpenHooks.fileIO) has no other processes.
    this.otherReaders = lock !== undefined && ownsFile ? new OtherReaders(readersDir(path), lock.self) : undefined;
    this.pager = new CellReader(io, pool);
    this.committer = { io, pager: this.pager, pool, scratch: new WriteScratch(), buffers: new CommitBuffers() };
    this.pager.codec = loadCodec(this.pager, state.rec.structures, state.rec.commit, opts.sharedStructures);
    this.state = state;
    this.tree = treeOf(state.rec.main, state.rec.ranges, state.rec.nodes);
  }

  /**
   * @internal The write path's scratch of this store: tests switch its fast paths off
   * (pathWrite, appendPath) to compare their trees with the general path's.
   */
  get writeScratch(): WriteScratch {
    return this.committer.scratch;
  }

  /** The commit the store reads: 0 for a new store, one more per commit. */
  get version(): number {
    this.guard();
    return this.state.rec.commit;
  }

  /** Whether the store was opened with `readOnly` (every write is `EREADONLY`). */
  get readOnly(): boolean {
    return this.opts.readOnly;
  }

  private guard(): void {
    if (this.closed) throw closed(`store ${this.path} is closed`);
  }

  protected reader(): TreeReader {
    this.guard();
    // One reader per committed version (it is immutable): a load allocates nothing for it.
    return (this.treeReader ??= new TreeReader(this.pager, this.tree, this.state.rec.commit));
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    // The store's version is always committed; the iterator holds it until finished (src/read/readerRegistry.ts).
    const it = reader.frameRanges(from, to, reverse, () => this.guard())!;
    it.registry = this.readers;
    this.readers.hold(it);
    return it as IterableIterator<Range<V>>;
  }

  /**
   * Runs `fn` as one atomic commit; a throw rolls everything back and leaves the file untouched.
   * `fn` must be synchronous (SyncResult): the commit happens when it returns.
   */
  transaction<T>(fn: (txn: WriteTxn<V>) => SyncResult<T>): T {
    this.guard();
    if (typeof fn !== 'function') throw invalid(`transaction needs a function; got ${describe(fn)}`);
    // A native async function is known by its prototype's tag (bound ones too): refused before
    // it runs, so none of its body executes. A transpiled one is caught by its result in run().
    if ((fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'AsyncFunction') {
      throw invalid('transaction functions must be synchronous: an async function was passed; it was not run and nothing was committed');
    }
    return this.run(fn as (txn: WriteTxn<V>) => T);
  }

  /** transaction() without the checks of `fn` itself (the single-operation writes pass their own). */
  private run<T>(fn: (txn: WriteTxn<V>) => T): T {
    this.guard();
    if (this.opts.readOnly) throw readOnly(`store ${this.path} was opened read-only`);
    if (this.poisoned) throw ioFailed(`store ${this.path} had a failed write and must be reopened (${this.poisoned.message})`, this.poisoned);
    if (this.inTransaction) throw invalid('transactions do not nest: a transaction is already open on this store');
    this.inTransaction = true;
    const txn = new WriteTxnImpl<V>(this.pager, this.committer.scratch, this.tree, this.state.rec.commit, (this.arena ??= new ValueArena()));
    try {
      const result = fn(txn);
      if (((typeof result === 'object' && result !== null) || typeof result === 'function') && typeof (result as { then?: unknown }).then === 'function') {
        refuseThenable(result as unknown as PromiseLike<unknown>);
      }
      txn.end();
      if (txn.changed) this.commit(txn);
      return result;
    } finally {
      txn.end();
      this.inTransaction = false;
    }
  }

  private commit(txn: WriteTxnImpl<V>): void {
    const readers = this.readerSet();
    try {
      const { state, cellsWritten } = writeCommit(this.committer, this.state, { main: txn.tree, frees: txn.frees, readers, values: txn.arena }, {
        protocol: this.opts.commitProtocol,
        sync: this.opts.sync === 'full',
        packValues: this.opts.packValues,
      });
      this.state = state;
      this.tree = treeOf(state.rec.main, state.rec.ranges, state.rec.nodes);
      this.treeReader = null;
      this.commits++;
      this.cellsWritten += cellsWritten;
    } catch (err) {
      // The file is suspect: never reuse the commit number, re-read every page, refuse writes.
      this.state = { ...this.state, rec: { ...this.state.rec, highestCommit: this.state.rec.highestCommit + 1 } };
      this.pool.invalidateAll();
      if (err instanceof AssertionError) {
        // A bug, not an I/O fault: it is thrown as itself, and the store refuses writes after it.
        this.poisoned = ioFailed(`a commit stopped on an internal error (${err.message})`, err);
        throw err;
      }
      this.poisoned = err instanceof MapleError && err.code !== 'EIO' ? ioFailed(`commit failed: ${err.message}`, err) : ioError('commit', err);
      throw this.poisoned;
    }
  }

  /** Every version an open reader reads, here or in another process: what they reach is kept. */
  private readerSet(): ReaderSet {
    const here = this.readers.versions();
    return this.otherReaders === undefined ? { versions: here, any: false } : mergeReaders(here, this.otherReaders.list());
  }


  /** One commit storing `value` over `[first, last]` (see WriteTxn.store). */
  store(first: number, last: number, value: V): void {
    this.run((t) => t.store(first, last, value));
  }
  /** One commit storing `value` over `[first, last]` if all of it is empty; else `EEXIST`. */
  insert(first: number, last: number, value: V): void {
    this.run((t) => t.insert(first, last, value));
  }
  /** One commit removing the range holding `index`; returns its value. */
  erase(index: number): V | undefined {
    return this.run((t) => t.erase(index));
  }
  /** One commit making `[first, last]` empty. */
  clear(first: number, last: number): void {
    this.run((t) => t.clear(first, last));
  }
  /** One commit storing `value` in the lowest gap of `size` inside `[min, max]`; returns its start, `EBUSY` when none. */
  allocRange(size: number, min: number, max: number, value: V): number {
    return this.run((t) => t.allocRange(size, min, max, value));
  }
  /** One commit storing `value` in the highest gap of `size` inside `[min, max]`; returns its start, `EBUSY` when none. */
  allocRangeRev(size: number, min: number, max: number, value: V): number {
    return this.run((t) => t.allocRangeRev(size, min, max, value));
  }

  /**
   * An O(1) read-only view of the current version, without locks, until `close()` (or `using`).
   * The cells it reads are not reused while it is open; one garbage-collected unclosed is released
   * and counted in `stats().snapshotsLeaked`.
   */
  snapshot(): Snapshot<V> {
    this.guard();
    const reader = new TreeReader(this.pager, this.tree, this.state.rec.commit);
    const token = this.readers.register(reader.version, 'snapshot');
    const snap = new Snapshot<V>(reader, token, () => !this.closed);
    this.readers.watch(snap, token);
    return snap;
  }

  /**
   * Verifies every checksum and invariant of the current version — every cell reachable, pending
   * or free exactly once, every gap field exact; throws `ECORRUPT` naming the cell.
   */
  check(): void {
    this.guard();
    checkStore(this.pager, this.state.rec);
  }

  /** Counters and sizes of the store (StoreStats). */
  stats(): StoreStats {
    this.guard();
    const rec = this.state.rec;
    const fileBytes = this.io.size();
    const hwmBytes = rec.highWaterCell * CELL_BYTES;
    const reader = new TreeReader(this.pager, this.tree, rec.commit);
    const { reusable, waiting } = pendingSplit(reader, this.pager, rec, this.readerSet());
    return {
      version: rec.commit,
      ranges: rec.ranges,
      height: rec.main.height,
      nodes: rec.nodes,
      fileBytes,
      freeBytes: (rec.highWaterCell - CELL_BASE - rec.allocatedCells + reusable) * CELL_BYTES + Math.max(0, fileBytes - hwmBytes),
      pendingBytes: waiting * CELL_BYTES,
      snapshots: this.readers.snapshots,
      readOnlyReaders: this.otherReaders?.count ?? 0,
      snapshotsLeaked: this.readers.leaked.snapshot,
      iteratorsLeaked: this.readers.leaked.iterator,
      cacheBytes: this.pool.maxFrames * PAGE_BYTES,
      cacheHits: this.pool.hits,
      cacheMisses: this.pool.misses,
      cacheReadAhead: this.pool.readAhead,
      commits: this.commits,
      cellsWritten: this.cellsWritten,
      highWaterBytes: hwmBytes,
      spaceMapHeight: rec.space.height,
      sync: this.opts.sync,
      commitProtocol: this.opts.commitProtocol,
      recovery: this.recovery,
    };
  }

  /** Releases the file, the writer lock or reader registration; idempotent; later use is `ECLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.ownsFile) this.io.close();
    } finally {
      this.lock?.release();
      this.readerFile?.release();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
