/**
 * The append fast path (src/tree/append.ts): stores beyond every stored key go straight into the
 * rightmost leaf of a transaction's own tree. Model-based: random transactions mixing sorted
 * appends (adjacent, with gaps, up to MAX_INDEX, by store and by insert), long runs of appends
 * that split leaves and internal nodes and grow the root, erases and clears near the end, stores
 * over the end, random stores, and in-transaction reads and gap searches — every answer compared
 * with test/reference.ts, check() after every commit, rollbacks leaving the last commit intact.
 * A second property runs the same transactions with the fast path switched off and requires the
 * very same trees (same nodes, pivots, slots and gap fields), so the fast path is exactly the
 * general write path made cheaper.
 *
 * Reproduce a failure with MAPLE_SEED=<seed printed by fast-check> npx vitest run test/append.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MapleError, type MapleStore, open } from '../src/index.js';
import type { WriteTxn } from '../src/api/txn.js';
import { type MemNode, type Ref, NewValue } from '../storage/format/node.js';
import { prng } from './helpers.js';
import { RefError, type RefRange, Reference } from './reference.js';
import { slotShape } from './slotShape.js';
import { MAX_INDEX } from '../src/common/limits.js';

const SEED = process.env.MAPLE_SEED !== undefined ? Number(process.env.MAPLE_SEED) : 20260301;
const RUNS = process.env.MAPLE_RUNS !== undefined ? Number(process.env.MAPLE_RUNS) : 1;

type Value = number | string | { id: number; prot: number };

/** Operations, resolved against the transaction's current contents when they run. */
type Op =
  /** first = one past the largest stored key + gap; last = first + len (capped at MAX_INDEX). */
  | { op: 'append'; gap: number; len: number; value: Value; insert: boolean }
  /** An append whose range ends at MAX_INDEX. */
  | { op: 'appendToMax'; gap: number; value: Value }
  /** `count` appends with seeded gaps and lengths (splits leaves and parents, grows roots). */
  | { op: 'run'; count: number; maxGap: number; maxLen: number; seed: number }
  /** Erases the range `back` places from the end. */
  | { op: 'eraseNearEnd'; back: number }
  /** Clears [first of the range `back` places from the end + skip, + len]. */
  | { op: 'clearNearEnd'; back: number; skip: number; len: number }
  /** Stores from inside the range `back` places from the end to `beyond` keys past the end. */
  | { op: 'storeOverEnd'; back: number; beyond: number; value: Value }
  /** Inserts over the range `back` places from the end: refused with EEXIST. */
  | { op: 'insertOverlap'; back: number; value: Value }
  /** A store anywhere in [0, end + 50], positions as fractions of that span. */
  | { op: 'store'; at: number; len: number; value: Value }
  /** Reads inside the transaction: load, emptyArea and allocRange at fractions of the span. */
  | { op: 'load'; at: number }
  | { op: 'emptyArea'; at: number; width: number; size: number; reverse: boolean }
  | { op: 'allocRange'; at: number; width: number; size: number; value: Value };

interface Txn {
  ops: Op[];
  rollback: boolean;
}

interface Scenario {
  /** Where the first append lands in an empty store. */
  base: number;
  txns: Txn[];
}

const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 1_000_000 }) },
  { weight: 3, arbitrary: fc.record({ id: fc.nat(100_000), prot: fc.nat(7) }).map((r) => ({ id: r.id, prot: r.prot })) },
  // Long enough for a value record (a NewValue slot) rather than an inline slot.
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 400 }).map((n) => 'x'.repeat(n)) },
);
const frac = fc.double({ min: 0, max: 1, noNaN: true });
const gap = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: 6, max: 100_000 }) });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ op: fc.constant('append' as const), gap, len: fc.nat(6), value, insert: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('appendToMax' as const), gap, value }) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('run' as const), count: fc.integer({ min: 1, max: 600 }), maxGap: fc.nat(3), maxLen: fc.nat(4), seed: fc.nat() }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('eraseNearEnd' as const), back: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('clearNearEnd' as const), back: fc.nat(20), skip: fc.nat(3), len: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('storeOverEnd' as const), back: fc.nat(20), beyond: fc.nat(10), value }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insertOverlap' as const), back: fc.nat(5), value }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('store' as const), at: frac, len: fc.nat(20), value }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('load' as const), at: frac }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('emptyArea' as const), at: frac, width: frac, size: fc.integer({ min: 1, max: 200_000 }), reverse: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('allocRange' as const), at: frac, width: frac, size: fc.integer({ min: 1, max: 20 }), value }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  base: fc.constantFrom(0, 0, 1, 2 ** 40, 2 ** 52 + 7, MAX_INDEX - 5000, MAX_INDEX - 30),
  txns: fc.array(fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 25 }), rollback: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }), {
    minLength: 1,
    maxLength: 6,
  }),
});

