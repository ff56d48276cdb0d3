/**
 * ValueCodec packs plain objects of a known shared structure with 32-bit integer values itself
 * (storage/format/valueCodec.ts packRecord). Its bytes must be exactly msgpackr's: the same values, in the
 * same order, go through a codec and through a Packr with the codec's options, and every encoding
 * is compared — integers at every encoding boundary and random ones, several shapes (more than
 * msgpackr shares), objects that are not records (strings, floats, large and negative numbers,
 * missing or extra keys, inherited keys, key order), values decoding back equal, and every slot
 * still holding its bytes once all values are encoded.
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, test } from 'vitest';
import { InlineSlot, NewValue } from '../../storage/format/node.js';
import { FAST_RECORDS, ValueCodec } from '../../storage/format/valueCodec.js';
import { prng } from '../helpers.js';

function bytesOf(slot: unknown): number[] {
  if (slot instanceof InlineSlot || slot instanceof NewValue) return Array.from(slot.bytes);
  throw new Error(`unexpected slot ${String(slot)}`);
}

const boundaries = [0, 1, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff];
const ints = boundaries.concat(
  boundaries.map((v) => -v),
  boundaries.map((v) => -v - 1),
  [-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001, 0x100000000, 2 ** 53 - 1, -0],
);

function reference(): Packr {
  return new Packr({ structures: [], mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true });
}

/** Every slot encoded so far with msgpackr's bytes: checked again at the end (no slot may alias a buffer reused later). */
const kept: { slot: unknown; bytes: number[]; value: unknown }[] = [];

function same(codec: ValueCodec, ref: Packr, value: unknown): void {
  const slot = codec.encode(value);
  const mine = bytesOf(slot);
  const theirs = Array.from(ref.pack(value));
  if (mine.join() !== theirs.join()) throw new Error(`${JSON.stringify(value)}: codec ${mine} vs msgpackr ${theirs}`);
  expect(codec.decode(Uint8Array.from(mine))).toEqual(ref.unpack(Uint8Array.from(theirs)));
  kept.push({ slot, bytes: theirs, value });
}

afterEach(() => {
  for (const k of kept) if (bytesOf(k.slot).join() !== k.bytes.join()) throw new Error(`${JSON.stringify(k.value)}: its slot changed after later values were encoded`);
  kept.length = 0;
});

describe('records packed without msgpackr', () => {
  test('the packing rules agree with this msgpackr (else msgpackr packs everything)', () => {
    expect(FAST_RECORDS).toBe(true);
  });

  test('integers at every encoding boundary, in every field', () => {
    const codec = new ValueCodec();
    const ref = reference();
    for (const a of ints) for (const b of [0, 5, 0x40, -1, 0xffffffff, -0x80000000]) {
      same(codec, ref, { id: a, prot: b });
      same(codec, ref, { id: b, prot: a });
    }
  });

  test('random shapes and values agree byte for byte, beyond the shared structures too', () => {
    const codec = new ValueCodec();
    const ref = reference();
    const r = prng(99);
    const keys = ['id', 'prot', 'a', 'b', 'flags', '1', 'z'];
    const pick = (): unknown => {
      const k = r();
      if (k < 0.35) return Math.floor(r() * 2 ** 33) - 2 ** 32;
      if (k < 0.6) return Math.floor(r() * 600) - 300;
      if (k < 0.75) return Math.floor(r() * 140000) - 70000;
      if (k < 0.8) return r();
      if (k < 0.85) return 'text';
      if (k < 0.9) return [1, 2];
      if (k < 0.93) return { inner: 1 };
      if (k < 0.96) return true;
      return Math.floor(r() * 0x80);
    };
    for (let i = 0; i < 20_000; i++) {
      // Up to 60 shapes: more than the 32 msgpackr shares.
      const shape = Math.floor(r() * (i < 10_000 ? 10 : 60));
      const value: Record<string, unknown> = {};
      const n = 1 + (shape % 4);
      for (let j = 0; j < n; j++) value[`${keys[(shape + j) % keys.length]}${shape >= 7 ? shape : ''}`] = pick();
      if (r() < 0.03) delete value[Object.keys(value)[0]!];
      same(codec, ref, value);
    }
    expect(codec.structureCount).toBe((ref as unknown as { structures: unknown[] }).structures.length);
  });

  test('objects that only look like records', () => {
    const codec = new ValueCodec();
    const ref = reference();
    same(codec, ref, { id: 1, prot: 2 }); // the shared structure [id, prot]
    same(codec, ref, { prot: 2, id: 1 }); // other order: another structure
    same(codec, ref, { id: 1 });
    same(codec, ref, { id: 1, prot: 2, more: 3 });
    same(codec, ref, { id: 1.5, prot: 2 });
    same(codec, ref, { id: 'x', prot: 2 });
    same(codec, ref, { id: 2 ** 32, prot: 2 });
    same(codec, ref, { id: 1, prot: undefined });
    same(codec, ref, { id: 1, prot: null });
    const proto = { prot: 7 };
    const inherits = Object.create(proto) as Record<string, number>;
    inherits.id = 1;
    same(codec, ref, inherits);
    class Shaped {
      id = 1;
      prot = 2;
    }
    same(codec, ref, new Shaped());
    const throwing = { id: 1, get prot(): number {
      throw new Error('no prot');
    } };
    expect(() => codec.encode(throwing)).toThrow(/cannot be encoded with msgpack: no prot/);
    same(codec, ref, 7);
    same(codec, ref, [1, 2]);
  });
});
