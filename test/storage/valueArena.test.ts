/**
 * The transaction arena and the codec that encodes into it (storage/format/valueArena.ts,
 * storage/format/valueCodec.ts): every value msgpackr packs round trips through its handle,
 * whatever its shape and size (values across chunk ends and longer than a chunk included), the
 * bytes are msgpackr's own, handles stay small integers, and another msgpackr user in the process
 * never sees its buffers written over by the arena (msgpackr's target is module-wide).
 */
import fc from 'fast-check';
import { Packr, pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ARENA_CHUNK_BYTES } from '../../src/common/limits.js';
import { ARENA_LENGTH_BYTES, ValueArena } from '../../storage/format/valueArena.js';
import { ValueCodec } from '../../storage/format/valueCodec.js';

/** What the store's codec writes with sharedStructures: false, for comparing bytes. */
const plainPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true });

/** Values msgpack round-trips as themselves (no undefined members, no -0, no sparse arrays). */
const storable = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
  fc.string(),
  fc.boolean(),
  fc.array(fc.oneof(fc.integer(), fc.string()), { maxLength: 20 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string(), fc.boolean()), { maxKeys: 8 }),
  fc.record({ id: fc.nat(), prot: fc.constantFrom('---', 'r--', 'rw-', 'r-x'), path: fc.string({ maxLength: 300 }) }),
);

describe('the value arena', () => {
  it('round trips values of every shape through their handles, with msgpackr\'s own bytes', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec([], false);
    fc.assert(
      fc.property(fc.array(storable, { minLength: 1, maxLength: 60 }), (values) => {
        arena.reset();
        const handles = values.map((v) => codec.encode(v, arena));
        handles.forEach((h, i) => {
          expect(Number.isInteger(h) && h >= 0 && h < 2 ** 30).toBe(true);
          expect(codec.decodeHandle(arena, h)).toEqual(values[i]);
          expect(Array.from(arena.view(h))).toEqual(Array.from(plainPackr.pack(values[i])));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps every value when they fill several chunks, and gives a value longer than a chunk one of its own', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec([], false);
    const values: unknown[] = [];
    for (let i = 0; i < 3000; i++) values.push({ i, s: 'x'.repeat(i % 700) });
    values.push('y'.repeat(ARENA_CHUNK_BYTES + 5000));
    for (let i = 0; i < 10; i++) values.push([i, 'z'.repeat(3000)]);
    const handles = values.map((v) => codec.encode(v, arena));
    expect(arena.sizeBytes).toBeGreaterThan(2 * ARENA_CHUNK_BYTES);
    handles.forEach((h, i) => expect(codec.decodeHandle(arena, h)).toEqual(values[i]));
    // A reset keeps the first chunk only, and the next values go there.
    arena.reset();
    expect(arena.sizeBytes).toBe(ARENA_CHUNK_BYTES);
    const h = codec.encode('again', arena);
    expect(codec.decodeHandle(arena, h)).toBe('again');
    expect(h).toBe(0);
  });

  it('stores the length before each value, at a multiple of 8 bytes', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec([], false);
    const a = codec.encode('abc', arena);
    const b = codec.encode([1, 2, 3], arena);
    expect(arena.startOf(a) - ARENA_LENGTH_BYTES).toBe(0);
    expect((arena.startOf(b) - ARENA_LENGTH_BYTES) % 8).toBe(0);
    expect(arena.lengthOf(a)).toBe(4);
    expect(arena.lengthOf(b)).toBe(4);
    const out = new Uint8Array(8);
    arena.copyTo(a, out, 2);
    expect(Array.from(out)).toEqual([0, 0, 0xa3, 0x61, 0x62, 0x63, 0, 0]);
  });

  it('never writes over what another msgpackr user packed (its buffers are its own)', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec();
    const theirs = new Packr({ useRecords: false });
    const kept: { bytes: Uint8Array; copy: number[]; value: unknown }[] = [];
    for (let i = 0; i < 200; i++) {
      // Another library packs (module-level pack, a Packr of its own) and keeps the buffers.
      const value = { other: i, text: 'o'.repeat(i) };
      const bytes = i % 2 === 0 ? pack(value) : theirs.pack(value);
      kept.push({ bytes, copy: Array.from(bytes), value });
      // The store encodes values of its own in between.
      for (let k = 0; k < 20; k++) codec.encode({ id: i * 20 + k, prot: 'r-x', pad: 'p'.repeat(k * 10) }, arena);
    }
    for (const { bytes, copy, value } of kept) {
      expect(Array.from(bytes)).toEqual(copy);
      expect(unpack(bytes)).toEqual(value);
    }
  });

  it('a refused value leaves the arena as it was', () => {
    const arena = new ValueArena();
    const codec = new ValueCodec();
    const before = codec.encode({ id: 1, prot: 'r-x' }, arena);
    const end = arena.end;
    expect(() => codec.encode({ f() {} }, arena)).toThrow(/function/);
    expect(() => codec.encode(new (class Nothing { toJSON(): null { return null; } })(), arena)).toThrow(/encodes as msgpack nil/);
    expect(arena.end).toBe(end);
    const after = codec.encode({ id: 2, prot: 'r-x' }, arena);
    expect(codec.decodeHandle(arena, before)).toEqual({ id: 1, prot: 'r-x' });
    expect(codec.decodeHandle(arena, after)).toEqual({ id: 2, prot: 'r-x' });
  });
});
