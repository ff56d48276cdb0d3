/**
 * The frame-direct read paths (src/read/frameRanges.ts, fastEmptyArea in src/tree/gaps.ts) against the
 * reference model: ranges / rangesRev / find / findRev / emptyArea / emptyAreaRev over random
 * multi-level stores (thousands of ranges, inline, packed and record values, holes, ranges at 0
 * and MAX_INDEX), through the store, a snapshot held across later commits, and transactions
 * before and after they write (the decoded-node path) — with a tiny buffer pool too, so frames
 * are evicted in the middle of walks and between next() calls. Then iterators held across
 * commits (the cheap reader hold and its promotion), leaked iterators, the iterator protocol,
 * and damaged cells giving ECORRUPT naming the cell.
 *
 * Reproduce a failure with MAPLE_SEED=<seed printed by fast-check> npx vitest run test/readPaths.test.ts.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { HELD_LIMIT } from '../src/common/limits.js';
import { NODE_LEAF, OFF_COUNT, OFF_LEAF_SLOTS, OFF_PIVOTS, nodeChecksumOk, nodeCommit, readU64 } from '../storage/format/node.js';
import { expectMapleError, prng, tempDir } from './helpers.js';
import { MapleError, type MapleStore, type OpenOptions, openStore } from './openStore.js';
import { MAX_SIZE, type RefRange, Reference } from './reference.js';
import { CELL_BASE, CELL_BYTES, MAX_INDEX } from '../src/common/limits.js';

const SEED = process.env.MAPLE_SEED !== undefined ? Number(process.env.MAPLE_SEED) : 20261127;
const RUNS = process.env.MAPLE_RUNS !== undefined ? Number(process.env.MAPLE_RUNS) : 1;
const runs = (n: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * RUNS)) });

const dir = tempDir('maple-readpaths-');
afterAll(() => dir.cleanup());
let fileNo = 0;
function freshFile(): string {
  return dir.file(`s${fileNo++}.maple`);
}

type Value = number | string;

/** Inline (small int), packed (a short string) or a record (a string longer than a packed block). */
function valueFor(i: number, kind: number, round = 0): Value {
  if (kind < 0.4) return (i * 7 + round) % 100;
  if (kind < 0.8) return `v${i}-r${round}-${'p'.repeat(i % 40)}`;
  return `rec${i}-r${round}-${'x'.repeat(240 + (i % 50))}`;
}

interface Built {
  store: MapleStore<Value>;
  ref: Reference<Value>;
  /** The last index any range touches, below the optional ranges at MAX_INDEX. */
  span: number;
}

/**
 * A store of about `n` ascending ranges with random holes, committed in one bulk transaction,
 * then `rewrites` single-commit overwrites and clears across the span.
 */
function build(seed: number, n: number, opts: OpenOptions, edges: boolean, rewrites: number): Built {
  const rnd = prng(seed);
  const store = openStore<Value>(freshFile(), { sync: 'none', ...opts });
  const ref = new Reference<Value>();
  let pos = edges ? 0 : Math.floor(rnd() * 100);
  store.transaction((t) => {
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(rnd() ** 3 * 200);
      const v = valueFor(i, rnd());
      t.store(pos, pos + len - 1, v);
      ref.store(pos, pos + len - 1, v);
      pos += len + (rnd() < 0.5 ? 0 : 1 + Math.floor(rnd() * 60));
    }
    if (edges) {
      t.store(MAX_INDEX - 3, MAX_INDEX, 'top');
      ref.store(MAX_INDEX - 3, MAX_INDEX, 'top');
      t.store(MAX_INDEX - 1000, MAX_INDEX - 10, 17);
      ref.store(MAX_INDEX - 1000, MAX_INDEX - 10, 17);
    }
  });
  const span = pos;
  for (let k = 0; k < rewrites; k++) {
    const first = Math.floor(rnd() * span);
    const last = first + Math.floor(rnd() ** 2 * 3000);
    if (rnd() < 0.4) {
      store.clear(first, last);
      ref.clear(first, last);
    } else {
      const v = valueFor(k, rnd(), 1);
      store.store(first, last, v);
      ref.store(first, last, v);
    }
  }
  return { store, ref, span };
}

