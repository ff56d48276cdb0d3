/**
 * Packed value blocks seen from the public API: small values share cells (bytes per range), a
 * store that splits a packed range shares its entry (reference count 2), erasing both halves frees
 * the block, the inline / packed / record boundaries (7, 8, 224, 225 msgpack bytes) round trip and
 * survive reopening, and a snapshot keeps reading packed values that later commits overwrote.
 *
 * The file is inspected only through the documented cell formats (storage/format/node.ts,
 * storage/format/valueBlock.ts, storage/format/valueRecord.ts), to prove where a value really went.
 */
import * as fs from 'node:fs';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, test } from 'vitest';
import { open, type MapleStore } from '../../src/index.js';
import { NODE_LEAF, OFF_COUNT, OFF_LEAF_SLOTS, SLOT_PACKED, nodeChecksumOk } from '../../storage/format/node.js';
import { BLOCK_TYPE, PACK_MAX_BYTES } from '../../storage/format/valueBlock.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE } from '../../storage/format/valueRecord.js';
import { tempDir } from '../helpers.js';
import { LEAF_SLOTS, CELL_BASE, CELL_BYTES } from '../../src/common/limits.js';

const dirs: { cleanup: () => void }[] = [];
function temp() {
  const t = tempDir('maple-packed-');
  dirs.push(t);
  return t;
}
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

/** The store's encoding with sharedStructures: false (storage/format/valueCodec.ts), to size values exactly; these tests look for those bytes in the file. */
const packr = new Packr({ useRecords: false, moreTypes: true });
const msgpackBytes = (v: unknown) => packr.pack(v).length;

function cells(file: string): { at: number; cell: Uint8Array }[] {
  const image = new Uint8Array(fs.readFileSync(file));
  const out: { at: number; cell: Uint8Array }[] = [];
  for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= image.length; c++) out.push({ at: c, cell: image.subarray(c * CELL_BYTES, (c + 1) * CELL_BYTES) });
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Each block entry: u8 length, 7-byte key (u56 LE), then the msgpack bytes. */
const ENTRY_HEADER = 8;

/** Block cells (valid checksum) holding an entry whose bytes are exactly `bytes`. */
function blocksHolding(file: string, bytes: Uint8Array): number[] {
  return blockEntriesHolding(file, bytes).map((e) => e.block);
}

/** Every entry (block, offset, key) of a valid block cell whose bytes are exactly `bytes`. */
function blockEntriesHolding(file: string, bytes: Uint8Array): { block: number; offset: number; key: number }[] {
  const found: { block: number; offset: number; key: number }[] = [];
  for (const { at, cell } of cells(file)) {
    if (cell[0] !== BLOCK_TYPE || !nodeChecksumOk(cell)) continue;
    let off = 16;
    for (let i = 0; i < cell[1]! && off + ENTRY_HEADER + cell[off]! <= 248; i++) {
      let key = 0;
      for (let b = ENTRY_HEADER - 1; b >= 1; b--) key = key * 256 + cell[off + b]!;
      if (sameBytes(cell.subarray(off + ENTRY_HEADER, off + ENTRY_HEADER + cell[off]!), bytes)) found.push({ block: at, offset: off, key });
      off += ENTRY_HEADER + cell[off]!;
    }
  }
  return found;
}

/** Record cells whose payload is exactly `bytes`. */
function recordsHolding(file: string, bytes: Uint8Array): number[] {
  const found: number[] = [];
  for (const { at, cell } of cells(file)) {
    if (cell[0] !== RECORD_TYPE) continue;
    const length = new DataView(cell.buffer, cell.byteOffset).getUint32(12, true);
    if (length !== bytes.length || RECORD_HEADER_BYTES + length > CELL_BYTES) continue;
    if (sameBytes(cell.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + length), bytes)) found.push(at);
  }
  return found;
}

