/**
 * Unit tests of packed value blocks (storage/format/valueBlock.ts): packing in order without overflowing
 * a block, encode/blockEntry round trips for every entry size, the byte layout of the module's
 * header comment (u8 length, 7-byte u56 key, msgpack bytes), keys and blockEntries, and refusals (a flipped byte, a commit newer than the version read, an offset
 * outside the entries).
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { NewValue, nodeChecksumOk } from '../../storage/format/node.js';
import { BLOCK_ENTRIES_OFFSET, BLOCK_TYPE, PACK_MAX_BYTES, type Block, blockEntries, blockEntry, encodeBlock, packValues } from '../../storage/format/valueBlock.js';
import { expectMapleError } from '../helpers.js';
import { CELL_BASE, CELL_BYTES } from '../../src/common/limits.js';

/** Where entries must end: the nonce starts at 248. */
const ENTRIES_END = 248;
/** Each entry: u8 length, then a 7-byte key, then the msgpack bytes. */
const ENTRY_HEADER = 8;

function payload(lengthBytes: number, seed = 1): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  let x = seed;
  for (let i = 0; i < lengthBytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function values(lengths: number[]): NewValue[] {
  return lengths.map((n, i) => {
    const v = new NewValue(payload(n, i + 1));
    // Keys with bytes set high and low, so a byte swapped or dropped in the u56 shows.
    v.key = keyFor(i);
    return v;
  });
}

function keyFor(i: number): number {
  return 2 ** 52 + i * 0x01_0203_0405 + 0x61;
}

function encode(block: Block, commit = 9, nonce = 0x1234_5678): Uint8Array {
  const out = new Uint8Array(CELL_BYTES);
  encodeBlock(block, commit, nonce, out);
  return out;
}

function u32(cell: Uint8Array, at: number): number {
  return new DataView(cell.buffer, cell.byteOffset, CELL_BYTES).getUint32(at, true);
}

function expectCorrupt(fn: () => unknown, pattern: RegExp): void {
  expectMapleError(fn, 'ECORRUPT', pattern);
}

/** Checks the packing rules for one run: order kept, offsets contiguous from 16, nothing past 248. */
function expectWellPacked(run: NewValue[], blocks: Block[]): void {
  expect(blocks.flatMap((b) => b.values)).toEqual(run);
  for (const block of blocks) {
    expect(block.values.length).toBeGreaterThan(0);
    let at = BLOCK_ENTRIES_OFFSET;
    for (const v of block.values) {
      expect(v.offset).toBe(at);
      at += ENTRY_HEADER + v.bytes.length;
    }
    expect(at).toBeLessThanOrEqual(ENTRIES_END);
  }
  // Greedy: a block is closed only when the next value would not fit in it.
  for (let i = 0; i + 1 < blocks.length; i++) {
    const last = blocks[i]!.values.at(-1)!;
    const next = blocks[i + 1]!.values[0]!;
    expect(last.offset + ENTRY_HEADER + last.bytes.length + ENTRY_HEADER + next.bytes.length).toBeGreaterThan(ENTRIES_END);
  }
}

describe('constants', () => {
  it('entries start at 16 and the largest packed value fills the entry area exactly', () => {
    expect(BLOCK_TYPE).toBe(5);
    expect(BLOCK_ENTRIES_OFFSET).toBe(16);
    expect(PACK_MAX_BYTES).toBe(224);
    expect(BLOCK_ENTRIES_OFFSET + ENTRY_HEADER + PACK_MAX_BYTES).toBe(ENTRIES_END);
  });
});

describe('packValues', () => {
  it('packs in order, starting at offset 16, never past byte 248', () => {
    const run = values([8, 14, 224, 1, 100, 100, 30, 224, 8, 50, 60, 70, 80, 90, 14, 14, 14]);
    const blocks = packValues([run]);
    expectWellPacked(run, blocks);
    expect(blocks[0]!.values[0]!.offset).toBe(16);
  });

  it('a value that exactly fills the rest of a block stays in it', () => {
    // (8 + 100) + (8 + 116) = 232: exactly the room between 16 and 248.
    const run = values([100, 116, 8]);
    const blocks = packValues([run]);
    expect(blocks.map((b) => b.values.length)).toEqual([2, 1]);
    expect(run[1]!.offset + ENTRY_HEADER + run[1]!.bytes.length).toBe(ENTRIES_END);
    expect(run[2]!.offset).toBe(16);
  });

  it('a full-size value takes a block of its own', () => {
    const run = values([224, 224, 8, 224]);
    const blocks = packValues([run]);
    expect(blocks.map((b) => b.values.length)).toEqual([1, 1, 1, 1]);
    expectWellPacked(run, blocks);
  });

  it('random runs of random sizes never overflow', () => {
    let seed = 7;
    const rand = (below: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * below);
    };
    for (let round = 0; round < 100; round++) {
      const runs = Array.from({ length: 1 + rand(4) }, () => values(Array.from({ length: rand(40) }, () => 1 + rand(PACK_MAX_BYTES))));
      const blocks = packValues(runs);
      // Runs never share a block: each run's values make up whole blocks of their own.
      let b = 0;
      for (const run of runs) {
        const mine: Block[] = [];
        let seen = 0;
        while (seen < run.length) {
          const block = blocks[b++]!;
          mine.push(block);
          seen += block.values.length;
        }
        expect(seen).toBe(run.length);
        expectWellPacked(run, mine);
      }
      expect(b).toBe(blocks.length);
    }
  });

  it('nothing to pack, no blocks', () => {
    expect(packValues([])).toEqual([]);
    expect(packValues([[]])).toEqual([]);
  });
});

