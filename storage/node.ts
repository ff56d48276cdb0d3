/**
 * Maple nodes: fixed 256-byte cells, decoded into MemNode objects for writers and checkers
 * (the read hot path in src/fastRead.ts reads the same offsets straight from buffer-pool frames).
 *
 * Common header (16 bytes):
 *   offset  size  meaning
 *   0       1     type: NODE_LEAF (1) or NODE_INTERNAL (2)
 *   1       1     count: slots in use (leaf 1..LEAF_SLOTS, internal 1..INTERNAL_SLOTS)
 *   2       2     zero
 *   4       4     CRC-32 of bytes 8..255 then bytes 0..3
 *   8       4     writing commit number, low 32 bits
 *   12      4     writing commit number, high bits
 *
 * Leaf (kernel maple_range_64 / leaf_64):  slot i covers (pivot[i−1], pivot[i]]; slot 0 starts at the
 * node's min and the last used slot ends at the node's max, both implied by the parent.
 *   16      14×8  pivots, u64 little-endian (keys ≤ 2^53−1, read as two u32 halves)
 *   128     15×8  slots (below)
 *   248     4     commit nonce: the writing commit's random number (recovery matches it)
 *   252     4     zero
 *
 * Leaf slot (8 bytes), byte 7 is the tag:
 *   tag 0            empty (a gap); all 8 bytes zero
 *   tag 1..7         inline value: msgpack bytes 0..tag−1
 *   tag SLOT_RECORD  value record: bytes 0..3 cell address (u32), byte 4 flags (bit 0 FRESH)
 *   tag SLOT_PACKED  packed value (storage/valueBlock.ts): bytes 0..3 block cell (u32), byte 4 flags
 *                    (bit 0 FRESH), byte 5 byte offset of the entry inside the block
 *
 * Internal (kernel maple_arange_64): child i covers (pivot[i−1], pivot[i]].
 *   16      9×8   pivots
 *   88      10×8  children: u32 cell address, u32 flags (bit 0 FRESH)
 *   168     10×8  largest empty run ("gap") anywhere below child i, u64
 *   248     4     commit nonce
 *   252     4     zero
 *
 * FRESH marks a pointer to a cell written by the same commit as this node: recovery walks only
 * FRESH pointers to validate the newest commit (DESIGN.md §5).
 */
import { MapleError, assert } from '../src/errors.js';
import { crc32 } from './checksum.js';
import { CELL_BYTES } from './pageFile.js';

export const NODE_BYTES = CELL_BYTES;
export const NODE_LEAF = 1;
export const NODE_INTERNAL = 2;
export const LEAF_SLOTS = 15;
export const INTERNAL_SLOTS = 10;
/** Minimum occupancy of a non-root node that is not the rightmost of its level. */
export const LEAF_MIN = 7;
export const INTERNAL_MIN = 4;

export const OFF_TYPE = 0;
export const OFF_COUNT = 1;
export const OFF_CRC = 4;
export const OFF_COMMIT = 8;
export const OFF_PIVOTS = 16;
export const OFF_LEAF_SLOTS = 128;
export const OFF_CHILDREN = 88;
export const OFF_GAPS = 168;
export const OFF_NONCE = 248;
export const SLOT_RECORD = 0x10;
export const SLOT_PACKED = 0x11;
export const MAX_INLINE_BYTES = 7;
export const FLAG_FRESH = 1;
const TWO32 = 0x1_0000_0000;

/** A value in a leaf slot, as held in memory. */
export type Slot = InlineSlot | RecordSlot | PackedSlot | NewValue;

/** A value of at most MAX_INLINE_BYTES msgpack bytes, kept in the slot itself. */
export class InlineSlot {
  /** Bytes 0..3 little-endian. */
  readonly lo: number;
  /** Bytes 4..6 little-endian. */
  readonly hi: number;
  readonly length: number;
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    const n = end - start;
    let lo = 0;
    let hi = 0;
    for (let i = Math.min(n, 4) - 1; i >= 0; i--) lo = lo * 256 + bytes[start + i]!;
    for (let i = n - 1; i >= 4; i--) hi = hi * 256 + bytes[start + i]!;
    this.lo = lo;
    this.hi = hi;
    this.length = n;
  }
  /** The msgpack bytes (a new array each time). */
  get bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < this.length; i++) {
      if (i < 4) {
        out[i] = lo & 0xff;
        lo = Math.floor(lo / 256);
      } else {
        out[i] = hi & 0xff;
        hi = hi >>> 8;
      }
    }
    return out;
  }
}

/** A committed value record, by cell address. */
export class RecordSlot {
  constructor(readonly cell: number) {}
}

