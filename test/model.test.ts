/**
 * Model-based tests of the public contract: random sequences of every operation run against the
 * store and against test/reference.ts, comparing every result, every refusal code and the full
 * contents after every step (the strictly stronger form of the kernel's check_erase2_testset
 * counting). Transactions commit or roll back, snapshots are held across later commits and
 * compared with a frozen copy of the reference, the store is closed and reopened, and in the small
 * runs `check()` verifies the file after every step.
 *
 * Reproduce a failure with MAPLE_SEED=<seed printed by fast-check> npx vitest run test/model.test.ts;
 * the counterexample is printed as the API calls to replay.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { MapleError, type MapleStore, type OpenOptions, openStore } from './openStore.js';
import { MAX_SIZE, RefError, type RefRange, Reference } from './reference.js';
import { MAX_INDEX } from '../src/common/limits.js';

const SEED = process.env.MAPLE_SEED !== undefined ? Number(process.env.MAPLE_SEED) : 20260127;
/** Multiplies every numRuns, for longer soak runs: MAPLE_RUNS=20 npx vitest run test/model.test.ts. */
const RUNS = process.env.MAPLE_RUNS !== undefined ? Number(process.env.MAPLE_RUNS) : 1;

// ---------------------------------------------------------------------------------------------
// Steps: plain data, so fast-check can shrink them and print them as API calls.

type Value = number | string | boolean | { k: number; s: string } | { id: number; prot: string; path: string } | { id: number; map: { start: number; flags: string[] } } | number[] | Uint8Array | Date;

type WriteOp =
  | { op: 'store' | 'insert' | 'clear'; first: number; last: number; value?: Value }
  | { op: 'erase'; index: number }
  | { op: 'allocRange' | 'allocRangeRev'; size: number; min: number; max: number; value: Value };

type ReadOp =
  | { op: 'load' | 'entry'; index: number }
  | { op: 'find'; index: number; max?: number }
  | { op: 'findRev'; index: number; min?: number }
  | { op: 'ranges' | 'rangesRev'; from?: number; to?: number }
  | { op: 'emptyArea' | 'emptyAreaRev'; min: number; max: number; size: number }
  | { op: 'count' };

type Op = WriteOp | ReadOp;

/** Inside a transaction: an op on the txn, a read of the store itself, or a snapshot taken meanwhile. */
type TxnItem = Op | { op: 'outer'; read: ReadOp } | { op: 'outerSnapshot' };

type Step =
  | { t: 'write'; w: WriteOp }
  | { t: 'read'; r: ReadOp }
  /** rollback: 'commit' | 'throw' (throw at the end) | 'abortOnRefusal' (refusals propagate and roll back). */
  | { t: 'txn'; items: TxnItem[]; rollback: 'commit' | 'throw' | 'abortOnRefusal' }
  | { t: 'bulk'; base: number; count: number; stride: number; length: number }
  | { t: 'snapOpen' }
  | { t: 'snapRead'; k: number; r: ReadOp }
  | { t: 'snapClose'; k: number }
  /** An iterator on the store, partly consumed, then writes committed, then the rest consumed. */
  | { t: 'iterWrite'; from: number; to: number; reverse: boolean; take: number; ws: WriteOp[] }
  | { t: 'reopen' }
  | { t: 'check' };

const fmt = (v: unknown): string => {
  if (typeof v === 'string' && v.length > 24 && /^x+$/.test(v)) return `'x'.repeat(${v.length})`;
  if (v instanceof Uint8Array) return `new Uint8Array([${v.join(', ')}])`;
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return JSON.stringify(v) ?? 'undefined';
};
const idx = (n: number | undefined): string =>
  n === undefined ? 'undefined' : n > MAX_INDEX - 1000 && n <= MAX_INDEX ? (n === MAX_INDEX ? 'MAX' : `MAX-${MAX_INDEX - n}`) : String(n);

function callText(o: Op): string {
  switch (o.op) {
    case 'store':
    case 'insert':
      return `${o.op}(${idx(o.first)}, ${idx(o.last)}, ${fmt(o.value)})`;
    case 'clear':
      return `clear(${idx(o.first)}, ${idx(o.last)})`;
    case 'erase':
    case 'load':
    case 'entry':
      return `${o.op}(${idx(o.index)})`;
    case 'allocRange':
    case 'allocRangeRev':
      return `${o.op}(${o.size === MAX_SIZE ? '2**53' : idx(o.size)}, ${idx(o.min)}, ${idx(o.max)}, ${fmt(o.value)})`;
    case 'find':
      return `find(${idx(o.index)}, ${idx(o.max)})`;
    case 'findRev':
      return `findRev(${idx(o.index)}, ${idx(o.min)})`;
    case 'ranges':
    case 'rangesRev':
      return `[...${o.op}(${idx(o.from)}, ${idx(o.to)})]`;
    case 'emptyArea':
    case 'emptyAreaRev':
      return `${o.op}(${idx(o.min)}, ${idx(o.max)}, ${o.size === MAX_SIZE ? '2**53' : idx(o.size)})`;
    case 'count':
      return 'count()';
  }
}