describe('encodeBlock / blockEntry round trip', () => {
  for (const length of [1, 2, 7, 8, 14, 100, 223, 224]) {
    it(`${length}-byte entries`, () => {
      const run = values(Array.from({ length: Math.max(1, Math.floor(232 / (ENTRY_HEADER + length))) }, () => length));
      const [block, ...rest] = packValues([run]);
      expect(rest).toEqual([]);
      const cell = encode(block!, 9);
      expect(nodeChecksumOk(cell)).toBe(true);
      for (const v of block!.values) {
        const back = blockEntry(cell, CELL_BASE + 1, v.offset, 9, false);
        expect(Array.from(back)).toEqual(Array.from(v.bytes));
        expect(blockEntry(cell, CELL_BASE + 1, v.offset, 9, true)).toEqual(back);
      }
      // The whole entry area is used as the packing said: the next entry would not have fit.
      const last = block!.values.at(-1)!;
      expect(last.offset + ENTRY_HEADER + length + ENTRY_HEADER + length).toBeGreaterThan(ENTRIES_END);
      expect(blockEntries(cell).map((e) => [e.offset, e.key, Array.from(e.bytes)])).toEqual(
        block!.values.map((v) => [v.offset, v.key, Array.from(v.bytes)]),
      );
    });
  }

  it('every length 1..224 round trips, alone and after a neighbour', () => {
    for (let length = 1; length <= PACK_MAX_BYTES; length++) {
      const alone = new NewValue(payload(length, length));
      const cellA = encode(packValues([[alone]])[0]!);
      expect(Array.from(blockEntry(cellA, CELL_BASE, alone.offset, 9, false))).toEqual(Array.from(alone.bytes));
      // A 1-byte neighbour takes 9 bytes, so the second value fits after it up to 224 - 9.
      if (length <= PACK_MAX_BYTES - ENTRY_HEADER - 1) {
        const first = new NewValue(Uint8Array.of(0xc3));
        const second = new NewValue(payload(length, length + 1000));
        const blocks = packValues([[first, second]]);
        expect(blocks.length).toBe(1);
        const cellB = encode(blocks[0]!);
        expect(second.offset).toBe(16 + ENTRY_HEADER + 1);
        expect(Array.from(blockEntry(cellB, CELL_BASE, second.offset, 9, false))).toEqual(Array.from(second.bytes));
        expect(Array.from(blockEntry(cellB, CELL_BASE, first.offset, 9, false))).toEqual([0xc3]);
      }
    }
  });

  it('accepts a block written by exactly the version being read, or an older one', () => {
    const v = new NewValue(payload(20));
    const cell = encode(packValues([[v]])[0]!, 2 ** 40 + 5);
    expect(blockEntry(cell, CELL_BASE, v.offset, 2 ** 40 + 5, false).length).toBe(20);
    expect(blockEntry(cell, CELL_BASE, v.offset, Number.MAX_SAFE_INTEGER, false).length).toBe(20);
  });
});

