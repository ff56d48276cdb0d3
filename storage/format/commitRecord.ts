/**
 * Commit records: one per commit, written into the ring slot after the previous commit's slot
 * (never the slot of the last durable commit). Each slot is its own 4 KiB page so a torn write
 * of one cannot damage another.
 *
 *   offset  size  meaning
 *   0       4     magic "MCR1"
 *   4       4     CRC-32 of bytes 8 .. COMMIT_RECORD_BYTES
 *   8       8     commit number
 *   16      8     main tree root pointer (u32 cell, u32 flags: bit 0 FRESH, bits 8..31 the low 24
 *                 bits of the root node's commit, as a child pointer's: storage/format/node.ts) — 0
 *                 when empty
 *   24      4     main tree height (0 = empty)
 *   28      4     flags: bit 0 CELLS_DURABLE — every cell was synced before this record was written
 *                 (two-sync), so recovery need not validate them; bit 1 VOLATILE — written with
 *                 `sync: 'none'`: no sync follows, so after a power loss the record may sit on
 *                 disk without the cells of the commits before it (recovery/recover.ts)
 *   32      8     range count
 *   40      8     main tree node count
 *   48      8     space-map root pointer (as the main tree's)
 *   56      4     space-map height
 *   60      4     boot tag of a VOLATILE record's writer (storage/io/bootTag.ts); 0 otherwise
 *   64      8     pending-free tree root pointer (as the main tree's)
 *   72      4     pending-free tree height
 *   76      4     synced cells: the file held at least this many 256-byte cells (header and ring
 *                 included) at a sync before this record was written — a CELLS_DURABLE record's own
 *                 cells, a checkpoint, or carried from the record before; the store never shrinks its
 *                 file, so a shorter file was truncated (recovery/recover.ts). 0 in files of earlier
 *                 releases: not checked
 *   80      8     high-water mark: one past the largest cell ever allocated
 *   88      8     allocated cells (live + pending)
 *   96      8     pending cells
 *   104     8     highest commit number ever written (abandoned ones included)
 *   112     4     commit nonce: random per commit, also written into every cell of this commit, so
 *                 cells of an abandoned attempt that reused this number never validate
 *   116     4     shared-structures table: record cell (0 = none; storage/format/structures.ts)
 *   120     4     its flags: bit 0 FRESH (written by this commit), bits 8..23 the low 16 bits of
 *                 the record's commit, as a record slot's
 *   124     4     structures in the table
 *
 * A store that keeps a commit log (commitProtocol 'log', storage/commit/commitLog.ts) writes the
 * longer form, magic "MCR2", whose CRC covers bytes 8 .. COMMIT_RECORD_MAX_BYTES:
 *   128     4     the log's first cell (an allocated run of cells, like a value record)
 *   132     4     its length in cells
 *   136     4     the log pass's salt: the entries that follow this record's pass carry it
 *   140     4     byte offset in the log where the pass's first entry is
 *   144     16    zero
 * and flag bit 2 LOGGED: the record is durable through its log entry only (written home with no
 * sync after it), so recovery trusts it once the log's replay reached it (recovery/recover.ts).
 */
import { crc32 } from '../../src/common/checksum.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

export const COMMIT_RECORD_BYTES = 128;
/** The longer form's size (a store with a commit log): read this many bytes to decode either. */
export const COMMIT_RECORD_MAX_BYTES = 160;
const MAGIC = 0x3152_434d; // "MCR1" little-endian
const MAGIC_LOG = 0x3252_434d; // "MCR2" little-endian

export interface TreeRoot {
  /** Root cell address, 0 when the tree is empty. */
  cell: number;
  /** The root was written by this commit. */
  fresh: boolean;
  height: number;
  /** The low bits of the commit that wrote the root node (pointerCommit; 0 when empty). */
  commit: number;
}

export const FLAG_CELLS_DURABLE = 1;
/** Written without a sync after it (`sync: 'none'`): trusted only on the boot that wrote it. */
export const FLAG_VOLATILE = 2;
/** Durable through its entry in the commit log (commitProtocol 'log'): trusted once replay reached it. */
export const FLAG_LOGGED = 4;

/** Where a store's commit log is, and which pass of it follows this record. */
export interface LogRef {
  /** First cell of the log's run (0: the store keeps no log). */
  cell: number;
  cells: number;
  /** The pass's salt: its entries carry it (nonzero when cell is). */
  salt: number;
  /** Byte offset in the log of the pass's first entry. */
  start: number;
}

export const NO_LOG: LogRef = Object.freeze({ cell: 0, cells: 0, salt: 0, start: 0 });

