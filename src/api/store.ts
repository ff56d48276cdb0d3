/**
 * MapleStore: the public store. One writer (this object, holding the file's writer lock), any
 * number of snapshots; every write is a copy-on-write transaction committed atomically.
 */
import { ValueArena } from '../../storage/format/valueArena.js';
import { type RecoveryReport } from '../../recovery/recover.js';
import { checkStore } from '../../recovery/check.js';
import type { BufferPool } from '../../storage/io/bufferPool.js';
import { type CommitContext, type CommitInput, type CommitOptions, type CommitProtocol, type DurableState, pendingSplit, planCommit, treeOf, writeCommit } from '../../storage/commit/commit.js';
import { AsyncCommitWrite } from '../../storage/commit/writeAsync.js';
import { CommitBuffers, type PreparedCommit, nextSlot } from '../../storage/commit/writeCells.js';
import { CommitLog, newSalt } from '../../storage/commit/commitLog.js';
import { RunHints } from '../../storage/commit/runHints.js';
import { type CommitRecord, FLAG_CELLS_DURABLE, FLAG_LOGGED, FLAG_VOLATILE, encodeCommitRecord } from '../../storage/format/commitRecord.js';
import { readOpenMark, ringSlotOffsetBytes, writeOpenMark } from '../../storage/format/pageFile.js';
import { WriteScratch } from '../tree/writeScratch.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import type { WriterLock } from '../../storage/io/lockFile.js';
import { OtherReaders, type ReaderFile, inodeReadersDir, readersDir } from '../../storage/io/readerFiles.js';
import { CellReader, loadCodec } from '../../storage/io/cellReader.js';
import { type ReaderSet, mergeReaders } from '../../storage/io/readerSet.js';
import { type ExitingThread, SharedWriter } from '../../storage/io/sharedWriter.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { threadId } from 'node:worker_threads';
import { type SharedHandle, makeHandle } from './sharedStore.js';
import { describe } from './args.js';
import { MapleError, invalid, closed, ioFailed, readOnly, ioError, AssertionError } from '../common/errors.js';
import { ReaderRegistry } from '../read/readerRegistry.js';
import { ReadViewBase } from './readView.js';
import { Snapshot } from './snapshot.js';
import type { TreeState } from '../tree/write.js';
import { type SyncResult, type WriteTxn, WriteTxnImpl, isThenable, refuseThenable } from './txn.js';
import { type Range, TreeReader } from '../read/treeReader.js';
import { CELL_BASE, CELL_BYTES, CHECKPOINT_FILE_SHARE, CHECKPOINT_MIN_CELLS, CLOSE_KEEP_PASS_BYTES, PAGE_BYTES } from '../common/limits.js';
import type { CheckedOptions } from './options.js';
import { WriteGroup } from './writeGroup.js';
import { type GroupHost, WriteQueue } from './writeQueue.js';

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
  /** Versions worker threads hold open through share()/openShared (slots of the shared reader table in use). */
  sharedReaders: number;
  /** Snapshots released by the garbage collector instead of `close()`. */
  snapshotsLeaked: number;
  /** Store iterators dropped unfinished and released by the garbage collector. */
  iteratorsLeaked: number;
  /** The most the buffer pool grows to: the `cacheSize` option in whole 4 KiB pages, at least 16 (64 KiB). */
  cacheBytes: number;
  /** Page lookups the pool answered from memory. */
  cacheHits: number;
  /** Page lookups that read the file. */
  cacheMisses: number;
  /** Pages the pool cached around a miss (fault-around, storage/io/bufferPool.ts) without being asked for them. */
  cacheReadAhead: number;
  /** Commits this store object made. */
  commits: number;
  /** Durable writes its commits made: a commit-log append or an fdatasync per commit with `sync: 'full'` (two for a commit synced in two steps, as a log pass's first commit is), and two per checkpoint with `sync: 'none'`. */
  syncs: number;
  /**
   * The newest version a power loss cannot take away: the current one with `sync: 'full'`; with
   * `sync: 'none'`, the last checkpoint's (made once 1,024 cells, or 1/8 of the allocated ones, were
   * written since the one before, and at flush(), close() and a writable open). The cells it
   * reaches are not reused until the next checkpoint.
   */
  durableVersion: number;
  /** Asynchronous writes (`write()`, `storeAsync()`, …) not yet run: queued, or waiting for room in the queue. */
  writesQueued: number;
  /** Write groups that ran, and had their commit planned, while the group before them was still syncing (src/api/writeQueue.ts). */
  groupsAhead: number;
  /** 256-byte cells those commits wrote. */
  cellsWritten: number;
  /** The end of the cells ever allocated; the file beyond it is free. */
  highWaterBytes: number;
  /** Levels of the space map (the maple tree of allocated cells). */
  spaceMapHeight: number;
  /** Bytes of the file's commit log (commitProtocol 'log'), 0 without one; counted in fileBytes, not in freeBytes. */
  logBytes: number;
  /** The `sync` option. */
  sync: 'full' | 'none';
  /** The `commitProtocol` option. */
  commitProtocol: CommitProtocol;
  /** What open found: the commit it chose, whether it fell back, cells validated, time, locks taken over. */
  recovery: RecoveryReport;
}