// ---- queries: plain data, resolved against the built store at run time ----

/** An index: a fraction of the span, next to a range's bound (first or last, −/+ delta), or an end. */
type IndexSpec = { t: 'frac'; f: number } | { t: 'bound'; k: number; last: boolean; delta: number } | { t: 'zero' } | { t: 'max' };
/** A window's other end: any index, or `d` past the first end (windows around one range's bounds). */
type EndSpec = IndexSpec | { t: 'rel'; d: number };
type Query =
  | { op: 'ranges' | 'rangesRev'; a: IndexSpec; b: EndSpec }
  | { op: 'find' | 'findRev'; a: IndexSpec; b: EndSpec }
  | { op: 'emptyArea' | 'emptyAreaRev'; a: IndexSpec; b: EndSpec; size: number }
  | { op: 'interleave'; a: IndexSpec; b: EndSpec; c: IndexSpec; d: EndSpec }
  /** A gap search at the edges of the k-th empty run, sized to what the window leaves of it, ±1. */
  | { op: 'gapEdge'; k: number; rev: boolean; from: 'lo' | 'hi'; da: number; to: 'lo' | 'hi' | 'far'; db: number; ds: number };

const indexSpec: fc.Arbitrary<IndexSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 1_000_000 }).map((n) => ({ t: 'frac' as const, f: n / 1_000_000 })) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('bound' as const), k: fc.nat(), last: fc.boolean(), delta: fc.integer({ min: -2, max: 2 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'zero' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'max' as const }) },
);

const endSpec: fc.Arbitrary<EndSpec> = fc.oneof(
  { weight: 1, arbitrary: indexSpec },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20_000 })).map((d) => ({ t: 'rel' as const, d })) },
);

const sizeArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5000 }) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_SIZE, MAX_INDEX, 2 ** 40) },
);

const queryArb: fc.Arbitrary<Query> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('ranges' as const, 'rangesRev' as const), a: indexSpec, b: endSpec }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('find' as const, 'findRev' as const), a: indexSpec, b: endSpec }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constantFrom('emptyArea' as const, 'emptyAreaRev' as const), a: indexSpec, b: endSpec, size: sizeArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('interleave' as const), a: indexSpec, b: endSpec, c: indexSpec, d: endSpec }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('gapEdge' as const),
      k: fc.nat(),
      rev: fc.boolean(),
      from: fc.constantFrom('lo' as const, 'hi' as const),
      da: fc.integer({ min: -1, max: 1 }),
      to: fc.constantFrom('lo' as const, 'hi' as const, 'far' as const),
      db: fc.integer({ min: -1, max: 1 }),
      ds: fc.integer({ min: -1, max: 1 }),
    }),
  },
);

/** Both ends of a window, ascending. */
function window(a: IndexSpec, b: EndSpec, ref: Reference<Value>, span: number): [number, number] {
  const x = resolve(a, ref, span);
  const y = b.t === 'rel' ? Math.min(MAX_INDEX, x + b.d) : resolve(b, ref, span);
  return x <= y ? [x, y] : [y, x];
}

function resolve(s: IndexSpec, ref: Reference<Value>, span: number): number {
  switch (s.t) {
    case 'zero':
      return 0;
    case 'max':
      return MAX_INDEX;
    case 'frac':
      return Math.floor(s.f * (span + 100));
    case 'bound': {
      const all = ref.all();
      if (all.length === 0) return 0;
      const r = all[s.k % all.length]!;
      return Math.min(MAX_INDEX, Math.max(0, (s.last ? r.last : r.first) + s.delta));
    }
  }
}

const plain = (r: RefRange<Value> | { first: number; last: number; value: Value } | undefined) =>
  r === undefined ? undefined : { first: r.first, last: r.last, value: r.value };

