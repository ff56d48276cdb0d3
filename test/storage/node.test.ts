/**
 * Unit tests of the node cell codec (storage/format/node.ts): round trips of leaves and internal nodes,
 * the FRESH flag, checksum coverage of every byte, structural refusals, and that the byte offsets
 * in the module's header comment are where the fields really are.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError, AssertionError } from '../../src/common/errors.js';
import { MAX_INDEX, INTERNAL_SLOTS, LEAF_SLOTS, NODE_BYTES, CELL_BASE } from '../../src/common/limits.js';
import { AreaSlot, FLAG_FRESH, InlineSlot, NODE_INTERNAL, NODE_LEAF, NewValue, OFF_AREA, OFF_AREA_CELLS, OFF_CHILDREN, OFF_COMMIT, OFF_COUNT, OFF_CRC, OFF_GAPS, OFF_LEAF_SLOTS, OFF_NONCE, OFF_PIVOTS, OFF_TYPE, RecordSlot, SLOT_AREA, SLOT_RECORD, decodeNode, encodeNode, newInternal, newLeaf, nodeChecksumOk, nodeCommit, nodeNonce, pointerIsFresh, readU64, type MemNode, type Slot } from '../../storage/format/node.js';
import { expectMapleError } from '../helpers.js';
import { ValueArena } from '../../storage/format/valueArena.js';
import { ValueCodec } from '../../storage/format/valueCodec.js';

const TWO32 = 0x1_0000_0000;

/** `node` encoded as the cell at address `at` (its checksum starts from the address). */
function encode(node: MemNode, commit = 7, nonce?: number, at = CELL_BASE): Uint8Array {
  node.cell = at;
  const out = new Uint8Array(NODE_BYTES);
  if (nonce === undefined) encodeNode(node, commit, out);
  else encodeNode(node, commit, out, nonce);
  return out;
}

/**
 * Recomputes the checksum the way the header comment says: CRC-32 of bytes 8..255 then 0..3,
 * started from the cell's address `at`.
 */
function fixCrc(cell: Uint8Array, at = CELL_BASE): void {
  const crc = zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, NODE_BYTES), at)) >>> 0;
  new DataView(cell.buffer, cell.byteOffset, NODE_BYTES).setUint32(OFF_CRC, crc, true);
}

function u32(cell: Uint8Array, at: number): number {
  return new DataView(cell.buffer, cell.byteOffset, NODE_BYTES).getUint32(at, true);
}

function u64(cell: Uint8Array, at: number): number {
  return u32(cell, at) + u32(cell, at + 4) * TWO32;
}

function expectCorrupt(fn: () => unknown, pattern: RegExp): MapleError {
  return expectMapleError(fn, 'ECORRUPT', pattern);
}

/** A leaf with one slot of each kind the codec knows, at ascending pivots. */
function mixedLeaf(): { node: MemNode; fresh: NewValue } {
  const fresh = new NewValue(new Uint8Array(20).fill(9));
  fresh.cell = CELL_BASE + 33;
  const slots: (Slot | null)[] = [
    null,
    new InlineSlot(Uint8Array.of(0x01)),
    new InlineSlot(Uint8Array.of(1, 2, 3, 4, 5, 6, 7)),
    new RecordSlot(CELL_BASE + 5, 0xbeef),
    fresh,
    null,
  ];
  return { node: newLeaf([9, 19, 29, 39, 49, 1000], slots), fresh };
}

