/**
 * Packed value blocks: small values (8 .. PACK_MAX_BYTES bytes of msgpack) written by one commit
 * share cells instead of taking a 256-byte record each — a typical `{ id, prot }` costs 14 bytes,
 * not 256.
 *
 *   offset  size  meaning
 *   0       1     type BLOCK_TYPE (5)
 *   1       1     number of entries
 *   2       2     zero
 *   4       4     CRC-32 of bytes 8..255 then bytes 0..3 (the node checksum)
 *   8       8     writing commit number
 *   16      …     entries: u8 length, 7-byte key (the `first` of the range it was written for, u56),
 *                 then `length` msgpack bytes; the rest is zero
 *   248     4     commit nonce (the node position: recovery matches it)
 *   252     4     zero
 *
 * A block is immutable. Any number of leaf slots may point at one entry (a store that splits a
 * range shares the entry), so the space map keeps, for every block cell, the number of slots that
 * point into it; when it drops to zero the cell is freed like any other. When it drops to a few,
 * the commit moves the survivors (found through their keys) into its own new block, so one
 * survivor never pins a whole cell.
 */
import { crc32 } from '../../src/common/checksum.js';
import { nodeChecksumOk, type NewValue, OFF_COMMIT, OFF_NONCE, readU64 } from './node.js';
import { corruptCell } from '../../src/common/errors.js';
import { CELL_BYTES } from '../../src/common/limits.js';

export const BLOCK_TYPE = 5;
export const BLOCK_ENTRIES_OFFSET = 16;
const BLOCK_END = 248;
export const ENTRY_HEADER_BYTES = 8;
/** Largest value that is packed; larger ones get a record of their own. */
export const PACK_MAX_BYTES = BLOCK_END - BLOCK_ENTRIES_OFFSET - ENTRY_HEADER_BYTES;

export interface Block {
  values: NewValue[];
}

/**
 * Groups values into blocks in order, setting each value's byte offset. Each run starts a new
 * block: values of different runs never share one.
 */
export function packValues(runs: NewValue[][]): Block[] {
  const blocks: Block[] = [];
  let current: Block | undefined;
  let at = BLOCK_END;
  for (const run of runs) {
    at = BLOCK_END;
    for (const v of run) {
    const need = ENTRY_HEADER_BYTES + v.bytes.length;
    if (!current || at + need > BLOCK_END) {
      current = { values: [] };
      blocks.push(current);
      at = BLOCK_ENTRIES_OFFSET;
    }
    v.offset = at;
    current.values.push(v);
    at += need;
    }
  }
  return blocks;
}

export function encodeBlock(block: Block, commit: number, nonce: number, out: Uint8Array): void {
  const dv = new DataView(out.buffer, out.byteOffset, CELL_BYTES);
  out[0] = BLOCK_TYPE;
  out[1] = block.values.length;
  dv.setUint32(OFF_COMMIT, commit >>> 0, true);
  dv.setUint32(OFF_COMMIT + 4, Math.floor(commit / 0x1_0000_0000), true);
  dv.setUint32(OFF_NONCE, nonce >>> 0, true);
  for (const v of block.values) {
    out[v.offset] = v.bytes.length;
    let key = v.key;
    for (let b = 1; b < ENTRY_HEADER_BYTES; b++) {
      out[v.offset + b] = key % 256;
      key = Math.floor(key / 256);
    }
    out.set(v.bytes, v.offset + ENTRY_HEADER_BYTES);
  }
  // The same checksum as nodes: CRC of 8..255, continued over 0..3.
  dv.setUint32(4, crc32(out, 0, 4, crc32(out, 8, CELL_BYTES)), true);
}

/** The msgpack bytes of the entry at `offset` of a block cell; throws ECORRUPT naming the cell. */
export function blockEntry(cell: Uint8Array, address: number, offset: number, maxCommit: number, checksumVerified: boolean): Uint8Array {
  if (!checksumVerified && !nodeChecksumOk(cell)) throw corruptCell(address, 'value block checksum mismatch');
  if (cell[0] !== BLOCK_TYPE) throw corruptCell(address, `expected a value block, found type ${cell[0]}`);
  const commit = readU64(cell, OFF_COMMIT);
  if (commit > maxCommit) throw corruptCell(address, `value block written by commit ${commit}, newer than the version ${maxCommit} being read`);
  if (offset < BLOCK_ENTRIES_OFFSET || offset >= BLOCK_END) throw corruptCell(address, `packed value offset ${offset} is outside the block`);
  const length = cell[offset]!;
  if (offset + ENTRY_HEADER_BYTES + length > BLOCK_END) throw corruptCell(address, `packed value at offset ${offset} runs past the block`);
  return cell.subarray(offset + ENTRY_HEADER_BYTES, offset + ENTRY_HEADER_BYTES + length);
}

export interface BlockEntry {
  offset: number;
  key: number;
  bytes: Uint8Array;
}

/** Every entry of a (verified) block, for moving survivors. */
export function blockEntries(cell: Uint8Array): BlockEntry[] {
  const out: BlockEntry[] = [];
  let at = BLOCK_ENTRIES_OFFSET;
  for (let i = 0; i < cell[1]! && at + ENTRY_HEADER_BYTES <= BLOCK_END; i++) {
    const length = cell[at]!;
    let key = 0;
    for (let b = ENTRY_HEADER_BYTES - 1; b >= 1; b--) key = key * 256 + cell[at + b]!;
    if (at + ENTRY_HEADER_BYTES + length > BLOCK_END) break;
    out.push({ offset: at, key, bytes: cell.slice(at + ENTRY_HEADER_BYTES, at + ENTRY_HEADER_BYTES + length) });
    at += ENTRY_HEADER_BYTES + length;
  }
  return out;
}
