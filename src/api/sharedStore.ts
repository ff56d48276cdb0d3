/**
 * Reading a store from worker threads: MapleStore.share() gives a handle (plain data and a
 * SharedArrayBuffer, so postMessage and workerData share it rather than copy it); openShared(handle)
 * in any thread of the same process gives a SharedStore — the read API and snapshot(), reading the
 * file through its own file descriptor and its own buffer pool, never waiting for the writer.
 *
 * A SharedStore's own reads (load, ranges, …) read the newest published version: each call looks
 * at the publish count (one atomic load) and, when the writer has published since, pins the newer
 * version (src/read/sharedPins.ts) and refreshes the pages written in between in its pool from the
 * writer's page ring, or drops them where the ring no longer holds them (storage/io/pageLog.ts). That pin lasts until the current synchronous run of code ends (a
 * microtask releases it), so a thread that stops reading pins nothing; an iterator pins its version
 * until it finishes. snapshot() pins the newest version until closed: O(1), no file operation.
 */
import { threadId } from 'node:worker_threads';
import { closed, invalid, ioError, MapleError, notFound, notStore } from '../common/errors.js';
import { BufferPool } from '../../storage/io/bufferPool.js';
import { CellReader, loadCodec } from '../../storage/io/cellReader.js';
import type { FrameRanges } from '../read/frameRanges.js';
import type { TreeState } from '../tree/write.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { PROC } from '../../storage/io/liveness.js';
import { dropWrittenPages, type PageRefresh } from '../../storage/io/pageLog.js';
import { type PublishedRoot, publishCount, readPublished } from '../../storage/io/publishedRoot.js';
import { ReaderTable, type SlotOwner } from '../../storage/io/readerTable.js';
import { SharedArea } from '../../storage/io/sharedArea.js';
import { treeOf } from '../../storage/commit/commit.js';
import { type PinHooks, type PinToken, SharedPins } from '../read/sharedPins.js';
import { type Range, TreeReader } from '../read/treeReader.js';
import { DEFAULT_CACHE_BYTES, PAGE_BYTES, START_CHECK_MS } from '../common/limits.js';
import { describe } from './args.js';
import { refuseUnknownOptions } from './options.js';
import { ReadViewBase } from './readView.js';
import { Snapshot } from './snapshot.js';

const HANDLE_KIND = 'maple-store/shared';

/** What MapleStore.share() returns: post it to a Worker (postMessage or workerData) as it is. */
export interface SharedHandle {
  readonly kind: 'maple-store/shared';
  /** The store's file. */
  readonly path: string;
  /** Device and inode of the file, decimal: a file put at the same path later is refused. */
  readonly device: string;
  readonly inode: string;
  /** The published root, the reader table and the page log (storage/io/sharedArea.ts). */
  readonly buffer: SharedArrayBuffer;
}

export interface SharedOptions {
  /** This thread's buffer-pool budget in bytes (default 64 MiB; at least 64 KiB, as open()). */
  cacheSize?: number;
}

export interface SharedStats {
  /** The newest published version. */
  version: number;
  snapshots: number;
  snapshotsLeaked: number;
  iteratorsLeaked: number;
  cacheBytes: number;
  cacheHits: number;
  cacheMisses: number;
  /** Pages commits wrote since this thread's pool caught up: refreshed from the page ring, or dropped. */
  pagesDropped: number;
  /** Of those, pages the pool held and refreshed by a copy from the writer's page ring. */
  pagesRefreshed: number;
  /** Times the pool was dropped whole (it fell more than the page log behind). */
  poolsDropped: number;
}

/** @internal */
export function makeHandle(path: string, identity: { device: bigint; inode: bigint }, buffer: SharedArrayBuffer): SharedHandle {
  return Object.freeze({ kind: HANDLE_KIND, path, device: String(identity.device), inode: String(identity.inode), buffer });
}

/** Opens, in this thread, the store a MapleStore shared (MapleStore.share()). */
export function openShared<V = unknown>(handle: SharedHandle, options?: SharedOptions): SharedStore<V> {
  return openSharedWith<V>(handle, options, {});
}