function stepText(s: Step): string {
  switch (s.t) {
    case 'write':
      return `s.${callText(s.w)}`;
    case 'read':
      return `s.${callText(s.r)}`;
    case 'txn': {
      const body = s.items
        .map((i) => (i.op === 'outer' ? `s.${callText(i.read)}` : i.op === 'outerSnapshot' ? 'snaps.push(s.snapshot())' : `t.${callText(i)}`))
        .join('; ');
      return `s.transaction(t => { ${body}${s.rollback === 'throw' ? '; throw rollback' : ''} })${s.rollback === 'abortOnRefusal' ? ' /* refusals propagate */' : ''}`;
    }
    case 'bulk':
      return `s.transaction(t => { for (i = 0; i < ${s.count}; i++) t.store(${idx(s.base)} + i*${s.stride}, ${idx(s.base)} + i*${s.stride} + ${s.length}, i) })`;
    case 'snapOpen':
      return 'snaps.push(s.snapshot())';
    case 'snapRead':
      return `snaps[${s.k} % n].${callText(s.r)}`;
    case 'snapClose':
      return `snaps[${s.k} % n].close()`;
    case 'iterWrite':
      return `it = s.${s.reverse ? 'rangesRev' : 'ranges'}(${idx(s.from)}, ${idx(s.to)}); take ${s.take}; ${s.ws.map((w) => `s.${callText(w)}; `).join('')}[...it] must be the old version`;
    case 'reopen':
      return 's.close(); s = open(path)';
    case 'check':
      return 's.check()';
  }
}

/** Gives a step a readable form in fast-check's counterexample. */
const printable = (s: Step): Step => Object.assign(s, { [fc.toStringMethod]: () => stepText(s) });

/**
 * msgpack has no −0 (it encodes an integer 0), so −0 does not round-trip and is outside the value
 * contract; fast-check's shrinker can produce it, so generated values use +0.
 */
function positiveZero<T>(v: T): T {
  if (typeof v === 'number') return (v === 0 ? 0 : v) as T;
  if (Array.isArray(v)) return v.map(positiveZero) as T;
  if (v instanceof Uint8Array || v instanceof Date) return v;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, positiveZero(x)])) as T;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries. `space` is the small index space where collisions are forced.

interface Shape {
  space: number;
  /** Weight (out of ~20) of indices drawn near MAX_INDEX or at 0/MAX_INDEX. */
  edgeWeight: number;
}