/** What a writer looks like to the runner: the transaction or the reference. */
interface Target {
  store(first: number, last: number, value: Value): void;
  insert(first: number, last: number, value: Value): void;
  erase(index: number): Value | undefined;
  clear(first: number, last: number): void;
  load(index: number): Value | undefined;
  emptyArea(min: number, max: number, size: number): number | undefined;
  emptyAreaRev(min: number, max: number, size: number): number | undefined;
  allocRange(size: number, min: number, max: number, value: Value): number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof MapleError || err instanceof RefError) return { ok: false, code: err.code };
    throw err;
  }
}

/** Calls, on both targets, resolved from the reference's contents before the op. */
type Call = (t: Target) => unknown;

function resolve(o: Op, ref: Reference<Value>, base: number): Call[] {
  const all = ref.all();
  const end = all.length > 0 ? all[all.length - 1]!.last : base - 1;
  const span = Math.min(end + 50, MAX_INDEX);
  const at = (f: number): number => Math.min(Math.floor(f * span), MAX_INDEX);
  const nearEnd = (back: number): RefRange<Value> | undefined => all[all.length - 1 - Math.min(back, all.length - 1)];
  switch (o.op) {
    case 'append': {
      const first = end + 1 + o.gap;
      if (first > MAX_INDEX) return [];
      const last = Math.min(first + o.len, MAX_INDEX);
      return [o.insert ? (t) => t.insert(first, last, o.value) : (t) => t.store(first, last, o.value)];
    }
    case 'appendToMax': {
      const first = end + 1 + o.gap;
      return first > MAX_INDEX ? [] : [(t) => t.store(first, MAX_INDEX, o.value)];
    }
    case 'run': {
      const rnd = prng(o.seed);
      const calls: Call[] = [];
      let next = end + 1;
      for (let i = 0; i < o.count; i++) {
        const first = next + Math.floor(rnd() * (o.maxGap + 1));
        if (first > MAX_INDEX) break;
        const last = Math.min(first + Math.floor(rnd() * (o.maxLen + 1)), MAX_INDEX);
        calls.push((t) => t.store(first, last, i));
        next = last + 1;
      }
      return calls;
    }
    case 'eraseNearEnd': {
      const r = nearEnd(o.back);
      return r ? [(t) => t.erase(r.first)] : [];
    }
    case 'clearNearEnd': {
      const r = nearEnd(o.back);
      if (!r) return [];
      const first = Math.min(r.first + o.skip, MAX_INDEX);
      const last = Math.min(first + o.len, MAX_INDEX);
      return [(t) => t.clear(first, last)];
    }
    case 'storeOverEnd': {
      const r = nearEnd(o.back);
      if (!r) return [];
      const first = r.first + Math.floor((r.last - r.first) / 2);
      const last = Math.min(end + o.beyond, MAX_INDEX);
      return [(t) => t.store(first, Math.max(first, last), o.value)];
    }
    case 'insertOverlap': {
      const r = nearEnd(o.back);
      return r ? [(t) => t.insert(r.last, Math.min(r.last + 3, MAX_INDEX), o.value)] : [];
    }
    case 'store': {
      const first = at(o.at);
      return [(t) => t.store(first, Math.min(first + o.len, MAX_INDEX), o.value)];
    }
    case 'load': {
      const i = at(o.at);
      return [(t) => t.load(i)];
    }
    case 'emptyArea': {
      const min = at(o.at);
      const max = Math.min(min + Math.floor(o.width * (span - min + 200_000)), MAX_INDEX);
      return [(t) => (o.reverse ? t.emptyAreaRev(min, max, o.size) : t.emptyArea(min, max, o.size))];
    }
    case 'allocRange': {
      const min = at(o.at);
      const max = Math.min(min + Math.floor(o.width * (span - min + 100)), MAX_INDEX);
      return [(t) => t.allocRange(o.size, min, max, o.value)];
    }
  }
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 300 ? `${s.slice(0, 300)}…` : s;
};