/** A committed packed value: an entry of a value block, shared by every slot that points at it. */
export class PackedSlot {
  constructor(readonly cell: number, readonly offset: number) {}
}

/**
 * A value this transaction will write; at commit it gets a `cell` — its own record, or, when
 * `offset` ≥ 0, an entry at that byte offset of a packed value block.
 */
export class NewValue {
  cell = 0;
  offset = -1;
  /** The first index of the range it is written for, when packed (kept in the block entry). */
  key = 0;
  /** Fixed once the value is in a tree, except the pending list, sized last (storage/commit.ts). */
  constructor(public bytes: Uint8Array) {}
}

/** A child reference: a committed cell address, or a node built by the open transaction. */
export type Ref = number | MemNode;

export interface MemNode {
  leaf: boolean;
  /** Inclusive upper bound of every slot; the last one is the node's max. */
  lasts: number[];
  /** Leaf values (null = empty). Empty for internal nodes. */
  slots: (Slot | null)[];
  /** Internal children. Empty for leaves. */
  children: Ref[];
  /** Internal: largest gap below each child. */
  gaps: number[];
  /** Cell address: the committed address for decoded nodes, assigned at commit for new ones. */
  cell: number;
  /** Commit number that wrote this node (decoded nodes) or 0 (new nodes). */
  commit: number;
}

export function newLeaf(lasts: number[], slots: (Slot | null)[]): MemNode {
  return { leaf: true, lasts, slots, children: [], gaps: [], cell: 0, commit: 0 };
}

export function newInternal(lasts: number[], children: Ref[], gaps: number[]): MemNode {
  return { leaf: false, lasts, slots: [], children, gaps, cell: 0, commit: 0 };
}

export function readU64(buf: Uint8Array, offset: number): number {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  return dv.getUint32(offset, true) + dv.getUint32(offset + 4, true) * TWO32;
}

function writeU64(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value >>> 0, true);
  dv.setUint32(offset + 4, Math.floor(value / TWO32), true);
}

function nodeCrc(cell: Uint8Array): number {
  return crc32(cell, 0, 4, crc32(cell, 8, NODE_BYTES));
}

/** Encodes `node` into a zeroed 256-byte `out`, marking pointers to cells written by `commit`. */
export function encodeNode(node: MemNode, commit: number, out: Uint8Array, nonce = 0): void {
  assert(out.length === NODE_BYTES, 'node buffer is one cell');
  const dv = new DataView(out.buffer, out.byteOffset, NODE_BYTES);
  const count = node.lasts.length;
  out[OFF_TYPE] = node.leaf ? NODE_LEAF : NODE_INTERNAL;
  out[OFF_COUNT] = count;
  writeU64(dv, OFF_COMMIT, commit);
  dv.setUint32(OFF_NONCE, nonce >>> 0, true);
  for (let i = 0; i < count - 1; i++) writeU64(dv, OFF_PIVOTS + 8 * i, node.lasts[i]!);
  if (node.leaf) {
    assert(count >= 1 && count <= LEAF_SLOTS, `leaf slot count ${count}`);
    for (let i = 0; i < count; i++) {
      const slot = node.slots[i] ?? null;
      const at = OFF_LEAF_SLOTS + 8 * i;
      if (slot === null) continue;
      if (slot instanceof InlineSlot) {
        dv.setUint32(at, slot.lo, true);
        const hi = slot.hi;
        out[at + 4] = hi & 0xff;
        out[at + 5] = (hi >>> 8) & 0xff;
        out[at + 6] = hi >>> 16;
        out[at + 7] = slot.length;
      } else if (slot instanceof RecordSlot) {
        dv.setUint32(at, slot.cell, true);
        out[at + 7] = SLOT_RECORD;
      } else if (slot instanceof PackedSlot) {
        dv.setUint32(at, slot.cell, true);
        out[at + 5] = slot.offset;
        out[at + 7] = SLOT_PACKED;
      } else {
        assert(slot.cell !== 0, 'new value has a cell before encoding');
        dv.setUint32(at, slot.cell, true);
        out[at + 4] = FLAG_FRESH;
        if (slot.offset >= 0) {
          out[at + 5] = slot.offset;
          out[at + 7] = SLOT_PACKED;
        } else {
          out[at + 7] = SLOT_RECORD;
        }
      }
    }
  } else {
    assert(count >= 1 && count <= INTERNAL_SLOTS, `internal slot count ${count}`);
    for (let i = 0; i < count; i++) {
      const child = node.children[i]!;
      const at = OFF_CHILDREN + 8 * i;
      if (typeof child === 'number') {
        dv.setUint32(at, child, true);
      } else {
        assert(child.cell !== 0, 'new child has a cell before encoding');
        dv.setUint32(at, child.cell, true);
        dv.setUint32(at + 4, FLAG_FRESH, true);
      }
      writeU64(dv, OFF_GAPS + 8 * i, node.gaps[i]!);
    }
  }
  dv.setUint32(OFF_CRC, nodeCrc(out), true);
}