function arbitraries(shape: Shape) {
  const small = fc.integer({ min: 0, max: shape.space });
  const high = fc.integer({ min: 0, max: 20 }).map((k) => MAX_INDEX - k);
  const index = fc.oneof(
    { weight: 20 - shape.edgeWeight, arbitrary: small },
    { weight: shape.edgeWeight, arbitrary: high },
    { weight: 1, arbitrary: fc.constantFrom(0, MAX_INDEX) },
  );
  const sortedPair = fc.tuple(index, index).map(([a, b]) => (a <= b ? [a, b] : [b, a]) as [number, number]);
  const shortPair = fc.tuple(index, fc.nat(12)).map(([a, n]) => [a, a + Math.min(n, MAX_INDEX - a)] as [number, number]);
  // Now and then unsorted, so first > last refusals are compared too.
  const pair = fc.oneof({ weight: 6, arbitrary: shortPair }, { weight: 3, arbitrary: sortedPair }, { weight: 1, arbitrary: fc.tuple(index, index) });
  const value: fc.Arbitrary<Value> = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -1000, max: 1_000_000 }) },
    { weight: 3, arbitrary: fc.string({ maxLength: 6 }) },
    { weight: 2, arbitrary: fc.record({ k: fc.nat(1000), s: fc.string({ maxLength: 3 }) }) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.array(fc.nat(99), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.date({ noInvalidDate: true }) },
    // Values of real size, in their leaf's value area: objects with a string, nested values.
    { weight: 2, arbitrary: fc.record({ id: fc.nat(), prot: fc.constantFrom('r-x', 'rw-'), path: fc.string({ maxLength: 120 }) }) },
    { weight: 1, arbitrary: fc.record({ id: fc.nat(99), map: fc.record({ start: fc.nat(), flags: fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }) }) }) },
    // Around the area's bound: 507 .. 513 msgpack bytes (a string of n characters packs to n + 3).
    { weight: 1, arbitrary: fc.integer({ min: 504, max: 510 }).map((n) => 'y'.repeat(n)) },
    // Large enough to need a value record of its own (or an area, below 512 bytes).
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 3000 }).map((n) => 'x'.repeat(n)) },
  ).map(positiveZero);
  const size = fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 1, max: 12 }) },
    { weight: 2, arbitrary: fc.integer({ min: 13, max: shape.space + 10 }) },
    { weight: 1, arbitrary: fc.constantFrom(MAX_INDEX - 3, MAX_INDEX, MAX_SIZE) },
    { weight: 1, arbitrary: fc.constant(0) },
  );
  const optional = (a: fc.Arbitrary<number>) => fc.option(a, { nil: undefined, freq: 4 });

  const write: fc.Arbitrary<WriteOp> = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(pair, value).map(([[first, last], v]) => ({ op: 'store' as const, first, last, value: v })) },
    { weight: 4, arbitrary: fc.tuple(pair, value).map(([[first, last], v]) => ({ op: 'insert' as const, first, last, value: v })) },
    { weight: 3, arbitrary: index.map((i) => ({ op: 'erase' as const, index: i })) },
    { weight: 3, arbitrary: pair.map(([first, last]) => ({ op: 'clear' as const, first, last })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('allocRange' as const, 'allocRangeRev' as const), size, sortedPair, value)
        .map(([op, sz, [min, max], v]) => ({ op, size: sz, min, max, value: v })),
    },
    // A null/undefined value must be refused (EINVAL) and change nothing.
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('store' as const, 'insert' as const), pair).map(([op, [first, last]]) => ({ op, first, last, value: undefined })) },
  );
  const read: fc.Arbitrary<ReadOp> = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('load' as const, 'entry' as const), index).map(([op, i]) => ({ op, index: i })) },
    { weight: 2, arbitrary: fc.tuple(index, optional(index)).map(([i, max]) => ({ op: 'find' as const, index: i, max })) },
    { weight: 2, arbitrary: fc.tuple(index, optional(index)).map(([i, min]) => ({ op: 'findRev' as const, index: i, min })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('ranges' as const, 'rangesRev' as const), fc.option(sortedPair, { nil: undefined, freq: 5 }))
        .map(([op, p]) => (p ? { op, from: p[0], to: p[1] } : { op })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom('emptyArea' as const, 'emptyAreaRev' as const), fc.oneof({ weight: 9, arbitrary: sortedPair }, { weight: 1, arbitrary: fc.tuple(index, index) }), size)
        .map(([op, [min, max], sz]) => ({ op, min, max, size: sz })),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'count' as const }) },
  );
  const txnItem: fc.Arbitrary<TxnItem> = fc.oneof(
    { weight: 6, arbitrary: write },
    { weight: 3, arbitrary: read },
    { weight: 1, arbitrary: read.map((r) => ({ op: 'outer' as const, read: r })) },
    { weight: 1, arbitrary: fc.constant({ op: 'outerSnapshot' as const }) },
  );
  const bulk = fc
    .record({ base: index, count: fc.integer({ min: 1, max: 60 }), stride: fc.integer({ min: 1, max: 8 }), length: fc.nat(6) })
    .map((b) => ({ t: 'bulk' as const, ...b }));
  const step: fc.Arbitrary<Step> = fc
    .oneof(
      { weight: 10, arbitrary: write.map((w) => ({ t: 'write' as const, w })) },
      { weight: 5, arbitrary: read.map((r) => ({ t: 'read' as const, r })) },
      {
        weight: 5,
        arbitrary: fc
          .tuple(fc.array(txnItem, { maxLength: 10 }), fc.constantFrom('commit' as const, 'commit' as const, 'throw' as const, 'abortOnRefusal' as const))
          .map(([items, rollback]) => ({ t: 'txn' as const, items, rollback })),
      },
      { weight: 1, arbitrary: bulk },
      { weight: 2, arbitrary: fc.constant({ t: 'snapOpen' as const }) },
      { weight: 3, arbitrary: fc.tuple(fc.nat(7), read).map(([k, r]) => ({ t: 'snapRead' as const, k, r })) },
      { weight: 1, arbitrary: fc.nat(7).map((k) => ({ t: 'snapClose' as const, k })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(sortedPair, fc.boolean(), fc.nat(4), fc.array(write, { minLength: 1, maxLength: 4 }))
          .map(([[from, to], reverse, take, ws]) => ({ t: 'iterWrite' as const, from, to, reverse, take, ws })),
      },
      { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
      { weight: 1, arbitrary: fc.constant({ t: 'check' as const }) },
    )
    .map(printable);
  /**
   * Snapshots held across long runs of commits: mostly writes, so the cells those commits write
   * and free again are reused around the held versions (storage/io/readerSet.ts), and every
   * snapshot read is checked against its version.
   */
  const heldStep: fc.Arbitrary<Step> = fc
    .oneof(
      { weight: 12, arbitrary: write.map((w) => ({ t: 'write' as const, w })) },
      { weight: 2, arbitrary: bulk },
      { weight: 1, arbitrary: fc.constant({ t: 'snapOpen' as const }) },
      { weight: 3, arbitrary: fc.tuple(fc.nat(7), read).map(([k, r]) => ({ t: 'snapRead' as const, k, r })) },
      { weight: 1, arbitrary: fc.nat(7).map((k) => ({ t: 'snapClose' as const, k })) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(sortedPair, fc.boolean(), fc.nat(4), fc.array(write, { minLength: 1, maxLength: 6 }))
          .map(([[from, to], reverse, take, ws]) => ({ t: 'iterWrite' as const, from, to, reverse, take, ws })),
      },
    )
    .map(printable);
  return { index, pair, value, size, write, read, step, heldStep };
}

// ---------------------------------------------------------------------------------------------
// Running a step on the store and on the reference.

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

function codeOf(err: unknown): string {
  if (err instanceof MapleError || err instanceof RefError) return err.code;
  return `non-MapleError ${(err as Error)?.name}: ${(err as Error)?.message}`;
}

function argsOf(o: Op): unknown[] {
  switch (o.op) {
    case 'store':
    case 'insert':
      return [o.first, o.last, o.value];
    case 'clear':
      return [o.first, o.last];
    case 'erase':
    case 'load':
    case 'entry':
      return [o.index];
    case 'allocRange':
    case 'allocRangeRev':
      return [o.size, o.min, o.max, o.value];
    case 'find':
      return o.max === undefined ? [o.index] : [o.index, o.max];
    case 'findRev':
      return o.min === undefined ? [o.index] : [o.index, o.min];
    case 'ranges':
    case 'rangesRev':
      return o.from === undefined ? [] : [o.from, o.to];
    case 'emptyArea':
    case 'emptyAreaRev':
      return [o.min, o.max, o.size];
    case 'count':
      return [];
  }
}

/** Runs `o` on a store, snapshot, transaction or reference; iterators are drained into arrays. */
function run(target: unknown, o: Op): Outcome {
  try {
    const fn = (target as Record<string, (...a: unknown[]) => unknown>)[o.op]!;
    let value = fn.apply(target, argsOf(o));
    if (o.op === 'ranges' || o.op === 'rangesRev') value = [...(value as Iterable<unknown>)];
    return { ok: true, value };
  } catch (err) {
    return { ok: false, code: codeOf(err) };
  }
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v, (_k, x) => (typeof x === 'string' && x.length > 24 && /^x+$/.test(x) ? `'x'.repeat(${x.length})` : x));
  return s === undefined ? 'undefined' : s.length > 600 ? `${s.slice(0, 600)}…` : s;
};

