/**
 * Values load back as README.md's API paragraph says (Maps and class instances as plain objects,
 * -0 as 0, a Buffer as a Uint8Array, symbol keys dropped, an own `__proto__` as `__proto_`, holes
 * as undefined) through every read: a transaction's own reads, the store, a snapshot, an iterator,
 * a reopen with the options switched, and a read-only open — compared with that transform of the
 * stored value, not just "it decodes".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type MapleStore, type OpenOptions, openStore } from './openStore.js';

let dir = '';
let file = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-roundtrip-'));
  file = path.join(dir, 'store.maple');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** README.md's transform: what `v` loads back as. */
function expected(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (typeof v !== 'object' || v === null) return v;
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (v instanceof DataView) return new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  if (ArrayBuffer.isView(v)) return (v as unknown as { slice(): unknown }).slice();
  if (v instanceof ArrayBuffer) return v.slice(0);
  if (v instanceof Date) return new Date(v.getTime());
  if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => expected(v[i]));
  if (v instanceof Set) return new Set([...v].map(expected));
  const name = (k: unknown): string => (String(k) === '__proto__' ? '__proto_' : String(k));
  const o: Record<string, unknown> = {};
  if (v instanceof Map) for (const [k, x] of v) o[name(k)] = expected(x);
  else for (const k of Object.keys(v)) o[name(k)] = expected((v as Record<string, unknown>)[k]);
  return o;
}

/** Strict equality of loaded values: same prototypes (a Buffer is not a Uint8Array), NaN and Invalid Date equal to themselves. */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof ArrayBuffer) return Buffer.from(a).equals(Buffer.from(b as ArrayBuffer));
  if (ArrayBuffer.isView(a)) {
    const x = b as ArrayBufferView;
    if (a instanceof Float32Array || a instanceof Float64Array) return a.length === (x as Float64Array).length && a.every((n, i) => Object.is(n, (x as Float64Array)[i]));
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  }
  if (a instanceof Set) {
    const rest = [...(b as Set<unknown>)];
    if (rest.length !== a.size) return false;
    for (const m of a) {
      const j = rest.findIndex((y) => same(m, y));
      if (j < 0) return false;
      rest.splice(j, 1);
    }
    return true;
  }
  const ka = Reflect.ownKeys(a);
  if (ka.length !== Reflect.ownKeys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k]));
}

const KEYS = ['id', 'prot', 'a', '0', '10', '-1', '01', '4294967295', '1.5', 'constructor', '', 'é', 'k😀'];
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 }), fc.nat(80).map((n) => `k${n}`));
const bytes = fc.uint8Array({ maxLength: 24 });
const leaf = fc.oneof(
  fc.boolean(),
  fc.integer({ min: -200, max: 300 }),
  fc.constantFrom(63, 64, 127, 128, -32, -33, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), -0, NaN, Infinity),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.string({ maxLength: 12 }),
  fc.string({ minLength: 30, maxLength: 600 }),
  fc.date(),
  bytes,
  bytes.map((b) => Buffer.from(b)),
  bytes.map((b) => new Int16Array(b.buffer.slice(0, b.length & ~1))),
  fc.array(fc.double(), { maxLength: 4 }).map((a) => new Float64Array(a)),
  bytes.map((b) => new DataView(b.buffer)),
);
class Point {
  constructor(o: object) {
    Object.assign(this, o);
  }
  move(): void {}
}
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ maxDepth: 3, depthIdentifier: 'd' }, leaf, tie('obj'), tie('arr'), tie('map'), tie('set'), tie('cls')),
  member: fc.oneof({ maxDepth: 3, depthIdentifier: 'd' }, leaf, fc.constantFrom(null, undefined), tie('obj'), tie('arr'), tie('map'), tie('set')),
  obj: fc.dictionary(key, tie('member'), { maxKeys: 6 }),
  cls: fc.dictionary(key, tie('member'), { maxKeys: 3 }).map((o) => new Point(o)),
  arr: fc.oneof(fc.array(tie('member'), { maxLength: 6 }), fc.sparseArray(tie('member'), { maxLength: 6 })),
  map: fc.array(fc.tuple(fc.oneof(key, fc.integer(), fc.boolean(), fc.constant(null)), tie('member')), { maxLength: 4 }).map((e) => new Map(e)),
  set: fc.array(tie('member'), { maxLength: 4 }).map((a) => new Set(a)),
}));

function expectLoads(view: { load(i: number): unknown }, model: Map<number, unknown>, where: string): void {
  for (const [i, v] of model) {
    const got = view.load(i);
    if (!same(got, expected(v))) expect(got, `${where}: index ${i}`).toStrictEqual(expected(v));
  }
}

