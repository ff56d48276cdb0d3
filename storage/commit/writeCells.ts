/**
 * Step 4 of a commit: encode every new cell into one buffer, in address order, and write it — each
 * contiguous run of cells with one call — then the commit record into the ring slot after the
 * current one, and sync: one fdatasync ('one-sync', validated at open by walking FRESH pointers)
 * or sync-record-sync ('two-sync', and any commit of ADAPTIVE_TWO_SYNC_CELLS cells or more).
 *
 * Preparing is pure (prepareCommit: the buffer, the writes, the record and its slot, how to
 * sync); writing is one small step of its own (writePrepared), so that another I/O strategy (an
 * asynchronous one for group commit) can replace it without touching the rest.
 *
 * A commit of more than SCRATCH_MAX_BYTES of cells (a bulk load) is not encoded into one buffer
 * of its size: allocating it and touching every page of it cost more than encoding it (measured:
 * a fresh 55 MB buffer written once took 140–280 ms, the reused 2 MB one refilled 27 times about
 * 7 ms). Its cells are encoded into the store's buffer window by window as they are written
 * (writePrepared), each window also copied into the buffer pool at once: no reader reaches a cell
 * a commit writes, and a failed commit drops the pool (MapleStore.commit).
 */
import { assert } from '../../src/common/errors.js';
import { ADAPTIVE_TWO_SYNC_CELLS, CELL_BYTES, MAX_WRITE_BYTES, NODE_BYTES, PAGE_BYTES, RING_SLOTS, SCRATCH_INITIAL_BYTES, SCRATCH_MAX_BYTES } from '../../src/common/limits.js';
import { type CommitRecord, FLAG_CELLS_DURABLE, FLAG_LOGGED, FLAG_VOLATILE, encodeCommitRecord } from '../format/commitRecord.js';
import { ENTRY_HEADER_BYTES, type EntryRun } from '../format/logEntry.js';
import { type CommitLog, type LogAppend, newSalt } from './commitLog.js';
import { type MemNode, encodeNodeAt } from '../format/node.js';
import { ringSlotOffsetBytes } from '../format/pageFile.js';
import type { ValueArena } from '../format/valueArena.js';
import type { CellReader } from '../io/cellReader.js';
import { type LeafArea, encodeArea } from './valueAreas.js';
import { encodeRecordAt } from '../format/valueRecord.js';
import type { BufferPool } from '../io/bufferPool.js';
import { type FileIO, writeDurable } from '../io/fileIO.js';

/**
 * 'one-sync': one fdatasync after the record; 'two-sync': one before it too; 'log': a durable
 * append to the commit log instead (storage/commit/commitLog.ts) (OpenOptions.commitProtocol).
 */
export type CommitProtocol = 'one-sync' | 'two-sync' | 'log';

/**
 * The buffers a store's commits encode into, reused by every commit of that store (one at a
 * time: a store commits one transaction at a time). Commits larger than SCRATCH_MAX_BYTES
 * allocate a buffer of their own.
 */
export class CommitBuffers {
  cells = new Uint8Array(SCRATCH_INITIAL_BYTES);
  /** The commit-record page (io.write never keeps the buffer). */
  readonly recordPage = new Uint8Array(PAGE_BYTES);
}

/** New cells other than a node: a value record (or the structures table, or a pending-list chunk), or a leaf's value area. */
export interface Extra {
  cell: number;
  cells: number;
  record: Uint8Array | null;
  area: LeafArea | null;
}

/**
 * Where the values of a commit's new leaves come from: the transaction's arena (slots that are
 * handles) and the older value areas its new leaves keep values of, read at `version`.
 */
export interface ValueSources {
  values: ValueArena | null;
  pager: CellReader;
  version: number;
}

/** One contiguous write: `length` bytes at byte `at` of the commit's buffer, to cell `cell` on. */
export interface CellWrite {
  cell: number;
  at: number;
  length: number;
}

/** A commit ready to write: nothing of it has reached the file yet. */
export interface PreparedCommit {
  /** Every new cell, encoded in address order (empty when the cells are `windowed`). */
  buf: Uint8Array;
  writes: CellWrite[];
  /** A commit too large for one buffer: its cells, encoded window by window as they are written. */
  windowed: { buffers: CommitBuffers; nodes: MemNode[]; extras: Extra[]; sources: ValueSources } | null;
  cellsWritten: number;
  rec: CommitRecord;
  /** `rec` encoded into a whole page, written at ringSlotOffsetBytes(slot). */
  recordPage: Uint8Array;
  slot: number;
  /** Sync at all (OpenOptions.sync 'full'). */
  sync: boolean;
  /** Sync the cells before writing the record (two-sync): the record is then CELLS_DURABLE. */
  twoSync: boolean;
  /** A logged commit's entry, appended durably after the record (then `sync` is false). */
  logAppend: LogAppend | null;
  /**
   * Cells to write as zeros once the commit is durable (fillLogRun): a commit log's run, when this
   * commit places it. Appends then only ever overwrite blocks the file holds, so a full disk never
   * stops a commit that reuses the store's own free cells (storage/commit/commitLog.ts).
   */
  fill: { cell: number; cells: number } | null;
}

