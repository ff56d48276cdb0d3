/**
 * The page file: a header page, a ring of commit-record pages, then 256-byte cells.
 *
 *   byte offset          size      contents
 *   0                    4096      header page (below)
 *   4096 × (1 + k)       4096      commit-record slot k, k = 0 .. RING_SLOTS−1 (storage/format/commitRecord.ts)
 *   CELL_BASE × 256      …         cells: nodes (storage/format/node.ts) and value records (storage/format/valueRecord.ts)
 *
 * A cell address is its byte offset divided by CELL_BYTES, so addresses below CELL_BASE are never
 * cells and address 0 doubles as "no cell". Page number of a cell = address >>> CELLS_PER_PAGE_SHIFT.
 *
 * Header page:
 *   offset  size  meaning
 *   0       8     magic "MAPLESTR"
 *   8       4     format version (FORMAT_VERSION)
 *   12      4     page size in bytes (4096)
 *   16      4     cell size in bytes (256)
 *   20      4     ring slots (4)
 *   24      4     random file salt
 *   28      4     CRC-32 of bytes 0..27
 *   64      4     open mark: OPEN_MARK while a writer has the store open, zero after a clean close
 *   68      4     the boot tag (storage/io/bootTag.ts) of the writer that set the mark
 *
 * The open mark is outside the checksum and written in place (8 bytes: a torn write tears only
 * them). It is read only on the boot it names, through the page cache: set there, a writer of
 * this boot did not close cleanly (killed, or a commit failed), so the record it left newest may be
 * in the page cache only (MapleStore.settleOpen).
 */
import { crc32 } from '../../src/common/checksum.js';
import { corrupt, notStore } from '../../src/common/errors.js';

import { CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';
export const FORMAT_VERSION = 4;

const MAGIC = Buffer.from('MAPLESTR', 'latin1');
const HEADER_CRC_OFFSET = 28;

export function cellOffsetBytes(cellAddress: number): number {
  return cellAddress * CELL_BYTES;
}

export function ringSlotOffsetBytes(slot: number): number {
  return (1 + slot) * PAGE_BYTES;
}

/** The open mark (above): "OPEN" little-endian. */
const OPEN_MARK = 0x4e45504f;
const OPEN_MARK_OFFSET = 64;

/** Where writeOpenMark and readOpenMark do their I/O: a file (storage/io/fileIO.ts's FileIO is one). */
export interface MarkFile extends HeaderSource {
  write(buf: Uint8Array, positionBytes: number): void;
}

/** Sets the open mark to `boot` (a writer opened on that boot), or clears it (`boot` null: a clean close). */
export function writeOpenMark(io: MarkFile, boot: number | null): void {
  const mark = new Uint8Array(8);
  if (boot !== null) {
    const dv = new DataView(mark.buffer);
    dv.setUint32(0, OPEN_MARK, true);
    dv.setUint32(4, boot >>> 0, true);
  }
  io.write(mark, OPEN_MARK_OFFSET);
}

/** The boot tag of the writer whose open mark is set, or undefined (clear, or not a mark). */
export function readOpenMark(io: MarkFile): number | undefined {
  const mark = new Uint8Array(8);
  if (io.read(mark, OPEN_MARK_OFFSET) < 8) return undefined;
  const dv = new DataView(mark.buffer);
  return dv.getUint32(0, true) === OPEN_MARK ? dv.getUint32(4, true) : undefined;
}

export function encodeHeader(): Uint8Array {
  const page = Buffer.alloc(PAGE_BYTES);
  MAGIC.copy(page, 0);
  page.writeUInt32LE(FORMAT_VERSION, 8);
  page.writeUInt32LE(PAGE_BYTES, 12);
  page.writeUInt32LE(CELL_BYTES, 16);
  page.writeUInt32LE(RING_SLOTS, 20);
  page.writeUInt32LE((Math.random() * 0x1_0000_0000) >>> 0, 24);
  page.writeUInt32LE(crc32(page, 0, HEADER_CRC_OFFSET), HEADER_CRC_OFFSET);
  return page;
}

/**
 * Whether a header page was written whole: its checksum holds (whatever its version). A header
 * torn while creation wrote it (old bytes, zeros or garbage in part of it) fails it.
 */
export function headerIsWhole(page: Uint8Array): boolean {
  if (page.length < HEADER_CRC_OFFSET + 4) return false;
  const stored = (page[HEADER_CRC_OFFSET]! | (page[HEADER_CRC_OFFSET + 1]! << 8) | (page[HEADER_CRC_OFFSET + 2]! << 16) | (page[HEADER_CRC_OFFSET + 3]! << 24)) >>> 0;
  return stored === crc32(page, 0, HEADER_CRC_OFFSET);
}

/** What readHeader reads from: a file (storage/io/fileIO.ts's FileIO is one). */
export interface HeaderSource {
  read(buf: Uint8Array, positionBytes: number): number;
}

/** Throws ENOTSTORE unless `io` holds a maple-store file of this format version. */
export function readHeader(io: HeaderSource, path: string): void {
  const page = Buffer.alloc(PAGE_BYTES);
  const n = io.read(page, 0);
  // open() creates a store only where no file exists (storage/io/creation.ts): it never formats one.
  const neverFormatted = 'open() never formats an existing file (create only makes new files): remove it, or choose another path, to create a store';
  if (n === 0) throw notStore(`${path} exists but is empty (0 bytes), so it is not a maple-store file; ${neverFormatted}`);
  if (n < 32 || !page.subarray(0, 8).equals(MAGIC)) {
    throw notStore(`${path} exists but is not a maple-store file (bad magic in page 0); ${neverFormatted}`);
  }
  if (!headerIsWhole(page)) {
    throw corrupt(`${path}: header page 0 fails its checksum`);
  }
  const version = page.readUInt32LE(8);
  if (version !== FORMAT_VERSION) {
    // Version 1 (maple-store 0.1.0) kept small values in shared blocks; version 2 (unreleased
    // builds) in leaf value areas, its checksums not bound to the cell's address; version 3 binds
    // them; version 4 adds the child's commit to each pointer of an internal node.
    const what = version === 1 ? 'before leaf value areas' : version === 2 ? 'before checksums bound to each cell\'s address' : 'before pointers named their child\'s commit';
    const older = version >= 1 && version < FORMAT_VERSION ? `: it was written by an earlier release (${what}); read it with that release and copy its ranges into a new store` : '';
    throw notStore(`${path} has format version ${version}; this build reads version ${FORMAT_VERSION}${older}`);
  }
  if (page.readUInt32LE(12) !== PAGE_BYTES || page.readUInt32LE(16) !== CELL_BYTES || page.readUInt32LE(20) !== RING_SLOTS) {
    throw notStore(`${path} uses a page, cell or ring size this build does not support`);
  }
}

/** A run of `count` cells from cell `start` (allocations, frees, pending lists). */
export interface CellRun {
  start: number;
  count: number;
}