describe('leaf round trip', () => {
  it('decodes what it encoded: empty, inline, record and fresh slots', () => {
    const { node } = mixedLeaf();
    const cell = encode(node, 42, undefined, CELL_BASE + 1);
    expect(nodeChecksumOk(cell, CELL_BASE + 1)).toBe(true);
    const back = decodeNode(cell, CELL_BASE + 1, 1000);
    expect(back.leaf).toBe(true);
    expect(back.lasts).toEqual([9, 19, 29, 39, 49, 1000]);
    expect(back.cell).toBe(CELL_BASE + 1);
    expect(back.commit).toBe(42);
    expect(back.children).toEqual([]);
    expect(back.slots[0]).toBeNull();
    expect(back.slots[5]).toBeNull();
    expect(back.slots[1]).toBeInstanceOf(InlineSlot);
    expect(Array.from((back.slots[1] as InlineSlot).bytes)).toEqual([1]);
    expect(Array.from((back.slots[2] as InlineSlot).bytes)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(back.slots[3]).toBeInstanceOf(RecordSlot);
    expect((back.slots[3] as RecordSlot).cell).toBe(CELL_BASE + 5);
    expect((back.slots[3] as RecordSlot).commit).toBe(0xbeef);
    // A NewValue decodes as a committed RecordSlot at the cell it was given.
    expect(back.slots[4]).toBeInstanceOf(RecordSlot);
    expect((back.slots[4] as RecordSlot).cell).toBe(CELL_BASE + 33);
    expect((back.slots[4] as RecordSlot).commit).toBe(42); // a record of this commit
  });

  it('lays a leaf\'s area values out in slot order: area slots carry offset and length, the leaf its area', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec([], false);
    const short = codec.encode(5, arena); // 1 byte: inline
    const ten = codec.encode('0123456789', arena); // 11 bytes: to the area
    const kept = new AreaSlot(CELL_BASE + 3, CELL_BASE + 40, 2, 100, 33, 4); // a committed area value the leaf keeps
    const node = newLeaf([10, 20, 30, 40], [short, ten, null, kept]);
    node.area = CELL_BASE + 90;
    node.areaCells = 1;
    node.cell = CELL_BASE + 7;
    const out = new Uint8Array(NODE_BYTES);
    encodeNode(node, 5, out, 0, arena);
    // The handle of a short value is copied inline.
    expect(Array.from(out.subarray(128, 136))).toEqual([0x05, 0, 0, 0, 0, 0, 0, 1]);
    // Area slots: offset u16, length u16, tag SLOT_AREA; values in slot order from offset 0.
    expect(Array.from(out.subarray(136, 144))).toEqual([0, 0, 11, 0, 0, 0, 0, SLOT_AREA]);
    expect(Array.from(out.subarray(152, 160))).toEqual([11, 0, 33, 0, 0, 0, 0, SLOT_AREA]);
    expect(out[OFF_AREA_CELLS]).toBe(1);
    expect(u32(out, OFF_AREA)).toBe(CELL_BASE + 90);
    expect([0, 1, 2, 3].map((i) => pointerIsFresh(out, true, i))).toEqual([false, false, false, false]);
    const back = decodeNode(out, CELL_BASE + 7, 40);
    expect(back.area).toBe(CELL_BASE + 90);
    expect(back.areaCells).toBe(1);
    expect(back.slots[1]).toEqual(new AreaSlot(CELL_BASE + 7, CELL_BASE + 90, 1, 0, 11, 5));
    expect(back.slots[3]).toEqual(new AreaSlot(CELL_BASE + 7, CELL_BASE + 90, 1, 11, 33, 5));
  });

  it('refuses to encode area values without an area, and decodes an area slot without one as ECORRUPT', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec([], false);
    const node = newLeaf([10], [codec.encode('a string long enough', arena)]);
    expect(() => encodeNode(node, 5, new Uint8Array(NODE_BYTES), 0, arena)).toThrow(AssertionError);
    const cell = encode(newLeaf([10], [new InlineSlot(Uint8Array.of(1))]));
    cell[OFF_LEAF_SLOTS + 7] = SLOT_AREA;
    fixCrc(cell);
    expectCorrupt(() => decodeNode(cell, CELL_BASE, 10), /value area the leaf does not have/);
  });

  it('a NewValue stays a record slot marked FRESH', () => {
    const v = new NewValue(new Uint8Array(300));
    v.cell = CELL_BASE + 2;
    const cell = encode(newLeaf([1], [v]));
    expect(cell[OFF_LEAF_SLOTS + 7]).toBe(SLOT_RECORD);
    expect(cell[OFF_LEAF_SLOTS + 5]).toBe(7); // the low bits of this commit (7), which writes the record
    expect(pointerIsFresh(cell, true, 0)).toBe(true);
    expect(decodeNode(cell, CELL_BASE, 1).slots[0]).toBeInstanceOf(RecordSlot);
  });

  it('keeps inline values of every length 1..7 byte for byte', () => {
    for (let len = 1; len <= 7; len++) {
      const bytes = Uint8Array.from({ length: len }, (_, i) => 0xf0 + i);
      const cell = encode(newLeaf([100], [new InlineSlot(bytes)]));
      expect(cell[OFF_LEAF_SLOTS + 7]).toBe(len); // the tag is the length
      const back = decodeNode(cell, CELL_BASE, 100);
      expect(Array.from((back.slots[0] as InlineSlot).bytes)).toEqual(Array.from(bytes));
    }
  });

  it('marks only NewValue pointers FRESH', () => {
    const { node } = mixedLeaf();
    const cell = encode(node);
    const fresh = [0, 1, 2, 3, 4, 5].map((i) => pointerIsFresh(cell, true, i));
    expect(fresh).toEqual([false, false, false, false, true, false]);
    expect(cell[OFF_LEAF_SLOTS + 8 * 4 + 4]! & FLAG_FRESH).toBe(FLAG_FRESH);
    expect(cell[OFF_LEAF_SLOTS + 8 * 3 + 4]).toBe(0);
  });

  it('round trips a full leaf of 15 slots with pivots up to MAX_INDEX', () => {
    const lasts = Array.from({ length: LEAF_SLOTS }, (_, i) => MAX_INDEX - (LEAF_SLOTS - 1 - i) * 1_000_003);
    const slots = lasts.map((_, i) => new InlineSlot(Uint8Array.of(i)));
    const back = decodeNode(encode(newLeaf(lasts, slots)), CELL_BASE, MAX_INDEX);
    expect(back.lasts).toEqual(lasts);
    expect(back.lasts[LEAF_SLOTS - 1]).toBe(MAX_INDEX);
    expect(back.lasts[LEAF_SLOTS - 2]).toBe(MAX_INDEX - 1_000_003);
  });

  it('round trips the largest pivot just below MAX_INDEX and pivot 0', () => {
    const back = decodeNode(encode(newLeaf([0, MAX_INDEX - 1, MAX_INDEX], [null, null, null])), CELL_BASE, MAX_INDEX);
    expect(back.lasts).toEqual([0, MAX_INDEX - 1, MAX_INDEX]);
  });

  it('takes the last pivot from the caller, not the cell', () => {
    const cell = encode(newLeaf([5, 10], [null, null]));
    expect(decodeNode(cell, CELL_BASE, 77).lasts).toEqual([5, 77]);
  });

  it('round trips commit numbers above 2^32', () => {
    for (const commit of [0, 1, TWO32 - 1, TWO32, 2 ** 40 + 3, 2 ** 52]) {
      const cell = encode(newLeaf([1], [null]), commit);
      expect(nodeCommit(cell)).toBe(commit);
      expect(decodeNode(cell, CELL_BASE, 1).commit).toBe(commit);
    }
  });

  it('round trips the commit nonce across the u32 range (default 0)', () => {
    expect(nodeNonce(encode(newLeaf([1], [null])))).toBe(0);
    for (const nonce of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
      const leaf = encode(newLeaf([5, 10], [new InlineSlot(Uint8Array.of(1)), null]), 3, nonce);
      expect(nodeNonce(leaf)).toBe(nonce);
      expect(nodeChecksumOk(leaf, CELL_BASE)).toBe(true);
      expect(decodeNode(leaf, CELL_BASE, 10).lasts).toEqual([5, 10]);
      const internal = encode(newInternal([5, 10], [CELL_BASE + 1, CELL_BASE + 2], [0, 0], 0, [0, 0]), 3, nonce);
      expect(nodeNonce(internal)).toBe(nonce);
      expect(decodeNode(internal, CELL_BASE, 10).children).toEqual([CELL_BASE + 1, CELL_BASE + 2]);
    }
  });

  it('nodes differing only in nonce differ in checksum, and the nonce does not leak into other fields', () => {
    const a = encode(newLeaf([5, 10], [null, null]), 3, 1);
    const b = encode(newLeaf([5, 10], [null, null]), 3, 2);
    expect(u32(a, OFF_CRC)).not.toBe(u32(b, OFF_CRC));
    // Apart from the CRC and the nonce itself, the cells are identical.
    for (let i = 0; i < NODE_BYTES; i++) {
      if ((i >= OFF_CRC && i < OFF_CRC + 4) || (i >= OFF_NONCE && i < OFF_NONCE + 4)) continue;
      expect(a[i], `byte ${i}`).toBe(b[i]);
    }
  });
});

