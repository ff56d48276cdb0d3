/**
 * Shared record structures (storage/format/valueCodec.ts, storage/format/structures.ts): the table's format,
 * values shrinking to inline size, the table surviving reopen and growing across commits, and a
 * damaged table refused as ECORRUPT naming its page.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { open } from '../../src/index.js';
import { decodeCommitRecord } from '../../storage/format/commitRecord.js';
import { ringSlotOffsetBytes } from '../../storage/format/pageFile.js';
import { decodeStructures, encodeStructures, readKeyLists } from '../../storage/format/structures.js';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { MAX_SHARED_STRUCTURES, ValueCodec } from '../../storage/format/valueCodec.js';
import { ValueArena } from '../../storage/format/valueArena.js';
import { expectMapleError, tempDir } from '../helpers.js';
import { CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';

const dirs: { cleanup: () => void }[] = [];
function temp() {
  const t = tempDir('maple-structures-');
  dirs.push(t);
  return t;
}
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

/** The newest valid commit record in the file's ring. */
function newestRecord(file: string) {
  const image = new Uint8Array(fs.readFileSync(file));
  let best;
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    const rec = decodeCommitRecord(image.subarray(ringSlotOffsetBytes(slot), ringSlotOffsetBytes(slot) + PAGE_BYTES));
    if (rec && (!best || rec.commit > best.commit)) best = rec;
  }
  return best!;
}