describe('values load back as README.md documents them', () => {
  test("a transaction's own reads load a Buffer as a Uint8Array, at any depth, as committed reads do", () => {
    const s = openStore<unknown>(file, { sync: 'none' });
    try {
      s.transaction((t) => {
        t.store(1, 1, Buffer.from([1, 2]));
        t.store(2, 2, { b: Buffer.from([3]), list: [Buffer.alloc(40, 7)] });
        t.store(3, 3, Buffer.alloc(600, 9)); // a value record's worth
        expect((t.load(1) as object).constructor).toBe(Uint8Array);
        expect(t.load(2)).toStrictEqual({ b: new Uint8Array([3]), list: [new Uint8Array(40).fill(7)] });
        expect((t.load(3) as object).constructor).toBe(Uint8Array);
      });
      expect((s.load(1) as object).constructor).toBe(Uint8Array);
      expect(s.load(2)).toStrictEqual({ b: new Uint8Array([3]), list: [new Uint8Array(40).fill(7)] });
    } finally {
      s.close();
    }
  });

  test('an object key holding a lone surrogate loads the same in the writer as after a reopen and in a read-only open', () => {
    const keysOf = (v: unknown) => Object.keys(v as object);
    let s = openStore<unknown>(file, { sync: 'none' });
    s.store(1, 1, { '\ud800': 1, '\udc00': 2, id: 3 });
    s.store(2, 2, { '\ud800x': 1 });
    const inWriter = [keysOf(s.load(1)), keysOf(s.load(2))];
    const ro = openStore<unknown>(file, { readOnly: true });
    const inReadOnly = [keysOf(ro.load(1)), keysOf(ro.load(2))];
    ro.close();
    s.close();
    s = openStore<unknown>(file, { sync: 'none' });
    try {
      const reopened = [keysOf(s.load(1)), keysOf(s.load(2))];
      expect(inWriter).toEqual(reopened);
      expect(inReadOnly).toEqual(reopened);
      // As msgpackr loads such a key self-described (a Map key): the surrogate's WTF-8 bytes as U+FFFD.
      expect(reopened[1]).toEqual(['\ufffd\ufffd\ufffdx']);
      s.check();
    } finally {
      s.close();
    }
  });

  test('an Error loads, at any depth, as docs/api.md says: its name, message and cause, of the built-in class its name names', () => {
    class Custom extends Error {
      code = 7;
      constructor(message: string) {
        super(message);
        this.name = 'Custom';
      }
    }
    const shape = (e: unknown) => {
      const err = e as Error;
      return { proto: Object.getPrototypeOf(err), name: err.name, message: err.message, cause: err.cause, keys: Object.keys(err).filter((k) => k !== 'name') };
    };
    let s = openStore<unknown>(file, { sync: 'none' });
    s.store(1, 1, new Error('plain', { cause: { id: 3 } }));
    s.store(2, 2, new TypeError('typed'));
    s.store(3, 3, new Custom('custom'));
    s.store(4, 4, { e: new RangeError('in an object') });
    s.store(5, 5, [new Error('in an array')]);
    s.close();
    s = openStore<unknown>(file, { readOnly: true });
    try {
      expect(shape(s.load(1))).toEqual({ proto: Error.prototype, name: 'Error', message: 'plain', cause: { id: 3 }, keys: [] });
      expect(shape(s.load(2))).toEqual({ proto: TypeError.prototype, name: 'TypeError', message: 'typed', cause: undefined, keys: [] });
      expect(shape(s.load(3))).toEqual({ proto: Error.prototype, name: 'Custom', message: 'custom', cause: undefined, keys: [] });
      expect(shape((s.load(4) as { e: unknown }).e)).toEqual({ proto: RangeError.prototype, name: 'RangeError', message: 'in an object', cause: undefined, keys: [] });
      expect(shape((s.load(5) as unknown[])[0])).toEqual({ proto: Error.prototype, name: 'Error', message: 'in an array', cause: undefined, keys: [] });
    } finally {
      s.close();
    }
  });

  test('any value of the documented domain, through store, transaction and async writes, split by later stores, switching options across reopens', async () => {
    const opts: OpenOptions[] = [
      { sync: 'none' },
      { sync: 'none', packValues: false },
      { sync: 'none', sharedStructures: false },
      { sync: 'none', packValues: false, sharedStructures: false },
    ];
    const values = fc.sample(value, { numRuns: 400, seed: 20260411 });
    const model = new Map<number, unknown>();
    let s: MapleStore<unknown> = openStore<unknown>(file, opts[0]);
    try {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const base = i * 1000;
        const op = i % 4;
        if (op === 0) s.store(base, base + 99, v);
        else if (op === 1) await s.storeAsync(base, base + 99, v);
        else {
          s.transaction((t) => {
            t.store(base, base + 99, v);
            if (op === 3) t.store(base + 40, base + 49, 'split');
            const got = t.load(base + 99);
            if (!same(got, expected(v))) expect(got, `transaction read of value #${i}`).toStrictEqual(expected(v));
          });
        }
        model.set(base + 99, v);
        if (op === 3) model.set(base, v);
        if (i % 5 === 0) {
          s.store(base + 60, base + 60, 'z'.repeat(i % 600)); // split later: both halves keep the value
          model.set(base + 61, v);
        }
        if (i % 100 === 99) {
          expectLoads(s, model, 'store');
          const snap = s.snapshot();
          expectLoads(snap, model, 'snapshot');
          snap.close();
          for (const r of s.ranges()) if (model.has(r.last) && !same(r.value, expected(model.get(r.last)))) expect(r.value).toStrictEqual(expected(model.get(r.last)));
          const ro = openStore<unknown>(file, { readOnly: true });
          expectLoads(ro, model, 'read-only open');
          ro.close();
          s.close();
          s = openStore<unknown>(file, opts[(i / 100 + 1) % opts.length | 0]);
          expectLoads(s, model, 'reopen');
        }
      }
      s.check();
    } finally {
      s.close();
    }
  });
});
