/**
 * Commit-log entries (commitProtocol 'log', storage/commit/commitLog.ts): one per logged commit,
 * appended to the log's run of cells with one durable write. An entry holds everything the commit
 * wrote — its cells and its commit record — so that recovery can write them home again in commit
 * order after a power loss (recovery/recover.ts).
 *
 *   offset  size  meaning
 *   0       4     magic "MLE1"
 *   4       4     CRC-32 of bytes 8 .. length
 *   8       4     the pass's salt (storage/format/commitRecord.ts, LogRef.salt)
 *   12      4     length in bytes, a multiple of ENTRY_ALIGN_BYTES (the next entry starts there)
 *   16      8     commit number
 *   24      4     commit nonce
 *   28      4     runs R
 *   32      4     ring slot the record was written to
 *   36      4     record bytes (COMMIT_RECORD_BYTES or COMMIT_RECORD_MAX_BYTES)
 *   40      8·R   the runs: first cell (u32), cells (u32)
 *   …             the record, then each run's cells in order, then zeros to the length
 *
 * An entry is valid only whole: its CRC, its salt and the commit number the replay expects next
 * (one more than the last), so a torn entry, an entry of an earlier pass (another salt) or one
 * left from a commit that never completed ends the replay.
 */
import { crc32 } from '../../src/common/checksum.js';
import { CELL_BYTES } from '../../src/common/limits.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

const MAGIC = 0x3145_4c4d; // "MLE1" little-endian
export const ENTRY_HEADER_BYTES = 40;
/** Entries start on these boundaries. */
export const ENTRY_ALIGN_BYTES = 256;

/** One contiguous run of a commit's cells: `cells` cells at byte `at` of `buf`. */
export interface EntryRun {
  cell: number;
  cells: number;
  at: number;
}

/** Bytes an entry of these runs and a record of `recordBytes` takes. */
export function entryBytes(runCount: number, cells: number, recordBytes: number): number {
  const raw = ENTRY_HEADER_BYTES + 8 * runCount + recordBytes + cells * CELL_BYTES;
  return Math.ceil(raw / ENTRY_ALIGN_BYTES) * ENTRY_ALIGN_BYTES;
}

/**
 * Encodes an entry into `out` from byte 0 (zeroed first, `out` at least entryBytes long): the runs'
 * cells are read from `buf`. Returns its length.
 */
export function encodeEntry(
  out: Uint8Array,
  salt: number,
  commit: number,
  nonce: number,
  slot: number,
  record: Uint8Array,
  runs: readonly EntryRun[],
  buf: Uint8Array,
): number {
  let cells = 0;
  for (let i = 0; i < runs.length; i++) cells += runs[i]!.cells;
  const length = entryBytes(runs.length, cells, record.length);
  out.fill(0, 0, length);
  const dv = new DataView(out.buffer, out.byteOffset, length);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(8, salt >>> 0, true);
  dv.setUint32(12, length, true);
  dv.setUint32(16, commit >>> 0, true);
  dv.setUint32(20, highWord(commit), true);
  dv.setUint32(24, nonce >>> 0, true);
  dv.setUint32(28, runs.length, true);
  dv.setUint32(32, slot, true);
  dv.setUint32(36, record.length, true);
  let at = ENTRY_HEADER_BYTES;
  for (let i = 0; i < runs.length; i++) {
    dv.setUint32(at, runs[i]!.cell, true);
    dv.setUint32(at + 4, runs[i]!.cells, true);
    at += 8;
  }
  out.set(record, at);
  at += record.length;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    const bytes = r.cells * CELL_BYTES;
    out.set(buf.subarray(r.at, r.at + bytes), at);
    at += bytes;
  }
  dv.setUint32(4, crc32(out, 8, length), true);
  return length;
}

/** An entry read back: its cells' runs (byte offsets into the log bytes it was decoded from) and its record. */
export interface DecodedEntry {
  length: number;
  commit: number;
  nonce: number;
  slot: number;
  record: Uint8Array;
  runs: EntryRun[];
}

/**
 * The entry at byte `at` of `log` if it is whole, of the pass `salt`, and commit `commit`;
 * undefined otherwise (the end of the pass).
 */
export function decodeEntry(log: Uint8Array, at: number, salt: number, commit: number): DecodedEntry | undefined {
  if (at + ENTRY_HEADER_BYTES > log.length) return undefined;
  const dv = new DataView(log.buffer, log.byteOffset + at, log.length - at);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(8, true) !== salt >>> 0) return undefined;
  const length = dv.getUint32(12, true);
  if (length < ENTRY_HEADER_BYTES || length % ENTRY_ALIGN_BYTES !== 0 || at + length > log.length) return undefined;
  if (joinU64(dv.getUint32(16, true), dv.getUint32(20, true)) !== commit) return undefined;
  if (dv.getUint32(4, true) !== crc32(log, at + 8, at + length)) return undefined;
  const runCount = dv.getUint32(28, true);
  const recordBytes = dv.getUint32(36, true);
  let p = ENTRY_HEADER_BYTES + 8 * runCount;
  if (p + recordBytes > length) return undefined;
  const record = log.subarray(at + p, at + p + recordBytes);
  p += recordBytes;
  const runs: EntryRun[] = [];
  for (let i = 0; i < runCount; i++) {
    const cells = dv.getUint32(ENTRY_HEADER_BYTES + 8 * i + 4, true);
    runs.push({ cell: dv.getUint32(ENTRY_HEADER_BYTES + 8 * i, true), cells, at: at + p });
    p += cells * CELL_BYTES;
    if (p > length) return undefined;
  }
  return { length, commit, nonce: dv.getUint32(24, true), slot: dv.getUint32(32, true), record, runs };
}