describe('internal round trip', () => {
  it('decodes children, gaps, pivots and the commits pointers name; MemNode children get FRESH and the commit', () => {
    const child = newLeaf([3], [null]);
    child.cell = CELL_BASE + 900;
    const gaps = [0, 1, 2 ** 32, 2 ** 53, 12345];
    const node = newInternal([99, 199, 2 ** 40, MAX_INDEX - 1, MAX_INDEX], [CELL_BASE + 1, child, CELL_BASE + 2, 0xffff_ffff, CELL_BASE + 3], gaps, 0, [1, 0, 2 ** 24 - 1, 0, 12345]);
    const cell = encode(node, 2 ** 33, undefined, CELL_BASE + 77);
    const back = decodeNode(cell, CELL_BASE + 77, MAX_INDEX);
    expect(back.leaf).toBe(false);
    expect(back.slots).toEqual([]);
    expect(back.lasts).toEqual([99, 199, 2 ** 40, MAX_INDEX - 1, MAX_INDEX]);
    expect(back.children).toEqual([CELL_BASE + 1, CELL_BASE + 900, CELL_BASE + 2, 0xffff_ffff, CELL_BASE + 3]);
    expect(back.gaps).toEqual(gaps);
    expect(back.commit).toBe(2 ** 33);
    expect([0, 1, 2, 3, 4].map((i) => pointerIsFresh(cell, false, i))).toEqual([false, true, false, false, false]);
    // A new child is written by this commit (2^33: its low 24 bits are 0).
    expect(u32(cell, OFF_CHILDREN + 8 + 4)).toBe(FLAG_FRESH);
    expect(back.childCommits).toEqual([1, 0, 2 ** 24 - 1, 0, 12345]);
    const again = decodeNode(encode(newInternal([5, 10], [CELL_BASE + 1, child], [0, 0], 0, [7, 0]), 2 ** 33 + 0x12_3456, undefined, CELL_BASE + 77), CELL_BASE + 77, MAX_INDEX);
    expect(again.childCommits).toEqual([7, 0x12_3456]);
  });

  it('round trips a full internal node of 10 children', () => {
    const lasts = Array.from({ length: INTERNAL_SLOTS }, (_, i) => (i + 1) * 1000 - 1);
    const children = lasts.map((_, i) => CELL_BASE + 16 * i);
    const gaps = lasts.map((_, i) => i * 7);
    const back = decodeNode(encode(newInternal(lasts, children, gaps, 0, children.map(() => 0))), CELL_BASE, lasts[INTERNAL_SLOTS - 1]!);
    expect(back.lasts).toEqual(lasts);
    expect(back.children).toEqual(children);
    expect(back.gaps).toEqual(gaps);
  });

  it('refuses to encode a MemNode child or NewValue with no cell yet', () => {
    expect(() => encode(newInternal([1, 2], [CELL_BASE, newLeaf([1], [null])], [0, 0], 0, [0, 0]))).toThrow(AssertionError);
    expect(() => encode(newLeaf([1], [new NewValue(new Uint8Array(30))]))).toThrow(AssertionError);
  });

  it('refuses to encode counts out of bounds', () => {
    expect(() => encode(newLeaf([], []))).toThrow(AssertionError);
    expect(() => encode(newLeaf(Array.from({ length: 16 }, (_, i) => i), new Array(16).fill(null)))).toThrow(AssertionError);
    const eleven = Array.from({ length: 11 }, (_, i) => i);
    expect(() => encode(newInternal(eleven, eleven.map(() => CELL_BASE), eleven.map(() => 0), 0, eleven.map(() => 0)))).toThrow(AssertionError);
  });
});