interface View {
  ranges(from?: number, to?: number): IterableIterator<{ first: number; last: number; value: Value }>;
  rangesRev(from?: number, to?: number): IterableIterator<{ first: number; last: number; value: Value }>;
  find(index: number, max?: number): { first: number; last: number; value: Value } | undefined;
  findRev(index: number, min?: number): { first: number; last: number; value: Value } | undefined;
  emptyArea(min: number, max: number, size: number): number | undefined;
  emptyAreaRev(min: number, max: number, size: number): number | undefined;
}

/** Runs `q` on `view` and on `ref`; throws with a description when they differ. */
function compare(q: Query, view: View, ref: Reference<Value>, span: number, where: string): void {
  if (q.op === 'gapEdge') {
    const gaps = ref.gapsIn(0, MAX_INDEX);
    const [glo, ghi] = gaps[q.k % gaps.length]!;
    const clamp = (v: number) => Math.min(MAX_INDEX, Math.max(0, v));
    const x = clamp((q.from === 'lo' ? glo : ghi) + q.da);
    const y = q.to === 'far' ? clamp(x + 5000) : clamp((q.to === 'lo' ? glo : ghi) + q.db);
    const [min, max] = x <= y ? [x, y] : [y, x];
    const size = Math.max(1, Math.min(ghi, max) - Math.max(glo, min) + 1 + q.ds);
    const op = q.rev ? 'emptyAreaRev' : 'emptyArea';
    const got = view[op](min, max, size);
    const want = ref[op](min, max, size);
    if (got !== want) throw new Error(`${where}: ${op}(${min}, ${max}, ${size}) gave ${got}, want ${want}`);
    return;
  }
  const [a, b] = window(q.a, q.b, ref, span);
  const fail = (got: unknown, want: unknown) => {
    throw new Error(`${where}: ${q.op}(${a}, ${b}${'size' in q ? `, ${q.size}` : ''}) gave ${JSON.stringify(got)?.slice(0, 400)}, want ${JSON.stringify(want)?.slice(0, 400)}`);
  };
  switch (q.op) {
    case 'ranges':
    case 'rangesRev': {
      const got = [...view[q.op](a, b)].map(plain);
      const want = ref[q.op](a, b).map(plain);
      expect(got, `${where}: ${q.op}(${a}, ${b})`).toEqual(want);
      return;
    }
    case 'find': {
      const got = plain(view.find(a, b));
      const want = plain(ref.find(a, b));
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(got, want);
      return;
    }
    case 'findRev': {
      const got = plain(view.findRev(b, a));
      const want = plain(ref.findRev(b, a));
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(got, want);
      return;
    }
    case 'emptyArea':
    case 'emptyAreaRev': {
      const got = view[q.op](a, b, q.size);
      const want = ref[q.op](a, b, q.size);
      if (got !== want) fail(got, want);
      return;
    }
    case 'interleave': {
      // Two iterators in opposite directions, advanced alternately.
      const [c, d] = window(q.c, q.d, ref, span);
      const it1 = view.ranges(a, b);
      const it2 = view.rangesRev(c, d);
      const got1: unknown[] = [];
      const got2: unknown[] = [];
      let done1 = false;
      let done2 = false;
      while (!done1 || !done2) {
        if (!done1) {
          const n = it1.next();
          if (n.done) done1 = true;
          else got1.push(plain(n.value));
        }
        if (!done2) {
          const n = it2.next();
          if (n.done) done2 = true;
          else got2.push(plain(n.value));
        }
      }
      expect(got1, where).toEqual(ref.ranges(a, b).map(plain));
      expect(got2, where).toEqual(ref.rangesRev(c, d).map(plain));
      return;
    }
  }
}

