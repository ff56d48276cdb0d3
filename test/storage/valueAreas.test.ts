/**
 * Values of real size seen from the public API (storage/format/valueArea.ts,
 * storage/commit/valueAreas.ts): where a value goes by its size (inline up to 7 msgpack bytes, its
 * leaf's value area up to 512, a record of its own beyond), that values are dense whether a commit
 * writes one or thousands, that a split range's halves share one copy in their leaf's area, that
 * an area goes with its leaf (check() accounts every cell), packValues: false, and a snapshot
 * reading values later commits overwrote.
 *
 * The file is inspected only through the documented cell formats (storage/format/node.ts,
 * storage/format/valueArea.ts, storage/format/valueRecord.ts), to prove where a value really went.
 */
import * as fs from 'node:fs';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, test } from 'vitest';
import { open } from '../../src/index.js';
import { openWith } from '../../src/api/open.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { NODE_LEAF, OFF_AREA, OFF_COUNT, OFF_LEAF_SLOTS, SLOT_AREA, SLOT_RECORD, nodeChecksumOk } from '../../storage/format/node.js';
import { AREA_HEADER_BYTES, AREA_TYPE } from '../../storage/format/valueArea.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE } from '../../storage/format/valueRecord.js';
import { tempDir } from '../helpers.js';
import { AREA_VALUE_MAX_BYTES, CELL_BASE, CELL_BYTES, LEAF_SLOTS, MAX_INLINE_BYTES } from '../../src/common/limits.js';

const dirs: { cleanup: () => void }[] = [];
function temp() {
  const t = tempDir('maple-areas-');
  dirs.push(t);
  return t;
}
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

/**
 * A store on the simulated disk, every commit durable: the density of what commits allocate, with
 * no checkpoint allowance (with `sync: 'none'` the last durable version's cells wait for the next
 * checkpoint, test/crash/syncNone.test.ts) and no fdatasync to wait for.
 */
function openDurable<V>() {
  return openWith<V>(`/simulated/areas-${Math.random()}`, { sync: 'full' }, { fileIO: new SimulatedDisk().fileIO() });
}

/** The store's encoding with sharedStructures: false, to size values exactly. */
const packr = new Packr({ useRecords: false, moreTypes: true });

function image(file: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(file));
}

function cellAt(img: Uint8Array, c: number): Uint8Array {
  return img.subarray(c * CELL_BYTES, (c + 1) * CELL_BYTES);
}

interface LeafSlot {
  leaf: number;
  tag: number;
  /** Area slots: the value's bytes in the leaf's area; records: the record's bytes. */
  bytes: Uint8Array | null;
  offset: number;
}

/** Every non-empty slot of every leaf (valid checksum) in the file, with its value's bytes. */
function leafSlots(file: string): LeafSlot[] {
  const img = image(file);
  const out: LeafSlot[] = [];
  for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= img.length; c++) {
    const cell = cellAt(img, c);
    if (cell[0] !== NODE_LEAF || !nodeChecksumOk(cell, c)) continue;
    const dv = new DataView(cell.buffer, cell.byteOffset);
    const area = dv.getUint32(OFF_AREA, true);
    for (let i = 0; i < Math.min(cell[OFF_COUNT]!, LEAF_SLOTS); i++) {
      const s = OFF_LEAF_SLOTS + 8 * i;
      const tag = cell[s + 7]!;
      if (tag === 0) continue;
      let bytes: Uint8Array | null = null;
      let offset = -1;
      if (tag === SLOT_AREA) {
        offset = dv.getUint16(s, true);
        const at = area * CELL_BYTES + AREA_HEADER_BYTES + offset;
        bytes = img.subarray(at, at + dv.getUint16(s + 2, true));
      } else if (tag === SLOT_RECORD) {
        const at = dv.getUint32(s, true) * CELL_BYTES;
        bytes = img.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + new DataView(img.buffer, at).getUint32(12, true));
      } else if (tag <= MAX_INLINE_BYTES) {
        bytes = cell.subarray(s, s + tag);
      }
      out.push({ leaf: c, tag, bytes, offset });
    }
  }
  return out;
}

