/**
 * MapleStore: the public store. One writer (this object, holding the file's writer lock), any
 * number of snapshots; every write is a copy-on-write transaction committed atomically.
 */
import * as fs from 'node:fs';
import { recover, type RecoveryReport } from '../recovery/recover.js';
import { checkStore } from '../recovery/check.js';
import { BufferPool } from '../storage/bufferPool.js';
import { type CommitProtocol, type DurableState, ioError, pendingSplit, treeOf, writeCommit } from '../storage/commit.js';
import { NO_STRUCTURES, encodeCommitRecord } from '../storage/commitRecord.js';
import { type FileIO, NodeFileIO } from '../storage/fileIO.js';
import { WriterLock } from '../storage/lockFile.js';
import { OtherReaders, ReaderFile, readersDir } from '../storage/readerFiles.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES, encodeHeader, readHeader, ringSlotOffsetBytes } from '../storage/pageFile.js';
import { Pager } from '../storage/pager.js';
import { type ReaderSet, mergeReaders } from '../storage/readerSet.js';
import { loadCodec } from '../storage/structures.js';
import { describe } from './args.js';
import { MapleError, invalid } from './errors.js';
import { ReaderRegistry } from './readers.js';
import { ReadViewBase } from './readView.js';
import { Snapshot } from './snapshot.js';
import type { TreeState } from './tree.js';
import { type WriteTxn, WriteTxnImpl } from './txn.js';
import { type Range, TreeReader } from './view.js';

export interface OpenOptions {
  /** Create the file when missing (default true). */
  create?: boolean;
  /** Open for reading only (default false): no writer lock, writes throw EREADONLY. */
  readOnly?: boolean;
  /** 'full' (default): a commit returns once durable. 'none': no fsync. */
  sync?: 'full' | 'none';
  /** Buffer-pool budget in bytes (default 64 MiB). */
  cacheSize?: number;
  /** 'one-sync' (default): one fdatasync per commit, validated at open. 'two-sync': cells, sync, record, sync. */
  commitProtocol?: CommitProtocol;
  /**
   * Pack small values (8..224 msgpack bytes) of one commit into shared 256-byte blocks instead of
   * a record each (default true): bulk loads take ~4× less file. Survivors of a block down to four
   * references are relocated so they do not pin it (README, design notes); false gives a record
   * per value.
   */
  packValues?: boolean;
  /**
   * Encode objects with shared record structures (default true, as lmdb-js does): each object
   * shape's key list is kept once in the file, and `{ id: 7, prot: 3 }` takes 3 bytes instead of
   * 12 — small enough to sit inline in its leaf. false: every new value is self-described msgpack
   * (values already written with structures still read).
   */
  sharedStructures?: boolean;
  /** For tests: use this file implementation instead of opening `path` (no lock file is taken). */
  fileIO?: FileIO;
}

export interface StoreStats {
  version: number;
  ranges: number;
  height: number;
  nodes: number;
  fileBytes: number;
  /**
   * Bytes free for reuse by the next commit: below the high-water mark never allocated or freed
   * and reachable by no open reader, plus the file beyond the high-water mark.
   */
  freeBytes: number;
  /** Bytes freed by commits that an open reader (snapshot, iterator, read-only store in any process) may still reach. */
  pendingBytes: number;
  snapshots: number;
  /** Read-only stores open on this file in any process (this one too), as the writer last counted them (storage/readerFiles.ts); 0 on a read-only store. */
  readOnlyReaders: number;
  snapshotsLeaked: number;
  iteratorsLeaked: number;
  cacheBytes: number;
  cacheHits: number;
  cacheMisses: number;
  /** Pages the pool cached around a miss (fault-around, storage/bufferPool.ts) without being asked for them. */
  cacheReadAhead: number;
  commits: number;
  cellsWritten: number;
  highWaterBytes: number;
  spaceMapHeight: number;
  sync: 'full' | 'none';
  commitProtocol: CommitProtocol;
  recovery: RecoveryReport;
}

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