function expectSameOutcome(where: string, actual: Outcome, expected: Outcome): void {
  if (isDeepStrictEqual(actual, expected)) return;
  throw new Error(`${where}: store gave ${show(actual)}, reference gives ${show(expected)}`);
}

function expectSameRanges(where: string, actual: readonly RefRange<unknown>[], expected: readonly RefRange<unknown>[]): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || a.first !== e.first || a.last !== e.last || !isDeepStrictEqual(a.value, e.value)) {
      throw new Error(`${where}: contents differ at position ${i} of ${actual.length}/${expected.length}: store ${show(a)}, reference ${show(e)}`);
    }
  }
}

/** Whether two reference states hold the same ranges with deep-equal values. */
function sameState(a: Reference<Value>, b: Reference<Value>): boolean {
  const x = a.all();
  const y = b.all();
  return x.length === y.length && x.every((r, i) => r === y[i] || (r.first === y[i]!.first && r.last === y[i]!.last && isDeepStrictEqual(r.value, y[i]!.value)));
}

class Rollback extends Error {}

interface Options {
  shape: Shape;
  open: OpenOptions;
  /** Full contents are compared every `compareEvery` steps (1 = every step). */
  compareEvery: number;
  /** store.check() every `checkEvery` steps (0 = only at the end). */
  checkEvery: number;
  /** Snapshots: full contents compared on every snapshot read when small. */
  fullSnapshotCompare: boolean;
  /** After the prefix, the tree must be at least this tall (proves the run exercises a deep tree). */
  minHeight?: number;
}

interface HeldSnapshot {
  snap: ReturnType<MapleStore<Value>['snapshot']>;
  ref: Reference<Value>;
  version: number;
}

