/**
 * The asynchronous variant of a commit's I/O (writePrepared, storage/commit/writeCells.ts), for a
 * write group (src/api/writeQueue.ts): the same steps in the same order — the cells, a sync when
 * two-sync, the record, a sync — with each sync (the fdatasync, milliseconds) on Node's thread
 * pool, awaited before anything after it; last, a placed log run's fill (writeCells.ts fillLogRun). The writes stay synchronous: each is a copy into the
 * page cache, microseconds for a group of small writes.
 *
 * Why not asynchronous writes too: a synchronous call may take the commit over at any await
 * (finishSync), and a write still in flight then would land after the takeover had made the
 * commit durable — an unsynced write over durable cells, which a power loss can tear (the crash
 * suite's torn-write modes found exactly that: test/crash/asyncCrash.test.ts). With the writes
 * synchronous, only a sync can be in flight at a takeover, and a late fdatasync changes no byte.
 *
 * finishSync() performs synchronously every step not known to have completed (a sync in flight is
 * repeated), so the commit is durable when it returns; perform() then stops at its next step.
 *
 * A logged commit (storage/commit/commitLog.ts) has no sync to wait for: its durable append is a
 * synchronous write too (an `O_DSYNC` write of one range, ~0.1–0.2 ms on the machine of
 * docs/benchmarks.md), so its whole I/O runs in the call to perform() and nothing of it is ever in
 * flight at a takeover.
 */
import type { BufferPool } from '../io/bufferPool.js';
import type { FileIO } from '../io/fileIO.js';
import { type PreparedCommit, appendLog, fillLogRun, writeCommitCells, writeRecord } from './writeCells.js';

/** The steps of a commit's I/O, in order. */
const CELLS = 0;
const CELLS_SYNC = 1;
/** A logged commit's durable append (storage/commit/commitLog.ts): synchronous, like the writes, and before the record. */
const LOG = 2;
const RECORD = 3;
const RECORD_SYNC = 4;
/** A placed log run written whole, once the commit is durable (writeCells.ts fillLogRun). */
const FILL = 5;
const DONE = 6;

export class AsyncCommitWrite {
  /** The first step not known to have completed. */
  private step = CELLS;
  private takenOver = false;
  /**
   * What a step of perform() threw: the commit failed (writeRecord has wiped its slot and its log
   * entry). A takeover before the queue handles the rejection must not perform the steps again.
   */
  private failure: { err: unknown } | null = null;
  /** Durable writes performed: fdatasyncs and a logged commit's append (the store counts them). */
  syncs = 0;

  /**
   * `file.io`: the store's file, read at each step rather than captured when the commit is
   * prepared — MapleStore.share() replaces it with one noting every page written for worker
   * threads (storage/io/pageLog.ts), and a group planned ahead before share() writes after it.
   * `pool`: where a windowed commit's cells are copied as they are written (writeCommitCells).
   */
  constructor(
    private readonly file: { readonly io: FileIO },
    private readonly pool: BufferPool,
    readonly prepared: PreparedCommit,
  ) {}

  private get io(): FileIO {
    return this.file.io;
  }

  /** Performs the commit's I/O; settles once it is durable, or once finishSync() has taken it over. */
  async perform(): Promise<void> {
    try {
      for (let step = this.step; step < DONE && !this.takenOver; step = this.step) {
        if (this.needsSync(step)) {
          const io = this.io;
          if (io.syncAsync) await io.syncAsync();
          else io.sync();
          this.syncs++;
          if (this.takenOver) return;
        } else this.perform1(step);
        this.step = step + 1;
      }
    } catch (err) {
      // A late failure of a sync a takeover has already repeated changes nothing.
      if (!this.takenOver) this.failure = { err };
      throw err;
    }
  }

  /**
   * Takes the commit over: performs every step not known to have completed, synchronously; throws
   * what perform() threw if it has failed already (its rejection not handled yet: a synchronous
   * call in a promise callback that runs first). Performing the failed step again could succeed
   * and publish a commit whose log entry the failure wiped (writeRecord): gone at the next open.
   */
  finishSync(): void {
    if (this.failure !== null) throw this.failure.err;
    this.takenOver = true;
    for (let step = this.step; step < DONE; step++) {
      if (this.needsSync(step)) {
        this.io.sync();
        this.syncs++;
      } else this.perform1(step);
      this.step = step + 1;
    }
  }

  /** Whether `step` is a sync this commit makes. */
  private needsSync(step: number): boolean {
    const p = this.prepared;
    return (step === CELLS_SYNC && p.twoSync) || (step === RECORD_SYNC && p.sync);
  }

  /** A step that is not a sync (a sync step the commit does not make does nothing). */
  private perform1(step: number): void {
    const p = this.prepared;
    if (step === CELLS) {
      // The same writes as writePrepared's. perform() reaches this step synchronously, in the call
      // that follows planCommit: a windowed commit reads the transaction's arena while nothing
      // else can have reset it.
      writeCommitCells(this.io, this.pool, p);
    } else if (step === RECORD) {
      // A failed write wipes the slot so the failed commit cannot come back.
      writeRecord(this.io, p);
    } else if (step === LOG && p.logAppend !== null) {
      appendLog(this.io, p);
      this.syncs++;
    } else if (step === FILL) {
      fillLogRun(this.io, p);
    }
  }
}
