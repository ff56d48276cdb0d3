/**
 * Unit tests of the page-file header (storage/format/pageFile.ts): encodeHeader → readHeader through an
 * in-memory FileIO, and the refusals: not a store (magic, version, geometry) vs a damaged header.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { MemFile } from '../helpers.js';
import { FORMAT_VERSION, cellOffsetBytes, encodeHeader, readHeader, ringSlotOffsetBytes } from '../../storage/format/pageFile.js';
import { CELL_BASE, CELL_BYTES, CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';


const PATH = '/virtual/store.maple';

/** Sets a u32 field and, unless told not to, re-seals the header CRC at bytes 28..31. */
function withField(offset: number, value: number, reseal = true): Uint8Array {
  const page = encodeHeader();
  const dv = new DataView(page.buffer, page.byteOffset, PAGE_BYTES);
  dv.setUint32(offset, value, true);
  if (reseal) dv.setUint32(28, zlib.crc32(page.subarray(0, 28)) >>> 0, true);
  return page;
}

function refusal(bytes: Uint8Array): MapleError {
  let caught: unknown;
  try {
    readHeader(new MemFile(bytes), PATH);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MapleError);
  expect((caught as MapleError).message).toContain(PATH);
  return caught as MapleError;
}

describe('geometry', () => {
  it('constants agree with each other and the layout comment', () => {
    expect(PAGE_BYTES).toBe(4096);
    expect(CELL_BYTES).toBe(256);
    expect(CELLS_PER_PAGE).toBe(16);
    expect(1 << CELLS_PER_PAGE_SHIFT).toBe(CELLS_PER_PAGE);
    expect(CELL_BASE).toBe((1 + RING_SLOTS) * CELLS_PER_PAGE);
    expect(cellOffsetBytes(CELL_BASE)).toBe((1 + RING_SLOTS) * PAGE_BYTES); // first cell follows the ring
    expect(ringSlotOffsetBytes(0)).toBe(PAGE_BYTES);
    expect(ringSlotOffsetBytes(RING_SLOTS - 1) + PAGE_BYTES).toBe(cellOffsetBytes(CELL_BASE));
    expect(cellOffsetBytes(0xffff_ffff)).toBe(0xffff_ffff * 256); // exact above 2^32
  });
});

describe('header', () => {
  it('round trips: a fresh header reads back without complaint', () => {
    const page = encodeHeader();
    expect(page.length).toBe(PAGE_BYTES);
    expect(() => readHeader(new MemFile(page), PATH)).not.toThrow();
  });

  it('reads back inside a larger file', () => {
    const file = new MemFile(new Uint8Array(0));
    file.write(encodeHeader(), 0);
    file.write(new Uint8Array(3 * PAGE_BYTES).fill(0x5a), PAGE_BYTES);
    expect(() => readHeader(file, PATH)).not.toThrow();
  });

  it('lays out the documented fields', () => {
    const page = encodeHeader();
    const dv = new DataView(page.buffer, page.byteOffset, PAGE_BYTES);
    expect(Buffer.from(page.subarray(0, 8)).toString('latin1')).toBe('MAPLESTR');
    expect(dv.getUint32(8, true)).toBe(FORMAT_VERSION);
    expect(dv.getUint32(12, true)).toBe(PAGE_BYTES);
    expect(dv.getUint32(16, true)).toBe(CELL_BYTES);
    expect(dv.getUint32(20, true)).toBe(RING_SLOTS);
    expect(dv.getUint32(28, true)).toBe(zlib.crc32(page.subarray(0, 28)) >>> 0);
    expect(page.subarray(32).every((b) => b === 0)).toBe(true);
  });

  it('salts each new file differently', () => {
    const salts = new Set(Array.from({ length: 8 }, () => Buffer.from(encodeHeader()).readUInt32LE(24)));
    expect(salts.size).toBeGreaterThan(1);
  });

  it('wrong magic is ENOTSTORE', () => {
    const page = encodeHeader();
    page[0] = 'N'.charCodeAt(0);
    expect(refusal(page).code).toBe('ENOTSTORE');
    const text = new TextEncoder().encode('hello, this is a text file and not a store at all\n'.repeat(100));
    expect(refusal(text).code).toBe('ENOTSTORE');
  });

  it('an empty or too-short file is ENOTSTORE', () => {
    expect(refusal(new Uint8Array(0)).code).toBe('ENOTSTORE');
    expect(refusal(encodeHeader().subarray(0, 31)).code).toBe('ENOTSTORE');
  });

  it('a header just long enough (32 bytes) is accepted', () => {
    expect(() => readHeader(new MemFile(encodeHeader().slice(0, 32)), PATH)).not.toThrow();
  });

  it('wrong format version (under a valid CRC) is ENOTSTORE naming the version', () => {
    for (const version of [0, FORMAT_VERSION + 1, 0xffff_ffff]) {
      const err = refusal(withField(8, version));
      expect(err.code).toBe('ENOTSTORE');
      expect(err.message).toContain(`version ${version}`);
    }
  });

  it('a file of format version 1, 2 or 3 (an earlier release) is ENOTSTORE saying how to bring its ranges over', () => {
    expect(FORMAT_VERSION).toBe(4);
    const err = refusal(withField(8, 1));
    expect(err.code).toBe('ENOTSTORE');
    expect(err.message).toMatch(/format version 1; this build reads version 4: it was written by an earlier release \(before leaf value areas\).*copy its ranges into a new store/);
    const two = refusal(withField(8, 2));
    expect(two.code).toBe('ENOTSTORE');
    expect(two.message).toMatch(/format version 2; this build reads version 4: it was written by an earlier release \(before checksums bound to each cell's address\).*copy its ranges into a new store/);
    const three = refusal(withField(8, 3));
    expect(three.code).toBe('ENOTSTORE');
    expect(three.message).toMatch(/format version 3; this build reads version 4: it was written by an earlier release \(before pointers named their child's commit\).*copy its ranges into a new store/);
  });

  it('unsupported page, cell or ring size (under a valid CRC) is ENOTSTORE', () => {
    expect(refusal(withField(12, 8192)).code).toBe('ENOTSTORE');
    expect(refusal(withField(16, 512)).code).toBe('ENOTSTORE');
    expect(refusal(withField(20, 8)).code).toBe('ENOTSTORE');
  });

  it('a bad header CRC is ECORRUPT', () => {
    const page = encodeHeader();
    page[28] = page[28]! ^ 0xff;
    const err = refusal(page);
    expect(err.code).toBe('ECORRUPT');
    expect(err.message).toMatch(/page 0/);
  });

  it('any flipped byte in 8..31 is refused (ECORRUPT: the CRC catches it first)', () => {
    for (let i = 8; i < 32; i++) {
      const page = encodeHeader();
      page[i] = page[i]! ^ 0x10;
      expect(refusal(page).code, `byte ${i}`).toBe('ECORRUPT');
    }
  });
});