describe('documented layout', () => {
  it('fields sit where the header comment says', () => {
    const run = values([8, 14, 20]);
    const block = packValues([run])[0]!;
    const commit = 0x12_3456_789a;
    const cell = encode(block, commit, 0xdead_beef);
    expect(cell[0]).toBe(BLOCK_TYPE); // type at 0
    expect(cell[1]).toBe(3); // number of entries at 1
    expect([cell[2], cell[3]]).toEqual([0, 0]);
    // CRC like nodes: bytes 8..255, then 0..3.
    expect(u32(cell, 4)).toBe(zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256))) >>> 0);
    expect(u32(cell, 8)).toBe(0x3456_789a); // commit at 8, u64
    expect(u32(cell, 12)).toBe(0x12);
    // Entries from 16: u8 length, the key as a u56 little-endian in 7 bytes, then the bytes.
    const le56 = (key: number) => Array.from({ length: 7 }, (_, b) => Math.floor(key / 256 ** b) % 256);
    expect(cell[16]).toBe(8);
    expect(Array.from(cell.subarray(17, 24))).toEqual(le56(run[0]!.key));
    expect(Array.from(cell.subarray(24, 32))).toEqual(Array.from(run[0]!.bytes));
    expect(cell[32]).toBe(14);
    expect(Array.from(cell.subarray(33, 40))).toEqual(le56(run[1]!.key));
    expect(Array.from(cell.subarray(40, 54))).toEqual(Array.from(run[1]!.bytes));
    expect(cell[54]).toBe(20);
    expect(Array.from(cell.subarray(55, 62))).toEqual(le56(run[2]!.key));
    expect(Array.from(cell.subarray(62, 82))).toEqual(Array.from(run[2]!.bytes));
    expect(run.map((v) => v.offset)).toEqual([16, 32, 54]);
    // Spot-check the little-endian order on a known key: 0x0a0b0c0d0e0f10 -> 10 0f 0e 0d 0c 0b 0a.
    expect(le56(0x0a_0b0c_0d0e_0f10)).toEqual([0x10, 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a]);
    // The rest of the entry area is zero; the nonce at 248; then four zero bytes.
    expect(cell.subarray(82, 248).every((b) => b === 0)).toBe(true);
    expect(u32(cell, 248)).toBe(0xdead_beef);
    expect(cell.subarray(252, 256).every((b) => b === 0)).toBe(true);
  });

  it('the nonce is covered by the checksum', () => {
    const a = encode(packValues([values([10])])[0]!, 3, 1);
    const b = encode(packValues([values([10])])[0]!, 3, 2);
    expect(u32(a, 4)).not.toBe(u32(b, 4));
  });
});

describe('refusals', () => {
  // (8 + 8) + (8 + 50) + (8 + 142) = 224: the entries end at 240, leaving exactly one empty header.
  const run = values([8, 50, 142]);
  const block = packValues([run])[0]!;
  const good = encode(block, 100, 0xa5a5_5a5a);

  it('a flipped byte anywhere fails the checksum, naming the cell', () => {
    for (let i = 0; i < CELL_BYTES; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = good.slice();
        bad[i] = bad[i]! ^ mask;
        expect(nodeChecksumOk(bad)).toBe(false);
        expectCorrupt(() => blockEntry(bad, 4321, run[1]!.offset, 100, false), /cell 4321\b.*checksum/);
      }
    }
  });

  it('a commit newer than the version being read', () => {
    expectCorrupt(() => blockEntry(good, 4322, run[0]!.offset, 99, false), /cell 4322\b.*commit 100.*newer/);
    expectCorrupt(() => blockEntry(good, 4322, run[0]!.offset, 0, true), /cell 4322\b.*newer/);
  });

  it('a cell of another type', () => {
    const other = good.slice();
    other[0] = 1;
    const dv = new DataView(other.buffer);
    dv.setUint32(4, zlib.crc32(other.subarray(0, 4), zlib.crc32(other.subarray(8, 256))) >>> 0, true);
    expectCorrupt(() => blockEntry(other, 4323, run[0]!.offset, 100, false), /cell 4323\b.*type 1/);
  });

  it('an offset in the header, in the nonce, or past the cell', () => {
    for (const offset of [-1, 0, 1, 8, 15, 248, 251, 255, 256, 1000]) {
      expectCorrupt(() => blockEntry(good, 4324, offset, 100, false), /cell 4324\b.*offset/);
    }
  });

  it('an offset whose length byte runs past byte 248', () => {
    // Inside the last entry's bytes, pick a byte whose value as a length would overrun.
    const cell = good.slice();
    const at = 200;
    cell[at] = 250;
    const dv = new DataView(cell.buffer);
    dv.setUint32(4, zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256))) >>> 0, true);
    expectCorrupt(() => blockEntry(cell, 4325, at, 100, false), /cell 4325\b.*runs past/);
    // The entries end at 240 here, so byte 240 is a zero length: an empty entry whose header
    // exactly fits; one byte later the 8-byte header itself runs past 248.
    expect(run[2]!.offset + ENTRY_HEADER + 142).toBe(240);
    expect(good.subarray(240, 248).every((b) => b === 0)).toBe(true);
    expect(blockEntry(good, 4325, 240, 100, true).length).toBe(0);
    for (const offset of [241, 244, 247]) {
      expectCorrupt(() => blockEntry(good, 4325, offset, 100, true), /cell 4325\b.*runs past/);
    }
  });
});


