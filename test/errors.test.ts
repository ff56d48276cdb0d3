/**
 * Every refusal of API.md's error table, method by method: the right MapleError code, and after
 * each refusal the store's contents, its version and the file's bytes exactly as before.
 *
 * EINVAL cases follow API.md (non-integer, negative, NaN, > MAX_INDEX index; first > last;
 * size < 1; null/undefined value; an option of the wrong type) plus `min > max` for the gap
 * searches (the same rule as first > last). A window narrower than `size` is NOT an EINVAL here:
 * API.md defines it as "no fit" (see test/reference.ts), so it is tested under EBUSY.
 * ELOCKED is tested across processes, with a child running the compiled dist/ (built here).
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { MapleError, type MapleStore, openStore } from './openStore.js';
import { MAX_INDEX } from '../src/common/limits.js';

const REPO = path.resolve(import.meta.dirname, '..');

let dir = '';
let file = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-errors-'));
  file = path.join(dir, 'store.maple');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

type V = unknown;
type Store = MapleStore<V>;

/** The MapleError `fn` throws (anything else it throws is rethrown; throwing nothing fails). */
function thrownBy(fn: () => unknown): MapleError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MapleError) return err;
    throw err;
  }
  throw new Error('expected a MapleError, and nothing was thrown');
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MapleError) return err.code;
    return `not a MapleError: ${String(err)}`;
  }
  return 'no error';
}

/** Contents seeded into every store: ranges at 0-ish, in the middle and touching MAX_INDEX. */
function seed(s: Store): void {
  s.store(10, 20, 'a');
  s.store(30, 30, { x: 1 });
  s.store(40, 49, 'x'.repeat(500)); // a value record, not an inline slot
  s.store(MAX_INDEX - 1, MAX_INDEX, 'top');
}

interface Observed {
  ranges: unknown[];
  version: number;
  count: number;
  bytes: Buffer;
}

function observe(s: Store): Observed {
  return { ranges: [...s.ranges()], version: s.version, count: s.count(), bytes: fs.readFileSync(file) };
}

function expectUnchanged(s: Store, before: Observed, what: string): void {
  const after = observe(s);
  expect(after.ranges, `${what}: contents`).toEqual(before.ranges);
  expect(after.version, `${what}: version`).toBe(before.version);
  expect(after.count, `${what}: count`).toBe(before.count);
  expect(after.bytes.equals(before.bytes), `${what}: file bytes`).toBe(true);
}

function expectRefusal(s: Store, code: string, what: string, fn: () => unknown): void {
  const before = observe(s);
  expect(codeOf(fn), what).toBe(code);
  expectUnchanged(s, before, what);
}