describe('checksum', () => {
  it('detects a flip of any single byte, naming the cell', () => {
    const { node } = mixedLeaf();
    // Non-zero nonces so the flips at OFF_NONCE hit real data too.
    const leafCell = encode(node, 7, 0xa5a5_5a5a);
    const child = newLeaf([1], [null]);
    child.cell = CELL_BASE + 4;
    const internalCell = encode(newInternal([10, 20, 30], [CELL_BASE + 1, child, CELL_BASE + 9], [1, 2, 3], 0, [0, 0, 0]), 7, 0x0102_0304);
    for (const [cell, max] of [[leafCell, 1000], [internalCell, 30]] as const) {
      for (let i = 0; i < NODE_BYTES; i++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const bad = cell.slice();
          bad[i] = bad[i]! ^ mask;
          expect(nodeChecksumOk(bad, CELL_BASE)).toBe(false);
          expectCorrupt(() => decodeNode(bad, 12345, max), /cell 12345\b.*checksum/);
        }
      }
    }
  });

  it('a whole node read from any other cell fails its checksum (a misdirected write, a copied page)', () => {
    const leaf = encode(mixedLeaf().node, 7, 0xa5a5_5a5a, CELL_BASE + 100);
    const internal = encode(newInternal([10, 20], [CELL_BASE + 1, CELL_BASE + 2], [1, 2], 0, [0, 0]), 7, 1, CELL_BASE + 100);
    for (const [cell, max] of [[leaf, 1000], [internal, 20]] as const) {
      expect(nodeChecksumOk(cell, CELL_BASE + 100)).toBe(true);
      expect(decodeNode(cell, CELL_BASE + 100, max).cell).toBe(CELL_BASE + 100);
      for (const elsewhere of [0, 1, CELL_BASE, CELL_BASE + 99, CELL_BASE + 101, CELL_BASE + 116, CELL_BASE + 100 + 2 ** 31, 0xffff_ffff]) {
        expect(nodeChecksumOk(cell, elsewhere)).toBe(false);
        expectCorrupt(() => decodeNode(cell, elsewhere, max), new RegExp(`cell ${elsewhere}\\b.*checksum`));
      }
    }
  });

  it('skips the checksum when asked not to verify', () => {
    const cell = encode(newLeaf([5, 10], [new InlineSlot(Uint8Array.of(1)), null]));
    cell[OFF_CRC] = cell[OFF_CRC]! ^ 1;
    expect(decodeNode(cell, CELL_BASE, 10, false).lasts).toEqual([5, 10]);
  });
});