/** True when the cell's checksum holds. */
export function nodeChecksumOk(cell: Uint8Array): boolean {
  const dv = new DataView(cell.buffer, cell.byteOffset, NODE_BYTES);
  return dv.getUint32(OFF_CRC, true) === nodeCrc(cell);
}

export function nodeNonce(cell: Uint8Array): number {
  return new DataView(cell.buffer, cell.byteOffset, NODE_BYTES).getUint32(OFF_NONCE, true);
}

export function nodeCommit(cell: Uint8Array): number {
  return readU64(cell, OFF_COMMIT);
}

/**
 * Decodes a node cell. `max` is the node's max from its parent (the last pivot is implied).
 * Throws ECORRUPT naming the cell on a bad checksum, type or count.
 */
export function decodeNode(cell: Uint8Array, address: number, max: number, verify = true): MemNode {
  if (verify && !nodeChecksumOk(cell)) throw corruptCell(address, 'node checksum mismatch');
  const type = cell[OFF_TYPE];
  const count = cell[OFF_COUNT]!;
  const leaf = type === NODE_LEAF;
  if (!leaf && type !== NODE_INTERNAL) throw corruptCell(address, `unknown node type ${type}`);
  if (count < 1 || count > (leaf ? LEAF_SLOTS : INTERNAL_SLOTS)) throw corruptCell(address, `slot count ${count}`);
  const dv = new DataView(cell.buffer, cell.byteOffset, NODE_BYTES);
  const lasts: number[] = new Array(count);
  for (let i = 0; i < count - 1; i++) lasts[i] = dv.getUint32(OFF_PIVOTS + 8 * i, true) + dv.getUint32(OFF_PIVOTS + 8 * i + 4, true) * TWO32;
  lasts[count - 1] = max;
  for (let i = 1; i < count; i++) {
    if (!(lasts[i]! > lasts[i - 1]!)) throw corruptCell(address, `pivot ${i} (${lasts[i]}) does not ascend past ${lasts[i - 1]} (node max ${max})`);
  }
  const node: MemNode = leaf ? newLeaf(lasts, new Array(count)) : newInternal(lasts, new Array(count), new Array(count));
  node.cell = address;
  node.commit = nodeCommit(cell);
  if (leaf) {
    for (let i = 0; i < count; i++) node.slots[i] = decodeSlot(cell, OFF_LEAF_SLOTS + 8 * i, address);
  } else {
    for (let i = 0; i < count; i++) {
      node.children[i] = dv.getUint32(OFF_CHILDREN + 8 * i, true);
      node.gaps[i] = dv.getUint32(OFF_GAPS + 8 * i, true) + dv.getUint32(OFF_GAPS + 8 * i + 4, true) * TWO32;
    }
  }
  return node;
}

function decodeSlot(cell: Uint8Array, at: number, address: number): Slot | null {
  const tag = cell[at + 7]!;
  if (tag === 0) return null;
  if (tag <= MAX_INLINE_BYTES) return new InlineSlot(cell, at, at + tag);
  if (tag === SLOT_RECORD || tag === SLOT_PACKED) {
    const dv = new DataView(cell.buffer, cell.byteOffset + at, 8);
    if (tag === SLOT_RECORD) return new RecordSlot(dv.getUint32(0, true));
    return new PackedSlot(dv.getUint32(0, true), cell[at + 5]!);
  }
  throw corruptCell(address, `unknown slot tag ${tag}`);
}

/** True when child/slot `i` of the encoded node carries the FRESH flag. */
export function pointerIsFresh(cell: Uint8Array, leaf: boolean, i: number): boolean {
  if (leaf) {
    const tag = cell[OFF_LEAF_SLOTS + 8 * i + 7];
    return (cell[OFF_LEAF_SLOTS + 8 * i + 4]! & FLAG_FRESH) !== 0 && (tag === SLOT_RECORD || tag === SLOT_PACKED);
  }
  return (cell[OFF_CHILDREN + 8 * i + 4]! & FLAG_FRESH) !== 0;
}

export function corruptCell(address: number, what: string): MapleError {
  return new MapleError('ECORRUPT', `cell ${address} (page ${Math.floor(address / 16)}, byte offset ${address * CELL_BYTES}): ${what}`);
}
