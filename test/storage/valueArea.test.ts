/**
 * Unit tests of a leaf's value area (storage/format/valueArea.ts) read through the buffer pool
 * (storage/io/cellReader.ts, areaValue): the documented byte layout, round trips at every
 * alignment (areas inside one page and across two or three), the checks made on every read
 * (type, owner, size, writer, bounds) and the checksum made once per page load, and fuzzed
 * damage: a read returns the value's own bytes or ECORRUPT, never another error.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';
import { BufferPool } from '../../storage/io/bufferPool.js';
import { CellReader } from '../../storage/io/cellReader.js';
import { AREA_HEADER_BYTES, AREA_TYPE, areaCells, sealAreaAt } from '../../storage/format/valueArea.js';
import { MemFile, expectMapleError, prng } from '../helpers.js';

const LEAF = CELL_BASE + 1;

/** A file holding one area of `values` at `cell`, written by `commit` for the leaf at LEAF. */
function fileWithArea(cell: number, values: Uint8Array[], commit = 9, nonce = 77): { file: MemFile; cells: number; offsets: number[] } {
  const length = values.reduce((n, v) => n + v.length, 0);
  const cells = areaCells(length);
  const bytes = new Uint8Array((cell + cells + 20) * CELL_BYTES);
  const at = cell * CELL_BYTES;
  const offsets: number[] = [];
  let o = 0;
  for (const v of values) {
    offsets.push(o);
    bytes.set(v, at + AREA_HEADER_BYTES + o);
    o += v.length;
  }
  sealAreaAt(bytes, new DataView(bytes.buffer), at, length, commit, nonce, LEAF);
  return { file: new MemFile(bytes), cells, offsets };
}

function reader(file: MemFile, frames = 64): CellReader {
  return new CellReader(file, new BufferPool(file, frames * PAGE_BYTES));
}

function read(r: CellReader, cell: number, cells: number, version: number, offset: number, length: number): number[] {
  const buf = r.areaValue(cell, cells, LEAF, version, offset, length);
  return Array.from(buf.subarray(r.valueStart, r.valueStart + length));
}

function values(rand: () => number, count: number, max: number): Uint8Array[] {
  return Array.from({ length: count }, () => Uint8Array.from({ length: 8 + Math.floor(rand() * (max - 7)) }, () => Math.floor(rand() * 256)));
}

describe('value area layout', () => {
  it('puts the fields where the module comment says', () => {
    const { file } = fileWithArea(CELL_BASE + 3, [Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9)], 0x1_0000_0005, 0xdeadbeef);
    const at = (CELL_BASE + 3) * CELL_BYTES;
    const b = file.bytes;
    const dv = new DataView(b.buffer);
    expect(b[at]).toBe(AREA_TYPE);
    expect(b[at + 1]).toBe(0);
    expect(dv.getUint16(at + 2, true)).toBe(1); // commit bits 32..47
    expect(dv.getUint32(at + 8, true)).toBe(5);
    expect(dv.getUint32(at + 12, true)).toBe(9);
    expect(dv.getUint32(at + 16, true)).toBe(0xdeadbeef);
    expect(dv.getUint32(at + 20, true)).toBe(LEAF);
    expect(Array.from(b.subarray(at + 24, at + 33))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(b.subarray(at + 33, at + CELL_BYTES).every((x) => x === 0)).toBe(true);
    // CRC-32 of bytes 8 .. 24 + length, then bytes 0..3.
    const crc = zlib.crc32(b.subarray(at, at + 4), zlib.crc32(b.subarray(at + 8, at + 33))) >>> 0;
    expect(dv.getUint32(at + 4, true)).toBe(crc);
  });

  it('sizes areas in whole cells', () => {
    expect(areaCells(1)).toBe(1);
    expect(areaCells(CELL_BYTES - AREA_HEADER_BYTES)).toBe(1);
    expect(areaCells(CELL_BYTES - AREA_HEADER_BYTES + 1)).toBe(2);
  });
});