/**
 * Encodes the commit's nodes (sorted by cell, as assigned) and other cells (sorted by cell), and
 * the commit record (`record`, all but its flags) for the ring slot after `prevSlot`.
 */
export function prepareCommit(
  buffers: CommitBuffers,
  nodes: MemNode[],
  extras: Extra[],
  sources: ValueSources,
  record: Omit<CommitRecord, 'flags'>,
  prevSlot: number,
  options: { protocol: CommitProtocol; sync: boolean; boot: number; keepSlot: number; log: CommitLog | null },
): PreparedCommit {
  let cellsWritten = nodes.length;
  for (let i = 0; i < extras.length; i++) cellsWritten += extras[i]!.cells;
  const large = cellsWritten * CELL_BYTES > SCRATCH_MAX_BYTES;
  const { buf, writes } = large ? { buf: new Uint8Array(0), writes: [] } : encodeCells(buffers, nodes, extras, sources, record.commit, record.nonce, null, null);
  const windowed = large ? { buffers, nodes, extras, sources } : null;
  const log = options.log;
  if (log !== null) return prepareLogged(buffers, log, buf, writes, windowed, cellsWritten, record, prevSlot, options.boot, syncedCellsAfter(record.syncedCells, nodes, extras));
  const twoSync = options.sync && (options.protocol === 'two-sync' || cellsWritten >= ADAPTIVE_TWO_SYNC_CELLS);
  const rec: CommitRecord = options.sync
    ? { ...record, flags: twoSync ? FLAG_CELLS_DURABLE : 0, boot: 0, syncedCells: twoSync ? syncedCellsAfter(record.syncedCells, nodes, extras) : record.syncedCells }
    : { ...record, flags: FLAG_VOLATILE, boot: options.boot };
  const recordPage = buffers.recordPage.fill(0);
  recordPage.set(encodeCommitRecord(rec));
  return { buf, writes, windowed, cellsWritten, rec, recordPage, slot: nextSlot(prevSlot, options.keepSlot), sync: options.sync, twoSync, logAppend: null, fill: null };
}

/**
 * A commit of a store with a commit log (storage/commit/commitLog.ts): logged when its entry fits
 * the open pass — LOGGED record, no sync, the entry appended durably — else the start of a pass:
 * two-sync, CELLS_DURABLE, naming a new pass. Neither takes the open pass's base slot.
 */
function prepareLogged(
  buffers: CommitBuffers,
  log: CommitLog,
  buf: Uint8Array,
  writes: CellWrite[],
  windowed: PreparedCommit['windowed'],
  cellsWritten: number,
  record: Omit<CommitRecord, 'flags'>,
  prevSlot: number,
  boot: number,
  durableCells: number,
): PreparedCommit {
  assert(record.log.cell !== 0, 'a store keeping a commit log has one');
  const slot = nextSlot(prevSlot, log.baseSlot);
  const pass = log.open;
  const recordPage = buffers.recordPage.fill(0);
  if (pass !== null && windowed === null) {
    const rec: CommitRecord = { ...record, log: pass, flags: FLAG_LOGGED, boot };
    const encoded = encodeCommitRecord(rec);
    recordPage.set(encoded);
    const runs: EntryRun[] = writes.map((w) => ({ cell: w.cell, cells: w.length / CELL_BYTES, at: w.at }));
    const logAppend = log.plan(rec.commit, rec.nonce, slot, encoded, runs, cellsWritten, buf);
    if (logAppend !== undefined) return { buf, writes, windowed, cellsWritten, rec, recordPage, slot, sync: false, twoSync: false, logAppend, fill: null };
    recordPage.fill(0);
  }
  // The writer's boot: a read-only open on this boot reads the pass's records from the page cache.
  const rec: CommitRecord = { ...record, log: { ...record.log, salt: newSalt(), start: 0 }, flags: FLAG_CELLS_DURABLE, boot, syncedCells: durableCells };
  recordPage.set(encodeCommitRecord(rec));
  log.startPass(rec.log, slot);
  return { buf, writes, windowed, cellsWritten, rec, recordPage, slot, sync: true, twoSync: true, logAppend: null, fill: null };
}

