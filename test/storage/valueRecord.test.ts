/**
 * Unit tests of value records (storage/format/valueRecord.ts): round trips across the one-cell boundary
 * (232 payload bytes fill one cell exactly
 * after the 24-byte header), cell counts, corruption and the length limit.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE, encodeRecord, readRecordHeader, recordCells, verifyRecord } from '../../storage/format/valueRecord.js';
import { expectMapleError } from '../helpers.js';
import { CELL_BYTES, MAX_VALUE_BYTES } from '../../src/common/limits.js';

function payload(lengthBytes: number, seed = 1): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  let x = seed;
  for (let i = 0; i < lengthBytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function expectCorrupt(fn: () => unknown, pattern: RegExp): void {
  expectMapleError(fn, 'ECORRUPT', pattern);
}

describe('round trip', () => {
  const oneCell = CELL_BYTES - RECORD_HEADER_BYTES; // 232
  for (const lengthBytes of [0, 1, oneCell - 1, oneCell, oneCell + 1, 100_000]) {
    it(`${lengthBytes}-byte payload`, () => {
      const bytes = payload(lengthBytes, lengthBytes + 1);
      const cells = encodeRecord(bytes, 77, 0xdead_beef, 500);
      expect(cells.length).toBe(recordCells(lengthBytes) * CELL_BYTES);
      expect(cells[0]).toBe(RECORD_TYPE);
      expect(readRecordHeader(cells, 500)).toEqual({ lengthBytes, commit: 77, nonce: 0xdead_beef });
      const back = verifyRecord(cells, 500);
      expect(back.length).toBe(lengthBytes);
      expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
      // The rest of the last cell is zero.
      expect(cells.subarray(RECORD_HEADER_BYTES + lengthBytes).every((b) => b === 0)).toBe(true);
    });
  }

  it('reads the header from the first cell alone', () => {
    const cells = encodeRecord(payload(5000), 3, 42, 9);
    expect(readRecordHeader(cells.subarray(0, CELL_BYTES), 9)).toEqual({ lengthBytes: 5000, commit: 3, nonce: 42 });
  });

  it('the nonce round trips across the u32 range', () => {
    for (const nonce of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
      const cells = encodeRecord(payload(10), 4, nonce, 1);
      expect(readRecordHeader(cells, 1)).toEqual({ lengthBytes: 10, commit: 4, nonce });
      expect(Buffer.from(verifyRecord(cells, 1)).equals(Buffer.from(payload(10)))).toBe(true);
    }
  });

  it('records differing only in nonce differ in checksum', () => {
    const a = encodeRecord(payload(10), 4, 1, 1);
    const b = encodeRecord(payload(10), 4, 2, 1);
    expect(new DataView(a.buffer).getUint32(4, true)).not.toBe(new DataView(b.buffer).getUint32(4, true));
  });

  it('verifies a record inside a larger buffer (non-zero byteOffset)', () => {
    const cells = encodeRecord(payload(300), 11, 0, 1);
    const frame = new Uint8Array(4096);
    frame.set(cells, 3 * CELL_BYTES);
    const view = frame.subarray(3 * CELL_BYTES);
    expect(Buffer.from(verifyRecord(view, 1)).equals(Buffer.from(payload(300)))).toBe(true);
  });

  it('commit numbers round trip up to 2^40 and beyond 2^32', () => {
    for (const commit of [0, 1, 0xffff_ffff, 2 ** 32, 2 ** 32 + 1, 2 ** 39 + 12345, 2 ** 40 - 1, 2 ** 40]) {
      const cells = encodeRecord(payload(10), commit, 0, 1);
      expect(readRecordHeader(cells, 1).commit).toBe(commit);
    }
  });

  it('lays the header out as documented', () => {
    const cells = encodeRecord(payload(20), 2 ** 40 + 0x1234_5678, 0xcafe_f00d, 1234);
    const dv = new DataView(cells.buffer);
    expect(RECORD_HEADER_BYTES).toBe(24);
    expect(cells[0]).toBe(3);
    expect(cells[1]).toBe(0);
    expect(dv.getUint16(2, true)).toBe(0x100); // commit bits 32..47
    // The CRC starts from the record's cell address (1234), then bytes 8.., then bytes 0..3.
    expect(dv.getUint32(4, true)).toBe(zlib.crc32(cells.subarray(0, 4), zlib.crc32(cells.subarray(8, 24 + 20), 1234)) >>> 0);
    expect(dv.getUint32(8, true)).toBe(0x1234_5678);
    expect(dv.getUint32(12, true)).toBe(20);
    expect(dv.getUint32(16, true)).toBe(0xcafe_f00d); // commit nonce
    expect(dv.getUint32(20, true)).toBe(0);
    expect(Buffer.from(cells.subarray(24, 44)).equals(Buffer.from(payload(20)))).toBe(true);
  });
});

describe('recordCells', () => {
  it('counts cells at the boundaries', () => {
    expect(recordCells(0)).toBe(1);
    expect(recordCells(CELL_BYTES - RECORD_HEADER_BYTES)).toBe(1); // 232: exactly one cell
    expect(recordCells(CELL_BYTES - RECORD_HEADER_BYTES + 1)).toBe(2);
    expect(recordCells(2 * CELL_BYTES - RECORD_HEADER_BYTES)).toBe(2);
    expect(recordCells(2 * CELL_BYTES - RECORD_HEADER_BYTES + 1)).toBe(3);
    expect(recordCells(100_000)).toBe(Math.ceil(100_024 / 256));
    expect(recordCells(MAX_VALUE_BYTES)).toBe(Math.ceil((MAX_VALUE_BYTES + 24) / 256));
  });
});

describe('corruption', () => {
  it('any flipped byte of header or payload is ECORRUPT naming the cell', () => {
    const cells = encodeRecord(payload(241), 5, 0x0102_0304, 777);
    const end = RECORD_HEADER_BYTES + 241;
    for (let i = 0; i < end; i++) {
      // Byte 0 is caught by the type check, the rest by the CRC (bytes 0..3 and 8..24+length,
      // nonce and reserved zero bytes 16..23 included).
      const bad = cells.slice();
      bad[i] = bad[i]! ^ 0x40;
      expectCorrupt(() => verifyRecord(bad, 777), /cell 777\b/);
    }
  });

  it('a wrong record type is refused by readRecordHeader', () => {
    const cells = encodeRecord(payload(4), 5, 0, 778);
    cells[0] = 1;
    expectCorrupt(() => readRecordHeader(cells, 778), /cell 778\b.*type 1/);
  });

  it('length above MAX_VALUE_BYTES in the header is ECORRUPT', () => {
    const cells = encodeRecord(payload(4), 5, 0, 779);
    new DataView(cells.buffer).setUint32(12, MAX_VALUE_BYTES + 1, true);
    expectCorrupt(() => readRecordHeader(cells, 779), /cell 779\b.*length/);
    expectCorrupt(() => verifyRecord(cells, 779), /cell 779\b/);
    new DataView(cells.buffer).setUint32(12, 0xffff_ffff, true);
    expectCorrupt(() => readRecordHeader(cells, 779), /exceeds/);
  });

  it('a length larger than the cells given is truncated, not an out-of-bounds read', () => {
    const oneCell = CELL_BYTES - RECORD_HEADER_BYTES; // payload that fills the single cell exactly
    const cells = encodeRecord(payload(oneCell), 5, 0, 780);
    expect(cells.length).toBe(CELL_BYTES);
    new DataView(cells.buffer).setUint32(12, oneCell + 1, true);
    expectCorrupt(() => verifyRecord(cells, 780), /cell 780\b.*truncated/);
    const long = encodeRecord(payload(1000), 5, 0, 781);
    expectCorrupt(() => verifyRecord(long.subarray(0, 2 * CELL_BYTES), 781), /truncated/);
  });

  it('a length shrunk within the cells fails the checksum', () => {
    const cells = encodeRecord(payload(200), 5, 0, 782);
    new DataView(cells.buffer).setUint32(12, 199, true);
    expectCorrupt(() => verifyRecord(cells, 782), /checksum/);
  });

  it('a whole record read from any other cell fails its checksum (a misdirected write, a copied page)', () => {
    const cells = encodeRecord(payload(300), 5, 0x0102_0304, 5000);
    expect(Buffer.from(verifyRecord(cells, 5000)).equals(Buffer.from(payload(300)))).toBe(true);
    for (const elsewhere of [0, 1, 4999, 5001, 5000 + 16, 5000 + 2 ** 31, 0xffff_ffff]) {
      expectCorrupt(() => verifyRecord(cells, elsewhere), new RegExp(`cell ${elsewhere}\\b.*checksum`));
    }
  });
});