/** Runs one generated scenario; throws on the first disagreement. */
function scenario(file: string, steps: Step[], opts: Options, prefix: Step[] = []): void {
  let store = openStore<Value>(file, opts.open);
  let ref = new Reference<Value>();
  let snaps: HeldSnapshot[] = [];
  let lastVersion = store.version;
  const all = [...prefix, ...steps];
  try {
    if (lastVersion !== 0) throw new Error(`a new store has version ${lastVersion}, expected 0`);
    for (let n = 0; n < all.length; n++) {
      const step = all[n]!;
      const where = `step ${n} (${stepText(step)})`;
      const before = ref;
      const beforeVersion = store.version;
      let refusedWrite = false;
      switch (step.t) {
        case 'write': {
          const next = ref.clone();
          const expected = run(next, step.w);
          expectSameOutcome(where, run(store, step.w), expected);
          refusedWrite = !expected.ok;
          ref = next;
          break;
        }
        case 'read':
          expectSameOutcome(where, run(store, step.r), run(ref, step.r));
          break;
        case 'bulk': {
          const next = ref.clone();
          const result = store.transaction((t) => {
            for (let i = 0; i < step.count; i++) {
              const first = Math.min(step.base + i * step.stride, MAX_INDEX);
              const last = Math.min(first + step.length, MAX_INDEX);
              t.store(first, last, i);
              next.store(first, last, i);
            }
            return step.count;
          });
          if (result !== step.count) throw new Error(`${where}: transaction returned ${result}, expected ${step.count}`);
          ref = next;
          break;
        }
        case 'txn':
          ref = runTxn(where, store, ref, step, snaps);
          break;
        case 'snapOpen': {
          const snap = store.snapshot();
          snaps.push({ snap, ref, version: store.version });
          if (snap.version !== store.version) throw new Error(`${where}: snapshot version ${snap.version} != store version ${store.version}`);
          break;
        }
        case 'snapRead': {
          if (snaps.length === 0) break;
          const held = snaps[step.k % snaps.length]!;
          expectSameOutcome(`${where} on snapshot of version ${held.version}`, run(held.snap, step.r), run(held.ref, step.r));
          if (held.snap.version !== held.version) throw new Error(`${where}: snapshot version moved from ${held.version} to ${held.snap.version}`);
          if (opts.fullSnapshotCompare) expectSameRanges(`${where} snapshot contents`, [...held.snap.ranges()], held.ref.all());
          break;
        }
        case 'snapClose': {
          if (snaps.length === 0) break;
          const k = step.k % snaps.length;
          const held = snaps[k]!;
          expectSameRanges(`${where} snapshot contents before close`, [...held.snap.ranges()], held.ref.all());
          held.snap.close();
          snaps.splice(k, 1);
          expectRefusal(`${where}: a closed snapshot`, () => held.snap.load(0), 'ECLOSED');
          break;
        }
        case 'iterWrite': {
          const it = step.reverse ? store.rangesRev(step.from, step.to) : store.ranges(step.from, step.to);
          const old = step.reverse ? ref.rangesRev(step.from, step.to) : ref.ranges(step.from, step.to);
          const seen: RefRange<unknown>[] = [];
          for (let i = 0; i < step.take; i++) {
            const r = it.next();
            if (r.done) break;
            seen.push(r.value);
          }
          for (const w of step.ws) {
            const next = ref.clone();
            expectSameOutcome(`${where}, s.${callText(w)}`, run(store, w), run(next, w));
            ref = next;
          }
          for (const r of it) seen.push(r);
          expectSameRanges(`${where}: an iterator created before the write`, seen, old);
          break;
        }
        case 'reopen': {
          for (const held of snaps) expectSameRanges(`${where} snapshot before store close`, [...held.snap.ranges()], held.ref.all());
          const version = store.version;
          store.close();
          for (const held of snaps) expectRefusal(`${where}: a snapshot of a closed store`, () => held.snap.count(), 'ECLOSED');
          snaps = [];
          store = openStore<Value>(file, opts.open);
          if (store.version !== version) throw new Error(`${where}: version ${version} before close, ${store.version} after reopen`);
          break;
        }
        case 'check':
          store.check();
          break;
      }
      // Versions: monotonic; moved when the contents changed; unchanged by reads and refusals.
      const v = store.version;
      if (v < lastVersion) throw new Error(`${where}: version went back from ${lastVersion} to ${v}`);
      if (!sameState(before, ref) && v <= beforeVersion) throw new Error(`${where}: contents changed but version stayed ${v}`);
      const readOnlyStep = step.t === 'read' || step.t === 'snapOpen' || step.t === 'snapRead' || step.t === 'snapClose' || step.t === 'check';
      if (readOnlyStep && v !== beforeVersion) throw new Error(`${where}: a read moved the version from ${beforeVersion} to ${v}`);
      if (refusedWrite && v !== beforeVersion) throw new Error(`${where}: a refused write moved the version from ${beforeVersion} to ${v}`);
      lastVersion = v;

      ref.selfCheck();
      if (n === prefix.length - 1 && opts.minHeight !== undefined && store.stats().height < opts.minHeight) {
        throw new Error(`after the preload the tree is only ${store.stats().height} levels tall; expected ≥ ${opts.minHeight}`);
      }
      const last = n === all.length - 1;
      if (last || (n + 1) % opts.compareEvery === 0) compareStore(where, store, ref, snaps.length);
      if (last || (opts.checkEvery > 0 && (n + 1) % opts.checkEvery === 0)) store.check();
    }
    for (const held of snaps) {
      expectSameRanges(`end: snapshot of version ${held.version}`, [...held.snap.ranges()], held.ref.all());
      held.snap.close();
    }
    snaps = [];
    // Everything must survive a final close and reopen.
    const version = store.version;
    store.close();
    store = openStore<Value>(file, opts.open);
    if (store.version !== version) throw new Error(`end: version ${version} before close, ${store.version} after reopen`);
    compareStore('end, after reopen', store, ref, 0);
    store.check();
  } finally {
    for (const held of snaps) held.snap.close();
    store.close();
  }
}