describe('frame-direct reads against the reference', () => {
  test('random multi-level stores, snapshots and transactions', () => {
    const arb = fc.record({
      seed: fc.nat(),
      n: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 500, max: 4000 })),
      tinyCache: fc.boolean(),
      edges: fc.boolean(),
      rewrites: fc.integer({ min: 0, max: 12 }),
      queries: fc.array(queryArb, { minLength: 1, maxLength: 60 }),
      later: fc.array(queryArb, { minLength: 1, maxLength: 20 }),
    });
    fc.assert(
      fc.property(arb, ({ seed, n, tinyCache, edges, rewrites, queries, later }) => {
        const { store, ref, span } = build(seed, n, tinyCache ? { cacheSize: 1 } : {}, edges, rewrites);
        try {
          if (n >= 500) expect(store.stats().height).toBeGreaterThanOrEqual(3);
          for (const q of queries) compare(q, store, ref, span, 'store');
          // A snapshot, then commits that rewrite much of the span: it keeps reading its version.
          const snap = store.snapshot();
          const frozen = ref.clone();
          const rnd = prng(seed + 1);
          for (let k = 0; k < 4; k++) {
            const first = Math.floor(rnd() * span);
            const last = first + Math.floor(rnd() * span * 0.3);
            store.store(first, last, `over-${k}`);
            ref.store(first, last, `over-${k}`);
          }
          for (const q of later) compare(q, snap, frozen, span, 'snapshot');
          for (const q of later) compare(q, store, ref, span, 'store after commits');
          snap.close();
          // A transaction reads its base version frame-direct until it writes, then through decoded nodes.
          store.transaction((t) => {
            for (const q of later) compare(q, t, ref, span, 'transaction before writing');
            t.clear(Math.floor(span / 3), Math.floor(span / 3) + 500);
            t.store(Math.floor(span / 2), Math.floor(span / 2) + 700, 'txn');
            const mine = ref.clone();
            mine.clear(Math.floor(span / 3), Math.floor(span / 3) + 500);
            mine.store(Math.floor(span / 2), Math.floor(span / 2) + 700, 'txn');
            for (const q of later) compare(q, t, mine, span, 'transaction after writing');
            throw new Error('roll back');
          });
        } catch (err) {
          if (!(err instanceof Error) || err.message !== 'roll back') throw err;
        } finally {
          store.close();
        }
      }),
      runs(40),
    );
  });
});

