/**
 * Unit tests of packed value blocks (storage/valueBlock.ts): packing in order without overflowing
 * a block, encode/blockEntry round trips for every entry size, the byte layout of the module's
 * header comment, and refusals (a flipped byte, a commit newer than the version read, an offset
 * outside the entries).
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/errors.js';
import { NewValue, nodeChecksumOk } from '../../storage/node.js';
import { CELL_BASE, CELL_BYTES } from '../../storage/pageFile.js';
import { BLOCK_ENTRIES_OFFSET, BLOCK_TYPE, PACK_MAX_BYTES, type Block, blockEntry, encodeBlock, packValues } from '../../storage/valueBlock.js';
import { expectMapleError } from '../helpers.js';

/** Where entries must end: the nonce starts at 248. */
const ENTRIES_END = 248;

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
  return lengths.map((n, i) => new NewValue(payload(n, i + 1)));
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
      at += 1 + v.bytes.length;
    }
    expect(at).toBeLessThanOrEqual(ENTRIES_END);
  }
  // Greedy: a block is closed only when the next value would not fit in it.
  for (let i = 0; i + 1 < blocks.length; i++) {
    const last = blocks[i]!.values.at(-1)!;
    const next = blocks[i + 1]!.values[0]!;
    expect(last.offset + 1 + last.bytes.length + 1 + next.bytes.length).toBeGreaterThan(ENTRIES_END);
  }
}

describe('constants', () => {
  it('entries start at 16 and the largest packed value fills the entry area exactly', () => {
    expect(BLOCK_TYPE).toBe(5);
    expect(BLOCK_ENTRIES_OFFSET).toBe(16);
    expect(PACK_MAX_BYTES).toBe(231);
    expect(BLOCK_ENTRIES_OFFSET + 1 + PACK_MAX_BYTES).toBe(ENTRIES_END);
  });
});

describe('packValues', () => {
  it('packs in order, starting at offset 16, never past byte 248', () => {
    const run = values([8, 14, 231, 1, 100, 100, 30, 231, 8, 50, 60, 70, 80, 90, 14, 14, 14]);
    const blocks = packValues([run]);
    expectWellPacked(run, blocks);
    expect(blocks[0]!.values[0]!.offset).toBe(16);
  });

  it('a value that exactly fills the rest of a block stays in it', () => {
    // (1 + 100) + (1 + 130) = 232: exactly the room between 16 and 248.
    const run = values([100, 130, 8]);
    const blocks = packValues([run]);
    expect(blocks.map((b) => b.values.length)).toEqual([2, 1]);
    expect(run[1]!.offset + 1 + run[1]!.bytes.length).toBe(ENTRIES_END);
    expect(run[2]!.offset).toBe(16);
  });

  it('a full-size value takes a block of its own', () => {
    const run = values([231, 231, 8, 231]);
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
  for (const length of [1, 2, 7, 8, 14, 100, 230, 231]) {
    it(`${length}-byte entries`, () => {
      const run = values(Array.from({ length: Math.max(1, Math.floor(232 / (1 + length))) }, () => length));
      const [block, ...rest] = packValues([run]);
      expect(rest).toEqual([]);
      const cell = encode(block!, 9);
      expect(nodeChecksumOk(cell)).toBe(true);
      for (const v of block!.values) {
        const back = blockEntry(cell, CELL_BASE + 1, v.offset, 9, false);
        expect(Array.from(back)).toEqual(Array.from(v.bytes));
        expect(blockEntry(cell, CELL_BASE + 1, v.offset, 9, true)).toEqual(back);
      }
    });
  }

  it('every length 1..231 round trips, alone and after a neighbour', () => {
    for (let length = 1; length <= PACK_MAX_BYTES; length++) {
      const alone = new NewValue(payload(length, length));
      const cellA = encode(packValues([[alone]])[0]!);
      expect(Array.from(blockEntry(cellA, CELL_BASE, alone.offset, 9, false))).toEqual(Array.from(alone.bytes));
      if (length <= PACK_MAX_BYTES - 2) {
        const first = new NewValue(Uint8Array.of(0xc3));
        const second = new NewValue(payload(length, length + 1000));
        const blocks = packValues([[first, second]]);
        expect(blocks.length).toBe(1);
        const cellB = encode(blocks[0]!);
        expect(second.offset).toBe(18);
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
    // Entries from 16: u8 length, then the bytes.
    expect(cell[16]).toBe(8);
    expect(Array.from(cell.subarray(17, 25))).toEqual(Array.from(run[0]!.bytes));
    expect(cell[25]).toBe(14);
    expect(Array.from(cell.subarray(26, 40))).toEqual(Array.from(run[1]!.bytes));
    expect(cell[40]).toBe(20);
    expect(Array.from(cell.subarray(41, 61))).toEqual(Array.from(run[2]!.bytes));
    expect(run.map((v) => v.offset)).toEqual([16, 25, 40]);
    // The rest of the entry area is zero; the nonce at 248; then four zero bytes.
    expect(cell.subarray(61, 248).every((b) => b === 0)).toBe(true);
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
  const run = values([8, 50, 231 - 61]);
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
    // The entries end at 247 here, so byte 247 is a zero length: an empty entry that still fits.
    expect(good[247]).toBe(0);
    expect(blockEntry(good, 4325, 247, 100, true).length).toBe(0);
  });
});
