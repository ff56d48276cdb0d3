/**
 * The file operations of one commit, captured while it is prepared and performed afterwards with
 * its syncs off the main thread (a write group, src/api/writeQueue.ts), or finished synchronously
 * when a synchronous call takes the commit over.
 *
 * Capture: writeCommit (storage/commit/commit.ts) runs on a CommitIO as on the file. Reads go to
 * the file; writes and syncs are recorded in the order the commit protocol issues them, each
 * write's bytes copied (writeCommit reuses its buffers):
 *
 *   one-sync   cell writes…, record write, sync
 *   two-sync   cell writes…, sync, record write, sync
 *
 * The last write is always the commit record (one page in the ring).
 *
 * perform() runs them in that order: each write synchronously (a copy into the page cache,
 * microseconds for a group of small writes), each sync — the fdatasync, milliseconds — on
 * Node's thread pool, awaited before anything after it. Why the writes are not asynchronous too:
 * a synchronous call may take the commit over at any await (finishSync), and a write still in
 * flight then would land after the takeover has made the commit durable — an unsynced write over
 * durable cells, which a power loss can tear (the crash suite's torn-write modes find exactly
 * that: test/crash/asyncCrash.test.ts). With the writes synchronous, only a sync can be in
 * flight at a takeover, and a late fdatasync changes no byte.
 *
 * finishSync() performs synchronously every operation not known to have completed (the sync
 * in flight, and what follows it), so the commit is durable when it returns; perform() then stops.
 */
import { assert } from '../../src/common/errors.js';
import { PAGE_BYTES } from '../../src/common/limits.js';
import type { FileIO } from '../io/fileIO.js';

/** A captured operation: a write of `bytes` at `positionBytes`, or (bytes null) a sync. */
interface CapturedOp {
  bytes: Uint8Array | null;
  positionBytes: number;
}

export class CommitIO implements FileIO {
  private readonly ops: CapturedOp[] = [];
  /** Operations [0, completed) have completed. */
  private completed = 0;
  private takenOver = false;
  /** Syncs performed (the store counts fdatasyncs). */
  syncs = 0;

  constructor(private readonly file: FileIO) {}

  // ── Capture (FileIO, as writeCommit uses it) ───────────────────────────────────────────────

  read(buf: Uint8Array, positionBytes: number): number {
    return this.file.read(buf, positionBytes);
  }

  write(buf: Uint8Array, positionBytes: number): void {
    this.ops.push({ bytes: buf.slice(), positionBytes });
  }

  sync(): void {
    this.ops.push({ bytes: null, positionBytes: 0 });
  }

  size(): number {
    return this.file.size();
  }

  truncate(): void {
    assert(false, 'a commit never truncates');
  }

  close(): void {
    assert(false, 'a commit never closes the file');
  }

  // ── Performing ─────────────────────────────────────────────────────────────────────────────

  /**
   * Performs the captured operations (see the top of this file); settles when the commit is
   * durable, or as soon as finishSync() has taken it over. Rejects with the first failure.
   */
  async perform(): Promise<void> {
    const ops = this.ops;
    const record = this.recordIndex();
    for (let i = this.completed; i < ops.length && !this.takenOver; i = this.completed) {
      const op = ops[i]!;
      if (op.bytes !== null) this.writeOp(op, i === record);
      else {
        const file = this.file;
        if (file.syncAsync) await file.syncAsync();
        else file.sync();
        this.syncs++;
        if (this.takenOver) return;
      }
      this.completed = i + 1;
    }
  }

  /**
   * Takes the commit over: performs synchronously every operation not known to have completed
   * (a sync in flight is repeated). perform() stops at its next step.
   */
  finishSync(): void {
    this.takenOver = true;
    const ops = this.ops;
    const record = this.recordIndex();
    for (let i = this.completed; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.bytes !== null) this.writeOp(op, i === record);
      else {
        this.file.sync();
        this.syncs++;
      }
      this.completed = i + 1;
    }
  }

  private recordIndex(): number {
    for (let i = this.ops.length - 1; i >= 0; i--) if (this.ops[i]!.bytes !== null) return i;
    return -1;
  }

  /** Writes a captured write; a failed record write wipes its ring slot, as writeCommit does (part of it may have landed). */
  private writeOp(op: CapturedOp, isRecord: boolean): void {
    try {
      this.file.write(op.bytes!, op.positionBytes);
    } catch (err) {
      if (isRecord) {
        try {
          this.file.write(new Uint8Array(PAGE_BYTES), op.positionBytes);
          this.file.sync();
        } catch {
          // Any error: the device is gone; reopening re-validates the ring.
        }
      }
      throw err;
    }
  }
}