describe('keys', () => {
  it('every key round trips through the block: 0, 1, byte edges, MAX_SAFE_INTEGER', () => {
    const keys = [0, 1, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 48 - 1, 2 ** 48, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
    const run = keys.map((key, i) => {
      const v = new NewValue(payload(8, i + 50));
      v.key = key;
      return v;
    });
    const blocks = packValues([run]);
    expectWellPacked(run, blocks);
    const found = blocks.flatMap((b) => blockEntries(encode(b)).map((e) => e.key));
    expect(found).toEqual(keys);
  });

  it('the key does not change the value blockEntry returns, and is not part of it', () => {
    const a = new NewValue(payload(30, 3));
    const b = new NewValue(payload(30, 3));
    a.key = 0;
    b.key = Number.MAX_SAFE_INTEGER;
    const cellA = encode(packValues([[a]])[0]!);
    const cellB = encode(packValues([[b]])[0]!);
    expect(Array.from(cellA.subarray(17, 24))).not.toEqual(Array.from(cellB.subarray(17, 24)));
    expect(Array.from(blockEntry(cellA, CELL_BASE, a.offset, 9, false))).toEqual(Array.from(a.bytes));
    expect(Array.from(blockEntry(cellB, CELL_BASE, b.offset, 9, false))).toEqual(Array.from(b.bytes));
  });
});

describe('blockEntries', () => {
  it('lists every entry in order with its offset, key and bytes', () => {
    const run = values([8, 14, 1, 100, 20, 30]);
    const [block, ...rest] = packValues([run]);
    expect(rest).toEqual([]);
    const cell = encode(block!);
    const entries = blockEntries(cell);
    expect(entries.map((e) => e.offset)).toEqual(run.map((v) => v.offset));
    expect(entries.map((e) => e.key)).toEqual(run.map((_, i) => keyFor(i)));
    expect(entries.map((e) => Array.from(e.bytes))).toEqual(run.map((v) => Array.from(v.bytes)));
    // Each entry agrees with what blockEntry returns at its offset.
    for (const e of entries) expect(Array.from(blockEntry(cell, CELL_BASE, e.offset, 9, true))).toEqual(Array.from(e.bytes));
  });

  it('a block holding one full-size value, and a full block of tiny ones', () => {
    const big = values([PACK_MAX_BYTES]);
    const bigEntries = blockEntries(encode(packValues([big])[0]!));
    expect(bigEntries.length).toBe(1);
    expect(bigEntries[0]!.bytes.length).toBe(PACK_MAX_BYTES);
    expect(bigEntries[0]!.key).toBe(keyFor(0));
    const tiny = values(Array.from({ length: 232 / 8 }, () => 0));
    const [block, ...rest] = packValues([tiny]);
    expect(rest).toEqual([]);
    const entries = blockEntries(encode(block!));
    expect(entries.length).toBe(29);
    expect(entries.map((e) => e.key)).toEqual(tiny.map((v) => v.key));
    expect(entries.at(-1)!.offset).toBe(240);
  });

  it('the bytes are a copy: changing the cell afterwards does not change them', () => {
    const run = values([12]);
    const cell = encode(packValues([run])[0]!);
    const [entry] = blockEntries(cell);
    cell.fill(0xee, 24, 36);
    expect(Array.from(entry!.bytes)).toEqual(Array.from(run[0]!.bytes));
  });

  it('on a cell with a wrong entry count or garbage lengths, stays inside 16..248 and never throws', () => {
    let seed = 11;
    const rand = (below: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * below);
    };
    for (let round = 0; round < 2000; round++) {
      const cell = new Uint8Array(CELL_BYTES);
      for (let i = 0; i < CELL_BYTES; i++) cell[i] = rand(256);
      cell[0] = BLOCK_TYPE;
      const entries = blockEntries(cell);
      expect(entries.length).toBeLessThanOrEqual(cell[1]!);
      let at = BLOCK_ENTRIES_OFFSET;
      for (const e of entries) {
        expect(e.offset).toBe(at);
        expect(e.bytes.length).toBe(cell[e.offset]);
        expect(e.offset + ENTRY_HEADER + e.bytes.length).toBeLessThanOrEqual(ENTRIES_END);
        // Garbage keys may exceed 2^53 (not exact as a number) but stay a whole number below 2^56.
        expect(e.key >= 0 && e.key < 2 ** 56 && Number.isInteger(e.key)).toBe(true);
        at += ENTRY_HEADER + e.bytes.length;
      }
    }
  });
});
