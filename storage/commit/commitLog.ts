/**
 * The commit log (commitProtocol 'log'): a durable commit without an fdatasync of its scattered
 * pages. A logged commit writes its cells and its record home as any commit does, with no sync,
 * then appends all of it — cells and record, contiguous — to the log, a run of cells of the same
 * file, with one durable write (FileIO.writeDurable: `O_DSYNC`, which flushes only the pages it
 * touches). Measured on the machine of docs/benchmarks.md: an fdatasync after a single store's
 * writes flushes ~10 scattered pages, ~50 µs each beyond the first; the log append is one range.
 *
 * Passes. The log is written from a pass's start to its end, never wrapped. A pass begins with a
 * commit that is not logged: it syncs its cells and everything written home before it, then writes
 * its record (CELLS_DURABLE) naming a new pass (a fresh salt, start 0) and syncs again (two-sync).
 * From then on the home pages of every commit before it are durable, so the entries of the last
 * pass are no longer needed. A commit starts a pass when the log has no open pass (the first commit
 * after open), when its entry does not fit what is left of the pass, and when it is too large to
 * log (over a quarter of the log, or encoded window by window).
 *
 * Recovery after a power loss (recovery/recover.ts) replays the pass of the newest durable record:
 * entry after entry, while each is whole, carries the pass's salt and the next commit number, it
 * writes the entry's cells and record home again. Every commit acknowledged since the pass began
 * has its entry there, so the store opens at the last of them. The cells a logged commit reuses
 * were freed by commits before it, so writing an older entry's cells over them changes nothing the
 * newest version reaches; later entries, replayed after, rewrite what they reused.
 *
 * The ring slot of the pass's base record is never written by a logged commit (baseSlot), nor by
 * the commit that starts the next pass: until that commit's record is durable, a power loss
 * still recovers from the old base and its pass.
 *
 * This holds the planned state: the pass the next commit to be prepared joins, and where its entry
 * goes. Commits are prepared in commit order and each prepared commit is written or the store
 * stops writing, so reserving space at prepare time leaves no gap an acknowledged commit follows.
 */
import { randomBytes } from 'node:crypto';
import { CELL_BYTES } from '../../src/common/limits.js';
import type { LogRef } from '../format/commitRecord.js';
import { type EntryRun, encodeEntry, entryBytes } from '../format/logEntry.js';

/**
 * The log's size: 1/64 of the store's allocated cells, a power of two from 64 KiB to 1 MiB — and
 * twice its size, up to 1 MiB, when a pass fills after fewer than GROW_BELOW_ENTRIES entries
 * (write groups make entries of tens of KiB, over a quarter of a small log). It never shrinks by
 * itself. Measured (docs/design.md, section 5: `node dist/test/bench/probes/logSize.js`): single
 * durable stores on 1,000,000 ranges were slowest with a 64 KiB log (each pass start syncs the
 * pages of its pass, here after ~20 commits), and no faster with 4 MiB than with 256 KiB–1 MiB.
 */
export const LOG_MIN_CELLS = 256;
export const LOG_MAX_CELLS = 4096;
const GROW_BELOW_ENTRIES = 16;

/** The log a store of `allocatedCells` cells starts with. */
export function logCellsFor(allocatedCells: number): number {
  let cells = LOG_MIN_CELLS;
  while (cells < LOG_MAX_CELLS && cells * 64 < allocatedCells) cells *= 2;
  return cells;
}

/** A fresh nonzero pass salt. */
export function newSalt(): number {
  return randomBytes(4).readUInt32LE(0) || 1;
}

/** A logged commit's append: `bytes` at byte `position` of the file. */
export interface LogAppend {
  bytes: Uint8Array;
  position: number;
}

export class CommitLog {
  /** `fixedCells`: the size of every log this store makes (tests make small ones, to fill them often). */
  constructor(private readonly fixedCells?: number) {}

  /** Entries in the open pass. */
  private entries = 0;
  /** A pass filled with few entries: the next commit makes a log twice as large. */
  private grow = false;

  /** The pass the next prepared commit joins; null: none open, the next commit starts one. */
  private pass: LogRef | null = null;
  /** Byte offset in the log of the next entry. */
  private next = 0;
  /** Ring slot of the open pass's base record (−1: none): no commit writes there until the next pass is durable. */
  baseSlot = -1;
  private buf = new Uint8Array(16 * 1024);

  /** The pass open for logged commits, if any. */
  get open(): LogRef | null {
    return this.pass;
  }

  /**
   * The entry of a commit, encoded and its space reserved, when it fits the open pass: `runs` of
   * cells in `buf`, the record page's first `recordBytes` bytes. Undefined: the commit must start a
   * pass instead (startPass).
   */
  plan(commit: number, nonce: number, slot: number, record: Uint8Array, runs: readonly EntryRun[], cells: number, buf: Uint8Array): LogAppend | undefined {
    const pass = this.pass;
    if (pass === null) return undefined;
    const bytes = entryBytes(runs.length, cells, record.length);
    const room = pass.cells * CELL_BYTES;
    if (bytes > room / 4 || this.next + bytes > room) {
      if (this.entries < GROW_BELOW_ENTRIES && pass.cells < LOG_MAX_CELLS) this.grow = true;
      return undefined;
    }
    this.entries++;
    if (this.buf.length < bytes) this.buf = new Uint8Array(Math.max(bytes, 2 * this.buf.length));
    const length = encodeEntry(this.buf, pass.salt, commit, nonce, slot, record, runs, buf);
    const append = { bytes: this.buf.subarray(0, length), position: pass.cell * CELL_BYTES + this.next };
    this.next += length;
    return append;
  }

  /**
   * A commit written with `ref` (its record in `slot`) starts a pass: logged commits follow it.
   * A store opened on a pass that recovery replayed goes on with it: its `entries` entries end at
   * byte `next` of the log.
   */
  startPass(ref: LogRef, slot: number, next = ref.start, entries = 0): void {
    this.pass = ref;
    this.entries = entries;
    this.next = next;
    this.baseSlot = slot;
  }

  /** Bytes of entries in the open pass (0: none open, or none logged in it). */
  get passBytes(): number {
    return this.pass === null ? 0 : this.next - this.pass.start;
  }

  /**
   * The size in cells the log of the next commit has, the store's being `current` cells (0: none)
   * with `allocatedCells` allocated. Another size than `current`: that commit makes a new log (and
   * starts its first pass).
   */
  cellsFor(current: number, allocatedCells: number): number {
    if (this.fixedCells !== undefined) return this.fixedCells;
    let cells = Math.max(current, logCellsFor(allocatedCells));
    if (this.grow && cells < LOG_MAX_CELLS) cells = Math.min(LOG_MAX_CELLS, Math.max(cells, 2 * current));
    this.grow = false;
    return cells;
  }

  /** No pass is open (a commit failed, or the log was given up): the next commit starts one. */
  close(): void {
    this.pass = null;
  }
}
