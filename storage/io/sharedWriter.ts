/**
 * The writer's side of sharing a store with worker threads (MapleStore.share): it creates the
 * shared area (storage/io/sharedArea.ts), notes the pages its commits write (storage/io/pageLog.ts),
 * publishes each durable commit (storage/io/publishedRoot.ts), and lists the versions the worker
 * threads read for each commit's reader set (storage/io/readerTable.ts) — freeing first the slots of
 * threads that are gone.
 */
import type { CommitRecord } from '../format/commitRecord.js';
import type { FileIO } from './fileIO.js';
import { PROC, type ProcProbe } from './liveness.js';
import { LoggingFileIO, PageLogWriter } from './pageLog.js';
import { publishRoot } from './publishedRoot.js';
import { ReaderTable } from './readerTable.js';
import { SharedArea } from './sharedArea.js';
import { PAGE_LOG_ENTRIES, SHARED_READER_SLOTS, START_CHECK_MS } from '../../src/common/limits.js';

/** What the writer needs of a worker_threads Worker: its thread id and its 'exit' event. */
export interface ExitingThread {
  readonly threadId: number;
  once(event: 'exit', listener: () => void): unknown;
}

export class SharedWriter {
  readonly area: SharedArea;
  private readonly table: ReaderTable;
  private readonly log: PageLogWriter;
  /** The store's file, noting every page written. */
  readonly io: FileIO;
  /** When the slots' threads were last checked against /proc. */
  private checkedAt = 0;
  private readonly watched = new WeakSet<object>();

  constructor(
    file: FileIO,
    rec: CommitRecord,
    /** Node threadId + 1 of the writer's thread. */
    private readonly ownTag: number,
    private readonly probe: ProcProbe = PROC,
    slots = SHARED_READER_SLOTS,
    logEntries = PAGE_LOG_ENTRIES,
  ) {
    this.area = SharedArea.create(slots, logEntries);
    // Readers stop (ECLOSED) once this thread ends without closing the store (SharedArea.checkWriter).
    const self = probe.self();
    if (self.threadId !== undefined && self.threadStart !== undefined) this.area.setWriter(self.threadId, Number(self.threadStart));
    this.table = ReaderTable.format(this.area);
    this.log = new PageLogWriter(this.area);
    this.io = new LoggingFileIO(file, this.log);
    this.publish(rec);
  }

  /** `rec` is durable: worker threads read it from their next snapshot on. */
  publish(rec: CommitRecord): void {
    publishRoot(this.area, rec, this.log.end);
  }

  /**
   * The versions worker threads read (distinct, ascending), for a commit's reader set. At most
   * every START_CHECK_MS, slots of threads that ended are freed first.
   */
  versions(): number[] {
    const now = Date.now();
    if (now - this.checkedAt >= START_CHECK_MS) {
      this.checkedAt = now;
      this.table.freeEnded(this.probe, this.ownTag);
    }
    return this.table.versions();
  }

  /** Slots pinning a version. */
  get pinned(): number {
    return this.table.pinned();
  }

  /** Frees the slots of `worker`'s thread once it exits (terminated, crashed or done). */
  watch(worker: ExitingThread): void {
    if (this.watched.has(worker)) return;
    this.watched.add(worker);
    const tag = worker.threadId + 1;
    worker.once('exit', () => {
      this.table.freeOwnedBy(tag);
    });
  }

  /** The store closed: worker threads' reads fail with ECLOSED from now on. */
  close(): void {
    this.area.markClosed();
  }
}