describe('reading area values through the pool', () => {
  it('reads every value back at every alignment, inside a page and across two or three', () => {
    const rand = prng(11);
    for (let inPage = 0; inPage < 16; inPage++) {
      for (const [count, max] of [[1, 40], [15, 20], [15, 120], [15, 512], [9, 300]] as const) {
        const vals = values(rand, count, max);
        const cell = CELL_BASE + 16 * 3 + inPage;
        const { file, cells, offsets } = fileWithArea(cell, vals);
        const r = reader(file);
        vals.forEach((v, i) => expect(read(r, cell, cells, 9, offsets[i]!, v.length), `at ${inPage}, ${cells} cells, value ${i}`).toEqual(Array.from(v)));
        // Again, from the now verified pages.
        vals.forEach((v, i) => expect(read(r, cell, cells, 9, offsets[i]!, v.length)).toEqual(Array.from(v)));
      }
    }
  });

  it('checks the checksum once per page load, and again after the page is read anew', () => {
    const vals = [Uint8Array.from({ length: 100 }, (_, i) => i)];
    const cell = CELL_BASE + 16 * 2 + 15; // across two pages
    const { file, cells } = fileWithArea(cell, vals);
    const pool = new BufferPool(file, 64 * PAGE_BYTES);
    const r = new CellReader(file, pool);
    expect(read(r, cell, cells, 9, 0, 100)).toEqual(Array.from(vals[0]!));
    // Damage on disk is not seen while the verified pages stay in the pool …
    file.bytes[cell * CELL_BYTES + AREA_HEADER_BYTES + 50]! ^= 1;
    expect(read(r, cell, cells, 9, 0, 100)).toEqual(Array.from(vals[0]!));
    // … and is, once they are read again.
    pool.invalidateAll();
    expectMapleError(() => r.areaValue(cell, cells, LEAF, 9, 0, 100), 'ECORRUPT', /value area checksum mismatch/);
  });

  it('refuses an area that does not match its leaf, its leaf\'s commit or its slot', () => {
    const vals = [Uint8Array.from({ length: 30 }, (_, i) => i + 1)];
    const cell = CELL_BASE + 40;
    const { file, cells } = fileWithArea(cell, vals, 9);
    const r = reader(file);
    expectMapleError(() => r.areaValue(cell, cells, LEAF + 1, 9, 0, 30), 'ECORRUPT', /belongs to the leaf at cell/);
    expectMapleError(() => r.areaValue(cell, cells + 1, LEAF, 9, 0, 30), 'ECORRUPT', /does not take the 2 cells/);
    // Written by commit 9: a leaf of commit 8 or 10 (an older or newer area than the leaf's) is refused.
    expectMapleError(() => r.areaValue(cell, cells, LEAF, 8, 0, 30), 'ECORRUPT', /written by commit 9, but its leaf at cell \d+ by commit 8: .*lost write/);
    expectMapleError(() => r.areaValue(cell, cells, LEAF, 10, 0, 30), 'ECORRUPT', /written by commit 9, but its leaf at cell \d+ by commit 10/);
    expectMapleError(() => r.areaValue(cell, cells, LEAF, 9, 10, 30), 'ECORRUPT', /outside its value area of 30 bytes/);
    expectMapleError(() => r.areaValue(cell + 1, cells, LEAF, 9, 0, 30), 'ECORRUPT', /expected the value area/);
    expectMapleError(() => r.areaValue(cell, 60, LEAF, 9, 0, 30), "ECORRUPT", /value area of 60 cells/);
  });

  it(`fuzz: damaged areas read back their own bytes or are ECORRUPT`, () => {
    const rand = prng(0x5eed_a4ea);
    let intact = 0;
    let refused = 0;
    for (let iter = 0; iter < 1200; iter++) {
      const vals = values(rand, 1 + Math.floor(rand() * 15), rand() < 0.5 ? 40 : 300);
      const cell = CELL_BASE + 16 + Math.floor(rand() * 16);
      const { file, cells, offsets } = fileWithArea(cell, vals);
      const before = file.bytes.slice();
      const at = cell * CELL_BYTES;
      const span = cells * CELL_BYTES;
      for (let e = 1 + Math.floor(rand() * 3); e > 0; e--) {
        const i = at + (rand() < 0.5 ? Math.floor(rand() * AREA_HEADER_BYTES) : Math.floor(rand() * span));
        file.bytes[i] = rand() < 0.5 ? file.bytes[i]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
      }
      const changed = !file.bytes.every((b, i) => b === before[i]);
      const r = reader(file, 16);
      for (let k = 0; k < vals.length; k++) {
        const v = vals[k]!;
        try {
          const got = read(r, cell, cells, 9, offsets[k]!, v.length);
          intact++;
          // The checksum holds only if nothing changed: then the bytes are the value's own.
          expect(got, `iteration ${iter}, value ${k}`).toEqual(Array.from(v));
        } catch (err) {
          expect(err, `iteration ${iter}`).toBeInstanceOf(MapleError);
          expect((err as MapleError).code).toBe('ECORRUPT');
          expect(changed).toBe(true);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(50);
    expect(intact).toBeGreaterThan(100);
  });
});
