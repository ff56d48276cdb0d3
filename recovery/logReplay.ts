/**
 * Replaying a commit log (storage/commit/commitLog.ts) at open: the pass of the newest durable
 * record — every whole entry of its salt, in commit order — written home again (a writable open),
 * or held in memory for a read-only open that cannot write (ReplayOverlay).
 */
import { corrupt } from '../src/common/errors.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../src/common/limits.js';
import { type CommitRecord, FLAG_LOGGED, FLAG_VOLATILE, decodeCommitRecord } from '../storage/format/commitRecord.js';
import { decodeEntry } from '../storage/format/logEntry.js';
import { ringSlotOffsetBytes } from '../storage/format/pageFile.js';
import type { FileIO } from '../storage/io/fileIO.js';

/** The newest record of `ring` a power loss keeps on its own (not LOGGED; not VOLATILE of another boot): the pass to replay is its. */
export function replayBase<T extends { rec: CommitRecord }>(ring: readonly T[], boot: number): T | undefined {
  return ring.find((r) => (r.rec.flags & FLAG_LOGGED) === 0 && ((r.rec.flags & FLAG_VOLATILE) === 0 || r.rec.boot === boot));
}

/** Where a replay of a pass ended. */
export interface ReplayEnd {
  /** The last commit reached (the base's own when no entry follows it). */
  commit: number;
  /** Byte offset in the log just past the last entry replayed (the pass's start when none was). */
  end: number;
  /** Entries replayed. */
  entries: number;
}

/**
 * Replays the pass that `base` starts: each whole entry of its salt, commit base+1, base+2, …, its
 * cells and its record given to `write` (bytes and the file position they belong at; null: only
 * count). Returns the last commit reached (base.commit when no entry follows).
 */
export function replayLog(io: FileIO, path: string, base: CommitRecord, write: ((bytes: Uint8Array, position: number) => void) | null): number {
  return replayPass(io, path, base, write).commit;
}

/** replayLog, saying also where in the log the pass's entries end and how many there were. */
export function replayPass(io: FileIO, path: string, base: CommitRecord, write: ((bytes: Uint8Array, position: number) => void) | null): ReplayEnd {
  const { cell, cells, salt, start } = base.log;
  const log = new Uint8Array(cells * CELL_BYTES);
  io.read(log, cell * CELL_BYTES);
  let commit = base.commit;
  let entries = 0;
  let at = start;
  for (;;) {
    const e = decodeEntry(log, at, salt, commit + 1);
    if (e === undefined) break;
    // Whole and checksummed, so written by this code: an entry that still names a place it
    // cannot have written is damage, not the end of the pass.
    const rec = decodeCommitRecord(e.record);
    const where = `commit log entry of commit ${e.commit} at byte ${at} of the log (cells ${cell}..${cell + cells - 1})`;
    if (rec === undefined || rec.commit !== e.commit || rec.nonce !== e.nonce || e.slot >= RING_SLOTS) throw corrupt(`${path}: the ${where} holds no valid record of it`);
    for (const r of e.runs) {
      if (r.cell < CELL_BASE || (r.cell < cell + cells && r.cell + r.cells > cell)) throw corrupt(`${path}: the ${where} writes cells ${r.cell}..${r.cell + r.cells - 1}, outside the cell area or into the log`);
    }
    if (write !== null) {
      for (const r of e.runs) write(log.subarray(r.at, r.at + r.cells * CELL_BYTES), r.cell * CELL_BYTES);
      const page = new Uint8Array(PAGE_BYTES);
      page.set(e.record);
      write(page, ringSlotOffsetBytes(e.slot));
    }
    commit = e.commit;
    entries++;
    at += e.length;
  }
  return { commit, end: at, entries };
}

/**
 * A file as it reads with replayed writes held in memory (a read-only open after a reboot): the
 * writes are whole cells (and ring-slot pages, sixteen cells each), kept cell by cell, the last
 * write of a cell winning. Nothing writes through it.
 */
export class ReplayOverlay implements FileIO {
  private readonly cells = new Map<number, Uint8Array>();
  private end = 0;

  constructor(private readonly inner: FileIO) {}

  /** Holds `bytes` (whole cells) as the content at `position`. */
  hold(bytes: Uint8Array, position: number): void {
    for (let at = 0; at < bytes.length; at += CELL_BYTES) this.cells.set((position + at) / CELL_BYTES, bytes.slice(at, at + CELL_BYTES));
    this.end = Math.max(this.end, position + bytes.length);
  }

  read(buf: Uint8Array, positionBytes: number): number {
    buf.fill(0);
    const n = Math.max(this.inner.read(buf, positionBytes), Math.min(buf.length, this.end - positionBytes));
    const last = Math.ceil((positionBytes + buf.length) / CELL_BYTES);
    for (let c = Math.floor(positionBytes / CELL_BYTES); c < last; c++) {
      const held = this.cells.get(c);
      if (held === undefined) continue;
      const from = c * CELL_BYTES - positionBytes;
      const skip = Math.max(0, -from);
      const to = Math.min(buf.length, from + CELL_BYTES);
      buf.set(held.subarray(skip, to - from), from + skip);
    }
    return Math.max(0, n);
  }

  size(): number {
    return Math.max(this.inner.size(), this.end);
  }

  /**
   * Writes the held cells to `io`, each run of consecutive cells with one call: what replaying the
   * entries one by one writes, in fewer calls (a cell written by several entries once, its last
   * content) — the pass of a few single stores that close() leaves is replayed at every open.
   */
  writeTo(io: FileIO): void {
    const cells = [...this.cells.keys()].sort((a, b) => a - b);
    for (let i = 0; i < cells.length; ) {
      let j = i + 1;
      while (j < cells.length && cells[j] === cells[j - 1]! + 1) j++;
      const run = new Uint8Array((j - i) * CELL_BYTES);
      for (let k = i; k < j; k++) run.set(this.cells.get(cells[k]!)!, (k - i) * CELL_BYTES);
      io.write(run, cells[i]! * CELL_BYTES);
      i = j;
    }
  }

  write(): void {
    throw new Error('a replay overlay is read-only');
  }

  sync(): void {
    // Nothing is written through it.
  }

  truncate(): void {
    throw new Error('a replay overlay is read-only');
  }

  close(): void {
    this.inner.close();
  }

  /** The file's path now: a read-only store reading through this still names its registration by it (src/api/store.ts, close). */
  currentPath(): string | undefined {
    return this.inner.currentPath?.();
  }
}
