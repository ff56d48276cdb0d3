/**
 * A leaf's value area: the values of one leaf that are too long for its slots (8 up to
 * AREA_VALUE_MAX_BYTES bytes of msgpack), back to back in one run of cells that belongs to that
 * leaf alone.
 *
 *   offset  size  meaning
 *   0       1     type AREA_TYPE (6)
 *   1       1     zero
 *   2       2     writing commit number, bits 32..47
 *   4       4     CRC-32 of bytes 8 .. 24+length, then bytes 0..3
 *   8       4     writing commit number, low 32 bits
 *   12      4     length of the value bytes
 *   16      4     commit nonce: the writing commit's random number (recovery matches it)
 *   20      4     the owning leaf's cell
 *   24      …     the value bytes: each value's msgpack, in slot order; a slot names its value's
 *                 offset (from byte 24) and length (storage/format/node.ts, SLOT_AREA). The rest of
 *                 the last cell is zero.
 *
 * The leaf names its area (its cell and how many cells it takes) in its own header, and an area is
 * written by the commit that writes its leaf: a leaf rewritten by a later commit gets a new area,
 * holding the values it keeps, and its old area is freed with it. So an area has exactly one
 * owner, and needs no reference count: values are as dense as their bytes, whether a commit
 * writes one of them or a million.
 */
import { corruptCell } from '../../src/common/errors.js';
import { crc32, crc32Spread } from '../../src/common/checksum.js';
import { CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

export const AREA_TYPE = 6;
export const AREA_HEADER_BYTES = 24;

/** Cells an area of `lengthBytes` value bytes takes. */
export function areaCells(lengthBytes: number): number {
  return Math.ceil((AREA_HEADER_BYTES + lengthBytes) / CELL_BYTES);
}

/**
 * Writes an area's header into the zeroed cells at byte `at` of `buf`, once its `lengthBytes`
 * value bytes are in place at at + AREA_HEADER_BYTES: the checksum covers them.
 */
export function sealAreaAt(buf: Uint8Array, dv: DataView, at: number, lengthBytes: number, commit: number, nonce: number, leafCell: number): void {
  buf[at] = AREA_TYPE;
  dv.setUint16(at + 2, highWord(commit), true);
  dv.setUint32(at + 8, commit >>> 0, true);
  dv.setUint32(at + 12, lengthBytes, true);
  dv.setUint32(at + 16, nonce >>> 0, true);
  dv.setUint32(at + 20, leafCell, true);
  dv.setUint32(at + 4, crc32(buf, at, at + 4, crc32(buf, at + 8, at + AREA_HEADER_BYTES + lengthBytes)), true);
}

/*
 * Accessors for an area's header in place (`at`: its first cell's byte offset in `slab`; `words`
 * the same memory as little-endian u32s, `at` a multiple of 4). They check nothing.
 */

export function areaTypeAt(slab: Uint8Array, at: number): number {
  return slab[at]!;
}

/** The number of the commit that wrote the area. */
export function areaCommitAt(slab: Uint8Array, words: Uint32Array, at: number): number {
  return joinU64(words[(at + 8) >>> 2]!, slab[at + 2]! | (slab[at + 3]! << 8));
}

/** The length of the area's value bytes (they start at at + AREA_HEADER_BYTES). */
export function areaLengthAt(words: Uint32Array, at: number): number {
  return words[(at + 12) >>> 2]!;
}

export function areaNonceAt(words: Uint32Array, at: number): number {
  return words[(at + 16) >>> 2]!;
}

/** The cell of the leaf the area belongs to. */
export function areaOwnerAt(words: Uint32Array, at: number): number {
  return words[(at + 20) >>> 2]!;
}

/** The stored checksum. */
export function areaChecksumAt(words: Uint32Array, at: number): number {
  return words[(at + 4) >>> 2]!;
}

/**
 * Checks the header of the area `cell` found at byte `at` (its first cell, with at least its
 * header in `slab`) against what the leaf `leafCell` says of it: the type, the owner, a length
 * that fits the `cells` the leaf gives it, the leaf's own commit `leafCommit` as its writer. Throws ECORRUPT
 * naming the cell; returns the length of the value bytes.
 */
export function checkAreaHeader(slab: Uint8Array, words: Uint32Array, at: number, cell: number, cells: number, leafCell: number, leafCommit: number): number {
  if (areaTypeAt(slab, at) !== AREA_TYPE) throw corruptCell(cell, `expected the value area of the leaf at cell ${leafCell}, found type ${areaTypeAt(slab, at)}`);
  const owner = areaOwnerAt(words, at);
  if (owner !== leafCell) throw corruptCell(cell, `value area belongs to the leaf at cell ${owner}, but the leaf at cell ${leafCell} points at it`);
  const length = areaLengthAt(words, at);
  if (areaCells(length) !== cells) throw corruptCell(cell, `value area of ${length} bytes does not take the ${cells} cells its leaf gives it`);
  // The leaf's own commit wrote it: an older area of that leaf left in place (a lost write) fails this.
  const commit = areaCommitAt(slab, words, at);
  if (commit !== leafCommit) throw corruptCell(cell, `value area written by commit ${commit}, but its leaf at cell ${leafCell} by commit ${leafCommit}: an older area where a newer one was written (a lost write)`);
  return length;
}

/**
 * The checksum of an area laid out in the buffer pool's `slab`: its first `firstSpan` bytes from
 * byte `at` (the rest of its first page), then a page from each of `frames[0 .. frameCount)` (the
 * frames of its next pages, in order). Compare with areaChecksumAt.
 */
export function areaChecksumIn(slab: Uint8Array, at: number, firstSpan: number, length: number, frames: ArrayLike<number>, frameCount: number): number {
  const c = crc32Spread(slab, at, firstSpan, PAGE_BYTES, frames, frameCount, 8, AREA_HEADER_BYTES + length);
  return crc32(slab, at, at + 4, c) >>> 0;
}