export interface CommitRecord {
  commit: number;
  flags: number;
  main: TreeRoot;
  ranges: number;
  nodes: number;
  space: TreeRoot;
  pending: TreeRoot;
  highWaterCell: number;
  /** The file's size in cells at a sync before this record (offset 76; 0: not known). */
  syncedCells: number;
  allocatedCells: number;
  pendingCells: number;
  highestCommit: number;
  nonce: number;
  /** The writer's boot tag on a VOLATILE record (storage/io/bootTag.ts), else 0. */
  boot: number;
  /** The shared-structures table (a value record), or cell 0 when the store has none. */
  structures: StructuresRef;
  /** The commit log, or NO_LOG. */
  log: LogRef;
}

export interface StructuresRef {
  cell: number;
  fresh: boolean;
  count: number;
  /** The low bits of the commit that wrote the table's record (recordPointerCommit; 0 when none). */
  commit: number;
}

export const NO_STRUCTURES: StructuresRef = Object.freeze({ cell: 0, fresh: false, count: 0, commit: 0 });

function u64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, highWord(v), true);
}

function r64(dv: DataView, at: number): number {
  return joinU64(dv.getUint32(at, true), dv.getUint32(at + 4, true));
}

function putRoot(dv: DataView, at: number, heightAt: number, root: TreeRoot): void {
  dv.setUint32(at, root.cell, true);
  dv.setUint32(at + 4, ((root.commit << 8) | (root.fresh ? 1 : 0)) >>> 0, true);
  dv.setUint32(heightAt, root.height, true);
}

function getRoot(dv: DataView, at: number, heightAt: number): TreeRoot {
  const flags = dv.getUint32(at + 4, true);
  return { cell: dv.getUint32(at, true), fresh: (flags & 1) !== 0, height: dv.getUint32(heightAt, true), commit: flags >>> 8 };
}

export function encodeCommitRecord(rec: CommitRecord): Uint8Array {
  const logged = rec.log.cell !== 0;
  const size = logged ? COMMIT_RECORD_MAX_BYTES : COMMIT_RECORD_BYTES;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, logged ? MAGIC_LOG : MAGIC, true);
  u64(dv, 8, rec.commit);
  putRoot(dv, 16, 24, rec.main);
  dv.setUint32(28, rec.flags, true);
  u64(dv, 32, rec.ranges);
  u64(dv, 40, rec.nodes);
  putRoot(dv, 48, 56, rec.space);
  dv.setUint32(60, rec.boot >>> 0, true);
  putRoot(dv, 64, 72, rec.pending);
  dv.setUint32(76, rec.syncedCells, true);
  u64(dv, 80, rec.highWaterCell);
  u64(dv, 88, rec.allocatedCells);
  u64(dv, 96, rec.pendingCells);
  u64(dv, 104, rec.highestCommit);
  dv.setUint32(112, rec.nonce >>> 0, true);
  dv.setUint32(116, rec.structures.cell, true);
  dv.setUint32(120, (rec.structures.commit << 8) | (rec.structures.fresh ? 1 : 0), true);
  dv.setUint32(124, rec.structures.count, true);
  if (logged) {
    dv.setUint32(128, rec.log.cell, true);
    dv.setUint32(132, rec.log.cells, true);
    dv.setUint32(136, rec.log.salt >>> 0, true);
    dv.setUint32(140, rec.log.start, true);
  }
  dv.setUint32(4, crc32(out, 8, size), true);
  return out;
}

/** Decodes a ring slot; undefined when it holds no valid record (never written, torn, garbage). */
export function decodeCommitRecord(bytes: Uint8Array): CommitRecord | undefined {
  if (bytes.length < COMMIT_RECORD_BYTES) return undefined;
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const size = magic === MAGIC ? COMMIT_RECORD_BYTES : magic === MAGIC_LOG ? COMMIT_RECORD_MAX_BYTES : 0;
  if (size === 0 || bytes.length < size) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  if (dv.getUint32(4, true) !== crc32(bytes, 8, size)) return undefined;
  const log = size === COMMIT_RECORD_BYTES ? NO_LOG : { cell: dv.getUint32(128, true), cells: dv.getUint32(132, true), salt: dv.getUint32(136, true), start: dv.getUint32(140, true) };
  if (log.cell === 0 && size !== COMMIT_RECORD_BYTES) return undefined;
  return {
    commit: r64(dv, 8),
    flags: dv.getUint32(28, true),
    main: getRoot(dv, 16, 24),
    ranges: r64(dv, 32),
    nodes: r64(dv, 40),
    space: getRoot(dv, 48, 56),
    pending: getRoot(dv, 64, 72),
    highWaterCell: r64(dv, 80),
    syncedCells: dv.getUint32(76, true),
    allocatedCells: r64(dv, 88),
    pendingCells: r64(dv, 96),
    highestCommit: r64(dv, 104),
    nonce: dv.getUint32(112, true),
    boot: dv.getUint32(60, true),
    structures: { cell: dv.getUint32(116, true), fresh: (dv.getUint32(120, true) & 1) !== 0, count: dv.getUint32(124, true), commit: (dv.getUint32(120, true) >>> 8) & 0xffff },
    log,
  };
}