function compareStore(where: string, store: MapleStore<Value>, ref: Reference<Value>, openSnapshots: number): void {
  expectSameRanges(`${where}: full contents`, [...store.ranges()], ref.all());
  if (store.count() !== ref.count()) throw new Error(`${where}: count() ${store.count()} != ${ref.count()}`);
  const st = store.stats();
  if (st.ranges !== ref.count()) throw new Error(`${where}: stats().ranges ${st.ranges} != ${ref.count()}`);
  if (st.version !== store.version) throw new Error(`${where}: stats().version ${st.version} != version ${store.version}`);
  if (st.snapshots !== openSnapshots) throw new Error(`${where}: stats().snapshots ${st.snapshots} != ${openSnapshots} open`);
}

function expectRefusal(where: string, fn: () => unknown, code: string): void {
  let got: string | undefined;
  try {
    fn();
  } catch (err) {
    got = codeOf(err);
  }
  if (got !== code) throw new Error(`${where}: expected ${code}, got ${got ?? 'no error'}`);
}

function runTxn(where: string, store: MapleStore<Value>, committed: Reference<Value>, step: Extract<Step, { t: 'txn' }>, snaps: HeldSnapshot[]): Reference<Value> {
  const work = committed.clone();
  const version = store.version;
  const rollback = new Rollback('rollback');
  let refused: string | undefined;
  const opened: HeldSnapshot[] = [];
  let thrown: unknown;
  let result: unknown;
  try {
    result = store.transaction((t) => {
      for (const item of step.items) {
        if (item.op === 'outer') {
          // The store outside the transaction still reads the last commit.
          expectSameOutcome(`${where}: store read during the transaction`, run(store, item.read), run(committed, item.read));
          continue;
        }
        if (item.op === 'outerSnapshot') {
          const snap = store.snapshot();
          opened.push({ snap, ref: committed, version });
          continue;
        }
        const expected = run(work, item);
        if (step.rollback === 'abortOnRefusal' && !expected.ok) {
          refused = expected.code;
          (t as unknown as Record<string, (...a: unknown[]) => unknown>)[item.op]!(...argsOf(item)); // must throw
          throw new Error(`${where}: t.${callText(item)} did not refuse (${expected.code} expected)`);
        }
        expectSameOutcome(`${where}: inside the transaction, t.${callText(item)}`, run(t, item), expected);
      }
      // Reads inside the transaction see its own writes.
      expectSameRanges(`${where}: txn contents before commit`, [...t.ranges()], work.all());
      if (t.count() !== work.count()) throw new Error(`${where}: txn count() ${t.count()} != ${work.count()}`);
      if (step.rollback === 'throw') throw rollback;
      return 'done';
    });
  } catch (err) {
    thrown = err;
  } finally {
    snaps.push(...opened);
  }
  const rolledBack = step.rollback === 'throw' || refused !== undefined;
  if (rolledBack) {
    if (step.rollback === 'throw' && thrown !== rollback) throw thrown ?? new Error(`${where}: transaction did not rethrow the rollback`);
    if (refused !== undefined && codeOf(thrown) !== refused) {
      if (thrown instanceof Error && !(thrown instanceof MapleError)) throw thrown;
      throw new Error(`${where}: aborted transaction threw ${codeOf(thrown)}, expected ${refused}`);
    }
    if (store.version !== version) throw new Error(`${where}: rolled-back transaction moved version ${version} → ${store.version}`);
    return committed;
  }
  if (thrown !== undefined) throw thrown;
  if (result !== 'done') throw new Error(`${where}: transaction returned ${show(result)}`);
  return work;
}

// ---------------------------------------------------------------------------------------------

let dir = '';
let fileNumber = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-model-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function freshFile(): string {
  return path.join(dir, `run-${fileNumber++}.maple`);
}