function sameRanges(where: string, actual: readonly RefRange<unknown>[], expected: readonly RefRange<unknown>[]): void {
  if (actual.length !== expected.length) throw new Error(`${where}: ${actual.length} ranges, reference has ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a.first !== e.first || a.last !== e.last || !isDeepStrictEqual(a.value, e.value)) {
      throw new Error(`${where}: position ${i}: store ${show(a)}, reference ${show(e)}`);
    }
  }
}

/** The transaction's in-memory tree (white box: for comparing the two write paths). */
function treeOf(t: WriteTxn<Value>): { root: Ref | null; height: number; ranges: number; nodes: number } {
  return (t as unknown as { tree: { root: Ref | null; height: number; ranges: number; nodes: number } }).tree;
}

/** A plain copy of a tree's structure: node kinds, pivots, slots, gap fields, committed children. */
function treeShape(ref: Ref | null): unknown {
  if (ref === null || typeof ref === 'number') return ref;
  const node: MemNode = ref;
  if (node.leaf) return { leaf: node.lasts.slice(), slots: node.slots.map(slotShape) };
  return { internal: node.lasts.slice(), gaps: node.gaps.slice(), children: node.children.map(treeShape) };
}

/** Throws naming the first place where two tree shapes differ. */
function sameShape(where: string, a: unknown, b: unknown): void {
  if (isDeepStrictEqual(a, b)) return;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && 'children' in a && 'children' in b) {
    const x = a as { internal: number[]; gaps: number[]; children: unknown[] };
    const y = b as { internal: number[]; gaps: number[]; children: unknown[] };
    if (isDeepStrictEqual(x.internal, y.internal) && isDeepStrictEqual(x.gaps, y.gaps)) {
      for (let i = 0; i < x.children.length; i++) sameShape(`${where}/${i}`, x.children[i], y.children[i]);
    }
  }
  throw new Error(`${where}: fast path ${show(a)} vs general path ${show(b)}`);
}

let dir = '';
let fileNumber = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-append-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function freshFile(): string {
  return path.join(dir, `run-${fileNumber++}.maple`);
}

class Rollback extends Error {}

/**
 * Runs a scenario on a store; `observe` sees every transaction's tree just before it ends.
 * Returns the store (open) and the reference.
 */
function runScenario(s: Scenario, file: string, observe?: (txn: number, t: WriteTxn<Value>) => void, appendPath = true): { store: MapleStore<Value>; ref: Reference<Value> } {
  const store = open<Value>(file, { sync: 'none' });
  store.writeScratch.appendPath = appendPath;
  let ref = new Reference<Value>();
  try {
    s.txns.forEach((txn, n) => {
      const work = ref.clone();
      const version = store.version;
      const where = `transaction ${n}`;
      try {
        store.transaction((t) => {
          txn.ops.forEach((o, k) => {
            for (const call of resolve(o, work, s.base)) {
              const expected = attempt(() => call(work as unknown as Target));
              const actual = attempt(() => call(t as unknown as Target));
              if (!isDeepStrictEqual(actual, expected)) throw new Error(`${where}, op ${k} (${show(o)}): store ${show(actual)}, reference ${show(expected)}`);
            }
          });
          sameRanges(`${where}: contents inside the transaction`, [...t.ranges()], work.all());
          if (t.count() !== work.count()) throw new Error(`${where}: count ${t.count()} != ${work.count()}`);
          observe?.(n, t);
          if (txn.rollback) throw new Rollback();
        });
      } catch (err) {
        if (!(err instanceof Rollback)) throw err;
      }
      if (txn.rollback) {
        if (store.version !== version) throw new Error(`${where}: a rolled-back transaction moved the version`);
      } else {
        ref = work;
      }
      sameRanges(`${where}: contents after it ended`, [...store.ranges()], ref.all());
      if (store.stats().ranges !== ref.count()) throw new Error(`${where}: stats().ranges ${store.stats().ranges} != ${ref.count()}`);
      store.check();
    });
  } catch (err) {
    store.close();
    throw err;
  }
  return { store, ref };
}

const options = (numRuns: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * RUNS)) });

describe('append fast path', () => {
  test('sorted appends mixed with erases, clears and stores near the end agree with the reference', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const file = freshFile();
        try {
          const { store, ref } = runScenario(s, file);
          store.close();
          // Everything survives a reopen.
          const again = open<Value>(file);
          try {
            sameRanges('after reopen', [...again.ranges()], ref.all());
            again.check();
          } finally {
            again.close();
          }
        } finally {
          fs.rmSync(file, { force: true });
          fs.rmSync(`${file}.lock`, { force: true });
        }
      }),
      options(120),
    );
  });

  test('builds exactly the trees the general write path builds', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const fileA = freshFile();
        const fileB = freshFile();
        const trees: unknown[] = [];
        try {
          // The general path alone: record each transaction's tree just before it ends.
          const general = runScenario(
            s,
            fileB,
            (n, t) => {
              const { root, height, ranges, nodes } = treeOf(t);
              trees[n] = { height, ranges, nodes, shape: treeShape(root) };
            },
            false,
          ).store;
          const { recovery: _a, ...generalStats } = general.stats();
          general.close();
          let appended = 0;
          const fast = runScenario(s, fileA, (n, t) => {
            const { root, height, ranges, nodes } = treeOf(t);
            const other = trees[n] as { height: number; ranges: number; nodes: number; shape: unknown };
            expect({ height, ranges, nodes }).toEqual({ height: other.height, ranges: other.ranges, nodes: other.nodes });
            sameShape(`transaction ${n}: root`, treeShape(root), other.shape);
            appended++;
          }).store;
          const { recovery: _b, ...fastStats } = fast.stats();
          fast.close();
          expect(appended).toBe(s.txns.length);
          expect(fastStats).toEqual(generalStats);
        } finally {
          for (const f of [fileA, fileB]) {
            fs.rmSync(f, { force: true });
            fs.rmSync(`${f}.lock`, { force: true });
          }
        }
      }),
      {
        ...options(60),
        examples: [
          // A leaf left holding only the trailing gap after a split, its full neighbour thinned by a
          // clear, then an adjacent append: the general path merges the two leaves.
          [
            {
              base: 0,
              txns: [
                {
                  ops: [
                    { op: 'run', count: 15, maxGap: 0, maxLen: 0, seed: 1 },
                    { op: 'clearNearEnd', back: 9, skip: 0, len: 1 },
                    { op: 'append', gap: 0, len: 0, value: 1, insert: false },
                  ],
                  rollback: false,
                },
              ],
            },
          ],
        ],
      },
    );
  });

  test('a long sorted load in one transaction, then appends across transactions, stays dense and checks', () => {
    const file = freshFile();
    const store = open<{ id: number; prot: number }>(file, { sync: 'none' });
    const ref = new Reference<{ id: number; prot: number }>();
    const rnd = prng(7);
    let next = 0;
    const put = (t: { store(f: number, l: number, v: { id: number; prot: number }): void }, i: number): void => {
      const first = next + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 4096) + 1);
      const last = first + Math.floor(rnd() * 2048);
      t.store(first, last, { id: i, prot: i & 7 });
      ref.store(first, last, { id: i, prot: i & 7 });
      next = last + 1;
    };
    store.transaction((t) => {
      for (let i = 0; i < 50_000; i++) put(t, i);
    });
    store.check();
    for (let k = 0; k < 20; k++) {
      store.transaction((t) => {
        for (let i = 0; i < 500; i++) put(t, 50_000 + k * 500 + i);
      });
    }
    store.check();
    sameRanges('contents', [...store.ranges()], ref.all());
    // ~1.5 slots per range at 15 per leaf, a tenth more for internal nodes and the partly
    // filled rightmost leaves of the later transactions.
    expect(store.stats().nodes).toBeLessThan(Math.ceil((60_000 * 1.5) / 15) * 1.25);
    store.close();
  }, 120_000);
});
