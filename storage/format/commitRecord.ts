/**
 * Commit records: one per commit, written into the ring slot after the previous commit's slot
 * (never the slot of the last durable commit). Each slot is its own 4 KiB page so a torn write
 * of one cannot damage another.
 *
 *   offset  size  meaning
 *   0       4     magic "MCR1"
 *   4       4     CRC-32 of bytes 8 .. COMMIT_RECORD_BYTES
 *   8       8     commit number
 *   16      8     main tree root pointer (u32 cell, u32 flags: bit 0 FRESH) — 0 when empty
 *   24      4     main tree height (0 = empty)
 *   28      4     flags: bit 0 CELLS_DURABLE — every cell was synced before this record was written
 *                 (two-sync), so recovery need not validate them; bit 1 VOLATILE — written with
 *                 `sync: 'none'`: no sync follows, so after a power loss the record may sit on
 *                 disk without the cells of the commits before it (recovery/recover.ts)
 *   32      8     range count
 *   40      8     main tree node count
 *   48      8     space-map root pointer
 *   56      4     space-map height
 *   60      4     boot tag of a VOLATILE record's writer (storage/io/bootTag.ts); 0 otherwise
 *   64      8     pending-free tree root pointer
 *   72      4     pending-free tree height
 *   76      4     zero
 *   80      8     high-water mark: one past the largest cell ever allocated
 *   88      8     allocated cells (live + pending)
 *   96      8     pending cells
 *   104     8     highest commit number ever written (abandoned ones included)
 *   112     4     commit nonce: random per commit, also written into every cell of this commit, so
 *                 cells of an abandoned attempt that reused this number never validate
 *   116     4     shared-structures table: record cell (0 = none; storage/format/structures.ts)
 *   120     4     its flags: bit 0 FRESH (written by this commit)
 *   124     4     structures in the table
 */
import { crc32 } from '../../src/common/checksum.js';

export const COMMIT_RECORD_BYTES = 128;
const MAGIC = 0x3152_434d; // "MCR1" little-endian
const TWO32 = 0x1_0000_0000;

export interface TreeRoot {
  /** Root cell address, 0 when the tree is empty. */
  cell: number;
  /** The root was written by this commit. */
  fresh: boolean;
  height: number;
}

export const FLAG_CELLS_DURABLE = 1;
/** Written without a sync after it (`sync: 'none'`): trusted only on the boot that wrote it. */
export const FLAG_VOLATILE = 2;

export interface CommitRecord {
  commit: number;
  flags: number;
  main: TreeRoot;
  ranges: number;
  nodes: number;
  space: TreeRoot;
  pending: TreeRoot;
  highWaterCell: number;
  allocatedCells: number;
  pendingCells: number;
  highestCommit: number;
  nonce: number;
  /** The writer's boot tag on a VOLATILE record (storage/io/bootTag.ts), else 0. */
  boot: number;
  /** The shared-structures table (a value record), or cell 0 when the store has none. */
  structures: StructuresRef;
}

export interface StructuresRef {
  cell: number;
  fresh: boolean;
  count: number;
}

export const NO_STRUCTURES: StructuresRef = Object.freeze({ cell: 0, fresh: false, count: 0 });

function u64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / TWO32), true);
}

function r64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * TWO32;
}

function putRoot(dv: DataView, at: number, heightAt: number, root: TreeRoot): void {
  dv.setUint32(at, root.cell, true);
  dv.setUint32(at + 4, root.fresh ? 1 : 0, true);
  dv.setUint32(heightAt, root.height, true);
}

function getRoot(dv: DataView, at: number, heightAt: number): TreeRoot {
  return { cell: dv.getUint32(at, true), fresh: (dv.getUint32(at + 4, true) & 1) !== 0, height: dv.getUint32(heightAt, true) };
}

export function encodeCommitRecord(rec: CommitRecord): Uint8Array {
  const out = new Uint8Array(COMMIT_RECORD_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  u64(dv, 8, rec.commit);
  putRoot(dv, 16, 24, rec.main);
  dv.setUint32(28, rec.flags, true);
  u64(dv, 32, rec.ranges);
  u64(dv, 40, rec.nodes);
  putRoot(dv, 48, 56, rec.space);
  dv.setUint32(60, rec.boot >>> 0, true);
  putRoot(dv, 64, 72, rec.pending);
  u64(dv, 80, rec.highWaterCell);
  u64(dv, 88, rec.allocatedCells);
  u64(dv, 96, rec.pendingCells);
  u64(dv, 104, rec.highestCommit);
  dv.setUint32(112, rec.nonce >>> 0, true);
  dv.setUint32(116, rec.structures.cell, true);
  dv.setUint32(120, rec.structures.fresh ? 1 : 0, true);
  dv.setUint32(124, rec.structures.count, true);
  dv.setUint32(4, crc32(out, 8, COMMIT_RECORD_BYTES), true);
  return out;
}

/** Decodes a ring slot; undefined when it holds no valid record (never written, torn, garbage). */
export function decodeCommitRecord(bytes: Uint8Array): CommitRecord | undefined {
  if (bytes.length < COMMIT_RECORD_BYTES) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, COMMIT_RECORD_BYTES);
  if (dv.getUint32(0, true) !== MAGIC) return undefined;
  if (dv.getUint32(4, true) !== crc32(bytes, 8, COMMIT_RECORD_BYTES)) return undefined;
  return {
    commit: r64(dv, 8),
    flags: dv.getUint32(28, true),
    main: getRoot(dv, 16, 24),
    ranges: r64(dv, 32),
    nodes: r64(dv, 40),
    space: getRoot(dv, 48, 56),
    pending: getRoot(dv, 64, 72),
    highWaterCell: r64(dv, 80),
    allocatedCells: r64(dv, 88),
    pendingCells: r64(dv, 96),
    highestCommit: r64(dv, 104),
    nonce: dv.getUint32(112, true),
    boot: dv.getUint32(60, true),
    structures: { cell: dv.getUint32(116, true), fresh: (dv.getUint32(120, true) & 1) !== 0, count: dv.getUint32(124, true) },
  };
}
