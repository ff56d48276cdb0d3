/**
 * Step 4 of a commit: encode every new cell into one buffer, in address order, and write it — each
 * contiguous run of cells with one call — then the commit record into the ring slot after the
 * current one, and sync: one fdatasync ('one-sync', validated at open by walking FRESH pointers)
 * or sync-record-sync ('two-sync', and any commit of ADAPTIVE_TWO_SYNC_CELLS cells or more).
 *
 * Preparing is pure (prepareCommit: the buffer, the writes, the record and its slot, how to
 * sync); writing is one small step of its own (writePrepared), so that another I/O strategy (an
 * asynchronous one for group commit) can replace it without touching the rest.
 */
import { assert } from '../../src/common/errors.js';
import { ADAPTIVE_TWO_SYNC_CELLS, CELL_BYTES, MAX_WRITE_BYTES, NODE_BYTES, PAGE_BYTES, RING_SLOTS, SCRATCH_INITIAL_BYTES, SCRATCH_MAX_BYTES } from '../../src/common/limits.js';
import { type CommitRecord, FLAG_CELLS_DURABLE, encodeCommitRecord } from '../format/commitRecord.js';
import { type MemNode, encodeNodeAt } from '../format/node.js';
import { ringSlotOffsetBytes } from '../format/pageFile.js';
import type { ValueArena } from '../format/valueArena.js';
import type { CellReader } from '../io/cellReader.js';
import { type LeafArea, encodeArea } from './valueAreas.js';
import { encodeRecordAt } from '../format/valueRecord.js';
import type { BufferPool } from '../io/bufferPool.js';
import type { FileIO } from '../io/fileIO.js';

/** 'one-sync': one fdatasync after the record; 'two-sync': one before it too (OpenOptions.commitProtocol). */
export type CommitProtocol = 'one-sync' | 'two-sync';

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
  /** Every new cell, encoded in address order. */
  buf: Uint8Array;
  writes: CellWrite[];
  cellsWritten: number;
  rec: CommitRecord;
  /** `rec` encoded into a whole page, written at ringSlotOffsetBytes(slot). */
  recordPage: Uint8Array;
  slot: number;
  /** Sync at all (OpenOptions.sync 'full'). */
  sync: boolean;
  /** Sync the cells before writing the record (two-sync): the record is then CELLS_DURABLE. */
  twoSync: boolean;
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
  options: { protocol: CommitProtocol; sync: boolean },
): PreparedCommit {
  const { buf, writes } = encodeCells(buffers, nodes, extras, sources, record.commit, record.nonce);
  let cellsWritten = 0;
  for (let i = 0; i < writes.length; i++) cellsWritten += writes[i]!.length / CELL_BYTES;
  const twoSync = options.sync && (options.protocol === 'two-sync' || cellsWritten >= ADAPTIVE_TWO_SYNC_CELLS);
  const rec: CommitRecord = { ...record, flags: twoSync ? FLAG_CELLS_DURABLE : 0 };
  const recordPage = buffers.recordPage.fill(0);
  recordPage.set(encodeCommitRecord(rec));
  return { buf, writes, cellsWritten, rec, recordPage, slot: (prevSlot + 1) % RING_SLOTS, sync: options.sync, twoSync };
}

/**
 * The commit's I/O: the cells, a sync when two-sync, the record, a sync. A failed record write
 * wipes the slot (part of the record may have landed: the failed commit must not come back).
 */
export function writePrepared(io: FileIO, p: PreparedCommit): void {
  const { buf, writes } = p;
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    io.write(buf.subarray(w.at, w.at + w.length), w.cell * CELL_BYTES);
  }
  if (p.twoSync) io.sync();
  try {
    io.write(p.recordPage, ringSlotOffsetBytes(p.slot));
  } catch (err) {
    try {
      io.write(new Uint8Array(PAGE_BYTES), ringSlotOffsetBytes(p.slot));
      io.sync();
    } catch {
      /* the device is gone; reopen re-validates */
    }
    throw err;
  }
  if (p.sync) io.sync();
}

/** Copies every cell the commit wrote into the buffer pool's cached pages. */
export function refreshPool(pool: BufferPool, p: PreparedCommit): void {
  for (let i = 0; i < p.writes.length; i++) {
    const w = p.writes[i]!;
    let at = w.at;
    const end = w.at + w.length;
    let offset = w.cell * CELL_BYTES;
    while (at < end) {
      const page = Math.floor(offset / PAGE_BYTES);
      const inPage = offset % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - inPage, end - at);
      pool.update(page, inPage, p.buf.subarray(at, at + n));
      at += n;
      offset += n;
    }
  }
}

/**
 * Encodes the nodes and extras into one zeroed buffer in address order, and cuts it into
 * contiguous writes.
 */
function encodeCells(buffers: CommitBuffers, nodes: MemNode[], extras: Extra[], sources: ValueSources, commit: number, nonce: number): { buf: Uint8Array; writes: CellWrite[] } {
  const values = sources.values;
  let total = nodes.length * NODE_BYTES;
  for (const e of extras) total += e.cells * CELL_BYTES;
  const buf = bufferFor(buffers, total);
  const dv = new DataView(buf.buffer, buf.byteOffset, total);
  const writes: CellWrite[] = [];
  let run: CellWrite | null = null;
  let end = -1;
  let at = 0;
  let n = 0;
  let e = 0;
  while (n < nodes.length || e < extras.length) {
    let cell: number;
    let cells: number;
    if (e >= extras.length || (n < nodes.length && nodes[n]!.cell < extras[e]!.cell)) {
      const node = nodes[n++]!;
      cell = node.cell;
      cells = 1;
      encodeNodeAt(node, commit, buf, dv, at, nonce, values);
    } else {
      const x = extras[e++]!;
      cell = x.cell;
      cells = x.cells;
      if (x.area !== null) encodeArea(x.area, values, sources.pager, sources.version, commit, nonce, buf, dv, at);
      else encodeRecordAt(x.record!, commit, nonce, buf, at);
    }
    if (!(cell >= end)) assert(false, `cell ${cell} written twice in one commit`);
    const bytes = cells * CELL_BYTES;
    if (run !== null && cell === end && run.length < MAX_WRITE_BYTES) {
      run.length += bytes;
    } else {
      run = { cell, at, length: bytes };
      writes.push(run);
    }
    end = cell + cells;
    at += bytes;
  }
  return { buf, writes };
}

/** A zeroed buffer of at least `total` bytes: the store's, grown as needed, or a new one past SCRATCH_MAX_BYTES. */
function bufferFor(buffers: CommitBuffers, total: number): Uint8Array {
  if (total > SCRATCH_MAX_BYTES) return new Uint8Array(total);
  if (buffers.cells.length < total) buffers.cells = new Uint8Array(Math.min(SCRATCH_MAX_BYTES, Math.max(total, 2 * buffers.cells.length)));
  buffers.cells.fill(0, 0, total);
  return buffers.cells;
}
