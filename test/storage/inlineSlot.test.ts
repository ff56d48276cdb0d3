/**
 * InlineSlot keeps a slot's eight bytes in two small-integer fields (storage/format/node.ts): every byte
 * pattern of every length must come back the same through bytes, lo/hi/length, an encoded cell and
 * a decoded one. Also the u64 fields (pivots, gaps) either side of 2^32, whose high half the
 * encoder writes only when it is not zero.
 */
import { describe, expect, it } from 'vitest';
import { MAX_INDEX, NODE_BYTES } from '../../src/common/limits.js';
import { InlineSlot, type MemNode, OFF_GAPS, OFF_LEAF_SLOTS, OFF_PIVOTS, decodeNode, encodeNode, newInternal, newLeaf, readU64 } from '../../storage/format/node.js';

/** `node` as the node at cell `cell` (its checksum starts from its address). */
function atCell(node: MemNode, cell: number): MemNode {
  node.cell = cell;
  return node;
}

/** lo/hi as the slot's bytes 0..3 and 4..6, little-endian. */
function halves(bytes: Uint8Array): { lo: number; hi: number } {
  let lo = 0;
  let hi = 0;
  for (let i = Math.min(bytes.length, 4) - 1; i >= 0; i--) lo = lo * 256 + bytes[i]!;
  for (let i = bytes.length - 1; i >= 4; i--) hi = hi * 256 + bytes[i]!;
  return { lo, hi };
}

function patterns(): Uint8Array[] {
  const out: Uint8Array[] = [];
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let len = 1; len <= 7; len++) {
    out.push(new Uint8Array(len)); // all zero: trailing zero bytes are part of the value
    out.push(new Uint8Array(len).fill(0xff));
    out.push(Uint8Array.from({ length: len }, (_, i) => (i === 3 ? 0xc0 : i))); // bits 30, 31
    for (let k = 0; k < 40; k++) out.push(Uint8Array.from({ length: len }, next));
  }
  return out;
}

describe('InlineSlot', () => {
  it('round-trips every length and byte pattern through its fields, a cell and a decode', () => {
    for (const bytes of patterns()) {
      const slot = new InlineSlot(bytes);
      expect(Array.from(slot.bytes)).toEqual(Array.from(bytes));
      expect(slot.length).toBe(bytes.length);
      expect({ lo: slot.lo, hi: slot.hi }).toEqual(halves(bytes));

      const cell = new Uint8Array(NODE_BYTES);
      encodeNode(atCell(newLeaf([7, 100], [null, slot]), 3), 1, cell);
      const at = OFF_LEAF_SLOTS + 8;
      const expected = [...bytes, ...new Array(7 - bytes.length).fill(0), bytes.length];
      expect(Array.from(cell.subarray(at, at + 8))).toEqual(expected);

      const back = decodeNode(cell, 3, 100).slots[1] as InlineSlot;
      expect(back).toBeInstanceOf(InlineSlot);
      expect(Array.from(back.bytes)).toEqual(Array.from(bytes));
      expect({ lo: back.lo, hi: back.hi, length: back.length }).toEqual({ ...halves(bytes), length: bytes.length });
    }
  });

  it('reads a value from the middle of a larger buffer', () => {
    const buf = Uint8Array.of(9, 9, 0x40, 0xce, 0, 1, 0x86, 0xa0, 5, 9, 9);
    const slot = new InlineSlot(buf, 2, 9);
    expect(Array.from(slot.bytes)).toEqual([0x40, 0xce, 0, 1, 0x86, 0xa0, 5]);
  });
});

describe('u64 fields either side of 2^32', () => {
  const values = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, MAX_INDEX - 2];

  it('keeps leaf pivots', () => {
    const lasts = [...values, MAX_INDEX];
    const cell = new Uint8Array(NODE_BYTES);
    encodeNode(atCell(newLeaf(lasts, lasts.map(() => null)), 3), 1, cell);
    values.forEach((v, i) => expect(readU64(cell, OFF_PIVOTS + 8 * i)).toBe(v));
    expect(decodeNode(cell, 3, MAX_INDEX).lasts).toEqual(lasts);
  });

  it('keeps internal gaps', () => {
    const gaps = values.slice(0, 9).concat([MAX_INDEX]);
    const lasts = gaps.map((_, i) => 10 * i + 9);
    const cell = new Uint8Array(NODE_BYTES);
    encodeNode(atCell(newInternal(lasts, lasts.map((_, i) => i + 1), gaps, 0, lasts.map(() => 0)), 3), 1, cell);
    gaps.forEach((g, i) => expect(readU64(cell, OFF_GAPS + 8 * i)).toBe(g));
    expect(decodeNode(cell, 3, lasts[lasts.length - 1]!).gaps).toEqual(gaps);
  });
});