/** Leaves (valid checksum) with two or more packed slots pointing at the same block entry. */
function sharedPackedSlots(file: string): { leaf: number; block: number; offset: number; slots: number }[] {
  const out: { leaf: number; block: number; offset: number; slots: number }[] = [];
  for (const { at, cell } of cells(file)) {
    if (cell[0] !== NODE_LEAF || !nodeChecksumOk(cell)) continue;
    const count = Math.min(cell[OFF_COUNT]!, LEAF_SLOTS);
    const seen = new Map<string, number>();
    const dv = new DataView(cell.buffer, cell.byteOffset);
    for (let i = 0; i < count; i++) {
      const s = OFF_LEAF_SLOTS + 8 * i;
      if (cell[s + 7] !== SLOT_PACKED) continue;
      const key = `${dv.getUint32(s, true)}:${cell[s + 5]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (const [key, slots] of seen) {
      if (slots < 2) continue;
      const [block, offset] = key.split(':').map(Number) as [number, number];
      out.push({ leaf: at, block, offset, slots });
    }
  }
  return out;
}


describe('packed value blocks through the public API', () => {
  test('5,000 ranges of small objects cost under 100 bytes each', () => {
    const t = temp();
    const s = open<{ id: number; prot: string }>(t.file(), { sync: 'none', packValues: true, sharedStructures: false });
    s.transaction((tx) => {
      for (let i = 0; i < 5000; i++) tx.store(i * 0x1000, i * 0x1000 + 0xfff, { id: i, prot: i % 2 ? 'r-xp' : 'rw-p' });
    });
    expect(msgpackBytes({ id: 4999, prot: 'rw-p' })).toBeGreaterThan(7); // packed, not inline
    expect(s.count()).toBe(5000);
    const perRange = s.stats().fileBytes / 5000;
    expect(perRange).toBeLessThan(100);
    expect(s.load(1234 * 0x1000 + 7)).toEqual({ id: 1234, prot: 'rw-p' });
    s.check();
    s.close();
    // And they read back after reopening.
    const again = open<{ id: number; prot: string }>(t.file(), { sync: 'none', packValues: true, sharedStructures: false });
    let n = 0;
    for (const r of again.ranges()) {
      expect(r.value).toEqual({ id: n, prot: n % 2 ? 'r-xp' : 'rw-p' });
      n++;
    }
    expect(n).toBe(5000);
    again.check();
    again.close();
  });

  test('splitting a packed range shares the entry; erasing both halves frees the block', () => {
    const t = temp();
    const file = t.file();
    const s = open<unknown>(file, { sync: 'none', packValues: true, sharedStructures: false });
    const value = { id: 77, prot: 'rw-p', name: 'shared' };
    expect(msgpackBytes(value)).toBeGreaterThan(7);
    expect(msgpackBytes(value)).toBeLessThanOrEqual(PACK_MAX_BYTES);
    // Neighbours so the tree is not trivially a single slot.
    s.transaction((tx) => {
      for (let i = 0; i < 10; i++) tx.store(i * 1000, i * 1000 + 99, i);
    });
    s.store(5000, 5999, value);
    const entryBytes = packr.pack(value);
    expect(blocksHolding(file, entryBytes).length).toBe(1);
    // The entry carries the first index of the range it was written for.
    expect(blockEntriesHolding(file, entryBytes).map((e) => e.key)).toEqual([5000]);

    // Store into the middle: both halves keep the original value, pointing at the same entry.
    s.store(5400, 5599, 'mid');
    expect(s.entry(5000)).toEqual({ first: 5000, last: 5399, value });
    expect(s.entry(5999)).toEqual({ first: 5600, last: 5999, value });
    expect(s.load(5500)).toBe('mid');
    s.check(); // the block's space-map count must equal its two referencing slots
    const block = blocksHolding(file, entryBytes)[0]!;
    const shared = sharedPackedSlots(file).filter((x) => x.block === block);
    expect(shared.length).toBeGreaterThan(0);
    expect(shared[0]!.slots).toBe(2);
    // Not copied: still one block holding the value.
    expect(blocksHolding(file, entryBytes)).toEqual([block]);

    // Erase one half: the other still reads it, counts still agree.
    expect(s.erase(5000)).toEqual(value);
    expect(s.load(5999)).toEqual(value);
    expect(s.load(5000)).toBeUndefined();
    s.check();

    // Erase the other: the block's last reference goes. check() proves the cell was freed: a block
    // cell whose count outlived its references, or an allocated cell neither reachable nor on a
    // pending list, is ECORRUPT. (The free list may hand the cell out again in the same commit,
    // so byte totals cannot show it.)
    expect(s.erase(5999)).toEqual(value);
    s.check();
    s.store(20_000, 20_000, 1);
    s.check();
    expect(s.load(5999)).toBeUndefined();
    s.close();
    const again = open<unknown>(file, { sync: 'none', packValues: true, sharedStructures: false });
    again.check();
    expect(again.count()).toBe(11); // nine small neighbours, "mid" and 20000
    again.close();
  });

  test('a split whose halves are overwritten in the same transaction keeps the counts right', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none', packValues: true, sharedStructures: false });
    const value = { id: 1, prot: 'r--p', pad: 'abcdefgh' };
    s.store(100, 199, value);
    s.transaction((tx) => {
      tx.store(150, 150, 'hole'); // split: two slots share the entry
      tx.store(120, 130, 'hole2'); // split the lower half again: three
      expect(tx.load(100)).toEqual(value);
      expect(tx.load(125)).toBe('hole2');
      expect(tx.load(140)).toEqual(value);
      expect(tx.load(199)).toEqual(value);
    });
    s.check();
    expect([...s.ranges()].map((r) => [r.first, r.last])).toEqual([
      [100, 119],
      [120, 130],
      [131, 149],
      [150, 150],
      [151, 199],
    ]);
    s.transaction((tx) => {
      tx.clear(100, 140);
    });
    s.check();
    expect(s.load(145)).toEqual(value);
    s.clear(0, 1000);
    s.store(5, 5, 1);
    s.check();
    expect(s.count()).toBe(1);
    s.close();
  });

  test('packValues is on by default: a small value goes to a block, not a record', () => {
    const t = temp();
    const file = t.file();
    const s = open<unknown>(file, { sync: 'none', sharedStructures: false });
    const value = { id: 3, prot: 'rw-p' };
    expect(msgpackBytes(value)).toBeGreaterThan(7);
    s.store(0x7000, 0x7fff, value);
    s.close();
    expect(blockEntriesHolding(file, packr.pack(value)).map((e) => e.key)).toEqual([0x7000]);
    expect(recordsHolding(file, packr.pack(value))).toEqual([]);
  });

  test('values of exactly 7, 8, 224 and 225 msgpack bytes round trip and survive reopening', () => {
    const t = temp();
    const file = t.file();
    // A string of n characters (n ≥ 32) packs to n + 2 bytes; below 32, to n + 1.
    const sized = { 7: 'a'.repeat(6), 8: 'b'.repeat(7), 224: 'c'.repeat(222), 225: 'd'.repeat(223) } as const;
    expect(PACK_MAX_BYTES).toBe(224);
    for (const [bytes, v] of Object.entries(sized)) expect(msgpackBytes(v), `${bytes}-byte value`).toBe(Number(bytes));
    const s = open<string>(file, { sync: 'none', packValues: true, sharedStructures: false });
    s.store(7, 7, sized[7]);
    s.store(8, 8, sized[8]);
    s.store(224, 224, sized[224]);
    s.store(225, 225, sized[225]);
    for (const [k, v] of Object.entries(sized)) expect(s.load(Number(k))).toBe(v);
    s.check();
    s.close();

    // Where they went: 7 inline (in no block, no record), 8 and 224 packed, 225 a record.
    expect(blocksHolding(file, packr.pack(sized[7]))).toEqual([]);
    expect(recordsHolding(file, packr.pack(sized[7]))).toEqual([]);
    expect(blocksHolding(file, packr.pack(sized[8])).length).toBe(1);
    expect(blocksHolding(file, packr.pack(sized[224])).length).toBe(1);
    expect(recordsHolding(file, packr.pack(sized[224]))).toEqual([]);
    expect(blocksHolding(file, packr.pack(sized[225]))).toEqual([]);
    // Each packed entry's key is the first index of its range.
    expect(blockEntriesHolding(file, packr.pack(sized[8])).map((e) => e.key)).toEqual([8]);
    expect(blockEntriesHolding(file, packr.pack(sized[224])).map((e) => e.key)).toEqual([224]);
    expect(recordsHolding(file, packr.pack(sized[225])).length).toBe(1);

    const again = open<string>(file, { sync: 'none', packValues: true, sharedStructures: false });
    for (const [k, v] of Object.entries(sized)) {
      expect(again.load(Number(k))).toBe(v);
      expect(again.entry(Number(k))).toEqual({ first: Number(k), last: Number(k), value: v });
    }
    expect([...again.ranges()].map((r) => r.value)).toEqual([sized[7], sized[8], sized[224], sized[225]]);
    again.check();
    // Splitting each (stores over the middle of a widened range) keeps every kind intact.
    again.transaction((tx) => {
      for (const k of [7, 8, 224, 225]) tx.store(k * 1000, k * 1000 + 10, sized[k as 7 | 8 | 224 | 225]);
    });
    again.transaction((tx) => {
      for (const k of [7, 8, 224, 225]) tx.store(k * 1000 + 5, k * 1000 + 5, 'x');
    });
    for (const k of [7, 8, 224, 225] as const) {
      expect(again.load(k * 1000)).toBe(sized[k]);
      expect(again.load(k * 1000 + 10)).toBe(sized[k]);
    }
    again.check();
    again.close();
  });

  test('a snapshot keeps reading overwritten packed values through 5 commits', () => {
    const t = temp();
    const s = open<{ id: number; gen: number }>(t.file(), { sync: 'none', packValues: true, sharedStructures: false });
    const N = 600;
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 9, { id: i, gen: 0 });
    });
    const snap = s.snapshot();
    // Overwrite every packed value, then four more commits that overwrite and erase more.
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 9, { id: i, gen: 1 });
    });
    for (let c = 2; c <= 5; c++) {
      s.transaction((tx) => {
        for (let i = 0; i < N; i += c) tx.store(i * 10 + 2, i * 10 + 4, { id: i, gen: c });
        for (let i = c; i < N; i += 7) tx.erase(i * 10);
      });
    }
    expect(s.version - snap.version).toBe(5);
    let n = 0;
    for (const r of snap.ranges()) {
      expect(r).toEqual({ first: n * 10, last: n * 10 + 9, value: { id: n, gen: 0 } });
      n++;
    }
    expect(n).toBe(N);
    for (let i = 0; i < N; i += 37) expect(snap.load(i * 10 + 3)).toEqual({ id: i, gen: 0 });
    expect(s.load(0)).toEqual({ id: 0, gen: 1 });
    s.check();
    snap.close();
    // With the snapshot gone its blocks become reusable; the store stays consistent.
    s.store(1_000_000, 1_000_000, { id: -1, gen: 9 });
    s.store(1_000_001, 1_000_001, { id: -2, gen: 9 });
    s.check();
    s.close();
  });
});