function same(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('values of real size through the public API', () => {
  test('values of 7, 8, 512 and 513 msgpack bytes go inline, to the area, to the area and to a record', () => {
    const t = temp();
    const file = t.file();
    // A string of n characters packs to n + 1 bytes below 32, n + 2 up to 255, n + 3 up to 65,535.
    const sized = { 7: 'a'.repeat(6), 8: 'b'.repeat(7), 512: 'c'.repeat(509), 513: 'd'.repeat(510) } as const;
    expect(AREA_VALUE_MAX_BYTES).toBe(512);
    for (const [bytes, v] of Object.entries(sized)) expect(packr.pack(v).length, `${bytes}-byte value`).toBe(Number(bytes));
    const s = open<string>(file, { sync: 'none', sharedStructures: false });
    s.transaction((tx) => {
      for (const [k, v] of Object.entries(sized)) tx.store(Number(k), Number(k), v);
    });
    for (const [k, v] of Object.entries(sized)) expect(s.load(Number(k))).toBe(v);
    s.check();
    s.close();

    const slots = leafSlots(file);
    const where = (v: string): number[] => slots.filter((x) => same(x.bytes, packr.pack(v))).map((x) => x.tag);
    expect(where(sized[7])).toEqual([7]);
    expect(where(sized[8])).toEqual([SLOT_AREA]);
    expect(where(sized[512])).toEqual([SLOT_AREA]);
    expect(where(sized[513])).toEqual([SLOT_RECORD]);

    const again = open<string>(file, { sync: 'none', sharedStructures: false });
    expect([...again.ranges()].map((r) => r.value)).toEqual([sized[7], sized[8], sized[512], sized[513]]);
    again.close();
  });

  test('a bulk load of 10-byte values takes under 40 bytes a range (a leaf and its area, no block per commit)', () => {
    const t = temp();
    const s = open<{ id: number; prot: string }>(t.file(), { sync: 'none' });
    s.transaction((tx) => {
      for (let i = 0; i < 30_000; i++) tx.store(i * 16, i * 16 + 15, { id: 100_000 + i, prot: i % 2 ? 'r-x' : 'rw-' });
    });
    s.check();
    expect(s.stats().fileBytes / 30_000).toBeLessThan(40);
    expect(s.load(16 * 777)).toEqual({ id: 100_777, prot: 'r-x' });
    s.close();
  });

  test('single-store commits keep 120-byte values dense: under 230 bytes a range after 20,000 of them', () => {
    // A record per value (the layout before value areas) costs a whole cell each: 345 bytes a range here.
    const s = openDurable<{ id: number; prot: string; path: string; gen: number }>();
    const value = (i: number, gen: number) => ({ id: i, prot: 'r-x', path: `/usr/lib/x86_64-linux-gnu/libexample-${i}.so.${'0'.repeat(60)}`, gen });
    const N = 5000;
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 4, value(i, 0));
    });
    let x = 12345;
    for (let k = 1; k <= 20_000; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const i = x % N;
      s.store(i * 10, i * 10 + 4, value(i, k));
    }
    s.check();
    expect(s.stats().fileBytes / N).toBeLessThan(230);
    s.close();
  });

  test('single-store commits of values of varying sizes reuse areas freed side by side: the file stays near its size after the load', () => {
    // Leaves of varying fill and values of 60-180 bytes need areas of varying cell counts; the
    // cells freed for them come back as separate runs (one per commit) that are often adjacent.
    // Taking only single runs sent every area longer than all of them to the end of the file.
    const s = openDurable<{ id: number; prot: string; path: string; gen: number }>();
    let x = 777;
    const rnd = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    const N = 4000;
    const firsts: number[] = [];
    const lens: number[] = [];
    for (let i = 0, key = 0; i < N; i++) {
      key += rnd() % 2 ? 0 : 1 + (rnd() % 30);
      firsts.push(key);
      lens.push(1 + (rnd() % 20));
      key += lens[i]!;
    }
    const value = (i: number, gen: number) => ({ id: i, prot: 'r-x', path: 'p'.repeat(60 + ((i * 31 + gen) % 120)), gen });
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(firsts[i]!, firsts[i]! + lens[i]! - 1, value(i, 0));
    });
    const loaded = s.stats().fileBytes;
    for (let k = 1; k <= 20_000; k++) {
      const i = rnd() % N;
      s.store(firsts[i]!, firsts[i]! + lens[i]! - 1, value(i, k));
    }
    s.check();
    expect(s.stats().fileBytes / loaded).toBeLessThan(1.6); // 6.3 with single runs only
    s.close();
  });

  test("a split range's halves share one copy of the value in their leaf's area", () => {
    const t = temp();
    const file = t.file();
    const s = open<string>(file, { sync: 'none', sharedStructures: false });
    const long = 'a value that lives in the area, not in the slot';
    s.store(100, 199, long);
    s.store(150, 150, 'x'); // [100, 149] and [151, 199] keep `long`
    expect(s.load(120)).toBe(long);
    expect(s.load(180)).toBe(long);
    s.check();
    s.close();
    const copies = leafSlots(file).filter((x) => x.tag === SLOT_AREA && same(x.bytes, packr.pack(long)));
    // Both slots of the newest leaf point at the same bytes (older leaves may linger as free cells).
    const newest = copies.filter((x) => x.leaf === copies.at(-1)!.leaf);
    expect(newest.length).toBe(2);
    expect(newest[0]!.offset).toBe(newest[1]!.offset);
  });

  test("a range split by a later store of the same transaction: its halves share one copy", () => {
    const t = temp();
    const file = t.file();
    const s = open<string>(file, { sync: 'none', sharedStructures: false });
    const long = 'a value that lives in the area, not in the slot';
    const other = 'another value that lives in the area';
    const third = 'a third value that lives in the area';
    // One transaction: each range's halves hold its value's handle on either side of another.
    s.transaction((tx) => {
      tx.store(100, 199, long);
      tx.store(150, 150, other);
      tx.store(300, 399, other);
      tx.store(350, 350, long);
      // Halves with nothing but a gap between them: the handle repeats the newest one before it.
      tx.store(500, 599, third);
      tx.clear(550, 550);
    });
    expect([s.load(120), s.load(150), s.load(180), s.load(320), s.load(350), s.load(380), s.load(520), s.load(550), s.load(580)]).toEqual([long, other, long, other, long, other, third, undefined, third]);
    s.check();
    s.close();
    const slots = leafSlots(file).filter((x) => x.tag === SLOT_AREA);
    const leaf = slots.at(-1)!.leaf;
    const ofLeaf = slots.filter((x) => x.leaf === leaf);
    const longs = ofLeaf.filter((x) => same(x.bytes, packr.pack(long)));
    const others = ofLeaf.filter((x) => same(x.bytes, packr.pack(other)));
    // In key order: long's halves share one copy, its later store ([350]) has its own; the same
    // for other's first store ([150]) and the halves of its second.
    expect(longs.length).toBe(3);
    expect(others.length).toBe(3);
    expect(longs[0]!.offset).toBe(longs[1]!.offset);
    expect(longs[2]!.offset).not.toBe(longs[0]!.offset);
    expect(others[1]!.offset).toBe(others[2]!.offset);
    expect(others[0]!.offset).not.toBe(others[1]!.offset);
    const thirds = leafSlots(file).filter((x) => x.tag === SLOT_AREA && same(x.bytes, packr.pack(third)));
    const lastLeaf = thirds.filter((x) => x.leaf === thirds.at(-1)!.leaf);
    expect(lastLeaf.length).toBe(2);
    expect(lastLeaf[0]!.offset).toBe(lastLeaf[1]!.offset);
  });

  test('an area goes with its leaf: rewrites, clears and reopens keep every cell accounted for', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none' });
    const N = 3000;
    for (let round = 0; round < 6; round++) {
      s.transaction((tx) => {
        for (let i = round % 3; i < N; i += 1 + (round % 4)) tx.store(i * 8, i * 8 + 5, round % 2 ? { i, round, tag: 'r'.repeat(i % 300) } : [i, round, 's'.repeat(i % 40)]);
      });
      if (round === 3) s.transaction((tx) => tx.clear(800, 12_000));
      s.check();
    }
    for (let k = 0; k < 2000; k++) s.store((k * 37) % N * 8, (k * 37) % N * 8 + 3, { k, pad: 'q'.repeat(k % 200) });
    s.check();
    const bytes = s.stats().fileBytes;
    s.close();
    const again = open<unknown>(t.file(), { sync: 'none' });
    again.check();
    expect(again.stats().fileBytes).toBe(bytes);
    again.close();
  });

  test('packValues: false gives every value over 7 bytes a record of its own', () => {
    const t = temp();
    const file = t.file();
    const s = open<string>(file, { sync: 'none', packValues: false, sharedStructures: false });
    s.transaction((tx) => {
      tx.store(1, 1, 'short');
      tx.store(2, 2, 'a little longer');
    });
    s.check();
    s.close();
    const slots = leafSlots(file);
    const where = (v: string): number[] => slots.filter((x) => same(x.bytes, packr.pack(v))).map((x) => x.tag);
    expect(where('short')).toEqual([6]);
    expect(where('a little longer')).toEqual([SLOT_RECORD]);
    const img = image(file);
    const types = new Set<number>();
    for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= img.length; c++) types.add(img[c * CELL_BYTES]!);
    expect(types.has(AREA_TYPE)).toBe(false);
    expect(types.has(RECORD_TYPE)).toBe(true);
  });

  test('a snapshot keeps reading area values that five later commits overwrote', () => {
    const t = temp();
    const s = open<{ id: number; gen: number; name: string }>(t.file(), { sync: 'none' });
    const N = 600;
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 9, { id: i, gen: 0, name: `range ${i}` });
    });
    const snap = s.snapshot();
    s.transaction((tx) => {
      for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 9, { id: i, gen: 1, name: `range ${i}` });
    });
    for (let c = 2; c <= 5; c++) {
      s.transaction((tx) => {
        for (let i = 0; i < N; i += c) tx.store(i * 10 + 2, i * 10 + 4, { id: i, gen: c, name: 'inner' });
        for (let i = c; i < N; i += 7) tx.erase(i * 10);
      });
    }
    let n = 0;
    for (const r of snap.ranges()) {
      expect(r).toEqual({ first: n * 10, last: n * 10 + 9, value: { id: n, gen: 0, name: `range ${n}` } });
      n++;
    }
    expect(n).toBe(N);
    s.check();
    snap.close();
    s.store(1_000_000, 1_000_000, { id: -1, gen: 9, name: 'after' });
    s.check();
    s.close();
  });

  test("a transaction reads its own values and committed ones; erase returns the value it removes", () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none' });
    s.store(0, 9, { committed: 'in an area' });
    s.transaction((tx) => {
      tx.store(10, 19, { mine: 'x'.repeat(100) });
      tx.store(20, 29, 7);
      expect(tx.load(5)).toEqual({ committed: 'in an area' });
      expect(tx.load(15)).toEqual({ mine: 'x'.repeat(100) });
      expect([...tx.ranges()].map((r) => r.value)).toEqual([{ committed: 'in an area' }, { mine: 'x'.repeat(100) }, 7]);
      expect(tx.erase(15)).toEqual({ mine: 'x'.repeat(100) });
      expect(tx.erase(5)).toEqual({ committed: 'in an area' });
    });
    expect([...s.ranges()].map((r) => r.value)).toEqual([7]);
    s.check();
    s.close();
  });
});