describe('structural refusals (under a valid checksum)', () => {
  const base = () => encode(newLeaf([5, 10, 15], [null, new InlineSlot(Uint8Array.of(3)), null]));

  it('unknown node type', () => {
    for (const type of [0, 3, 0x10, 0xff]) {
      const cell = base();
      cell[OFF_TYPE] = type;
      fixCrc(cell, 4242);
      expectCorrupt(() => decodeNode(cell, 4242, 15), new RegExp(`cell 4242\\b.*unknown node type ${type}`));
    }
  });

  it('slot count 0 or above the node kind limit', () => {
    for (const [type, count] of [[NODE_LEAF, 0], [NODE_LEAF, LEAF_SLOTS + 1], [NODE_LEAF, 255], [NODE_INTERNAL, 0], [NODE_INTERNAL, INTERNAL_SLOTS + 1]] as const) {
      const cell = base();
      cell[OFF_TYPE] = type;
      cell[OFF_COUNT] = count;
      fixCrc(cell, 4243);
      expectCorrupt(() => decodeNode(cell, 4243, MAX_INDEX), new RegExp(`cell 4243\\b.*slot count ${count}`));
    }
  });

  it('pivots that do not ascend, equal pivots, and a pivot not below the max', () => {
    const dv = (c: Uint8Array) => new DataView(c.buffer, c.byteOffset, NODE_BYTES);
    const descending = base();
    dv(descending).setUint32(OFF_PIVOTS + 8, 4, true); // pivot 1 = 4 < pivot 0 = 5
    fixCrc(descending, 4244);
    expectCorrupt(() => decodeNode(descending, 4244, 15), /cell 4244\b.*pivot 1/);

    const equal = base();
    dv(equal).setUint32(OFF_PIVOTS + 8, 5, true);
    fixCrc(equal, 4244);
    expectCorrupt(() => decodeNode(equal, 4244, 15), /pivot 1/);

    // The implied last pivot (the parent's max) must exceed the stored ones.
    expectCorrupt(() => decodeNode(base(), CELL_BASE, 10), /pivot 2/);
  });

  it('unknown slot tag', () => {
    for (const tag of [8, 0x0f, 0x11, 0x13, 0x20, 0xff]) {
      const cell = base();
      cell[OFF_LEAF_SLOTS + 8 + 7] = tag;
      fixCrc(cell, 4245);
      expectCorrupt(() => decodeNode(cell, 4245, 15), new RegExp(`cell 4245\\b.*slot tag ${tag}`));
    }
  });
});