/**
 * What a native function whose body does not run when called is ('an async function', 'a generator
 * function', 'an async generator function'), known by its prototype's tag; null for any other.
 */
function deferredBody(fn: unknown): string | null {
  switch ((fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag]) {
    case 'AsyncFunction':
      return 'an async function';
    case 'GeneratorFunction':
      return 'a generator function';
    case 'AsyncGeneratorFunction':
      return 'an async generator function';
    default:
      return null;
  }
}

/** A group's commit, prepared (src/api/writeQueue.ts): its I/O, performed asynchronously. */
interface GroupCommit {
  readonly io: AsyncCommitWrite;
}

/** What a commit commits: a transaction's or a write group's changes (CommitInput without the readers). */
/** What a transaction or a write group commits: its tree, the cells it freed, the arena its values are in. */
type CommitChanges = { tree: CommitInput['main']; frees: CommitInput['frees']; arena: ValueArena };

export class MapleStore<V = unknown> extends ReadViewBase<V> {
  private readonly pager: CellReader;
  private readonly readers = new ReaderRegistry();
  private state: DurableState;
  private tree: TreeState;
  private closed = false;
  private inTransaction = false;
  private poisoned: MapleError | null = null;
  private commits = 0;
  private syncs = 0;
  private cellsWritten = 0;
  /**
   * The last version a power loss leaves (a durable base): the current one with `sync: 'full'`;
   * with `sync: 'none'`, the last checkpoint's, whose record slot no later commit takes and whose
   * cells stay unreused until the next checkpoint (checkpoint()).
   */
  private durable: DurableState;
  /** cellsWritten at the last checkpoint. */
  private cellsAtDurable = 0;
  /** The ring slot of the newest commit prepared and not yet published (a write group's), or −1. */
  private plannedSlot = -1;
  /** close() or closeAsync() has begun: new writes are refused, queued ones still commit. */
  private closing = false;
  private readonly queue: WriteQueue<V, GroupCommit>;
  private readonly otherReaders: OtherReaders | undefined;
  private treeReader: TreeReader | null = null;
  /** The writer's working memory, allocated once: the write path's scratch, the commit buffers. */
  private readonly committer: CommitContext;
  /** Where transactions encode their values (storage/format/valueArena.ts); made by the first one. */
  private arena: ValueArena | null = null;
  /** Worker-thread readers (share()); undefined until the first share(). */
  private sharing: SharedWriter | undefined;
  /** What share() returns, made once with the shared area. */
  private sharedHandle: SharedHandle | undefined;
  /** The ring slot of the newest durable record at open (settleOpen): a checkpoint leaves it. */
  private logBaseSlot = -1;
  /** The commit log (commitProtocol 'log', storage/commit/commitLog.ts); null otherwise. */
  private readonly log: CommitLog | null;
  /** This writer's open mark is set in the file (markOpen). */
  private marked = false;

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
    /** This boot's tag (storage/io/bootTag.ts), for records no sync follows. */
    private readonly boot: number,
    private readonly readerFile?: ReaderFile,
    logCells?: number,
  ) {
    super();
    if (state === undefined) throw invalid('a MapleStore is made by open(path, options), not by new MapleStore()');
    // The writer keeps what readers in other processes read (storage/io/readerFiles.ts); a test's
    // file implementation (OpenHooks.fileIO) has no other processes.
    // Listed by path and by device and inode: a reader through a hard link, or through the path of
    // the file or its directory after a rename, registers under another path.
    this.otherReaders =
      lock !== undefined && ownsFile && io instanceof NodeFileIO ? new OtherReaders([readersDir(path), inodeReadersDir(io.identity())], lock.self) : undefined;
    this.pager = new CellReader(io, pool);
    this.committer = { io, pager: this.pager, pool, scratch: new WriteScratch(), buffers: new CommitBuffers(), hints: new RunHints() };
    this.pager.codec = loadCodec(this.pager, state.rec.structures, state.rec.commit, opts.sharedStructures);
    this.state = state;
    this.durable = state;
    // No pass is open: the first commit starts one, with a fresh salt (entries a crash left of an
    // earlier pass, under commit numbers this store will use again, can never be replayed) —
    // unless open continues the pass recovery replayed (settleOpen).
    this.log = opts.commitProtocol === 'log' && !opts.readOnly ? new CommitLog(logCells) : null;
    this.tree = treeOf(state.rec.main, state.rec.ranges, state.rec.nodes);
    this.queue = new WriteQueue<V, GroupCommit>(this.groupHost(), { groupWrites: opts.maxGroupWrites, groupBytes: opts.maxGroupBytes, queuedWrites: opts.maxQueuedWrites });
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
    // A native async or generator function is known by its prototype's tag (bound ones too):
    // refused before it runs, so none of its body executes (a generator's body would run only when
    // its result is iterated, on an ended transaction). A transpiled async one is caught by its
    // result in run().
    const kind = deferredBody(fn);
    if (kind !== null) throw invalid(`transaction functions must be synchronous: ${kind} was passed; it was not run and nothing was committed`);
    return this.run(fn as (txn: WriteTxn<V>) => T);
  }

  /**
   * Queues `fn` to run in the next commit group (src/api/writeQueue.ts): it runs on a savepoint of
   * the group, after every write queued before it, and the promise resolves with its return value
   * once the group is durable and published — or rejects with what it threw, leaving nothing of
   * it in the group. Like transaction(), `fn` must be synchronous.
   */
  write<T>(fn: (txn: WriteTxn<V>) => SyncResult<T>): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(invalid(`write needs a function; got ${describe(fn)}`));
    const kind = deferredBody(fn);
    if (kind !== null) return Promise.reject(invalid(`transaction functions must be synchronous: ${kind} was passed to write(); it was not run and nothing was committed`));
    return this.enqueue(fn as (txn: WriteTxn<V>) => T);
  }

  /** write() without the checks of `fn` itself (the single-operation writes pass their own). */
  private enqueue<T>(fn: (txn: WriteTxn<V>) => T): Promise<T> {
    try {
      this.writable();
      if (this.closing) throw closed(`store ${this.path} is closing`);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.queue.add(fn);
  }

  /** store() in the next commit group; resolves once durable (see write()). */
  storeAsync(first: number, last: number, value: V): Promise<void> {
    return this.enqueue((t) => t.store(first, last, value));
  }
  /** insert() in the next commit group; `EEXIST` rejects its own promise only. */
  insertAsync(first: number, last: number, value: V): Promise<void> {
    return this.enqueue((t) => t.insert(first, last, value));
  }
  /** erase() in the next commit group; resolves with the erased value once durable. */
  eraseAsync(index: number): Promise<V | undefined> {
    return this.enqueue((t) => t.erase(index));
  }
  /** clear() in the next commit group. */
  clearAsync(first: number, last: number): Promise<void> {
    return this.enqueue((t) => t.clear(first, last));
  }
  /** allocRange() in the next commit group; resolves with the start once durable, `EBUSY` rejects its own promise only. */
  allocRangeAsync(size: number, min: number, max: number, value: V): Promise<number> {
    return this.enqueue((t) => t.allocRange(size, min, max, value));
  }
  /** allocRangeRev() in the next commit group. */
  allocRangeRevAsync(size: number, min: number, max: number, value: V): Promise<number> {
    return this.enqueue((t) => t.allocRangeRev(size, min, max, value));
  }

  /** Throws why the store takes no write now (closed, read-only, a failed commit). */
  private writable(): void {
    this.guard();
    if (this.opts.readOnly) throw readOnly(`store ${this.path} was opened read-only`);
    if (this.poisoned) throw ioFailed(`store ${this.path} had a failed write and must be reopened (${this.poisoned.message})`, this.poisoned);
  }

  /** transaction() without the checks of `fn` itself (the single-operation writes pass their own). */
  private run<T>(fn: (txn: WriteTxn<V>) => T): T {
    this.writable();
    if (this.closing) throw closed(`store ${this.path} is closing`);
    if (this.inTransaction) throw invalid('transactions do not nest: a transaction is already open on this store');
    // Asynchronous writes called before this one commit before it, in order.
    if (this.queue.busy) {
      this.queue.drainSync();
      // A checkpoint after one of their groups may have failed (the groups stay committed).
      this.writable();
    }
    this.inTransaction = true;
    const arena = (this.arena ??= new ValueArena());
    arena.reset();
    const txn = new WriteTxnImpl<V>(this.pager, this.committer.scratch, this.tree, this.state.rec.commit, arena);
    try {
      const result = fn(txn);
      if (isThenable(result)) refuseThenable(result);
      txn.end();
      if (txn.changed) this.commit(txn);
      return result;
    } finally {
      txn.end();
      this.inTransaction = false;
    }
  }

  /**
   * Commits `changes` synchronously and publishes it. A failure makes the store refuse writes, and
   * is thrown. `group`: a write group's commit (src/api/writeQueue.ts), whose writers' promises
   * settle after it — a failed checkpoint after it is not thrown (checkpointAfterGroup).
   */
  private commit(changes: CommitChanges, group = false): void {
    const readers = this.readerSet();
    let result;
    try {
      this.markOpen();
      result = writeCommit(this.committer, this.state, this.commitInput(changes, readers), this.commitOptions());
    } catch (err) {
      throw this.failCommit(err);
    }
    const flags = result.state.rec.flags;
    this.publish(result.state, result.cellsWritten, this.opts.sync === 'full' ? ((flags & FLAG_CELLS_DURABLE) !== 0 ? 2 : 1) : 0);
    if (group) this.checkpointAfterGroup();
    else this.maybeCheckpoint();
  }

  /**
   * maybeCheckpoint() after a write group's commit, which is published whatever happens here. A
   * failed checkpoint makes the store refuse writes from then on (checkpoint() sets `poisoned`: the
   * writes queued behind are refused with it), but it is not thrown: the queue settles the group's
   * promises after publishing it, and an error thrown there left them pending forever and reached
   * the event loop as an unhandled rejection (with `sync: 'none'`, a group resolves once committed,
   * as a synchronous write returns once committed).
   */
  private checkpointAfterGroup(): void {
    try {
      this.maybeCheckpoint();
    } catch {
      // `poisoned` holds the error; the next write is refused with it.
    }
  }

  /**
   * The commit of `changes`, encoded and not yet written (storage/commit/commit.ts planCommit).
   * Fails as commit(). With `after` (a commit prepared and not yet durable, src/api/writeQueue.ts),
   * planned on top of it, the published version counted as a reader: a reader that opens before
   * `after` is published reads that version, so the cells it reaches are not reused yet.
   */
  private plan(changes: CommitChanges, after?: DurableState): PreparedCommit {
    let readers = this.readerSet();
    if (after !== undefined) readers = { ...mergeReaders([this.state.rec.commit], readers), durableBase: readers.durableBase };
    try {
      this.markOpen();
      return planCommit(this.committer, after ?? this.state, this.commitInput(changes, readers), this.commitOptions());
    } catch (err) {
      throw this.failCommit(err);
    }
  }

  private commitInput(changes: CommitChanges, readers: ReaderSet): CommitInput {
    return { main: changes.tree, frees: changes.frees, readers, values: changes.arena };
  }

  private commitOptions(): CommitOptions {
    const full = this.opts.sync === 'full';
    return { protocol: this.opts.commitProtocol, sync: full, packValues: this.opts.packValues, boot: this.boot, keepSlot: full ? -1 : this.durable.slot, log: this.log };
  }

  /**
   * Makes the current version a durable base on its own: syncs every write so far, writes the
   * current commit's record again — marked durable, its cells synced — into a slot that neither
   * the last durable base, the newest record, a commit prepared ahead (plannedSlot) nor a commit
   * log's pass base holds, and syncs that. With `sync: 'none'`, recovery after a power loss then
   * opens at this version at least (recovery/recover.ts), so the cells only older versions reach
   * may be reused; with a commit log, nothing before it needs replaying (a new, empty pass).
   */
  /**
   * Sets this writer's open mark (storage/format/pageFile.ts) before its first write of a commit
   * record: until a clean close clears it, a writable open of this boot syncs before it commits
   * (settleOpen). A failed write fails the commit or checkpoint that asked for it.
   */
  private markOpen(): void {
    if (this.marked) return;
    writeOpenMark(this.io, this.boot);
    this.marked = true;
  }

  private checkpoint(): void {
    // A store with a commit log: the copy names a new, empty pass, so no entry is replayed over it.
    const log = this.state.rec.log.cell === 0 ? this.state.rec.log : { ...this.state.rec.log, salt: newSalt(), start: 0 };
    // The writer's boot: with a log, a read-only open of this boot need not replay the new pass.
    // The sync below makes the file's size durable: every page it has now.
    const syncedCells = Math.max(this.state.rec.syncedCells, Math.floor(this.io.size() / CELL_BYTES));
    const rec: CommitRecord = { ...this.state.rec, flags: FLAG_CELLS_DURABLE, boot: log.cell === 0 ? 0 : this.boot, log, syncedCells };
    // With a commit log, the slot of the record its pass replays from (the open pass's, else the
    // one recovery found) stays until this copy is durable.
    const baseSlot = this.log?.open != null ? this.log.baseSlot : this.state.rec.log.cell === 0 ? -1 : this.logBaseSlot;
    const slot = nextSlot(this.state.slot, this.durable.slot, this.plannedSlot, baseSlot);
    const page = new Uint8Array(PAGE_BYTES);
    page.set(encodeCommitRecord(rec));
    try {
      this.markOpen();
      this.io.sync();
      this.io.write(page, ringSlotOffsetBytes(slot));
      this.io.sync();
    } catch (err) {
      // The store refuses writes from now on; what it committed stays in the file, as after a
      // killed process, and a reopen on this boot finds it.
      const what = this.log !== null ? 'its commits stay durable in the commit log' : `sync: 'none'; versions after ${this.durable.rec.commit} are committed, not durable`;
      this.poisoned = ioError(`the checkpoint of version ${rec.commit} (${what})`, err);
      throw this.poisoned;
    }
    this.syncs += 2;
    this.state = { rec, slot };
    this.durable = this.state;
    // With a commit log, the copy begins a pass: the next commits are logged after it.
    if (this.log !== null && rec.log.cell !== 0) this.log.startPass(rec.log, slot);
    this.cellsAtDurable = this.cellsWritten;
  }

  /**
   * Makes every commit so far durable. With `sync: 'full'` they already are; with `sync: 'none'`
   * this is a checkpoint (two fdatasyncs): a power loss after it keeps the current version, and the
   * cells older versions reach become reusable (stats().durableVersion). Asynchronous writes
   * queued before it commit first.
   */
  flush(): void {
    this.writable();
    if (this.inTransaction) throw invalid('flush() inside a transaction function: call it after the function returns');
    if (this.queue.busy) {
      this.queue.drainSync();
      this.writable(); // a checkpoint after a group may have failed
    }
    if (this.durable.rec.commit < this.state.rec.commit) this.checkpoint();
  }

  /** After a commit with `sync: 'none'`: a checkpoint once enough cells were written since the last one. */
  private maybeCheckpoint(): void {
    if (this.opts.sync === 'full' || this.durable.rec.commit === this.state.rec.commit) return;
    const due = Math.max(CHECKPOINT_MIN_CELLS, Math.floor(this.state.rec.allocatedCells / CHECKPOINT_FILE_SHARE));
    if (this.cellsWritten - this.cellsAtDurable >= due) this.checkpoint();
  }

  /**
   * At a writable open: a newest commit written without a sync (this boot's, so whole in the page
   * cache) becomes a durable base before anything reuses a cell it reaches. With a commit log, the
   * pass recovery replayed (`pass`, recovery/recover.ts: the store opened at its last entry, or at
   * its base when it has none) is continued: the next commit appends to it — one durable write —
   * instead of starting a new pass with two syncs, as after close() (which leaves a short pass as
   * it is) or a crash.
   * @internal called by open()
   */
  settleOpen(baseSlot: number, pass: { end: number; entries: number } | null = null): void {
    if (this.opts.readOnly) return;
    // Recovery read the ring through this boot's page cache: the record it opens at (or the pass
    // base it continues) may be there only — written by a process killed before the commit's
    // fdatasync, or by a commit whose fdatasync failed (EIO: the store refused writes and was
    // reopened). The next commit frees and reuses the cells only older versions reach, and a
    // logged one appends to the pass that record began, so the record must be durable first: else
    // a power loss falls back past it, to a version whose cells were reused (ECORRUPT, or an older
    // commit still) or to a pass base that never reached the disk (every commit logged since is
    // lost), though each was acknowledged. That can be so only when a writer of this boot did not
    // close cleanly: its open mark is still set (storage/format/pageFile.ts). A record another boot
    // wrote was read from the disk; commit 0 is the creation's, synced by it; a VOLATILE record is
    // checkpointed below, which syncs first. A failed sync leaves the store readable and refusing
    // writes, as after a failed commit.
    const rec = this.state.rec;
    try {
      if (rec.commit !== 0 && (rec.flags & FLAG_VOLATILE) === 0 && (rec.boot === 0 || rec.boot === this.boot) && readOpenMark(this.io) === this.boot) {
        this.io.sync();
        // Everything that writer left is durable now: its mark goes (this writer sets its own
        // before its first commit).
        writeOpenMark(this.io, null);
      }
    } catch (err) {
      this.poisoned = ioError(`the sync at open (the version it opens at, ${this.state.rec.commit}, may not be durable)`, err);
      return;
    }
    // The newest durable record: with a commit log, what a power loss replays from until the next
    // pass is durable, so no commit takes its slot before then (storage/commit/commitLog.ts).
    this.logBaseSlot = baseSlot;
    if (this.log !== null) this.log.baseSlot = baseSlot;
    const volatile = (this.state.rec.flags & FLAG_VOLATILE) !== 0;
    if (this.log !== null && pass !== null && !volatile && this.state.rec.log.cell !== 0) {
      // The pass's entries were written home again by the replay, and stay in the log until the
      // next pass's first commit has synced everything: the replayed commits are as durable as
      // when they were first written. (A commit needing a log of another size starts a new pass
      // anyway: storage/commit/commit.ts, placeLog.)
      this.log.startPass(this.state.rec.log, baseSlot, pass.end, pass.entries);
      return;
    }
    // A record durable through the log only (recovery replayed it), in a store opened without
    // one: it becomes a durable base before the log's cells are freed.
    const logged = (this.state.rec.flags & FLAG_LOGGED) !== 0;
    if (!volatile && !logged) return;
    this.checkpoint();
  }

  /** Makes a durable commit the current version. */
  private publish(state: DurableState, cellsWritten: number, syncs: number): void {
    this.state = state;
    this.tree = treeOf(state.rec.main, state.rec.ranges, state.rec.nodes);
    this.treeReader = null;
    this.commits++;
    this.cellsWritten += cellsWritten;
    this.syncs += syncs;
    if (this.opts.sync === 'full') {
      this.durable = state;
      this.cellsAtDurable = this.cellsWritten;
    }
    if (state.slot === this.plannedSlot) this.plannedSlot = -1;
    this.sharing?.publish(state.rec);
  }

  /** A commit failed: the store refuses writes from now on. Returns the error its callers get. */
  private failCommit(err: unknown): MapleError | AssertionError {
    this.log?.close();
    // The file is suspect: never reuse the commit number, re-read every page, refuse writes.
    this.state = { ...this.state, rec: { ...this.state.rec, highestCommit: this.state.rec.highestCommit + 1 } };
    this.pool.invalidateAll();
    if (err instanceof AssertionError) {
      // A bug, not an I/O fault: it is thrown as itself, and the store refuses writes after it.
      this.poisoned = ioFailed(`a commit stopped on an internal error (${err.message})`, err);
      return err;
    }
    this.poisoned = err instanceof MapleError && err.code !== 'EIO' ? ioFailed(`commit failed: ${err.message}`, err) : ioError('commit', err);
    return this.poisoned;
  }

  /** How the write queue (src/api/writeQueue.ts) runs groups on this store. */
  private groupHost(): GroupHost<V, GroupCommit> {
    return {
      checkWritable: () => this.writable(),
      inGroup: (body, after) => {
        this.inTransaction = true;
        try {
          const base = after === undefined ? this.tree : treeOf(after.io.prepared.rec.main, after.io.prepared.rec.ranges, after.io.prepared.rec.nodes);
          const version = after === undefined ? this.state.rec.commit : after.io.prepared.rec.commit;
          return body(new WriteGroup<V>(this.pager, this.committer.scratch, base, version, (this.arena ??= new ValueArena())));
        } finally {
          this.inTransaction = false;
        }
      },
      prepare: (group, after) => {
        let p = this.plan(group, after === undefined ? undefined : { rec: after.io.prepared.rec, slot: after.io.prepared.slot });
        this.plannedSlot = p.slot;
        // Planned ahead of a commit in flight: its log entry gets a copy of its own (the log's
        // buffer is the next commit's).
        if (after !== undefined && p.logAppend !== null) p = { ...p, logAppend: { ...p.logAppend, bytes: p.logAppend.bytes.slice() } };
        // A two-sync commit writes its record after a sync, when a commit planned ahead of this
        // one may have refilled the store's record page: it gets a copy of its own. (A one-sync
        // commit writes its record as its I/O starts, before anything else runs.)
        return { io: new AsyncCommitWrite(this.committer, this.pool, p.twoSync ? { ...p, recordPage: p.recordPage.slice() } : p) };
      },
      commitSync: (group) => this.commit(group, true),
      publish: ({ io }) => {
        const p = io.prepared;
        this.publish({ rec: p.rec, slot: p.slot }, p.cellsWritten, io.syncs);
        this.checkpointAfterGroup();
      },
      fail: (err) => this.failCommit(err),
    };
  }

  /** Every version an open reader reads, here (worker threads too) or in another process: what they reach is kept. */
  private readerSet(): ReaderSet {
    let here: readonly number[] = this.readers.versions();
    // With `sync: 'none'` the last durable base is what a power loss leaves: what it reaches is kept.
    const base = this.durable.rec.commit;
    if (base < this.state.rec.commit) here = mergeReaders([base], { versions: here, any: false }).versions;
    if (this.sharing !== undefined) here = mergeReaders(here, { versions: this.sharing.versions(), any: false }).versions;
    const set = this.otherReaders === undefined ? { versions: here, any: false } : mergeReaders(here, this.otherReaders.list());
    return base < this.state.rec.commit ? { ...set, durableBase: base } : set;
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
   * A handle for reading this store from worker threads of this process: post it to a Worker
   * (postMessage or workerData: plain data and a SharedArrayBuffer, shared, not copied) and call
   * openShared(handle) there. Every call returns the same handle. Given a Worker, the store frees
   * that thread's reader slots as soon as it exits; slots of other threads that ended are freed
   * by a periodic check of the thread (Linux /proc).
   */
  share(worker?: ExitingThread): SharedHandle {
    this.guard();
    if (worker !== undefined && (typeof worker !== 'object' || worker === null || typeof worker.threadId !== 'number' || typeof worker.once !== 'function')) {
      throw invalid(`share() takes a worker_threads Worker (or nothing); got ${describe(worker)}`);
    }
    if (worker !== undefined && worker.threadId < 0) throw invalid('share() was given a Worker that has already exited');
    if (!this.ownsFile || !(this.io instanceof NodeFileIO)) throw invalid(`store ${this.path} is on a file implementation of its own (a test's FileIO): other threads cannot open it`);
    let sharing = this.sharing;
    if (sharing === undefined) {
      sharing = new SharedWriter(this.io, this.state.rec, threadId + 1);
      this.sharing = sharing;
      // Commits now write through `io` noting the pages written (storage/io/pageLog.ts).
      this.committer.io = sharing.io;
      this.sharedHandle = makeHandle(this.path, this.io.identity(), sharing.area.buffer);
    }
    if (worker !== undefined) sharing.watch(worker);
    return this.sharedHandle!;
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
      sharedReaders: this.sharing?.pinned ?? 0,
      snapshotsLeaked: this.readers.leaked.snapshot,
      iteratorsLeaked: this.readers.leaked.iterator,
      cacheBytes: this.pool.maxFrames * PAGE_BYTES,
      cacheHits: this.pool.hits,
      cacheMisses: this.pool.misses,
      cacheReadAhead: this.pool.readAhead,
      commits: this.commits,
      syncs: this.syncs,
      durableVersion: this.durable.rec.commit,
      writesQueued: this.queue.pending,
      groupsAhead: this.queue.groupsAhead,
      cellsWritten: this.cellsWritten,
      highWaterBytes: hwmBytes,
      spaceMapHeight: rec.space.height,
      logBytes: rec.log.cells * CELL_BYTES,
      sync: this.opts.sync,
      commitProtocol: this.opts.commitProtocol,
      recovery: this.recovery,
    };
  }

  /**
   * Releases the file, the writer lock or reader registration; idempotent; later use is `ECLOSED`.
   * Asynchronous writes still queued or in flight are committed first, synchronously, and their
   * promises settle (closeAsync() does it without blocking the event loop). With `sync: 'none'`, a
   * checkpoint that fails is `EIO`, thrown once the store is closed.
   */
  close(): void {
    if (this.closed) return;
    if (this.inTransaction) throw invalid('close() inside a transaction function: close the store after the function returns');
    this.closing = true;
    try {
      if (this.queue.busy) this.queue.drainSync(true);
    } catch {
      // Any error: a commit failed; its callers got the error, and the writes behind it are refused below.
    }
    // With `sync: 'none'`, close() leaves the last version durable. With a commit log, durable
    // already, it leaves it durable without the log when the pass holds more than
    // CLOSE_KEEP_PASS_BYTES of entries, so the next open has little to replay; a shorter pass is
    // left as it is, replayed and continued by the next writable open (settleOpen), read through
    // by a read-only open after a reboot.
    const logged = this.log !== null && (this.state.rec.flags & FLAG_LOGGED) !== 0 && !(this.log.open !== null && this.log.passBytes <= CLOSE_KEEP_PASS_BYTES);
    // A clean close: everything committed is durable (after the checkpoint below, when one is
    // made), so the next writer of this boot need not sync before its first commit (settleOpen).
    // The mark is cleared first, so that the checkpoint's sync covers it; a failed checkpoint sets
    // it again, and after a failed commit it stays.
    if (this.marked && this.poisoned === null) {
      try {
        writeOpenMark(this.io, null);
        this.marked = false;
      } catch {
        // The mark stays set: the next writable open syncs once, which is all it costs.
      }
    }
    // With `sync: 'none'`, a failed checkpoint leaves the versions since the last one committed but
    // not durable: said once the store is closed (below). With a commit log they are durable in it.
    let notDurable: MapleError | undefined;
    if (!this.opts.readOnly && this.poisoned === null && (this.durable.rec.commit < this.state.rec.commit || logged)) {
      try {
        this.checkpoint();
      } catch (err) {
        if (this.opts.sync === 'none' && err instanceof MapleError) notDurable = err;
        // The store is poisoned; the file keeps its last durable base.
        try {
          writeOpenMark(this.io, this.boot);
        } catch {
          // The device is failing: a write of 8 bytes failed too.
        }
      }
    }
    this.closed = true;
    this.sharing?.close();
    this.queue.refuseAll(() => closed(`store ${this.path} was closed after a failed commit, before this write could run`));
    // Where the file is now: renamed while open (it or a directory above it), the lock and the
    // registration beside it moved with it.
    // A read-only store after a reboot reads through the replayed log (recovery/logReplay.ts), which asks its file.
    const moved = this.ownsFile ? this.io.currentPath?.() : undefined;
    try {
      if (this.ownsFile) this.io.close();
    } finally {
      this.lock?.release(moved);
      this.readerFile?.release(moved);
    }
    if (notDurable !== undefined) throw ioFailed(`the store is closed, but not every version is durable: ${notDurable.message.replace(/^EIO: /, '')}`, notDurable);
  }

  /**
   * Closes the store once every asynchronous write called before has committed, without
   * blocking the event loop (close() commits them synchronously); writes called meanwhile are
   * refused with ECLOSED.
   */
  async closeAsync(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    await this.queue.idle();
    this.close();
  }

  /** `await using store = open(…)`: closeAsync(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAsync();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