/**
 * A CELLS_DURABLE record's synced cells (storage/format/commitRecord.ts): its cells are synced
 * before it is written, so the file then reaches at least the last of them — and what the record
 * before it says.
 */
function syncedCellsAfter(before: number, nodes: MemNode[], extras: Extra[]): number {
  // Both lists are in address order (encodeCells writes them so).
  let end = nodes.length > 0 ? nodes[nodes.length - 1]!.cell + 1 : 0;
  const last = extras[extras.length - 1];
  if (last !== undefined) end = Math.max(end, last.cell + last.cells);
  return Math.max(before, end);
}

/**
 * The first ring slot after `prev` that is none of `keep` (slots to leave as they are: −1 is none);
 * never `prev` itself. RING_SLOTS ≥ 4 leaves one whatever three slots are kept.
 */
export function nextSlot(prev: number, ...keep: number[]): number {
  let slot = (prev + 1) % RING_SLOTS;
  while (keep.includes(slot)) slot = (slot + 1) % RING_SLOTS;
  return slot;
}

/**
 * The commit's I/O: the cells, a sync when two-sync, the record, a sync. A failed record write
 * wipes the slot (part of the record may have landed: the failed commit must not come back).
 */
export function writePrepared(io: FileIO, pool: BufferPool, p: PreparedCommit): void {
  writeCommitCells(io, pool, p);
  if (p.twoSync) io.sync();
  if (p.logAppend !== null) appendLog(io, p);
  writeRecord(io, p);
  if (p.sync) io.sync();
  fillLogRun(io, p);
}

/**
 * A log run this commit placed, written whole (zeros) once the commit is durable (PreparedCommit.fill):
 * a buffered write reserves the blocks, so it needs no sync of its own (later syncs flush it), and
 * the commit does not wait for 64 KiB–1 MiB more to reach the disk. Written after the last sync,
 * before any later commit's append lands in the run. Nothing reads these cells through the pool.
 * A failure (the disk is full already) fails nothing: the run stays as it was, and an append
 * that needs a block then fails cleanly (EIO), as before there was a fill.
 */
export function fillLogRun(io: FileIO, p: PreparedCommit): void {
  if (p.fill === null) return;
  try {
    io.write(new Uint8Array(p.fill.cells * CELL_BYTES), p.fill.cell * CELL_BYTES);
  } catch {
    /* see above */
  }
}

/**
 * The commit record into its ring slot. A failed write wipes the slot (part of it may have landed),
 * and a logged commit's entry: the failed commit must not come back.
 */
export function writeRecord(io: FileIO, p: PreparedCommit): void {
  try {
    io.write(p.recordPage, ringSlotOffsetBytes(p.slot));
  } catch (err) {
    // Each step on its own: on a full disk the slot may be a hole of the file that the wipe cannot
    // fill either (it still zeroes whatever part of the record landed), while the log entry, just
    // written, is wiped in place — left whole, the next open would replay the failed commit.
    try {
      io.write(new Uint8Array(PAGE_BYTES), ringSlotOffsetBytes(p.slot));
    } catch {
      /* no room for the rest of the slot's page, or the device is gone */
    }
    try {
      if (p.logAppend !== null) writeDurable(io, new Uint8Array(ENTRY_HEADER_BYTES), p.logAppend.position);
      io.sync();
    } catch {
      /* the device is gone; reopen re-validates */
    }
    throw err;
  }
}

/**
 * A logged commit's entry, durably — before its record is written home, so a record any reader of
 * this boot can see is one whose entry is durable. A failed append wipes the entry's header: no
 * record names the commit, but the part that landed may read as a whole entry — a write cut short
 * by a full disk lands its first blocks, and the rest of an entry may be zeros, as the log's run
 * reads where it was never written — and replay would bring the failed commit back.
 */
export function appendLog(io: FileIO, p: PreparedCommit): void {
  const a = p.logAppend!;
  try {
    writeDurable(io, a.bytes, a.position);
  } catch (err) {
    try {
      writeDurable(io, new Uint8Array(ENTRY_HEADER_BYTES), a.position);
    } catch {
      /* nothing of it landed (no room for its first block), or the device is gone; reopen re-validates */
    }
    throw err;
  }
}

/**
 * The first step of a commit's I/O, the same for the synchronous (writePrepared) and the
 * asynchronous (storage/commit/writeAsync.ts) paths: the cells, each contiguous run with one call
 * — a windowed commit's encoded window by window as they are written — each run copied into
 * `pool` once written. No version a reader holds reaches them, so the pool can hold them before
 * the commit is durable, and a commit planned on top of this one (src/api/writeQueue.ts) reads
 * them there; the commit's buffers are free for the next one as soon as this returns.
 */