describe('the structure table format', () => {
  test('round trips key lists and refuses anything else naming the cell', () => {
    const table = [['id', 'prot'], ['a'], ['x', 'y', 'z']];
    expect(decodeStructures(encodeStructures(table), 90, 3)).toEqual(table);
    expect(() => decodeStructures(encodeStructures(table), 90, 2)).toThrow(/cell 90 \(page 5\) should list 2 structures/);
    expect(() => decodeStructures(encodeStructures([['a'], [{}]] as never), 90, 2)).toThrow(/not a key list/);
    expect(() => decodeStructures(new Uint8Array([0x92, 0x91]), 90, 1)).toThrow(/does not decode/);
  });

  test('the decoder without msgpackr reads every table of ASCII keys as msgpackr does', () => {
    const key = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.string({ minLength: 200, maxLength: 400 }));
    fc.assert(
      fc.property(fc.array(fc.array(key, { maxLength: 20 }), { maxLength: 40 }), (table) => {
        const bytes = encodeStructures(table);
        // ASCII tables take the fast path; others are left to msgpackr. Both decode exactly.
        const ascii = table.every((keys) => keys.every((k) => /^[\x00-\x7f]*$/.test(k)));
        expect(readKeyLists(bytes)).toEqual(ascii ? table : undefined);
        expect(decodeStructures(bytes, 7, table.length)).toEqual(table);
      }),
      { numRuns: 300 },
    );
    // Beyond its subset (numeric keys, 16+ lists as array16 included) it defers to msgpackr.
    const many = Array.from({ length: 70 }, (_, i) => [`k${i}`]);
    expect(readKeyLists(encodeStructures(many))).toEqual(many);
    expect(readKeyLists(encodeStructures([['a', 5]] as never))).toBeUndefined();
    expect(decodeStructures(encodeStructures([['a', 5]] as never), 7, 1)).toEqual([['a', 5]]);
  });

  test('on any bytes it either defers or agrees with msgpackr', () => {
    const plain = new Packr({ useRecords: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }), { maxLength: 4 }), fc.nat(), (noise, table, cut) => {
        // Random bytes, and real tables truncated or with a byte changed.
        const real = encodeStructures(table);
        const damaged = real.slice(0, cut % (real.length + 1));
        const flipped = real.slice();
        if (flipped.length > 0) flipped[cut % flipped.length]! ^= 1 + (cut % 255);
        for (const bytes of [noise, damaged, flipped]) {
          const fast = readKeyLists(bytes);
          if (fast === undefined) continue;
          expect(fast).toEqual(plain.unpack(bytes));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('a codec with structures encodes { id, prot } in 7 bytes (inline); without, in 17', () => {
    const arena = new ValueArena();
    const shared = new ValueCodec();
    const plain = new ValueCodec([], false);
    const value = { id: 999_999, prot: 3 };
    const a = shared.encode(value, arena);
    const b = plain.encode(value, arena);
    expect(arena.lengthOf(a)).toBe(7);
    expect(arena.lengthOf(b)).toBe(17); // msgpackr writes an object as a map16 (3 bytes) without variableMapSize
    expect(shared.structures()).toEqual([['id', 'prot']]);
    expect(plain.structures()).toEqual([]);
    // A reader given only the table decodes what the writer encoded.
    const reader = new ValueCodec(shared.structures());
    expect(reader.decode(arena.view(a))).toEqual(value);
    // The plain codec still decodes values written with structures when it has the table.
    expect(new ValueCodec(shared.structures(), false).decode(arena.view(a))).toEqual(value);
  });
});

describe('shared structures in a store', () => {
  test('the table is written with the first commit that needs it and grows with new shapes', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none' });
    s.store(0, 9, 'no objects yet');
    expect(newestRecord(t.file()).structures).toEqual({ cell: 0, fresh: false, count: 0, commit: 0 });
    s.store(10, 19, { id: 1, prot: 3 });
    const first = newestRecord(t.file()).structures;
    expect(first.count).toBe(1);
    expect(first.fresh).toBe(true);
    s.store(20, 29, { id: 2, prot: 5 });
    // Same shape: the table is not rewritten.
    expect(newestRecord(t.file()).structures).toEqual({ ...first, fresh: false });
    s.store(30, 39, { name: 'x', tags: ['a'] });
    expect(newestRecord(t.file()).structures.count).toBe(2);
    s.check();
    s.close();
    const again = open<unknown>(t.file(), { sync: 'none' });
    expect(again.load(15)).toEqual({ id: 1, prot: 3 });
    expect(again.load(25)).toEqual({ id: 2, prot: 5 });
    expect(again.load(35)).toEqual({ name: 'x', tags: ['a'] });
    // New shapes after reopen extend the same table.
    again.store(40, 49, { other: true });
    expect(newestRecord(t.file()).structures.count).toBe(3);
    again.check();
    again.close();
  });

  test('a shape first seen in a rolled-back transaction is saved by the next commit that writes', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none' });
    expect(() =>
      s.transaction((tx) => {
        tx.store(0, 9, { never: 1 });
        throw new Error('abort');
      }),
    ).toThrow('abort');
    s.store(10, 19, { kept: 2 });
    s.close();
    const again = open<unknown>(t.file(), { readOnly: true });
    expect(again.load(15)).toEqual({ kept: 2 });
    expect(again.load(5)).toBeUndefined();
    again.check();
    again.close();
  });

  test('sharedStructures: false writes self-described values; either setting reads both', () => {
    const t = temp();
    const a = open<unknown>(t.file(), { sync: 'none' });
    a.store(0, 9, { id: 1, prot: 3 });
    a.close();
    const b = open<unknown>(t.file(), { sync: 'none', sharedStructures: false });
    b.store(10, 19, { other: 'shape' });
    expect(b.load(5)).toEqual({ id: 1, prot: 3 });
    b.close();
    expect(newestRecord(t.file()).structures.count).toBe(1);
    const c = open<unknown>(t.file(), { readOnly: true });
    expect(c.load(15)).toEqual({ other: 'shape' });
    c.check();
    c.close();
    expectMapleError(() => open(t.file(), { sharedStructures: 'yes' as never }), 'EINVAL', /sharedStructures/);
  });

  test('a snapshot reads through the table while later commits extend it', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'none' });
    s.store(0, 9, { a: 1 });
    const snap = s.snapshot();
    for (let i = 0; i < 40; i++) s.store(100 + i * 10, 105 + i * 10, { ['k' + i]: i });
    expect(snap.load(3)).toEqual({ a: 1 });
    expect(s.load(100 + 39 * 10)).toEqual({ k39: 39 });
    snap.close();
    s.check();
    s.close();
  });

  test('a damaged table is ECORRUPT naming its page, and the file is left as it was', () => {
    const t = temp();
    // two-sync marks the commit's cells durable, so open does not re-validate them and the
    // damage is found when the table is read.
    const s = open<unknown>(t.file(), { sync: 'full', commitProtocol: 'two-sync' });
    s.transaction((tx) => {
      for (let i = 0; i < 100; i++) tx.store(i * 10, i * 10 + 5, { id: i, prot: i & 7 });
    });
    s.close();
    const rec = newestRecord(t.file());
    expect(rec.structures.cell).toBeGreaterThan(0);
    const image = fs.readFileSync(t.file());
    image[rec.structures.cell * CELL_BYTES + 30]! ^= 0xff;
    fs.writeFileSync(t.file(), image);
    const err = expectMapleError(() => open(t.file(), { readOnly: true }), 'ECORRUPT');
    expect(err.message).toMatch(new RegExp(`cell ${rec.structures.cell}\\b.*page ${Math.floor(rec.structures.cell / 16)}|page ${Math.floor(rec.structures.cell / 16)}`));
    expect(fs.readFileSync(t.file()).equals(image)).toBe(true);
  });

  test('a one-sync commit whose new table is torn never happened: open falls back', () => {
    const t = temp();
    const s = open<unknown>(t.file(), { sync: 'full', commitProtocol: 'one-sync' });
    s.store(0, 9, 'before');
    s.store(10, 19, { id: 1, prot: 3 });
    s.close();
    const rec = newestRecord(t.file());
    expect(rec.structures.fresh).toBe(true);
    const image = fs.readFileSync(t.file());
    image[rec.structures.cell * CELL_BYTES + 30]! ^= 0xff;
    fs.writeFileSync(t.file(), image);
    const again = open<unknown>(t.file(), { readOnly: true });
    expect(again.stats().recovery.fellBack).toBe(true);
    expect(again.version).toBe(rec.commit - 1);
    expect(again.load(5)).toBe('before');
    expect(again.load(15)).toBeUndefined();
    again.close();
  });

  test('past 32 shapes: reading a self-described value between commits that write none never writes its shape to the table (every later write works, after reopen too)', () => {
    const t = temp();
    for (const [what, touch] of [
      ['erase', (s: ReturnType<typeof open<unknown>>) => s.erase(100)],
      [
        'load, then clear',
        (s: ReturnType<typeof open<unknown>>) => {
          s.load(100);
          s.clear(0, 0);
        },
      ],
      [
        'a scan, then erase',
        (s: ReturnType<typeof open<unknown>>) => {
          expect([...s.ranges()].length).toBe(MAX_SHARED_STRUCTURES + 1);
          s.erase(5);
        },
      ],
    ] as const) {
      fs.rmSync(t.file(), { force: true });
      let s = open<unknown>(t.file());
      for (let i = 0; i < MAX_SHARED_STRUCTURES; i++) s.store(i, i, { [`k${i}`]: i });
      s.store(100, 100, { other: 1 }); // the 33rd shape: packed with its definition inline
      touch(s); // decodes it (its definition joins msgpackr's table until the next encode), then a commit of no value
      expect(newestRecord(t.file()).structures.count, what).toBe(MAX_SHARED_STRUCTURES);
      s.close();
      s = open<unknown>(t.file());
      s.store(300, 300, 42);
      s.store(301, 301, { k3: 9 });
      s.store(302, 302, { brandNew: true });
      expect([s.load(300), s.load(301), s.load(302), s.load(7)], what).toEqual([42, { k3: 9 }, { brandNew: true }, { k7: 7 }]);
      s.check();
      s.close();
    }
  });

  test('a table longer than 32 (written by an earlier release after such a read) opens, and every write works', () => {
    const shapes = Array.from({ length: MAX_SHARED_STRUCTURES + 1 }, (_, i) => [`k${i}`]);
    const writer = new ValueCodec(shapes.slice(0, MAX_SHARED_STRUCTURES));
    const arena = new ValueArena();
    const old = writer.decodeHandle(arena, writer.encode({ k31: 'shared id 31' }, arena));
    expect(old).toEqual({ k31: 'shared id 31' });
    const bytes = (() => {
      const h = writer.encode({ k31: 'shared id 31' }, arena);
      return arena.chunkOf(h).slice(arena.startOf(h), arena.startOf(h) + arena.lengthOf(h));
    })();
    const codec = new ValueCodec(shapes);
    expect(codec.structureCount).toBe(MAX_SHARED_STRUCTURES);
    expect(codec.decode(bytes)).toEqual({ k31: 'shared id 31' });
    const again = new ValueArena();
    expect(codec.decodeHandle(again, codec.encode({ k32: 1, fresh: 'shape' }, again))).toEqual({ k32: 1, fresh: 'shape' });
    expect(codec.decodeHandle(again, codec.encode(42, again))).toBe(42);
  });
});