function property(steps: fc.Arbitrary<Step[]>, opts: Options, prefix: (file: string) => Step[] = () => []) {
  return fc.property(steps, (s) => {
    const file = freshFile();
    try {
      scenario(file, s, opts, prefix(file));
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.lock`, { force: true });
    }
  });
}

const assertOptions = (numRuns: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * RUNS)) });

describe('model: small runs, check() after every step', () => {
  test('index space 0..200 with occasional indices near MAX_INDEX', () => {
    const shape = { space: 200, edgeWeight: 2 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(fc.array(step, { minLength: 1, maxLength: 40 }), { shape, open: { sync: 'none' }, compareEvery: 1, checkEvery: 1, fullSnapshotCompare: true }),
      assertOptions(200),
    );
  });

  test('tiny index space 0..20: dense collisions, splits and trims', () => {
    const shape = { space: 20, edgeWeight: 1 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(fc.array(step, { minLength: 1, maxLength: 40 }), { shape, open: { sync: 'none' }, compareEvery: 1, checkEvery: 1, fullSnapshotCompare: true }),
      assertOptions(180),
    );
  });

  test('edges: indices mostly within 20 of 0 and of MAX_INDEX', () => {
    const shape = { space: 20, edgeWeight: 10 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(fc.array(step, { minLength: 1, maxLength: 30 }), { shape, open: { sync: 'none' }, compareEvery: 1, checkEvery: 1, fullSnapshotCompare: true }),
      assertOptions(150),
    );
  });

  test('default sync (full): commits, rollbacks and reopen', () => {
    const shape = { space: 200, edgeWeight: 2 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(fc.array(step, { minLength: 1, maxLength: 20 }), { shape, open: {}, compareEvery: 1, checkEvery: 1, fullSnapshotCompare: true }),
      assertOptions(40),
    );
  });
});

describe('model: snapshots held while the cells around them are reused', () => {
  test('long runs of writes with snapshots opened and closed in any order, check() after every step', () => {
    const shape = { space: 120, edgeWeight: 1 };
    const { heldStep } = arbitraries(shape);
    fc.assert(
      property(fc.array(heldStep, { minLength: 40, maxLength: 150 }), { shape, open: { sync: 'none' }, compareEvery: 1, checkEvery: 1, fullSnapshotCompare: true }),
      assertOptions(60),
    );
  });
});

describe('model: deep trees (thousands of ranges)', () => {
  /** A prefix that loads `count` ranges in a few bulk transactions, so the tree is several levels deep. */
  const preload = (count: number, stride: number) => (): Step[] => {
    const out: Step[] = [];
    for (let base = 0; base < count; base += 1000) {
      out.push(printable({ t: 'bulk', base: base * stride, count: Math.min(1000, count - base), stride, length: Math.max(0, stride - 4) }));
    }
    return out;
  };

  test('4000 preloaded ranges, random ops over the whole populated space', () => {
    const shape = { space: 40_000, edgeWeight: 1 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(
        fc.array(step, { minLength: 150, maxLength: 250 }),
        { shape, open: { sync: 'none' }, compareEvery: 10, checkEvery: 50, fullSnapshotCompare: false, minHeight: 4 },
        preload(4000, 10),
      ),
      assertOptions(8),
    );
  });

  test('3000 preloaded ranges with a small buffer-pool budget', () => {
    const shape = { space: 3000, edgeWeight: 1 };
    const { step } = arbitraries(shape);
    fc.assert(
      property(
        fc.array(step, { minLength: 100, maxLength: 200 }),
        { shape, open: { sync: 'none', cacheSize: 64 * 1024 }, compareEvery: 10, checkEvery: 50, fullSnapshotCompare: false, minHeight: 4 },
        preload(3000, 1),
      ),
      assertOptions(6),
    );
  });

  test('growing from empty to thousands of ranges by random bulk loads and writes', () => {
    const shape = { space: 5000, edgeWeight: 1 };
    const { step, write } = arbitraries(shape);
    const grow = fc
      .record({ base: fc.integer({ min: 0, max: 5000 }), count: fc.integer({ min: 200, max: 800 }), stride: fc.integer({ min: 1, max: 4 }), length: fc.nat(2) })
      .map((b) => printable({ t: 'bulk', ...b }));
    const mixed = fc.oneof({ weight: 1, arbitrary: grow }, { weight: 10, arbitrary: step }, { weight: 10, arbitrary: write.map((w) => printable({ t: 'write', w })) });
    fc.assert(
      property(fc.array(mixed, { minLength: 100, maxLength: 200 }), { shape, open: { sync: 'none' }, compareEvery: 10, checkEvery: 40, fullSnapshotCompare: false }),
      assertOptions(8),
    );
  });
});

describe('the reference itself', () => {
  /**
   * A second, even more literal model: one cell per index 0..N holding (range id, value). A range
   * is a maximal run of cells with the same id. The reference must agree with it on every
   * operation confined to [0, N] (beyond N both are empty).
   */
  class Cells {
    static readonly N = 40;
    cells: Array<{ id: number; value: Value } | undefined> = new Array(Cells.N + 1).fill(undefined);
    private nextId = 1;
    all(): RefRange<Value>[] {
      const out: RefRange<Value>[] = [];
      for (let i = 0; i <= Cells.N; i++) {
        const c = this.cells[i];
        if (c === undefined) continue;
        const prev = out[out.length - 1];
        if (prev && prev.last === i - 1 && this.cells[i - 1]!.id === c.id) out[out.length - 1] = { ...prev, last: i };
        else out.push({ first: i, last: i, value: c.value });
      }
      return out;
    }
    apply(o: WriteOp | ReadOp): Outcome {
      const rangeAt = (i: number) => this.all().find((r) => r.first <= i && i <= r.last);
      const fits = (s: number, size: number) => {
        for (let i = s; i < s + size; i++) if (this.cells[i] !== undefined) return false;
        return true;
      };
      const put = (first: number, last: number, value: Value | undefined) => {
        const id = this.nextId++;
        for (let i = first; i <= last; i++) this.cells[i] = value === undefined ? undefined : { id, value };
      };
      switch (o.op) {
        case 'store':
          put(o.first, o.last, o.value);
          return { ok: true, value: undefined };
        case 'insert':
          if (!fits(o.first, o.last - o.first + 1)) return { ok: false, code: 'EEXIST' };
          put(o.first, o.last, o.value);
          return { ok: true, value: undefined };
        case 'clear':
          put(o.first, o.last, undefined);
          return { ok: true, value: undefined };
        case 'erase': {
          const r = rangeAt(o.index);
          if (r) put(r.first, r.last, undefined);
          return { ok: true, value: r?.value };
        }
        case 'allocRange':
        case 'allocRangeRev': {
          const starts = [];
          for (let s = o.min; s + o.size - 1 <= o.max; s++) if (fits(s, o.size)) starts.push(s);
          const s = o.op === 'allocRange' ? starts[0] : starts[starts.length - 1];
          if (s === undefined) return { ok: false, code: 'EBUSY' };
          put(s, s + o.size - 1, o.value);
          return { ok: true, value: s };
        }
        case 'emptyArea':
        case 'emptyAreaRev': {
          const starts = [];
          for (let s = o.min; s + o.size - 1 <= o.max; s++) if (fits(s, o.size)) starts.push(s);
          return { ok: true, value: o.op === 'emptyArea' ? starts[0] : starts[starts.length - 1] };
        }
        case 'load':
          return { ok: true, value: rangeAt(o.index)?.value };
        case 'entry':
          return { ok: true, value: rangeAt(o.index) };
        case 'find': {
          const max = o.max ?? Cells.N;
          if (o.index > max) return { ok: true, value: undefined }; // an empty interval
          return { ok: true, value: this.all().find((r) => r.last >= o.index && r.first <= max) };
        }
        case 'findRev': {
          const min = o.min ?? 0;
          if (min > o.index) return { ok: true, value: undefined };
          return { ok: true, value: this.all().reverse().find((r) => r.first <= o.index && r.last >= min) };
        }
        case 'ranges':
        case 'rangesRev': {
          const from = o.from ?? 0;
          const to = o.to ?? Cells.N;
          const rs = this.all().filter((r) => r.last >= from && r.first <= to);
          return { ok: true, value: o.op === 'ranges' ? rs : rs.reverse() };
        }
        case 'count':
          return { ok: true, value: this.all().length };
      }
    }
  }

  test('agrees with a cell-per-index model on [0, 40]', () => {
    const n = Cells.N;
    const i = fc.integer({ min: 0, max: n });
    const pair = fc.tuple(i, i).map(([a, b]) => (a <= b ? [a, b] : [b, a]) as [number, number]);
    const value = fc.integer({ min: 0, max: 5 });
    const size = fc.integer({ min: 1, max: 12 });
    const op: fc.Arbitrary<WriteOp | ReadOp> = fc.oneof(
      fc.tuple(fc.constantFrom('store' as const, 'insert' as const), pair, value).map(([o, [first, last], v]) => ({ op: o, first, last, value: v })),
      pair.map(([first, last]) => ({ op: 'clear' as const, first, last })),
      i.map((index) => ({ op: 'erase' as const, index })),
      fc.tuple(fc.constantFrom('allocRange' as const, 'allocRangeRev' as const), size, pair, value).map(([o, sz, [min, max], v]) => ({ op: o, size: sz, min, max, value: v })),
      fc.tuple(fc.constantFrom('emptyArea' as const, 'emptyAreaRev' as const), pair, size).map(([o, [min, max], sz]) => ({ op: o, min, max, size: sz })),
      fc.tuple(fc.constantFrom('load' as const, 'entry' as const), i).map(([o, index]) => ({ op: o, index })),
      fc.tuple(i, i).map(([index, max]) => ({ op: 'find' as const, index, max })),
      fc.tuple(i, i).map(([index, min]) => ({ op: 'findRev' as const, index, min })),
      fc.tuple(fc.constantFrom('ranges' as const, 'rangesRev' as const), pair).map(([o, [from, to]]) => ({ op: o, from, to })),
      fc.constant({ op: 'count' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const ref = new Reference<Value>();
        const cells = new Cells();
        for (const o of ops) {
          const expected = cells.apply(o);
          const actual = run(ref, o);
          if (!isDeepStrictEqual(actual, expected)) throw new Error(`${callText(o)}: reference ${show(actual)}, cells ${show(expected)}`);
          ref.selfCheck();
          expectSameRanges(callText(o), ref.all(), cells.all());
        }
      }),
      assertOptions(300),
    );
  });
});