/** openShared with test hooks. @internal */
export function openSharedWith<V = unknown>(handle: SharedHandle, options: SharedOptions | undefined, hooks: SharedHooks): SharedStore<V> {
  if (typeof handle !== 'object' || handle === null || (handle as { kind?: unknown }).kind !== HANDLE_KIND) {
    throw invalid(`openShared needs the handle MapleStore.share() returned; got ${describe(handle)}`);
  }
  const { path, device, inode } = handle;
  if (typeof path !== 'string' || typeof device !== 'string' || typeof inode !== 'string') throw invalid('the shared handle is damaged: path, device and inode must be strings');
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalid(`options must be an object; got ${describe(options)}`);
  if (options !== undefined) refuseUnknownOptions(options, ['cacheSize']);
  const cache = options?.cacheSize;
  if (cache !== undefined && (typeof cache !== 'number' || !Number.isFinite(cache) || cache <= 0)) {
    throw invalid(`option cacheSize must be a positive number of bytes; got ${describe(cache)}`);
  }
  const area = SharedArea.attach(handle.buffer);
  if (area.checkWriter(PROC)) throw closedArea(area, path);
  let io: NodeFileIO;
  try {
    io = new NodeFileIO(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${path} does not exist any more`);
    throw ioError(`opening ${path}`, err);
  }
  try {
    const id = io.identity();
    if (String(id.device) !== device || String(id.inode) !== inode) {
      throw notStore(`${path} is another file now (device ${id.device}, inode ${id.inode}; the shared store is device ${device}, inode ${inode})`);
    }
    const self = PROC.self();
    const owner: SlotOwner = {
      tag: threadId + 1,
      tid: self.threadId ?? 0,
      threadStart: self.threadId !== undefined && self.threadStart !== undefined ? Number(self.threadStart) : 0,
    };
    return new SharedStore<V>(path, area, io, new BufferPool(io, cache ?? DEFAULT_CACHE_BYTES), owner, hooks);
  } catch (err) {
    io.close();
    if (err instanceof MapleError) throw err;
    throw ioError(`opening ${path}`, err);
  }
}

/** ECLOSED for a shared store whose writer closed the store, or whose writer's thread ended without closing it. */
function closedArea(area: SharedArea, path: string): MapleError {
  return closed(
    area.writerEnded
      ? `the store ${path} that shared this handle is closed: the thread that wrote it ended without closing it`
      : `the store ${path} that shared this handle is closed`,
  );
}

/**
 * A shared store's reader of one version. Once the writer's thread has ended without closing the
 * store, another writer may take its lock over and reuse the cells this version reaches: a read
 * that then finds a cell it does not expect (ECORRUPT) is ECLOSED, as after the writer's close.
 */
class SharedTreeReader extends TreeReader {
  constructor(pager: CellReader, tree: TreeState, version: number, private readonly failed: (err: unknown) => unknown) {
    super(pager, tree, version);
  }

  override frameRanges(from: number, to: number, reverse: boolean, check: (() => void) | null): FrameRanges | null {
    const it = super.frameRanges(from, to, reverse, check);
    if (it !== null) it.failed = this.failed;
    return it;
  }

  override load(index: number): unknown {
    try {
      return super.load(index);
    } catch (err) {
      throw this.failed(err);
    }
  }

  override entry(index: number): Range<unknown> | undefined {
    try {
      return super.entry(index);
    } catch (err) {
      throw this.failed(err);
    }
  }

  override find(from: number, to: number, reverse: boolean): Range<unknown> | undefined {
    try {
      return super.find(from, to, reverse);
    } catch (err) {
      throw this.failed(err);
    }
  }

  override emptyArea(min: number, max: number, size: number, reverse: boolean): number | undefined {
    try {
      return super.emptyArea(min, max, size, reverse);
    } catch (err) {
      throw this.failed(err);
    }
  }
}

/** Test hooks (never set in production). @internal */
export interface SharedHooks extends PinHooks {
  /** Runs as a copy from the page ring starts: a writer refilling the slot there (storage/io/pageRing.ts). */
  duringRingCopy?: (position: number) => void;
}

/** A store shared by another thread's MapleStore, read in this thread. */
export class SharedStore<V = unknown> extends ReadViewBase<V> {
  private readonly pins: SharedPins;
  private readonly pager: CellReader;
  private closed = false;
  /** Page-log position this thread's pool has caught up with. */
  private logPosition = -1;
  private structuresCount = 0;
  /** The reader of the last version pinned (one per version: it is immutable). */
  private last: TreeReader | null = null;
  /** The own reads' pin, its publish count and reader; released by a microtask. */
  private view: PinToken | null = null;
  private viewCount = -1;
  private viewReader: TreeReader | null = null;
  private releaseQueued = false;
  private pagesDropped = 0;
  private poolsDropped = 0;
  /** When this thread last checked that the writer's thread runs (SharedArea.checkWriter). */
  private writerCheckedAt = 0;
  private readonly refresh: PageRefresh;

  /** @internal use openShared() */
  constructor(
    readonly path: string,
    private readonly area: SharedArea,
    private readonly io: NodeFileIO,
    private readonly pool: BufferPool,
    owner: SlotOwner,
    hooks: SharedHooks,
  ) {
    super();
    if (area === undefined) throw invalid('a SharedStore is made by openShared(handle), not by new SharedStore()');
    this.refresh = { scratch: new Uint8Array(PAGE_BYTES), copied: 0, duringCopy: hooks.duringRingCopy };
    this.pins = new SharedPins(area, new ReaderTable(area), owner, hooks);
    this.pager = new CellReader(io, pool);
  }

  private guard(): void {
    if (this.closed) throw closed(`shared store ${this.path} is closed`);
    if (this.area.closed) throw closedArea(this.area, this.path);
  }

  /** Before pinning a version: at most every START_CHECK_MS, whether the writer's thread still runs (ECLOSED if not). */
  private watchWriter(): void {
    const now = Date.now();
    if (now - this.writerCheckedAt < START_CHECK_MS) return;
    this.writerCheckedAt = now;
    if (this.area.checkWriter(PROC)) this.guard();
  }

  /** What a failed read throws: ECORRUPT found once the store is closed (its writer's thread ended) is ECLOSED. */
  private readonly failed = (err: unknown): unknown => {
    if (err instanceof MapleError && err.code === 'ECORRUPT' && this.area.checkWriter(PROC)) return closedArea(this.area, this.path);
    return err;
  };

  private isOpen(): boolean {
    return !this.closed && !this.area.closed;
  }

  protected reader(): TreeReader {
    this.guard();
    if (this.viewReader !== null && publishCount(this.area) === this.viewCount) return this.viewReader;
    const { token, root, reader } = this.pinNewest('view');
    const previous = this.view;
    this.view = token;
    this.viewCount = root.count;
    this.viewReader = reader;
    previous?.release();
    if (!this.releaseQueued) {
      this.releaseQueued = true;
      queueMicrotask(this.releaseView);
    }
    return reader;
  }

  /** Pins the newest published version (checking the writer's thread first) and its reader; the pin is released if the reader cannot be made. */
  private pinNewest(kind: 'view' | 'snapshot'): { token: PinToken; root: PublishedRoot; reader: TreeReader } {
    this.watchWriter();
    const { token, root } = this.pins.pinNewest(kind);
    try {
      return { token, root, reader: this.readerOf(root) };
    } catch (err) {
      token.release();
      throw this.failed(err);
    }
  }

  private readonly releaseView = (): void => {
    this.releaseQueued = false;
    const token = this.view;
    this.view = null;
    this.viewReader = null;
    this.viewCount = -1;
    token?.release();
  };

  /** The reader of a version just pinned: the pool caught up with it, the codec knows its structures. */
  private readerOf(root: PublishedRoot): TreeReader {
    if (this.logPosition === -1) this.logPosition = root.logEnd;
    else if (root.logEnd !== this.logPosition) {
      const dropped = dropWrittenPages(this.area, this.pool, this.logPosition, root.logEnd, this.refresh);
      if (dropped < 0) this.poolsDropped++;
      else this.pagesDropped += dropped;
      this.logPosition = root.logEnd;
    }
    if (root.structuresCount > this.structuresCount) {
      // The table only grows: the newest decodes every older version's values.
      this.pager.codec = loadCodec(this.pager, { cell: root.structuresCell, fresh: false, count: root.structuresCount, commit: root.structuresCommit }, root.commit, true);
      this.structuresCount = root.structuresCount;
    }
    const last = this.last;
    if (last !== null && last.version === root.commit) return last;
    const reader = new SharedTreeReader(this.pager, treeOf({ cell: root.rootCell, fresh: false, height: root.height, commit: root.rootCommit }, root.ranges, root.nodes), root.commit, this.failed);
    this.last = reader;
    return reader;
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    // Committed versions only: the iterator holds its version until it finishes.
    const it = reader.frameRanges(from, to, reverse, () => this.guard())!;
    this.pins.hold(it);
    it.registry = this.pins;
    return it as IterableIterator<Range<V>>;
  }

  /** The newest published version. */
  get version(): number {
    return this.reader().version;
  }

  /** An O(1) read-only view of the newest published version, kept until closed. */
  snapshot(): Snapshot<V> {
    this.guard();
    const { token, reader } = this.pinNewest('snapshot');
    const snap = new Snapshot<V>(reader, token, () => this.isOpen());
    this.pins.watch(snap, token);
    return snap;
  }

  stats(): SharedStats {
    this.guard();
    return {
      // Read, not pinned: stats() holds nothing open.
      version: readPublished(this.area)?.commit ?? 0,
      snapshots: this.pins.snapshots,
      snapshotsLeaked: this.pins.leaked.snapshot,
      iteratorsLeaked: this.pins.leaked.iterator,
      cacheBytes: this.pool.maxFrames * PAGE_BYTES,
      cacheHits: this.pool.hits,
      cacheMisses: this.pool.misses,
      pagesDropped: this.pagesDropped,
      pagesRefreshed: this.refresh.copied,
      poolsDropped: this.poolsDropped,
    };
  }

  /** Whether `close()` was called (not whether reads fail: once the writer closed the store they are `ECLOSED` either way). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Gives back this thread's slots and closes its file; its snapshots fail with ECLOSED after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.view = null;
    this.viewReader = null;
    try {
      this.pins.closeAll();
    } finally {
      this.io.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