describe('iterators and the versions they read', () => {
  // A few open iterators (held cheaply until the commit asks for its horizon), and more than the
  // cheap hold keeps before promoting them; one of each never started.
  test.each([3, HELD_LIMIT + 40])('%i iterators held across commits read their own version, with their cells kept from reuse', (count) => {
    const { store, ref, span } = build(7, 3000, { cacheSize: 1 }, false, 0);
    const frozen = ref.clone();
    const rnd = prng(99);
    const its: Array<{ it: Iterator<{ first: number; last: number; value: Value }>; got: unknown[]; from: number; to: number; rev: boolean }> = [];
    for (let k = 0; k < count; k++) {
      const from = Math.floor(rnd() * span);
      const to = from + Math.floor(rnd() * 4000);
      const rev = k % 2 === 1;
      const it = rev ? store.rangesRev(from, to) : store.ranges(from, to);
      const got: unknown[] = [];
      const take = k === 0 ? 0 : Math.floor(rnd() * 5);
      for (let i = 0; i < take; i++) {
        const n = it.next();
        if (n.done) break;
        got.push(plain(n.value));
      }
      its.push({ it, got, from, to, rev });
    }
    const pendingBefore = store.stats().pendingBytes;
    // Rewrite everything several times: without the hold, the old version's cells would be reused.
    for (let round = 0; round < 4; round++) {
      store.transaction((t) => {
        for (const r of frozen.all()) t.store(r.first, r.last, valueFor(r.first, 0.9, round + 2));
      });
    }
    expect(store.stats().pendingBytes).toBeGreaterThan(pendingBefore);
    for (const { it, got, from, to, rev } of its) {
      for (let n = it.next(); !n.done; n = it.next()) got.push(plain(n.value));
      expect(got).toEqual((rev ? frozen.rangesRev(from, to) : frozen.ranges(from, to)).map(plain));
    }
    store.check();
    expect(store.load(frozen.all()[5]!.first)).toEqual(valueFor(frozen.all()[5]!.first, 0.9, 5));
    store.close();
  });

  test('finished iterators release their version: the next commits reuse the space', () => {
    const { store, ref } = build(8, 2000, {}, false, 0);
    const all = ref.all();
    const it = store.ranges();
    it.next();
    const rewrite = (round: number) =>
      store.transaction((t) => {
        for (const r of all) t.store(r.first, r.last, valueFor(r.first, 0.9, round));
      });
    rewrite(1);
    rewrite(2);
    const pinned = store.stats().pendingBytes;
    expect(it.return!().done).toBe(true);
    expect(it.next().done).toBe(true);
    for (let round = 3; round < 6; round++) rewrite(round);
    expect(store.stats().pendingBytes).toBeLessThan(pinned / 2);
    store.close();
  });

  test('iterators dropped without finishing are released once garbage-collected, and counted', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'tests run with --expose-gc').toBeTypeOf('function');
    const { store } = build(9, 300, {}, false, 0);
    const dropped = HELD_LIMIT + 10;
    (() => {
      for (let k = 0; k < dropped; k++) store.ranges().next();
    })();
    store.store(1, 1, 1); // a commit promotes the ones still held to full registrations
    for (let i = 0; i < 30 && store.stats().iteratorsLeaked < dropped; i++) {
      gc!();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(store.stats().iteratorsLeaked).toBe(dropped);
    store.close();
  });

  test('iterator protocol: done stays done, return() ends early, closed views refuse', () => {
    const { store, ref } = build(10, 600, {}, false, 0);
    const it = store.ranges();
    expect(it[Symbol.iterator]()).toBe(it);
    const first = it.next();
    expect(plain(first.value)).toEqual(plain(ref.all()[0]));
    expect(it.return!()).toEqual({ value: undefined, done: true });
    expect(it.next()).toEqual({ value: undefined, done: true });
    // for-of with break closes it too; a full spread reads everything.
    for (const r of store.rangesRev()) {
      expect(plain(r)).toEqual(plain(ref.all().at(-1)));
      break;
    }
    expect([...store.ranges()].length).toBe(ref.count());
    // Empty windows and an empty store.
    expect([...store.ranges(ref.all()[0]!.first, ref.all()[0]!.first)].length).toBe(1);
    const empty = openStore<Value>(freshFile(), { sync: 'none' });
    expect([...empty.ranges()]).toEqual([]);
    expect(empty.emptyArea(5, 10, 6)).toBe(5);
    expect(empty.emptyAreaRev(5, 10, 6)).toBe(5);
    empty.close();
    // A snapshot closed mid-iteration, and a store closed mid-iteration.
    const snap = store.snapshot();
    const sit = snap.ranges();
    sit.next();
    snap.close();
    expectMapleError(() => sit.next(), 'ECLOSED');
    expect(sit.next().done).toBe(true);
    const mid = store.ranges();
    mid.next();
    store.close();
    expectMapleError(() => mid.next(), 'ECLOSED');
  });
});

