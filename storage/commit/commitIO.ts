/**
 * The file operations of one commit, captured while it is prepared and performed afterwards: off
 * the main thread for a write group (src/api/writeQueue.ts), or synchronously when a synchronous
 * call takes the commit over.
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
 * perform(), asynchronously, in that order:
 *   - a run of cell writes: issued together (a commit's cells never overlap) and all awaited —
 *     Node's asynchronous writes complete in any order, so nothing after them starts before the
 *     last one has completed;
 *   - a sync: awaited (fdatasync on the thread pool);
 *   - the record: written synchronously (one page into the page cache) once everything before it
 *     has completed. A record write still in flight when a synchronous call takes the commit over
 *     could land after a later commit's record in the same ring slot and undo it; a cell write
 *     cannot do harm (below), so only the record is kept from the thread pool.
 *
 * finishSync() takes the commit over: it performs synchronously every operation not known to have
 * completed, rewriting the writes still in flight with the same bytes, so the commit is durable
 * when it returns. The writes still in flight land later with those same bytes. Until they have
 * (`lingering`), the cells they cover must not be reused — the store keeps the commit's version
 * as if a reader read it, which pins every cell the commit wrote — and the file must not be
 * closed, or a late write could land in whatever file is opened next under its descriptor.
 */
import { assert } from '../../src/common/errors.js';
import { PAGE_BYTES } from '../../src/common/limits.js';
import type { BufferPool } from '../io/bufferPool.js';
import type { FileIO } from '../io/fileIO.js';

/** A captured operation: a write of `bytes` at `positionBytes`, or (bytes null) a sync. */
interface CapturedOp {
  bytes: Uint8Array | null;
  positionBytes: number;
}

/** A captured write. */
export interface CapturedWrite {
  readonly bytes: Uint8Array;
  readonly positionBytes: number;
}

export class CommitIO implements FileIO {
  private readonly ops: CapturedOp[] = [];
  /** Operations [0, completed) are known to have completed. */
  private completed = 0;
  private takenOver = false;
  /** Asynchronous writes issued and not yet settled. */
  private inFlight = 0;
  private landedWaiters: Array<() => void> = [];
  /** Syncs performed (the store's count of fdatasyncs). */
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

  /** The captured cell writes (all but the record), to refresh a cache with once they are durable. */
  cellWrites(): CapturedWrite[] {
    const out: CapturedWrite[] = [];
    const record = this.recordIndex();
    this.ops.forEach((op, i) => {
      if (op.bytes !== null && i !== record) out.push({ bytes: op.bytes, positionBytes: op.positionBytes });
    });
    return out;
  }

  /**
   * Copies the commit's cells into the pool's resident pages. writeCommit did so when it
   * captured them, but a page read from the file before the writes landed holds old bytes.
   */
  refresh(pool: BufferPool): void {
    for (const w of this.cellWrites()) {
      let at = 0;
      let offset = w.positionBytes;
      for (let left = w.bytes.length; left > 0; ) {
        const inPage = offset % PAGE_BYTES;
        const n = Math.min(PAGE_BYTES - inPage, left);
        pool.update(Math.floor(offset / PAGE_BYTES), inPage, w.bytes.subarray(at, at + n));
        at += n;
        offset += n;
        left -= n;
      }
    }
  }

  /** Writes issued asynchronously that have not landed yet (nonzero only after a takeover). */
  get lingering(): number {
    return this.inFlight;
  }

  /** Settles once no asynchronous write is in flight. */
  landed(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.landedWaiters.push(resolve));
  }

  /**
   * Performs the captured operations asynchronously (see the top of this file); settles when the
   * commit is durable, or as soon as finishSync() has taken it over (then it did nothing more).
   * Rejects with the first failure, once every write issued with it has settled.
   */
  async perform(): Promise<void> {
    const ops = this.ops;
    const record = this.recordIndex();
    for (let i = this.completed; i < ops.length && !this.takenOver; i = this.completed) {
      const op = ops[i]!;
      if (op.bytes === null) {
        const file = this.file;
        if (file.syncAsync) await file.syncAsync();
        else file.sync();
        this.syncs++;
        if (this.takenOver) return;
        this.completed = i + 1;
      } else if (i === record) {
        this.writeRecord(op);
        this.completed = i + 1;
      } else {
        let end = i;
        while (end < ops.length && end !== record && ops[end]!.bytes !== null) end++;
        const results = await Promise.allSettled(ops.slice(i, end).map((w) => this.issue(w)));
        if (this.takenOver) return;
        for (const r of results) if (r.status === 'rejected') throw r.reason;
        this.completed = end;
      }
    }
  }

  /**
   * Takes the commit over: performs synchronously every operation not known to have completed,
   * writes in flight included (with the same bytes). perform() stops at its next step.
   */
  finishSync(): void {
    this.takenOver = true;
    const ops = this.ops;
    const record = this.recordIndex();
    for (let i = this.completed; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.bytes === null) {
        this.file.sync();
        this.syncs++;
      } else if (i === record) this.writeRecord(op);
      else this.file.write(op.bytes, op.positionBytes);
      this.completed = i + 1;
    }
  }

  private recordIndex(): number {
    for (let i = this.ops.length - 1; i >= 0; i--) if (this.ops[i]!.bytes !== null) return i;
    return -1;
  }

  private issue(op: CapturedOp): Promise<void> {
    const file = this.file;
    if (!file.writeAsync) {
      file.write(op.bytes!, op.positionBytes);
      return Promise.resolve();
    }
    this.inFlight++;
    const settle = (): void => {
      if (--this.inFlight > 0) return;
      const waiters = this.landedWaiters;
      this.landedWaiters = [];
      for (const wake of waiters) wake();
    };
    return file.writeAsync(op.bytes!, op.positionBytes).then(settle, (err: unknown) => {
      settle();
      throw err;
    });
  }

  /** Writes the record; on a failure wipes its ring slot, as writeCommit does (part of it may have landed). */
  private writeRecord(op: CapturedOp): void {
    try {
      this.file.write(op.bytes!, op.positionBytes);
    } catch (err) {
      try {
        this.file.write(new Uint8Array(PAGE_BYTES), op.positionBytes);
        this.file.sync();
      } catch {
        // Any error: the device is gone; reopening re-validates the ring.
      }
      throw err;
    }
  }
}
