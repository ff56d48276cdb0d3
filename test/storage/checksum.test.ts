/**
 * The JavaScript CRC-32 (src/common/checksum.ts) against Node's zlib.crc32, which the file format is
 * defined by: whole buffers, every split point of a cell, odd offsets and lengths, continuation
 * from a previous value.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Js } from '../../src/common/checksum.js';
import { prng } from '../helpers.js';

function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

describe('crc32', () => {
  it('matches zlib.crc32 on known and random inputs', () => {
    expect(crc32(new Uint8Array(0), 0, 0)).toBe(0);
    const text = new TextEncoder().encode('123456789');
    expect(crc32(text, 0, text.length)).toBe(0xcbf4_3926);
    const rand = prng(11);
    for (let n = 0; n < 600; n += 1 + Math.floor(rand() * 7)) {
      const bytes = randomBytes(rand, n);
      expect(crc32(bytes, 0, n)).toBe(zlib.crc32(bytes) >>> 0);
    }
  });

  it('matches on sub-ranges at every offset, continued from any initial value', () => {
    const rand = prng(12);
    const bytes = randomBytes(rand, 300);
    for (let start = 0; start < 40; start++) {
      for (const end of [start, start + 1, start + 7, start + 8, start + 9, start + 200, 300]) {
        const initial = Math.floor(rand() * 0x1_0000_0000);
        expect(crc32(bytes, start, end, initial), `${start}..${end}`).toBe(zlib.crc32(bytes.subarray(start, end), initial) >>> 0);
      }
    }
  });

  it('long spans: the JavaScript one and the one crc32 picks (native zlib from 512 bytes) agree with zlib', () => {
    const rand = prng(14);
    const bytes = randomBytes(rand, 70_000);
    for (const n of [511, 512, 513, 4095, 4096, 4097, 9000, 50_000, 70_000]) {
      const start = Math.floor(rand() * 100);
      const end = Math.min(bytes.length, start + n);
      const initial = Math.floor(rand() * 0x1_0000_0000);
      const expected = zlib.crc32(bytes.subarray(start, end), initial) >>> 0;
      expect(crc32Js(bytes, start, end, initial), `js ${n}`).toBe(expected);
      expect(crc32(bytes, start, end, initial), `crc32 ${n}`).toBe(expected);
    }
  });

  it('computes a node cell checksum (bytes 8..255 then 0..3) like zlib, on views at an offset', () => {
    const rand = prng(13);
    const slab = randomBytes(rand, 4096);
    for (let at = 0; at < 4096; at += 256) {
      const cell = slab.subarray(at, at + 256);
      const expected = zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256))) >>> 0;
      expect(crc32(slab, at, at + 4, crc32(slab, at + 8, at + 256))).toBe(expected);
      expect(crc32(cell, 0, 4, crc32(cell, 8, 256))).toBe(expected);
    }
  });
});