describe('damaged cells', () => {
  /**
   * A two-commit store whose first commit holds the bulk; returns its file, its reference and the
   * bulk's leaves that hold a hole (so gap searches look inside them), by first pivot.
   */
  function damagedBase(): { file: string; ref: Reference<Value>; leaves: Array<{ cell: number; pivot: number }> } {
    const { store, ref } = build(11, 3000, {}, false, 0);
    const file = store.path;
    // A second commit far above the bulk, so recovery's walk of the newest commit never meets the bulk's leaves.
    store.store(10_000_000, 10_000_005, 'far');
    ref.store(10_000_000, 10_000_005, 'far');
    store.close();
    const image = fs.readFileSync(file);
    const leaves: Array<{ cell: number; pivot: number }> = [];
    for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= image.length; c++) {
      const bytes = new Uint8Array(image.buffer, image.byteOffset + c * CELL_BYTES, CELL_BYTES);
      if (bytes[0] !== NODE_LEAF || !nodeChecksumOk(bytes, c) || nodeCommit(bytes) !== 1) continue;
      const count = bytes[OFF_COUNT]!;
      let holes = 0;
      for (let i = 0; i < count; i++) if (bytes[OFF_LEAF_SLOTS + 8 * i + 7] === 0) holes++;
      if (count < 2 || holes === 0) continue;
      leaves.push({ cell: c, pivot: readU64(bytes, OFF_PIVOTS) });
    }
    leaves.sort((x, y) => x.pivot - y.pivot);
    return { file, ref, leaves };
  }

  function damage(file: string, cell: number, how: 'flip' | 'newer'): void {
    const image = new Uint8Array(fs.readFileSync(file));
    const bytes = image.subarray(cell * CELL_BYTES, (cell + 1) * CELL_BYTES);
    if (how === 'flip') {
      bytes[OFF_PIVOTS + 3] = bytes[OFF_PIVOTS + 3]! ^ 0x10;
    } else {
      // A well-formed cell claiming a commit newer than the version read (its checksum recomputed).
      bytes[8] = 200;
      const crc = zlib.crc32(bytes.subarray(0, 4), zlib.crc32(bytes.subarray(8, CELL_BYTES), cell));
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(4, crc, true);
    }
    fs.writeFileSync(file, image);
  }

  for (const how of ['flip', 'newer'] as const) {
    test(`a ${how === 'flip' ? 'bit-flipped' : 'newer-commit'} leaf gives ECORRUPT naming its cell, and only where it is read`, () => {
      const { file, ref, leaves } = damagedBase();
      expect(leaves.length).toBeGreaterThan(50);
      const { cell, pivot } = leaves[Math.floor(leaves.length / 2)]!;
      damage(file, cell, how);
      const s = openStore<Value>(file, { sync: 'none' });
      try {
        expect(s.version).toBe(2);
        const names = new RegExp(`cell ${cell} \\(page ${Math.floor(cell / 16)}`);
        const pattern = how === 'flip' ? /checksum/ : /newer than the version/;
        // Whole-store iteration: the prefix before the damaged leaf is right, then ECORRUPT.
        for (const reverse of [false, true]) {
          const got: unknown[] = [];
          let err: unknown;
          try {
            for (const r of reverse ? s.rangesRev() : s.ranges()) got.push(plain(r));
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(MapleError);
          expect((err as MapleError).code).toBe('ECORRUPT');
          expect((err as MapleError).message).toMatch(names);
          expect((err as MapleError).message).toMatch(pattern);
          const want = (reverse ? ref.rangesRev() : ref.ranges()).map(plain);
          expect(got.length).toBeGreaterThan(0);
          expect(got).toEqual(want.slice(0, got.length));
        }
        expectMapleError(() => [...s.ranges(pivot, pivot)], 'ECORRUPT', names);
        expectMapleError(() => s.find(pivot), 'ECORRUPT', names);
        expectMapleError(() => s.findRev(pivot), 'ECORRUPT', names);
        expectMapleError(() => s.load(pivot), 'ECORRUPT', names);
        // Gap searches that must look inside the leaf (every leaf of this data holds holes).
        expectMapleError(() => s.emptyArea(pivot, pivot + 100_000, 1), 'ECORRUPT', names);
        expectMapleError(() => s.emptyAreaRev(0, pivot, 1), 'ECORRUPT', names);
        // Reads that never reach the damaged leaf still answer.
        const far = leaves[5]!.pivot;
        expect([...s.ranges(far, far + 300)].map(plain)).toEqual(ref.ranges(far, far + 300).map(plain));
        expect(s.emptyArea(far, far + 300, 1)).toBe(ref.emptyArea(far, far + 300, 1));
        expect(s.emptyArea(0, MAX_INDEX, 1000)).toBe(ref.emptyArea(0, MAX_INDEX, 1000));
        expectMapleError(() => s.check(), 'ECORRUPT');
      } finally {
        s.close();
      }
    });
  }
});