function checkOptions(options: unknown): Required<Omit<OpenOptions, 'fileIO'>> & { fileIO?: FileIO } {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalid(`options must be an object; got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  const bool = (name: string, dflt: boolean): boolean => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw invalid(`option ${name} must be a boolean; got ${describe(v)}`);
    return v;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], dflt: T): T => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v as T)) throw invalid(`option ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${describe(v)}`);
    return v as T;
  };
  const cache = o.cacheSize;
  if (cache !== undefined && (typeof cache !== 'number' || !Number.isFinite(cache) || cache <= 0)) {
    throw invalid(`option cacheSize must be a positive number of bytes; got ${describe(cache)}`);
  }
  const fileIO = o.fileIO as FileIO | undefined;
  if (fileIO !== undefined && (typeof fileIO !== 'object' || typeof fileIO.read !== 'function')) throw invalid('option fileIO must implement FileIO');
  return {
    create: bool('create', true),
    readOnly: bool('readOnly', false),
    sync: oneOf('sync', ['full', 'none'] as const, 'full'),
    cacheSize: (cache as number | undefined) ?? DEFAULT_CACHE_BYTES,
    commitProtocol: oneOf('commitProtocol', ['one-sync', 'two-sync'] as const, 'one-sync'),
    packValues: bool('packValues', true),
    sharedStructures: bool('sharedStructures', true),
    fileIO,
  };
}

/** Opens (or creates) the store at `path`. */
export function open<V = unknown>(path: string, options?: OpenOptions): MapleStore<V> {
  if (typeof path !== 'string' || path.length === 0) throw invalid(`path must be a non-empty string; got ${describe(path)}`);
  const opts = checkOptions(options);
  let io: FileIO | undefined = opts.fileIO;
  let lock: WriterLock | undefined;
  let readerFile: ReaderFile | undefined;
  try {
    if (!io) {
      const exists = fs.existsSync(path);
      if (!exists && (!opts.create || opts.readOnly)) throw new MapleError('ENOENT', `${path} does not exist${opts.readOnly ? ' (read-only open never creates)' : ' and create is false'}`);
      if (!opts.readOnly) lock = WriterLock.acquire(path);
      // A reader registers before it reads which version is current (storage/readerFiles.ts).
      else readerFile = ReaderFile.register(path);
      io = new NodeFileIO(path, opts.readOnly ? 'r' : exists ? 'r+' : 'w+');
      lock?.lockInode(path);
    }
    if (unfinished(io)) {
      if (opts.readOnly) throw new MapleError('ENOTSTORE', `${path} is empty, not a maple-store file`);
      initialize(io, opts.sync === 'full');
    }
    readHeader(io, path);
    const pool = new BufferPool(io, opts.cacheSize);
    const recovered = recover(io, pool, path);
    const store = new MapleStore<V>(path, io, pool, recovered.state, recovered.report, opts, lock, readerFile);
    readerFile?.setVersion(recovered.state.rec.commit);
    return store;
  } catch (err) {
    lock?.release();
    readerFile?.release();
    if (io && !opts.fileIO) io.close();
    if (err instanceof MapleError) throw err;
    throw ioError(`opening ${path}`, err);
  }
}

/**
 * A file that was never finished being created: no cells yet and a header page never written (all
 * zero). Creation writes the first commit record, syncs, then writes the header and syncs, so a
 * crash during creation leaves exactly this — and a file with any other content is not ours to
 * overwrite (ENOTSTORE).
 */
function unfinished(io: FileIO): boolean {
  const size = io.size();
  if (size === 0) return true;
  if (size > CELL_BASE * CELL_BYTES) return false;
  const page = new Uint8Array(PAGE_BYTES);
  io.read(page, 0);
  return page.every((b) => b === 0);
}

function initialize(io: FileIO, sync: boolean): void {
  const rec = encodeCommitRecord({
    commit: 0,
    flags: 0,
    main: { cell: 0, fresh: false, height: 0 },
    ranges: 0,
    nodes: 0,
    space: { cell: 0, fresh: false, height: 0 },
    pending: { cell: 0, fresh: false, height: 0 },
    highWaterCell: CELL_BASE,
    allocatedCells: 0,
    pendingCells: 0,
    highestCommit: 0,
    nonce: 0,
    structures: NO_STRUCTURES,
  });
  const page = new Uint8Array(PAGE_BYTES);
  page.set(rec);
  io.write(page, ringSlotOffsetBytes(0));
  if (sync) io.sync();
  io.write(encodeHeader(), 0);
  if (sync) io.sync();
}

export class MapleStore<V = unknown> extends ReadViewBase<V> {
  private readonly pager: Pager;
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

  /** @internal use open() */
  constructor(
    readonly path: string,
    private readonly io: FileIO,
    private readonly pool: BufferPool,
    state: DurableState,
    private readonly recovery: RecoveryReport,
    private readonly opts: ReturnType<typeof checkOptions>,
    private readonly lock: WriterLock | undefined,
    private readonly readerFile?: ReaderFile,
  ) {
    super();
    // The writer keeps what readers in other processes read (storage/readerFiles.ts).
    this.otherReaders = lock !== undefined ? new OtherReaders(readersDir(path)) : undefined;
    this.pager = new Pager(io, pool);
    this.pager.codec = loadCodec(this.pager, state.rec.structures, state.rec.commit, opts.sharedStructures);
    this.state = state;
    this.tree = treeOf(state.rec.main, state.rec.ranges, state.rec.nodes);
  }

  get version(): number {
    this.guard();
    return this.state.rec.commit;
  }

  get readOnly(): boolean {
    return this.opts.readOnly;
  }

  private guard(): void {
    if (this.closed) throw new MapleError('ECLOSED', `store ${this.path} is closed`);
  }

  protected reader(): TreeReader {
    this.guard();
    // One reader per committed version (it is immutable): a load allocates nothing for it.
    return (this.treeReader ??= new TreeReader(this.pager, this.tree, this.state.rec.commit));
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    // The store's version is always committed; the iterator holds it until finished (src/readers.ts).
    const it = reader.frameRanges(from, to, reverse, () => this.guard())!;
    it.registry = this.readers;
    this.readers.hold(it);
    return it as IterableIterator<Range<V>>;
  }

  /** Runs `fn` as one atomic commit; a throw rolls everything back and leaves the file untouched. */
  transaction<T>(fn: (txn: WriteTxn<V>) => T): T {
    this.guard();
    if (typeof fn !== 'function') throw invalid(`transaction needs a function; got ${describe(fn)}`);
    if (this.opts.readOnly) throw new MapleError('EREADONLY', `store ${this.path} was opened read-only`);
    if (this.poisoned) throw new MapleError('EIO', `store ${this.path} had a failed write and must be reopened (${this.poisoned.message})`, { cause: this.poisoned });
    if (this.inTransaction) throw invalid('transactions do not nest: a transaction is already open on this store');
    this.inTransaction = true;
    const txn = new WriteTxnImpl<V>(this.pager, this.tree, this.state.rec.commit);
    try {
      const result = fn(txn);
      if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
        throw invalid('transaction functions must be synchronous (the function returned a promise); nothing was committed');
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
      const { state, cellsWritten } = writeCommit(this.io, this.pager, this.pool, this.state, { main: txn.tree, frees: txn.frees, packedDeltas: txn.packedDeltas, readers, newValueMark: txn.newValueMark }, {
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
      this.poisoned = err instanceof MapleError && err.code !== 'EIO' ? new MapleError('EIO', `commit failed: ${err.message}`, { cause: err }) : ioError('commit', err);
      throw this.poisoned;
    }
  }

  /** Every version an open reader reads, here or in another process: what they reach is kept. */
  private readerSet(): ReaderSet {
    const here = this.readers.versions();
    return this.otherReaders === undefined ? { versions: here, any: false } : mergeReaders(here, this.otherReaders.list());
  }

  store(first: number, last: number, value: V): void {
    this.transaction((t) => t.store(first, last, value));
  }
  insert(first: number, last: number, value: V): void {
    this.transaction((t) => t.insert(first, last, value));
  }
  erase(index: number): V | undefined {
    return this.transaction((t) => t.erase(index));
  }
  clear(first: number, last: number): void {
    this.transaction((t) => t.clear(first, last));
  }
  allocRange(size: number, min: number, max: number, value: V): number {
    return this.transaction((t) => t.allocRange(size, min, max, value));
  }
  allocRangeRev(size: number, min: number, max: number, value: V): number {
    return this.transaction((t) => t.allocRangeRev(size, min, max, value));
  }

  /** An O(1) read-only view of the current version, kept until closed. */
  snapshot(): Snapshot<V> {
    this.guard();
    const reader = new TreeReader(this.pager, this.tree, this.state.rec.commit);
    const token = this.readers.register(reader.version, 'snapshot');
    const snap = new Snapshot<V>(reader, token, () => !this.closed);
    this.readers.watch(snap, token);
    return snap;
  }

  /** Verifies every on-disk invariant and checksum of the current version; throws ECORRUPT. */
  check(): void {
    this.guard();
    checkStore(this.pager, this.state.rec);
  }

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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.opts.fileIO) this.io.close();
    } finally {
      this.lock?.release();
      this.readerFile?.release();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