function newStore(): Store {
  const s = openStore<V>(file, { sync: 'none' });
  seed(s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// EINVAL

/** Not indices: non-integers, negatives, NaN, infinities, above MAX_INDEX, and non-numbers. */
const BAD_INDICES: Array<[string, unknown]> = [
  ['-1', -1],
  ['1.5', 1.5],
  ['-0.5', -0.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['MAX_INDEX + 1', MAX_INDEX + 1],
  ['2 ** 60', 2 ** 60],
  ["'5'", '5'],
  ['null', null],
  ['{}', {}],
  ['true', true],
];
/** For required index arguments, a missing one is refused too. */
const BAD_REQUIRED: Array<[string, unknown]> = [...BAD_INDICES, ['undefined', undefined]];
const BAD_SIZES: Array<[string, unknown]> = [
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ["'3'", '3'],
  ['null', null],
  ['undefined', undefined],
];
/**
 * Values that would not load back as what was stored: null/undefined (they mean "empty"), and
 * anything msgpackr drops or turns into nothing — functions at any depth (msgpackr writes
 * undefined in their place), symbols, and objects whose toJSON() gives null or undefined.
 */
const BAD_VALUES: Array<[string, unknown]> = [
  ['null', null],
  ['undefined', undefined],
  ['a function', function named() {}],
  ['an arrow function', () => 1],
  ['an async function', async () => 1],
  ['a class', class Thing {}],
  ['a symbol', Symbol('s')],
  ['{ f() {} }', { f() {} }],
  ['{ x: 1, f: () => 0 }', { x: 1, f: () => 0 }],
  ['{ id: 7, nested: { g: () => 0 } }', { id: 7, nested: { g: () => 0 } }],
  ['[1, () => 0]', [1, () => 0]],
  ['{ s: Symbol() }', { s: Symbol('member') }],
  ['new Map([[1, () => 0]])', new Map([[1, () => 0]])],
  ['an object whose toJSON() returns undefined', new (class NoJson { toJSON() { return undefined; } })()],
  ['an object whose toJSON() returns null', new (class NullJson { toJSON() { return null; } })()],
  ['an object whose toJSON() returns a function', new (class FnJson { toJSON() { return () => 0; } })()],
  // Maps load back as plain objects: a key that cannot be a property name would not decode.
  ['new Map([[{ k: 1 }, 1]])', new Map([[{ k: 1 }, 1]])],
  ['new Map([[[1, 2], 1]])', new Map([[[1, 2], 1]])],
  ['[1, new Map([[{}, 1]])]', [1, new Map([[{}, 1]])]],
  ['{ m: new Map([[1, new Map([[{}, 1]])]]) }', { m: new Map([[1, new Map([[{}, 1]])]]) }],
  ['new Set([new Map([[{}, 1]])])', new Set([new Map([[{}, 1]])])],
  ['a class instance holding such a Map', new (class Holder { m = new Map([[new Date(0), 1]]); })()],
  // Packed as {} (or as their characters): they would load back as something else.
  ['a Promise', Promise.resolve(1)],
  ['{ p: a Promise }', { p: Promise.resolve(1) }],
  ['[a WeakMap]', [new WeakMap()]],
  ['new Set([a WeakSet])', new Set([new WeakSet()])],
  ['a WeakRef', new WeakRef({})],
  ['a SharedArrayBuffer', new SharedArrayBuffer(8)],
  ['{ shared: a SharedArrayBuffer }', { shared: new SharedArrayBuffer(8) }],
  ['new Number(5)', new Number(5)],
  ['{ s: new String("s") }', { s: new String('s') }],
  ['new Boolean(false)', new Boolean(false)],
  ['Object(5n) (a boxed bigint)', Object(5n)],
  ['{ s: Object(Symbol()) } (a boxed symbol)', { s: Object(Symbol('boxed')) }],
  // A subclass of Map is packed as {}; of a typed array, with a type msgpackr cannot read back.
  ['a subclass of Map', new (class Registry extends Map<string, number> {})([['a', 1]])],
  ['{ bytes: a subclass of Uint8Array }', { bytes: new (class Bytes extends Uint8Array {})([1, 2]) }],
  ['a subclass of Float64Array', new (class Samples extends Float64Array {})(2)],
];

type Call = [label: string, run: (v: Record<string, (...a: unknown[]) => unknown>) => unknown];

/** `method(args)` with argument `at` replaced by each bad value. */
function variants(method: string, good: unknown[], at: number, bad: Array<[string, unknown]>): Call[] {
  return bad.map(([label, value]) => {
    const args = good.slice();
    args[at] = value;
    const shown = args.map((a, i) => (i === at ? label : JSON.stringify(a)));
    return [`${method}(${shown.join(', ')})`, (v) => drain(v[method]!(...args))];
  });
}

/** Iterators may validate lazily: drain them so a refusal shows either way. */
function drain(result: unknown): unknown {
  if (result !== null && typeof result === 'object' && Symbol.iterator in (result as object) && typeof (result as Iterator<unknown>).next === 'function') {
    return [...(result as Iterable<unknown>)];
  }
  return result;
}

const READ_CASES: Record<string, Call[]> = {
  load: variants('load', [15], 0, BAD_REQUIRED),
  entry: variants('entry', [15], 0, BAD_REQUIRED),
  find: [...variants('find', [15, 100], 0, BAD_REQUIRED), ...variants('find', [15, 100], 1, BAD_INDICES)],
  findRev: [...variants('findRev', [100, 0], 0, BAD_REQUIRED), ...variants('findRev', [100, 0], 1, BAD_INDICES)],
  ranges: [...variants('ranges', [0, 100], 0, BAD_INDICES), ...variants('ranges', [0, 100], 1, BAD_INDICES), ['ranges(20, 10)', (v) => drain(v.ranges!(20, 10))]],
  rangesRev: [
    ...variants('rangesRev', [0, 100], 0, BAD_INDICES),
    ...variants('rangesRev', [0, 100], 1, BAD_INDICES),
    ['rangesRev(20, 10)', (v) => drain(v.rangesRev!(20, 10))],
  ],
  emptyArea: [
    ...variants('emptyArea', [0, 100, 2], 0, BAD_REQUIRED),
    ...variants('emptyArea', [0, 100, 2], 1, BAD_REQUIRED),
    ...variants('emptyArea', [0, 100, 2], 2, BAD_SIZES),
    ['emptyArea(100, 0, 1) (min > max)', (v) => v.emptyArea!(100, 0, 1)],
  ],
  emptyAreaRev: [
    ...variants('emptyAreaRev', [0, 100, 2], 0, BAD_REQUIRED),
    ...variants('emptyAreaRev', [0, 100, 2], 1, BAD_REQUIRED),
    ...variants('emptyAreaRev', [0, 100, 2], 2, BAD_SIZES),
    ['emptyAreaRev(100, 0, 1) (min > max)', (v) => v.emptyAreaRev!(100, 0, 1)],
  ],
};

const WRITE_CASES: Record<string, Call[]> = {
  store: [
    ...variants('store', [100, 110, 'v'], 0, BAD_REQUIRED),
    ...variants('store', [100, 110, 'v'], 1, BAD_REQUIRED),
    ...variants('store', [100, 110, 'v'], 2, BAD_VALUES),
    ['store(110, 100, "v") (first > last)', (v) => v.store!(110, 100, 'v')],
    ['store(MAX_INDEX, 0, "v") (first > last)', (v) => v.store!(MAX_INDEX, 0, 'v')],
  ],
  insert: [
    ...variants('insert', [100, 110, 'v'], 0, BAD_REQUIRED),
    ...variants('insert', [100, 110, 'v'], 1, BAD_REQUIRED),
    ...variants('insert', [100, 110, 'v'], 2, BAD_VALUES),
    ['insert(110, 100, "v") (first > last)', (v) => v.insert!(110, 100, 'v')],
  ],
  erase: variants('erase', [15], 0, BAD_REQUIRED),
  clear: [
    ...variants('clear', [12, 35], 0, BAD_REQUIRED),
    ...variants('clear', [12, 35], 1, BAD_REQUIRED),
    ['clear(35, 12) (first > last)', (v) => v.clear!(35, 12)],
  ],
  allocRange: [
    ...variants('allocRange', [2, 0, 100, 'v'], 0, BAD_SIZES),
    ...variants('allocRange', [2, 0, 100, 'v'], 1, BAD_REQUIRED),
    ...variants('allocRange', [2, 0, 100, 'v'], 2, BAD_REQUIRED),
    ...variants('allocRange', [2, 0, 100, 'v'], 3, BAD_VALUES),
    ['allocRange(1, 100, 0, "v") (min > max)', (v) => v.allocRange!(1, 100, 0, 'v')],
  ],
  allocRangeRev: [
    ...variants('allocRangeRev', [2, 0, 100, 'v'], 0, BAD_SIZES),
    ...variants('allocRangeRev', [2, 0, 100, 'v'], 1, BAD_REQUIRED),
    ...variants('allocRangeRev', [2, 0, 100, 'v'], 2, BAD_REQUIRED),
    ...variants('allocRangeRev', [2, 0, 100, 'v'], 3, BAD_VALUES),
    ['allocRangeRev(1, 100, 0, "v") (min > max)', (v) => v.allocRangeRev!(1, 100, 0, 'v')],
  ],
};

const asRecord = (x: unknown) => x as Record<string, (...a: unknown[]) => unknown>;

describe('EINVAL on the store', () => {
  for (const [method, calls] of Object.entries({ ...READ_CASES, ...WRITE_CASES })) {
    test(`${method}: ${calls.length} bad argument lists`, () => {
      const s = newStore();
      try {
        for (const [label, call] of calls) expectRefusal(s, 'EINVAL', label, () => call(asRecord(s)));
        s.check();
      } finally {
        s.close();
      }
    });
  }
});

describe('EINVAL for the exported classes made with new', () => {
  test('MapleStore, Snapshot and SharedStore name the function that makes them', async () => {
    const api = await import('../src/index.js');
    const make = (C: unknown) => (): unknown => new (C as new () => unknown)();
    expect(codeOf(make(api.MapleStore))).toBe('EINVAL');
    expect(make(api.MapleStore)).toThrow(/made by open\(path, options\)/);
    expect(codeOf(make(api.Snapshot))).toBe('EINVAL');
    expect(make(api.Snapshot)).toThrow(/made by snapshot\(\) of a store/);
    expect(codeOf(make(api.SharedStore))).toBe('EINVAL');
    expect(make(api.SharedStore)).toThrow(/made by openShared\(handle\)/);
  });
});

describe('EINVAL on a snapshot', () => {
  for (const [method, calls] of Object.entries(READ_CASES)) {
    test(`${method}`, () => {
      const s = newStore();
      const snap = s.snapshot();
      try {
        const expected = [...snap.ranges()];
        for (const [label, call] of calls) {
          expectRefusal(s, 'EINVAL', `snapshot.${label}`, () => call(asRecord(snap)));
          expect([...snap.ranges()]).toEqual(expected);
        }
      } finally {
        snap.close();
        s.close();
      }
    });
  }
});

describe('EINVAL inside a transaction', () => {
  for (const [method, calls] of Object.entries({ ...READ_CASES, ...WRITE_CASES })) {
    test(`${method}: refused, the transaction's own view unchanged, nothing committed`, () => {
      const s = newStore();
      try {
        for (const [label, call] of calls) {
          const before = observe(s);
          const rollback = new Error('rollback');
          expect(() =>
            s.transaction((t) => {
              t.store(200, 210, 'pending'); // the transaction's own write must survive the refusal
              const own = [...t.ranges()];
              expect(codeOf(() => call(asRecord(t))), `txn.${label}`).toBe('EINVAL');
              expect([...t.ranges()], `txn.${label}: the transaction's view`).toEqual(own);
              throw rollback;
            }),
          ).toThrow(rollback);
          expectUnchanged(s, before, `txn.${label}, rolled back`);
        }
      } finally {
        s.close();
      }
    });
  }

  test('a refusal inside a transaction does not abort it: later writes commit', () => {
    const s = newStore();
    try {
      const before = [...s.ranges()];
      s.transaction((t) => {
        expect(codeOf(() => t.store(5, 4, 'bad'))).toBe('EINVAL');
        expect(codeOf(() => t.insert(10, 10, 'dup'))).toBe('EEXIST');
        expect(codeOf(() => t.allocRange(1000, 0, 100, 'big'))).toBe('EBUSY');
        t.store(100, 100, 'ok');
      });
      expect([...s.ranges()]).toEqual([...before.slice(0, 3), { first: 100, last: 100, value: 'ok' }, ...before.slice(3)]);
      s.check();
    } finally {
      s.close();
    }
  });
});

describe('EINVAL for open() options of the wrong type', () => {
  const BAD_OPTIONS: Array<[string, unknown]> = [
    ['42', 42],
    ["'sync'", 'sync'],
    ['true', true],
    ['null', null],
    ["{ create: 'yes' }", { create: 'yes' }],
    ['{ create: 1 }', { create: 1 }],
    ['{ create: null }', { create: null }],
    ["{ readOnly: 'true' }", { readOnly: 'true' }],
    ['{ readOnly: 0 }', { readOnly: 0 }],
    ["{ sync: 'fast' }", { sync: 'fast' }],
    ['{ sync: true }', { sync: true }],
    ['{ sync: 1 }', { sync: 1 }],
    ["{ cacheSize: '64MB' }", { cacheSize: '64MB' }],
    ['{ cacheSize: true }', { cacheSize: true }],
    ['{ cacheSize: null }', { cacheSize: null }],
    // An unknown name: `readonly` would otherwise open for writing and take the lock.
    ['{ readonly: true }', { readonly: true }],
    ['{ cachesize: 1024 }', { cachesize: 1024 }],
    ['{ bogus: 1 }', { bogus: 1 }],
  ];

  test('an unknown option names itself, and the known one it differs from in case', () => {
    expect(() => openStore(file, { readonly: true } as never)).toThrow(/unknown option "readonly" \(did you mean readOnly\?\)/);
    expect(() => openStore(file, { bogus: 1 } as never)).toThrow(/unknown option "bogus"; the options are create, readOnly, /);
  });

  test('on a missing path: refused and nothing is created', () => {
    for (const [label, options] of BAD_OPTIONS) {
      expect(codeOf(() => openStore(file, options as never)), `open(path, ${label})`).toBe('EINVAL');
      expect(fs.readdirSync(dir), `open(path, ${label}) left files`).toEqual([]);
    }
  });

  test('on an existing store: refused, the file untouched, and it still opens', () => {
    const s = newStore();
    const ranges = [...s.ranges()];
    const version = s.version;
    s.close();
    const bytes = fs.readFileSync(file);
    for (const [label, options] of BAD_OPTIONS) {
      expect(codeOf(() => openStore(file, options as never)), `open(path, ${label})`).toBe('EINVAL');
      expect(fs.readFileSync(file).equals(bytes), `open(path, ${label}) changed the file`).toBe(true);
    }
    const again = openStore(file, { sync: 'none' });
    try {
      expect([...again.ranges()]).toEqual(ranges);
      expect(again.version).toBe(version);
    } finally {
      again.close();
    }
  });
});

describe('values next to the EINVAL ones are stored and load back', () => {
  test('undefined and null members or elements, symbol keys, class instances, Maps, -0, Buffers: as msgpackr keeps them', () => {
    const s = newStore();
    try {
      const sym = Symbol('key');
      const cases: Array<[unknown, unknown]> = [
        [{ u: undefined }, { u: undefined }],
        [{ a: null, b: 1 }, { a: null, b: 1 }],
        [[undefined, null, 3], [undefined, null, 3]],
        [{ [sym]: 1, kept: 2 }, { kept: 2 }], // symbol keys are not stored, as with JSON
        [new (class Point { constructor(readonly x = 1, readonly y = 2) {} move() {} })(), { x: 1, y: 2 }], // own fields only
        [{}, {}],
        [[], []],
        [0, 0],
        ['', ''],
        [false, false],
        [{ id: 7, prot: 3 }, { id: 7, prot: 3 }], // the fast record path (after the shape is known)
        [{ id: 8, prot: 4 }, { id: 8, prot: 4 }],
        // Maps as plain objects: keys that are strings, numbers, booleans or null become property names.
        [new Map<unknown, unknown>([['a', 1], [2, 'b'], [true, 3], [null, 4]]), { a: 1, 2: 'b', true: 3, null: 4 }],
        [{ s: new Set([1, 'x', new Map([['k', [1]]])]) }, { s: new Set([1, 'x', { k: [1] }]) }],
        [{ when: new Date(5), bytes: new Uint8Array([1, 2]) }, { when: new Date(5), bytes: new Uint8Array([1, 2]) }],
        // What msgpackr changes on the way, as README.md says.
        [-0, 0],
        [Buffer.from([3, 4]), new Uint8Array([3, 4])],
        [JSON.parse('{"__proto__": 1, "a": 2}'), { __proto_: 1, a: 2 }],
        // eslint-disable-next-line no-sparse-arrays
        [[1, , 3], [1, undefined, 3]],
        [Object.assign([1, 2], { extra: 5 }), [1, 2]],
        [new (class Tags extends Set<string> {})(['a']), new Set(['a'])], // a subclass of Set loads as a Set
        [new (class Pair extends Array<number> {})(3, 4), [3, 4]],
        [new DataView(new Uint8Array([7, 8]).buffer), new DataView(new Uint8Array([7, 8]).buffer)],
      ];
      cases.forEach(([value], i) => s.store(1000 + i, 1000 + i, value));
      cases.forEach(([, expected], i) => expect(s.load(1000 + i), `value #${i}`).toStrictEqual(expected));
      expect(s.count()).toBe(4 + cases.length);
      s.check();
    } finally {
      s.close();
    }
  });

  test('any value: EINVAL, or it loads back (after a reopen too) — never a stored value that cannot be read', () => {
    const s = openStore<unknown>(file, { sync: 'none' });
    const stored: number[] = [];
    let at = 0;
    try {
      fc.assert(
        fc.property(
          fc.anything({ withMap: true, withSet: true, withTypedArray: true, withBigInt: true, withDate: true, withObjectString: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true, maxDepth: 3 }),
          (value) => {
            at += 10;
            try {
              s.store(at, at, value);
            } catch (err) {
              expect((err as MapleError).code).toBe('EINVAL');
              return;
            }
            stored.push(at);
            s.load(at);
          },
        ),
        { numRuns: 3000, seed: 20261207 },
      );
    } finally {
      s.close();
    }
    expect(stored.length).toBeGreaterThan(1000);
    const again = openStore<unknown>(file, { sync: 'none' });
    try {
      for (const index of stored) again.load(index);
      expect([...again.ranges()].length).toBe(stored.length);
      again.check();
    } finally {
      again.close();
    }
  });

  test('a refused value of a new shape does not disturb later values of that shape, after reopening too', () => {
    const s = newStore();
    expect(codeOf(() => s.store(500, 500, { brandNew: () => 0 }))).toBe('EINVAL');
    expect(codeOf(() => s.store(500, 500, { brandNew: 1, sym: Symbol('x') }))).toBe('EINVAL');
    s.store(501, 501, { brandNew: 5 });
    s.store(502, 502, { brandNew: 6, sym: 'y' });
    s.close();
    const again = openStore<V>(file, { sync: 'none' });
    try {
      expect(again.load(500)).toBeUndefined();
      expect(again.load(501)).toEqual({ brandNew: 5 });
      expect(again.load(502)).toEqual({ brandNew: 6, sym: 'y' });
      again.check();
    } finally {
      again.close();
    }
  });

  test('a value whose toJSON or getter stores a value while it is encoded: EINVAL, both stores as they were, never bytes that cannot be read', () => {
    // msgpackr's encoder is one per process (its buffer and position are module-wide): a value
    // packed from inside another's toJSON() or getter was written into the middle of the outer one.
    const otherFile = path.join(dir, 'other.maple');
    const s = newStore();
    const other = openStore<V>(otherFile);
    class Lazy {
      constructor(private readonly make: () => unknown) {}
      toJSON(): unknown {
        return this.make();
      }
    }
    const writesOnGet = { id: 1 } as Record<string, unknown>;
    Object.defineProperty(writesOnGet, 'path', { enumerable: true, get: () => (other.store(9, 9, 'from a getter, long enough'), 'the outer value, long enough') });
    try {
      const before = observe(s);
      const otherBefore = [...other.ranges()];
      const writes: Array<[string, () => unknown]> = [
        ['toJSON storing into another store', () => s.store(600, 600, new Lazy(() => (other.store(2, 2, { inner: 'i'.repeat(20) }), { outer: 'o'.repeat(30), n: [1, 2, 3] })))],
        ['a getter storing into another store', () => s.store(601, 601, writesOnGet)],
        [
          'toJSON storing into its own transaction',
          () =>
            s.transaction((t) => {
              t.store(602, 602, new Lazy(() => (t.store(603, 603, { inner: 'i'.repeat(20) }), { outer: 'o'.repeat(30) })));
            }),
        ],
      ];
      for (const [what, write] of writes) {
        expect(codeOf(write), what).toBe('EINVAL');
        expectUnchanged(s, before, what);
        expect([...other.ranges()], what).toEqual(otherBefore);
      }
      // A value whose toJSON only reads is stored.
      s.store(604, 604, new Lazy(() => ({ copy: s.load(30) })));
      expect(s.load(604)).toEqual({ copy: { x: 1 } });
      s.check();
      other.check();
    } finally {
      s.close();
      other.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// EINVAL: transaction functions that return a promise (the types refuse them too:
// test/transactionTypes.test.ts). The commit happens when the function returns, so whatever an
// async function does after its first await runs on an ended transaction and fails there (ECLOSED)
// with no caller waiting: the refusal must leave no unhandled rejection behind, which would end
// the process under Node's default --unhandled-rejections=throw.

describe('EINVAL for a transaction function that returns a promise', () => {
  /** The store with transaction() typed loosely, to pass what its type refuses. */
  type Loose = { transaction(fn: (t: { store(first: number, last: number, value: unknown): void }) => unknown): unknown };
  const loose = (s: Store) => s as unknown as Loose;

  /** Rejections nobody handled, seen by a listener while `body` runs and a few event-loop turns after. */
  async function unhandledDuring(body: () => void): Promise<unknown[]> {
    const seen: unknown[] = [];
    const listener = (reason: unknown) => seen.push(reason);
    process.on('unhandledRejection', listener);
    try {
      body();
      // The async remainder runs in microtasks; Node reports unhandled rejections once they drain.
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', listener);
    }
    return seen;
  }

  test('a native async function is refused before it runs: nothing of it executes, nothing is committed', async () => {
    const s = newStore();
    try {
      let ran = false;
      const unhandled = await unhandledDuring(() =>
        expectRefusal(s, 'EINVAL', 'transaction(async fn)', () =>
          loose(s).transaction(async (t) => {
            ran = true;
            t.store(100, 100, 'before the await');
            await null;
            t.store(101, 101, 'after the await');
          }),
        ),
      );
      expect(ran, 'the async function body ran').toBe(false);
      expect(unhandled).toEqual([]);
      // Bound async functions keep their tag: refused before running too.
      const bound = async function (this: unknown) {
        ran = true;
      }.bind(null);
      expectRefusal(s, 'EINVAL', 'transaction(bound async fn)', () => loose(s).transaction(bound));
      expect(ran, 'the bound async function body ran').toBe(false);
      s.check();
    } finally {
      s.close();
    }
  });

  test('a generator function (sync or async) is refused before it runs, by transaction() and write(): its body would run only when iterated, on an ended transaction', async () => {
    const s = newStore();
    try {
      let ran = false;
      const generators: Array<[string, (t: { store(first: number, last: number, value: unknown): void }) => unknown]> = [
        [
          'a generator function',
          function* (t) {
            ran = true;
            t.store(100, 100, 'in a generator');
            yield 1;
          },
        ],
        [
          'an async generator function',
          async function* (t) {
            ran = true;
            t.store(100, 100, 'in an async generator');
            yield 1;
          },
        ],
        [
          'a bound generator function',
          function* (this: unknown, t: { store(first: number, last: number, value: unknown): void }) {
            ran = true;
            t.store(100, 100, 'in a bound generator');
          }.bind(null),
        ],
      ];
      for (const [what, fn] of generators) {
        expectRefusal(s, 'EINVAL', `transaction(${what})`, () => loose(s).transaction(fn));
        const before = observe(s);
        const err = await (s.write as (f: unknown) => Promise<unknown>)(fn).then(
          () => null,
          (e: unknown) => e,
        );
        expect((err as MapleError | null)?.code, `write(${what})`).toBe('EINVAL');
        expect((err as MapleError).message, `write(${what})`).toMatch(/generator function/);
        expectUnchanged(s, before, `write(${what})`);
      }
      expect(ran, 'a generator body ran').toBe(false);
      expect(s.load(100)).toBeUndefined();
      s.check();
    } finally {
      s.close();
    }
  });

  test('a plain function returning a promise (a transpiled async function) is refused; its later failure is not unhandled', async () => {
    const s = newStore();
    try {
      const later: unknown[] = [];
      const unhandled = await unhandledDuring(() =>
        expectRefusal(s, 'EINVAL', 'transaction(fn returning a promise)', () =>
          loose(s).transaction((t) => {
            t.store(100, 100, 'before the await');
            return (async () => {
              await null;
              try {
                t.store(101, 101, 'after the await');
              } catch (err) {
                later.push(err);
                throw err;
              }
            })();
          }),
        ),
      );
      // The remainder did run, failed on the ended transaction, and that rejection was handled.
      expect(later.map((e) => (e as MapleError).code)).toEqual(['ECLOSED']);
      expect(unhandled).toEqual([]);
      expect(s.load(100)).toBeUndefined();
      expect(s.load(101)).toBeUndefined();
      // The store is usable afterwards: the refused transaction is over.
      s.store(100, 100, 'ok');
      expect(s.load(100)).toBe('ok');
      s.check();
    } finally {
      s.close();
    }
  });

  test('an already rejected promise, and thenables, are refused without an unhandled rejection', async () => {
    const s = newStore();
    try {
      const unhandled = await unhandledDuring(() => {
        expectRefusal(s, 'EINVAL', 'transaction(() => Promise.reject(...))', () => loose(s).transaction(() => Promise.reject(new Error('rejected'))));
        expectRefusal(s, 'EINVAL', 'transaction(() => Promise.resolve(1))', () => loose(s).transaction(() => Promise.resolve(1)));
        expectRefusal(s, 'EINVAL', 'transaction(() => thenable)', () => loose(s).transaction(() => ({ then: () => undefined })));
        expectRefusal(s, 'EINVAL', 'transaction(() => thenable whose then throws)', () =>
          loose(s).transaction(() => ({
            then: () => {
              throw new Error('then throws');
            },
          })),
        );
      });
      expect(unhandled).toEqual([]);
      s.check();
    } finally {
      s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// EEXIST and EBUSY

describe('EEXIST', () => {
  // Seeded: [10,20] [30,30] [40,49] [MAX-1,MAX].
  const OVERLAPS: Array<[number, number]> = [
    [10, 20], // exactly a stored range
    [12, 13], // inside one
    [5, 10], // touching its first index
    [20, 25], // touching its last index
    [0, 100], // covering several
    [21, 30], // ends on a single-index range
    [25, 35], // spans a single-index range
    [30, 30],
    [MAX_INDEX, MAX_INDEX],
    [50, MAX_INDEX - 1],
    [0, MAX_INDEX],
  ];

  test('insert over any occupied index is refused, on the store and in a transaction', () => {
    const s = newStore();
    try {
      for (const [first, last] of OVERLAPS) {
        expectRefusal(s, 'EEXIST', `insert(${first}, ${last})`, () => s.insert(first, last, 'new'));
        const before = observe(s);
        s.transaction((t) => {
          const own = [...t.ranges()];
          expect(codeOf(() => t.insert(first, last, 'new')), `txn.insert(${first}, ${last})`).toBe('EEXIST');
          expect([...t.ranges()]).toEqual(own);
        });
        expectUnchanged(s, before, `txn.insert(${first}, ${last})`);
      }
      // The transaction's own writes count as occupied.
      const before = observe(s);
      expect(() =>
        s.transaction((t) => {
          t.insert(100, 110, 'mine');
          expect(codeOf(() => t.insert(110, 120, 'again'))).toBe('EEXIST');
          throw new Error('roll back');
        }),
      ).toThrow('roll back');
      expectUnchanged(s, before, 'rolled-back transaction');
      // Adjacent is not overlapping.
      s.insert(21, 29, 'between');
      s.insert(0, 9, 'below');
      expect(s.entry(25)).toEqual({ first: 21, last: 29, value: 'between' });
      s.check();
    } finally {
      s.close();
    }
  });
});

describe('EBUSY', () => {
  test('allocRange/allocRangeRev with no fitting gap are refused', () => {
    const s = newStore();
    try {
      // Gaps of the seeded store: [0,9] [21,29] [31,39] [50, MAX-2].
      const cases: Array<[string, () => unknown]> = [
        ['allocRange(1, 10, 20) inside one range', () => s.allocRange(1, 10, 20, 'v')],
        ['allocRangeRev(1, 10, 20)', () => s.allocRangeRev(1, 10, 20, 'v')],
        ['allocRange(11, 0, 49): the widest gap below 50 is [0,9]', () => s.allocRange(11, 0, 49, 'v')],
        ['allocRangeRev(11, 0, 49)', () => s.allocRangeRev(11, 0, 49, 'v')],
        ['allocRange(9, 25, 35): the gaps are clipped by the window', () => s.allocRange(9, 25, 35, 'v')],
        ['allocRangeRev(9, 25, 35)', () => s.allocRangeRev(9, 25, 35, 'v')],
        ['allocRange(2, MAX-1, MAX)', () => s.allocRange(2, MAX_INDEX - 1, MAX_INDEX, 'v')],
        ['allocRangeRev(1, MAX-1, MAX)', () => s.allocRangeRev(1, MAX_INDEX - 1, MAX_INDEX, 'v')],
        ['allocRange(2**53, 0, MAX)', () => s.allocRange(2 ** 53, 0, MAX_INDEX, 'v')],
        ['allocRange(MAX, 0, MAX)', () => s.allocRange(MAX_INDEX, 0, MAX_INDEX, 'v')],
        // A window narrower than size: "no fit" per API.md (the kernel says -EINVAL; see reference.ts).
        ['allocRange(5, 0, 2) narrower window', () => s.allocRange(5, 0, 2, 'v')],
        ['allocRangeRev(5, 0, 2) narrower window', () => s.allocRangeRev(5, 0, 2, 'v')],
      ];
      for (const [label, fn] of cases) expectRefusal(s, 'EBUSY', label, fn);
      // The matching searches agree: no fit.
      expect(s.emptyArea(0, 49, 11)).toBeUndefined();
      expect(s.emptyAreaRev(25, 35, 9)).toBeUndefined();
      expect(s.emptyArea(0, 2, 5)).toBeUndefined();
      // And the exact fits succeed.
      expect(s.allocRange(10, 0, 49, 'fits')).toBe(0);
      expect(s.allocRangeRev(9, 0, 49, 'fits')).toBe(31);
      s.check();
    } finally {
      s.close();
    }
  });

  test('a full store refuses every allocation, and inside a transaction too', () => {
    const s = openStore<V>(file, { sync: 'none' });
    try {
      s.store(0, MAX_INDEX, 'all');
      expectRefusal(s, 'EBUSY', 'allocRange(1, 0, MAX)', () => s.allocRange(1, 0, MAX_INDEX, 'v'));
      expectRefusal(s, 'EBUSY', 'allocRangeRev(1, 0, MAX)', () => s.allocRangeRev(1, 0, MAX_INDEX, 'v'));
      const before = observe(s);
      s.transaction((t) => {
        expect(codeOf(() => t.allocRange(1, 0, MAX_INDEX, 'v'))).toBe('EBUSY');
        expect(codeOf(() => t.allocRangeRev(1, 5, 5, 'v'))).toBe('EBUSY');
      });
      expectUnchanged(s, before, 'transaction with refused allocations');
    } finally {
      s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// EREADONLY, ECLOSED

describe('EREADONLY', () => {
  test('every write on a read-only store is refused; reads work', () => {
    newStore().close();
    const bytes = fs.readFileSync(file);
    const s = openStore<V>(file, { readOnly: true });
    try {
      const expected = [...s.ranges()];
      expect(expected.length).toBe(4);
      const writes: Array<[string, () => unknown]> = [
        ['store', () => s.store(100, 100, 'v')],
        ['insert', () => s.insert(100, 100, 'v')],
        ['erase (occupied)', () => s.erase(15)],
        ['erase (empty)', () => s.erase(5)],
        ['clear', () => s.clear(0, MAX_INDEX)],
        ['allocRange', () => s.allocRange(1, 0, 100, 'v')],
        ['allocRangeRev', () => s.allocRangeRev(1, 0, 100, 'v')],
        ['transaction', () => s.transaction((t) => t.store(1, 1, 'v'))],
        ['empty transaction', () => s.transaction(() => 1)],
      ];
      for (const [label, fn] of writes) expectRefusal(s, 'EREADONLY', label, fn);
      expect(s.load(15)).toBe('a');
      expect(s.find(21)).toEqual({ first: 30, last: 30, value: { x: 1 } });
      expect(s.emptyArea(0, 100, 5)).toBe(0);
      const snap = s.snapshot();
      expect([...snap.ranges()]).toEqual(expected);
      snap.close();
      s.check();
      expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    } finally {
      s.close();
    }
  });
});

describe('ECLOSED', () => {
  const USES: Array<[string, (s: Store) => unknown]> = [
    ['load', (s) => s.load(15)],
    ['entry', (s) => s.entry(15)],
    ['find', (s) => s.find(0)],
    ['findRev', (s) => s.findRev(100)],
    ['ranges', (s) => [...s.ranges()]],
    ['rangesRev', (s) => [...s.rangesRev()]],
    ['emptyArea', (s) => s.emptyArea(0, 100, 1)],
    ['emptyAreaRev', (s) => s.emptyAreaRev(0, 100, 1)],
    ['count', (s) => s.count()],
    ['version', (s) => s.version],
    ['store', (s) => s.store(100, 100, 'v')],
    ['insert', (s) => s.insert(100, 100, 'v')],
    ['erase', (s) => s.erase(15)],
    ['clear', (s) => s.clear(0, 5)],
    ['allocRange', (s) => s.allocRange(1, 0, 100, 'v')],
    ['allocRangeRev', (s) => s.allocRangeRev(1, 0, 100, 'v')],
    ['transaction', (s) => s.transaction(() => 1)],
    ['snapshot', (s) => s.snapshot()],
    ['check', (s) => s.check()],
    ['stats', (s) => s.stats()],
  ];

  test('every use of a closed store', () => {
    const s = newStore();
    const expected = [...s.ranges()];
    s.close();
    const bytes = fs.readFileSync(file);
    for (const [label, use] of USES) expect(codeOf(() => use(s)), label).toBe('ECLOSED');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    const again = openStore<V>(file, { sync: 'none' });
    expect([...again.ranges()]).toEqual(expected);
    again.close();
  });

  const SNAPSHOT_USES = USES.slice(0, 10) as Array<[string, (s: unknown) => unknown]>;

  test('every read of a closed snapshot, while the store stays usable', () => {
    const s = newStore();
    try {
      const snap = s.snapshot();
      snap.close();
      for (const [label, use] of SNAPSHOT_USES) expect(codeOf(() => use(snap)), `snapshot.${label}`).toBe('ECLOSED');
      expect(s.load(15)).toBe('a');
      s.store(100, 100, 'still writable');
      s.check();
    } finally {
      s.close();
    }
  });

  test('every read of an open snapshot after its store is closed', () => {
    const s = newStore();
    const snap = s.snapshot();
    s.close();
    for (const [label, use] of SNAPSHOT_USES) expect(codeOf(() => use(snap)), `snapshot.${label}`).toBe('ECLOSED');
    snap.close();
  });

  test('an iterator resumed after its store is closed', () => {
    const s = newStore();
    const it = s.ranges();
    expect(it.next().value).toEqual({ first: 10, last: 20, value: 'a' });
    s.close();
    expect(codeOf(() => it.next())).toBe('ECLOSED');
  });
});

// ---------------------------------------------------------------------------------------------
// ENOTSTORE

describe('ENOTSTORE', () => {
  /** Deterministic bytes (xorshift), so a failure reproduces. */
  function noise(n: number, seedValue: number): Buffer {
    const out = Buffer.alloc(n);
    let x = seedValue >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  }

  /** Refused by every kind of open, and the file left as it was: same bytes, same mtime. */
  function expectNotStore(label: string, bytes: Buffer, message?: RegExp): void {
    fs.writeFileSync(file, bytes);
    // An mtime in the past, so that any write by the open would show.
    const past = new Date(Date.UTC(2020, 0, 1));
    fs.utimesSync(file, past, past);
    const mtimeMs = fs.statSync(file).mtimeMs;
    for (const options of [{ sync: 'none' as const }, { readOnly: true }, {}, { create: true }, { sync: 'full' as const }]) {
      const what = `${label}, open(${JSON.stringify(options)})`;
      let thrown: unknown;
      try {
        openStore(file, options).close();
      } catch (err) {
        thrown = err;
      }
      expect(thrown instanceof MapleError ? thrown.code : String(thrown), what).toBe('ENOTSTORE');
      if (message) expect((thrown as Error).message, what).toMatch(message);
      expect(fs.readFileSync(file).equals(bytes), `${what}: the file was changed`).toBe(true);
      expect(fs.statSync(file).mtimeMs, `${what}: the file's mtime changed`).toBe(mtimeMs);
    }
    // Nothing left beside it: no lock, no reader registration, no half-made store.
    expect(fs.readdirSync(dir), `${label}: files left beside the store`).toEqual([path.basename(file)]);
  }

  // open() creates a store only where no file exists: an existing file is never formatted, even
  // an empty one (storage/io/creation.ts publishes new stores whole, so no crash leaves one behind).
  test('an empty (0-byte) file', () => {
    expectNotStore('0 bytes', Buffer.alloc(0), /exists but is empty \(0 bytes\).*never formats an existing file/);
  });

  test('a file of zeros: 8 KiB (a header page and a ring slot), one page, one byte', () => {
    for (const n of [8192, 4096, 1]) expectNotStore(`${n} zero bytes`, Buffer.alloc(n), /not a maple-store file.*never formats an existing file/);
  });

  test('a new store whose header page was zeroed', () => {
    newStore().close();
    const bytes = Buffer.from(fs.readFileSync(file));
    bytes.fill(0, 0, 4096);
    expectNotStore('zeroed header', bytes);
  });

  test('a file of random bytes, of several sizes', () => {
    for (const [n, seedValue] of [
      [100, 1],
      [4096, 2],
      [64 * 1024, 3],
    ] as const) {
      expectNotStore(`${n} random bytes`, noise(n, seedValue));
    }
  });

  test('a text file', () => {
    expectNotStore('text', Buffer.from('hello, this is not a maple-store file\n'.repeat(200)));
  });

  test('a real store with a different magic, then the same file restored opens fine', () => {
    newStore().close();
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad.write('NOTMAPLE', 0, 'latin1');
    expectNotStore('different magic', bad);
    // The refused opens left no writer lock behind: the restored file opens for writing.
    fs.writeFileSync(file, good);
    const s = openStore(file, { sync: 'none' });
    expect(s.load(15)).toBe('a');
    s.close();
  });

  test('a real store of an unknown format version', () => {
    newStore().close();
    const bad = Buffer.from(fs.readFileSync(file));
    // Header layout documented in storage/format/pageFile.ts: u32 format version at byte 8, CRC-32 of
    // bytes 0..27 at byte 28. Keep the checksum valid so only the version is wrong.
    bad.writeUInt32LE(bad.readUInt32LE(8) + 100, 8);
    bad.writeUInt32LE(zlib.crc32(bad.subarray(0, 28)), 28);
    expectNotStore('format version + 100', bad);
  });

  test('a directory: ENOTSTORE for every kind of open, naming it, and nothing left beside it', () => {
    const sub = path.join(dir, 'a-directory');
    fs.mkdirSync(sub);
    for (const options of [{}, { readOnly: true }, { sync: 'none' as const }]) {
      const err = thrownBy(() => openStore(sub, options).close());
      expect(err.code, JSON.stringify(options)).toBe('ENOTSTORE');
      expect(err.message).toContain(`${sub} is a directory`);
    }
    expect(fs.readdirSync(dir)).toEqual(['a-directory']);
    expect(fs.readdirSync(sub)).toEqual([]);
  });

  test('a FIFO, a socket, a character device: ENOTSTORE at once for every kind of open, naming what it is, and nothing left beside it', async () => {
    if (process.platform === 'win32') return;
    const fifo = path.join(dir, 'a-fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo here
    // A writer end held open: a read-only open of the FIFO that got as far as opening it would
    // otherwise block this thread forever, where it should be refused before opening it.
    const writerEnd = fs.openSync(fifo, 'r+');
    const sock = path.join(dir, 'a-socket');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      for (const [special, kind] of [
        [fifo, 'a FIFO'],
        [sock, 'a socket'],
        ['/dev/null', 'a character device'],
      ] as const) {
        for (const options of [{}, { readOnly: true }, { sync: 'none' as const }, { create: false }]) {
          const what = `${special} ${JSON.stringify(options)}`;
          const err = thrownBy(() => openStore(special, options).close());
          expect(err.code, what).toBe('ENOTSTORE');
          expect(err.message, what).toContain(`${special} is ${kind}`);
        }
      }
      expect(fs.readdirSync(dir).sort()).toEqual(['a-fifo', 'a-socket']);
    } finally {
      fs.closeSync(writerEnd);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a path holding a NUL character: EINVAL saying so, not an I/O error', () => {
    const err = thrownBy(() => openStore(`${file}\0x`).close());
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain('NUL');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('ECORRUPT at open', () => {
  test('a truncated file: ECORRUPT naming the size and the page, for every kind of open, and the file left as it was', () => {
    for (const options of [{}, { sync: 'none' as const }]) {
      fs.rmSync(file, { force: true });
      const s = openStore<V>(file, options);
      for (let i = 0; i < 400; i++) s.store(i * 10, i * 10 + 5, { i, pad: 'v'.repeat(i % 50) });
      s.close();
      const whole = fs.statSync(file).size;
      for (const cut of [Math.floor(whole / 2), whole - 4096, whole - 1]) {
        const bytes = fs.readFileSync(file).subarray(0, cut);
        const cutFile = `${file}.cut`;
        fs.writeFileSync(cutFile, bytes);
        for (const how of [{ readOnly: true }, {}, { sync: 'none' as const }]) {
          const what = `written ${JSON.stringify(options)}, cut to ${cut} of ${whole} bytes, open(${JSON.stringify(how)})`;
          const err = thrownBy(() => openStore(cutFile, how).close());
          expect(err.code, what).toBe('ECORRUPT');
          expect(err.message, what).toMatch(new RegExp(`the file is ${cut} bytes.*page ${Math.floor(cut / 4096)}.*truncated`));
          expect(fs.readFileSync(cutFile).equals(bytes), `${what}: the file was changed`).toBe(true);
        }
        fs.rmSync(cutFile);
      }
    }
  });
});

describe('ECORRUPT naming the page', () => {
  test('an inline value that does not decode: every read and erase of it names its leaf\'s page, also through a transaction that copied the leaf', () => {
    const s = openStore<V>(file);
    s.transaction((t) => {
      for (let i = 0; i < 300; i++) t.store(i * 10, i * 10 + 5, i);
    });
    s.close();
    // Forge the slot of [500, 505] (the value 50: inline, msgpack 0x32) as 0xc1, which msgpack
    // never uses, under a recomputed checksum, so only the value's decoder sees it.
    const image = fs.readFileSync(file);
    let leafCell = -1;
    for (let at = 5 * 4096; at + 256 <= image.length && leafCell < 0; at += 256) {
      const cell = image.subarray(at, at + 256);
      // A leaf's checksum starts from its cell's address.
      if (cell[0] !== 1 || zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256), at / 256)) !== cell.readUInt32LE(4)) continue;
      const count = cell[1]!;
      for (let i = 0; i < count; i++) {
        const slot = 128 + 8 * i;
        if (cell[slot + 7] === 1 && cell[slot] === 0x32) {
          cell[slot] = 0xc1;
          cell.writeUInt32LE(zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, 256), at / 256)), 4);
          leafCell = at / 256;
          break;
        }
      }
    }
    expect(leafCell, 'a leaf holding the value 50 inline').toBeGreaterThan(0);
    fs.writeFileSync(file, image);
    const page = new RegExp(`cell ${leafCell} \\(page ${Math.floor(leafCell / 16)}\\)`);
    const db = openStore<V>(file);
    try {
      const reads: [string, () => unknown][] = [
        ['load', () => db.load(502)],
        ['entry', () => db.entry(502)],
        ['ranges', () => [...db.ranges(490, 510)]],
        ['erase', () => db.erase(502)],
        ['a transaction\'s load after a write to the leaf', () => db.transaction((t) => (t.store(507, 507, 'x'), t.load(502)))],
        ['a transaction\'s erase', () => db.transaction((t) => t.erase(502))],
        ['a transaction\'s erase after a write to the leaf', () => db.transaction((t) => (t.store(507, 507, 'x'), t.erase(502)))],
        ['a transaction\'s ranges after a write to the leaf', () => db.transaction((t) => (t.store(507, 507, 'x'), [...t.ranges(490, 510)]))],
      ];
      for (const [what, read] of reads) {
        const err = thrownBy(read);
        expect(err.code, what).toBe('ECORRUPT');
        expect(err.message, what).toMatch(page);
      }
      expect(db.load(512)).toBe(51);
      expect(db.load(507)).toBeUndefined();
    } finally {
      db.close();
    }
  });
});

describe('ENOENT', () => {
  test('a store in a directory that does not exist: ENOENT naming the store, not a lock file, and nothing created', () => {
    const missing = path.join(dir, 'no-such-dir', 'x.maple');
    for (const options of [{}, { create: true }, { readOnly: true }, { create: false }]) {
      const err = thrownBy(() => openStore(missing, options).close());
      expect(err.code, JSON.stringify(options)).toBe('ENOENT');
      expect(err.message).toContain(missing);
      expect(err.message).not.toContain('.lock');
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('a store under a file, or a path ending in a slash: ENOENT naming the store and what is wrong, not a lock file, and nothing created', () => {
    const plain = path.join(dir, 'plain-file');
    fs.writeFileSync(plain, 'not a directory');
    for (const [at, says] of [
      [path.join(plain, 'x.maple'), `${plain}, is not a directory`],
      [path.join(dir, 'new-store') + '/', 'ending in a slash'],
      [plain + '/', 'ending in a slash'],
    ] as const) {
      for (const options of [{}, { create: true }, { sync: 'none' as const }]) {
        const what = `${at} ${JSON.stringify(options)}`;
        const err = thrownBy(() => openStore(at, options).close());
        expect(err.code, what).toBe('ENOENT');
        expect(err.message, what).toContain(at);
        expect(err.message, what).toContain(says);
        expect(err.message, what).not.toContain('.lock');
      }
    }
    expect(fs.readdirSync(dir)).toEqual(['plain-file']);
  });
});

// ---------------------------------------------------------------------------------------------
// ELOCKED: another process holds the store open for writing.

describe('ELOCKED', () => {
  const DIST_INDEX = path.join(REPO, 'dist', 'src', 'index.js');

  beforeAll(() => {
    // The child runs compiled JavaScript (no tsx here): build dist/ from the current sources.
    try {
      execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'pipe' });
    } catch {
      // Type errors elsewhere still emit JavaScript; the existence check below decides.
    }
    if (!fs.existsSync(DIST_INDEX)) throw new Error(`build produced no ${DIST_INDEX}`);
  }, 120_000);

  /** A child that opens the store for writing, stores [7,7] = 'child', says "ready", and holds it until stdin closes. */
  const HOLDER = `
    const { open } = await import(process.env.MAPLE_DIST);
    const s = open(process.env.MAPLE_PATH, { sync: 'none' });
    s.store(7, 7, 'child');
    process.stdout.write('ready\\n');
    process.stdin.resume();
    process.stdin.on('end', () => { s.close(); process.exit(0); });
  `;
  /** A child that tries to open the store for writing and prints the outcome. */
  const OPENER = `
    const { open } = await import(process.env.MAPLE_DIST);
    try { const s = open(process.env.MAPLE_PATH, { sync: 'none' }); s.close(); console.log('OPENED'); }
    catch (err) { console.log(err.code ?? String(err)); }
  `;

  function startHolder(): Promise<ChildProcessWithoutNullStreams> {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], { env: { ...process.env, MAPLE_DIST: DIST_INDEX, MAPLE_PATH: file } });
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve(child);
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => reject(new Error(`holder exited early (${code}): ${err}`)));
    });
  }

  function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.on('exit', (code) => resolve(code));
    });
  }

  test('opening for writing while another process holds the store is refused; free again once it closes', async () => {
    newStore().close();
    const holder = await startHolder();
    try {
      const bytes = fs.readFileSync(file);
      expect(codeOf(() => openStore(file, { sync: 'none' }))).toBe('ELOCKED');
      expect(codeOf(() => openStore(file))).toBe('ELOCKED');
      expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    } finally {
      holder.stdin.end();
    }
    expect(await exited(holder)).toBe(0);
    const s = openStore<V>(file, { sync: 'none' });
    try {
      expect(s.load(7)).toBe('child');
      expect(s.load(15)).toBe('a');
      s.check();
    } finally {
      s.close();
    }
  });

  test('another process is refused while this one holds the store, and this one keeps working', () => {
    const s = newStore();
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', OPENER], { env: { ...process.env, MAPLE_DIST: DIST_INDEX, MAPLE_PATH: file }, encoding: 'utf8' });
      expect(child.stderr).toBe('');
      expect(child.stdout.trim()).toBe('ELOCKED');
      s.store(100, 100, 'after');
      expect(s.load(100)).toBe('after');
      s.check();
    } finally {
      s.close();
    }
    // Released by close(): another process can now open it.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', OPENER], { env: { ...process.env, MAPLE_DIST: DIST_INDEX, MAPLE_PATH: file }, encoding: 'utf8' });
    expect(child.stdout.trim()).toBe('OPENED');
  });

  /** Runs OPENER in a child with `storePath` (and `cwd`) and returns what it printed. */
  function openFromChild(storePath: string, cwd = dir): string {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', OPENER], { cwd, env: { ...process.env, MAPLE_DIST: DIST_INDEX, MAPLE_PATH: storePath }, encoding: 'utf8' });
    return child.stdout.trim() || child.stderr.trim();
  }

  test('the same store under another spelling of its path is the same store', () => {
    const s = newStore();
    try {
      fs.symlinkSync(dir, path.join(dir, '..', `${path.basename(dir)}-dirlink`));
      fs.symlinkSync(file, path.join(dir, 'alias.maple'));
      const spellings: Array<[string, string, string]> = [
        ['a relative path from the store directory', 'store.maple', dir],
        ['a path with ../ in it', path.join(dir, '..', path.basename(dir), 'store.maple'), dir],
        ['a path through a symlinked directory', path.join(dir, '..', `${path.basename(dir)}-dirlink`, 'store.maple'), dir],
        ['a symlink to the store file', path.join(dir, 'alias.maple'), dir],
      ];
      for (const [label, spelling, cwd] of spellings) expect(openFromChild(spelling, cwd), label).toBe('ELOCKED');
      expect(s.load(15)).toBe('a');
    } finally {
      s.close();
      fs.rmSync(path.join(dir, '..', `${path.basename(dir)}-dirlink`), { force: true });
    }
  });

  test('a hard link to the store is the same store, in another process and in this one', () => {
    const s = newStore();
    const hard = path.join(dir, 'hard.maple');
    try {
      fs.linkSync(file, hard);
      expect(openFromChild(hard), 'a child opening the hard link').toBe('ELOCKED');
      expect(codeOf(() => openStore(hard, { sync: 'none' })), 'this process opening the hard link').toBe('ELOCKED');
      s.store(100, 100, 'mine');
    } finally {
      s.close();
    }
    // Released by close(): the link opens, and is the same file.
    const other = openStore<V>(hard, { sync: 'none' });
    try {
      expect(other.load(100)).toBe('mine');
      expect(openFromChild(file), 'a child opening the first name').toBe('ELOCKED');
    } finally {
      other.close();
      fs.rmSync(hard, { force: true });
    }
  });

  // API.md promises ELOCKED across processes; a second writer in the same process would be just as
  // harmful, and the store refuses it the same way.
  test('a second open for writing in the same process is refused too', () => {
    const s = newStore();
    try {
      const before = observe(s);
      expect(codeOf(() => openStore(file, { sync: 'none' }))).toBe('ELOCKED');
      expect(codeOf(() => openStore(path.join(dir, '.', 'store.maple'), { sync: 'none' }))).toBe('ELOCKED');
      expectUnchanged(s, before, 'refused second open');
      s.store(100, 100, 'still mine');
      expect(s.load(100)).toBe('still mine');
    } finally {
      s.close();
    }
    const again = openStore<V>(file, { sync: 'none' });
    expect(again.load(100)).toBe('still mine');
    again.close();
  });

  test('a holder that died without closing does not lock the store forever', async () => {
    newStore().close();
    const holder = await startHolder();
    holder.kill('SIGKILL');
    await exited(holder);
    const s = openStore<V>(file, { sync: 'none' });
    try {
      expect(s.load(15)).toBe('a');
      s.check();
    } finally {
      s.close();
    }
  });
});