describe('documented byte offsets', () => {
  it('named offsets match the header comment', () => {
    expect([OFF_TYPE, OFF_COUNT, OFF_CRC, OFF_COMMIT, OFF_PIVOTS, OFF_LEAF_SLOTS, OFF_CHILDREN, OFF_GAPS, OFF_NONCE]).toEqual([
      0, 1, 4, 8, 16, 128, 88, 168, 248,
    ]);
    expect(NODE_BYTES).toBe(256);
  });

  it('leaf fields sit where the comment says', () => {
    const fresh = new NewValue(new Uint8Array(40));
    fresh.cell = 0x0a0b0c0d;
    const lasts = [0x1_2345_6789, 0x2_0000_0000, 300];
    const cell = encode(newLeaf(lasts, [new InlineSlot(Uint8Array.of(0xaa, 0xbb, 0xcc)), new RecordSlot(0x01020304, 0x1234), fresh]), 0x12_3456_789a, 0xdead_beef);
    expect(cell[0]).toBe(1); // NODE_LEAF
    expect(cell[1]).toBe(3); // count
    expect([cell[2], cell[3]]).toEqual([0, 0]);
    expect(u32(cell, 4)).toBe(zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256), CELL_BASE)) >>> 0);
    expect(u32(cell, 8)).toBe(0x3456_789a);
    expect(u32(cell, 12)).toBe(0x12);
    // Pivots at 16 + 8i: only count − 1 are stored, the rest stay zero.
    expect(u64(cell, 16)).toBe(0x1_2345_6789);
    expect(u64(cell, 24)).toBe(0x2_0000_0000);
    expect(u64(cell, 32)).toBe(0);
    expect(readU64(cell, 16)).toBe(0x1_2345_6789);
    // Slot 0 at 128: inline bytes then tag = length in byte 7.
    expect(Array.from(cell.subarray(128, 136))).toEqual([0xaa, 0xbb, 0xcc, 0, 0, 0, 0, 3]);
    // Slot 1 at 136: u32 cell, flags byte 4 = 0, the record's commit's low 16 bits in bytes 5..6,
    // tag SLOT_RECORD in byte 7.
    expect(Array.from(cell.subarray(136, 144))).toEqual([4, 3, 2, 1, 0, 0x34, 0x12, SLOT_RECORD]);
    // Slot 2 at 144: FRESH in byte 4, this commit's low 16 bits (0x789a).
    expect(Array.from(cell.subarray(144, 152))).toEqual([0x0d, 0x0c, 0x0b, 0x0a, FLAG_FRESH, 0x9a, 0x78, SLOT_RECORD]);
    // Unused slots are zero; the nonce at 248 (u32), then 4 zero bytes.
    expect(cell.subarray(152, 248).every((b) => b === 0)).toBe(true);
    expect(u32(cell, 248)).toBe(0xdead_beef);
    expect(nodeNonce(cell)).toBe(0xdead_beef);
    expect(cell.subarray(252, 256).every((b) => b === 0)).toBe(true);
  });

  it('internal fields sit where the comment says', () => {
    const child = newLeaf([1], [null]);
    child.cell = 0x0000_beef;
    const cell = encode(newInternal([0x7_0000_0001, 500], [0x1111_2222, child], [2 ** 53, 0x3_0000_0004], 0, [0x00ab_cdef, 0]), 9, 0x8000_0001);
    expect(cell[0]).toBe(2); // NODE_INTERNAL
    expect(cell[1]).toBe(2);
    expect(u32(cell, 8)).toBe(9);
    expect(u32(cell, 12)).toBe(0);
    expect(u64(cell, 16)).toBe(0x7_0000_0001);
    expect(cell.subarray(24, 88).every((b) => b === 0)).toBe(true); // unused pivots
    // Children at 88 + 8i: u32 cell, u32 flags.
    // Flags: bit 0 FRESH, bits 8..31 the low 24 bits of the child's commit.
    expect(u32(cell, 88)).toBe(0x1111_2222);
    expect(u32(cell, 92)).toBe(0xabcd_ef00);
    expect(u32(cell, 96)).toBe(0xbeef);
    expect(u32(cell, 100)).toBe((9 << 8) | FLAG_FRESH);
    expect(cell.subarray(104, 168).every((b) => b === 0)).toBe(true); // unused children
    // Gaps at 168 + 8i: u64.
    expect(u64(cell, 168)).toBe(2 ** 53);
    expect(u64(cell, 176)).toBe(0x3_0000_0004);
    expect(u32(cell, 4)).toBe(zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256), CELL_BASE)) >>> 0);
    expect(cell.subarray(184, 248).every((b) => b === 0)).toBe(true); // unused gaps
    expect(u32(cell, 248)).toBe(0x8000_0001); // commit nonce
    expect(cell.subarray(252, 256).every((b) => b === 0)).toBe(true); // trailing zero
  });
});
