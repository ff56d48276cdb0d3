/**
 * Value records: values too large to sit inline in a leaf slot, in a run of whole cells.
 *
 *   offset  size  meaning
 *   0       1     type RECORD_TYPE (3)
 *   1       1     zero
 *   2       2     writing commit number, bits 32..47
 *   4       4     CRC-32 of bytes 8 .. 24+length, then bytes 0..3, started from the record's first
 *                 cell's address: the same bytes at any other cell fail it
 *   8       4     writing commit number, low 32 bits
 *   12      4     length of the msgpack bytes
 *   16      4     commit nonce: the writing commit's random number (recovery matches it)
 *   20      4     zero
 *   24      …     msgpack bytes; the rest of the last cell is zero
 *
 * A record is immutable and referenced by exactly one leaf slot: when a store splits a range, the
 * second half gets a copy (so a record is freed exactly when its one slot goes).
 */
import { MapleError, corruptCell, invalid } from '../../src/common/errors.js';
import { crc32, crc32Spread } from '../../src/common/checksum.js';
import { CELL_BYTES, MAX_VALUE_BYTES, PAGE_BYTES } from '../../src/common/limits.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

export const RECORD_TYPE = 3;
export const RECORD_HEADER_BYTES = 24;
/** Largest msgpack encoding of one value. */

/** Accessors for a record's header in place in the buffer pool (`at`: its first cell's byte offset). */
export function recordTypeAt(slab: Uint8Array, at: number): number {
  return slab[at]!;
}

/** The number of the commit that wrote the record. */
export function recordCommitAt(slab: Uint8Array, words: Uint32Array, at: number): number {
  return joinU64(words[(at + 8) >>> 2]!, slab[at + 2]! | (slab[at + 3]! << 8));
}

/** The length of the record's msgpack bytes (they start at at + RECORD_HEADER_BYTES). */
export function recordLengthAt(words: Uint32Array, at: number): number {
  return words[(at + 12) >>> 2]!;
}

/** The stored checksum. */
export function recordChecksumAt(words: Uint32Array, at: number): number {
  return words[(at + 4) >>> 2]!;
}

/**
 * The checksum of a record spread over buffer-pool frames (its first `firstSpan` bytes at byte
 * `at` of `slab`, then a page from each of `frames[0 .. frameCount)`), read from cell `cell`;
 * compare with recordChecksumAt.
 */
export function recordChecksumIn(slab: Uint8Array, at: number, firstSpan: number, lengthBytes: number, frames: ArrayLike<number>, frameCount: number, cell: number): number {
  const c = crc32Spread(slab, at, firstSpan, PAGE_BYTES, frames, frameCount, 8, RECORD_HEADER_BYTES + lengthBytes, cell);
  return crc32(slab, at, at + 4, c) >>> 0;
}

export function recordCells(lengthBytes: number): number {
  return Math.ceil((RECORD_HEADER_BYTES + lengthBytes) / CELL_BYTES);
}

/** The cells of a record to be written at cell `cell`. */
export function encodeRecord(bytes: Uint8Array, commit: number, nonce: number, cell: number): Uint8Array {
  const out = new Uint8Array(recordCells(bytes.length) * CELL_BYTES);
  encodeRecordAt(bytes, commit, nonce, out, 0, cell);
  return out;
}

/** encodeRecord into the zeroed cells starting at byte `at` of `buf` (recordCells(length) of them). */
export function encodeRecordAt(bytes: Uint8Array, commit: number, nonce: number, buf: Uint8Array, at: number, cell: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset + at, RECORD_HEADER_BYTES);
  buf[at] = RECORD_TYPE;
  dv.setUint16(2, highWord(commit), true);
  dv.setUint32(8, commit >>> 0, true);
  dv.setUint32(12, bytes.length, true);
  dv.setUint32(16, nonce >>> 0, true);
  buf.set(bytes, at + RECORD_HEADER_BYTES);
  dv.setUint32(4, crc32(buf, at, at + 4, crc32(buf, at + 8, at + RECORD_HEADER_BYTES + bytes.length, cell)), true);
}

export interface RecordHeader {
  lengthBytes: number;
  commit: number;
  nonce: number;
}

/** Parses the header in the first cell of a record; throws ECORRUPT naming the cell. */
export function readRecordHeader(firstCell: Uint8Array, address: number): RecordHeader {
  const dv = new DataView(firstCell.buffer, firstCell.byteOffset, RECORD_HEADER_BYTES);
  if (firstCell[0] !== RECORD_TYPE) throw corruptCell(address, `expected a value record, found type ${firstCell[0]}`);
  const lengthBytes = dv.getUint32(12, true);
  if (lengthBytes > MAX_VALUE_BYTES) throw corruptCell(address, `value record length ${lengthBytes} exceeds the limit`);
  return { lengthBytes, commit: joinU64(dv.getUint32(8, true), dv.getUint16(2, true)), nonce: dv.getUint32(16, true) };
}

/** Verifies a whole record (header + data) read from cell `address`, and returns its msgpack bytes. */
export function verifyRecord(cells: Uint8Array, address: number): Uint8Array {
  const { lengthBytes } = readRecordHeader(cells, address);
  const end = RECORD_HEADER_BYTES + lengthBytes;
  if (cells.length < end) throw corruptCell(address, 'value record is truncated');
  const dv = new DataView(cells.buffer, cells.byteOffset, RECORD_HEADER_BYTES);
  if (dv.getUint32(4, true) !== crc32(cells, 0, 4, crc32(cells, 8, end, address))) throw corruptCell(address, 'value record checksum mismatch');
  return cells.subarray(RECORD_HEADER_BYTES, end);
}

export function tooLarge(lengthBytes: number): MapleError {
  return invalid(`value encodes to ${lengthBytes} bytes; the limit is ${MAX_VALUE_BYTES}`);
}