export function writeCommitCells(io: FileIO, pool: BufferPool, p: PreparedCommit): void {
  const w = p.windowed;
  if (w !== null) encodeCells(w.buffers, w.nodes, w.extras, w.sources, p.rec.commit, p.rec.nonce, io, pool);
  else {
    writeRuns(io, p.buf, p.writes);
    refreshRuns(pool, p.buf, p.writes);
  }
}

/** Writes each run of `buf` with one call. */
function writeRuns(io: FileIO, buf: Uint8Array, writes: CellWrite[]): void {
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    io.write(buf.subarray(w.at, w.at + w.length), w.cell * CELL_BYTES);
  }
}

function refreshRuns(pool: BufferPool, buf: Uint8Array, writes: CellWrite[]): void {
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    let at = w.at;
    const end = w.at + w.length;
    let offset = w.cell * CELL_BYTES;
    while (at < end) {
      const page = Math.floor(offset / PAGE_BYTES);
      const inPage = offset % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - inPage, end - at);
      pool.update(page, inPage, buf.subarray(at, at + n), true);
      at += n;
      offset += n;
    }
  }
}

/**
 * Encodes the nodes and extras into one zeroed buffer in address order, and cuts it into
 * contiguous writes. With `io` (a windowed commit), into the store's buffer instead, written out
 * (and copied into `pool`) each time it fills and at the end; a cell run longer than the buffer (a
 * long value record) gets a buffer of its own.
 */
function encodeCells(buffers: CommitBuffers, nodes: MemNode[], extras: Extra[], sources: ValueSources, commit: number, nonce: number, io: FileIO | null, pool: BufferPool | null): { buf: Uint8Array; writes: CellWrite[] } {
  const values = sources.values;
  let total = nodes.length * NODE_BYTES;
  for (let i = 0; i < extras.length; i++) total += extras[i]!.cells * CELL_BYTES;
  const buf = bufferFor(buffers, io === null ? total : Math.min(total, SCRATCH_MAX_BYTES));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const writes: CellWrite[] = [];
  let run: CellWrite | null = null;
  let end = -1;
  let at = 0;
  let n = 0;
  let e = 0;
  const flush = (): void => {
    writeRuns(io!, buf, writes);
    refreshRuns(pool!, buf, writes);
    buf.fill(0, 0, at);
    writes.length = 0;
    run = null;
    at = 0;
  };
  while (n < nodes.length || e < extras.length) {
    const isNode = e >= extras.length || (n < nodes.length && nodes[n]!.cell < extras[e]!.cell);
    const cell = isNode ? nodes[n]!.cell : extras[e]!.cell;
    const cells = isNode ? 1 : extras[e]!.cells;
    if (!(cell >= end)) assert(false, `cell ${cell} written twice in one commit`);
    const bytes = cells * CELL_BYTES;
    if (io !== null && bytes > buf.length) {
      const x = extras[e++]!;
      const own = new Uint8Array(bytes);
      encodeRecordAt(x.record!, commit, nonce, own, 0, cell);
      const single = [{ cell, at: 0, length: bytes }];
      writeRuns(io, own, single);
      refreshRuns(pool!, own, single);
      // The window's open run ends here: a cell right after this record must start a run of its own.
      run = null;
      end = cell + cells;
      continue;
    }
    if (io !== null && at + bytes > buf.length) flush();
    if (isNode) {
      encodeNodeAt(nodes[n++]!, commit, buf, dv, at, nonce, values);
    } else {
      const x = extras[e++]!;
      if (x.area !== null) encodeArea(x.area, values, sources.pager, sources.version, commit, nonce, buf, dv, at);
      else encodeRecordAt(x.record!, commit, nonce, buf, at, cell);
    }
    const r = run as CellWrite | null;
    if (r !== null && cell === end && r.length < MAX_WRITE_BYTES) {
      r.length += bytes;
    } else {
      run = { cell, at, length: bytes };
      writes.push(run);
    }
    end = cell + cells;
    at += bytes;
  }
  if (io !== null) flush();
  return { buf, writes };
}

/** A zeroed buffer of at least `total` bytes: the store's, grown as needed, or a new one past SCRATCH_MAX_BYTES. */
function bufferFor(buffers: CommitBuffers, total: number): Uint8Array {
  if (total > SCRATCH_MAX_BYTES) return new Uint8Array(total);
  if (buffers.cells.length < total) buffers.cells = new Uint8Array(Math.min(SCRATCH_MAX_BYTES, Math.max(total, 2 * buffers.cells.length)));
  buffers.cells.fill(0, 0, total);
  return buffers.cells;
}
