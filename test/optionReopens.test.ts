/**
 * One store file, reopened again and again with options re-picked at every open — `sync`
 * ('full' | 'none'), `commitProtocol` ('log' | 'one-sync' | 'two-sync'), `packValues`,
 * `sharedStructures`, `cacheSize` down to 1 byte (the minimum pool of 16 frames) and the async
 * group caps (`maxGroupWrites`, `maxGroupBytes`, `maxQueuedWrites`) — driven by a seeded stream of
 * operations and judged against test/reference.ts:
 * - synchronous writes, refusals included (EINVAL, EEXIST, EBUSY): every result and code equals
 *   the reference's, and a refusal leaves `version` where it was;
 * - transactions that commit, throw, or abort on a refusal (a rollback leaves nothing behind);
 * - async bursts: *Async calls and write(fn) (some throwing) queued in call order, with
 *   synchronous writes, reads, flushes and snapshots interleaved; reads see the published version;
 * - snapshots held across later commits, compared with the reference's copy of their version;
 * - gap search and allocation at the edges (0, MAX_INDEX, sizes up to 2^53);
 * - values of many shapes: small integers, strings up to ~600 bytes, nested objects, arrays,
 *   Uint8Arrays, Dates, and far more than 32 distinct object shapes (msgpackr's shared structures);
 * - after every reopen (by close() or by closeAsync() with writes still queued): the version, the
 *   full contents in both directions, count(), stats().ranges and check().
 *
 * Deterministic: the operations come from a seeded PRNG; a failure names its seed, step and
 * options and lists the last steps. Reproduce or soak:
 * MAPLE_REOPEN_SEEDS=7 MAPLE_REOPEN_STEPS=2000 npx vitest run test/optionReopens.test.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect, isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INDEX, MapleError, type MapleStore, type OpenOptions, openStore } from './openStore.js';
import type { Snapshot, WriteTxn } from '../src/index.js';
import { MAX_SIZE, RefError, Reference } from './reference.js';
import { prng } from './helpers.js';

const SEEDS = (process.env.MAPLE_REOPEN_SEEDS ?? '1,2,3,4,5,6,7,8').split(',').map(Number);
const STEPS = Number(process.env.MAPLE_REOPEN_STEPS ?? 400);

type Value = number | string | boolean | Date | Uint8Array | Value[] | { [key: string]: Value };
type Store = MapleStore<Value>;

// ---------------------------------------------------------------------------------------------
// Generation: every random draw happens here, synchronously, so a seed fixes the whole run.

const KEYS = Array.from({ length: 70 }, (_, i) => `k${i}`);
const CHARS = Array.from('abcdefxyz-/é€😀 ');

class Gen {
  private readonly r: () => number;
  /** The distinct object shapes (sorted key lists) generated so far. */
  readonly shapes = new Set<string>();

  constructor(
    seed: number,
    /** The index space most indices fall in, so that ranges collide. */
    readonly space: number,
  ) {
    this.r = prng(seed * 7919 + 17);
  }

  /** A draw in [0, 1), for choosing between kinds of step. */
  roll(): number {
    return this.r();
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  text(n: number): string {
    let s = '';
    while (s.length < n) s += this.pick(CHARS);
    return s;
  }

  /** Mostly inside [0, space), now and then at 0, MAX_INDEX or just below it. */
  index(): number {
    const k = this.r();
    if (k < 0.04) return 0;
    if (k < 0.08) return MAX_INDEX;
    if (k < 0.15) return MAX_INDEX - this.int(40);
    if (k < 0.2) return this.int(40);
    return this.int(this.space);
  }

  /** [a, b] with a ≤ b, mostly short; now and then unsorted (a refusal). */
  pair(): [number, number] {
    const a = this.index();
    const k = this.r();
    if (k < 0.35) return [a, a];
    if (k < 0.85) return [a, Math.min(MAX_INDEX, a + this.int(this.chance(0.5) ? 5 : Math.max(2, this.space / 10)))];
    if (k < 0.95) {
      const b = this.index();
      return a <= b ? [a, b] : [b, a];
    }
    return [this.index(), this.index()];
  }

  size(): number {
    const k = this.r();
    if (k < 0.4) return 1;
    if (k < 0.75) return 1 + this.int(12);
    if (k < 0.9) return 1 + this.int(this.space);
    return this.pick([MAX_INDEX, MAX_SIZE, MAX_INDEX - 1, 2 ** 52, 0]);
  }

  /** An object of 1–5 keys out of 70: thousands of possible shapes. */
  shapeObject(): { [key: string]: Value } {
    const o: { [key: string]: Value } = {};
    for (let n = 1 + this.int(5); n > 0; n--) o[this.pick(KEYS)] = this.chance(0.5) ? this.int(200) : this.text(this.int(12));
    this.shapes.add(Object.keys(o).sort().join(','));
    return o;
  }

  /** Values that load back deep-equal to themselves (no −0, Buffer or Map: see README, values). */
  value(): Value {
    const k = this.r();
    if (k < 0.16) return this.int(256) - 128;
    if (k < 0.2) return this.int(2 ** 40) * (this.chance(0.5) ? -1 : 1);
    if (k < 0.22) return this.r() * 1e6;
    if (k < 0.24) return this.chance(0.5);
    if (k < 0.36) return this.text(8 + this.int(593));
    if (k < 0.41) return this.text(this.int(8));
    if (k < 0.55) return this.shapeObject();
    if (k < 0.6) return { id: this.int(1e6), prot: this.pick(['r-x', 'rw-']) };
    if (k < 0.64) return { a: { b: [1, 2, { c: this.text(this.int(30)) }], d: [this.int(100), this.int(1000)] }, e: this.text(this.int(100)) };
    if (k < 0.68) return Array.from({ length: this.int(20) }, () => this.int(1000));
    if (k < 0.74) return Uint8Array.from({ length: this.int(this.chance(0.8) ? 600 : 3000) }, () => this.int(256));
    if (k < 0.78) return new Date(this.int(2 ** 41));
    // Around the bound of a leaf's value area (512 bytes; a string of n ASCII characters packs to n + 3).
    if (k < 0.83) return 'y'.repeat(500 + this.int(20));
    if (k < 0.88) return [this.shapeObject(), this.shapeObject(), this.int(100)];
    if (k < 0.92) return { nested: this.shapeObject(), list: [this.shapeObject()] };
    // Large enough for a value record of its own.
    if (k < 0.94) return 'x'.repeat(2000 + this.int(3000));
    return this.text(100 + this.int(500));
  }

  /** An argument every index check refuses. */
  badIndex(): unknown {
    return this.pick([-1, MAX_INDEX + 1, 1.5, NaN, Infinity, '3', null, undefined]);
  }
}

// ---------------------------------------------------------------------------------------------
// Operations as data, run the same way on the store, a snapshot, a transaction or the reference.

type WriteName = 'store' | 'insert' | 'erase' | 'clear' | 'allocRange' | 'allocRangeRev';
type ReadName = 'load' | 'entry' | 'find' | 'findRev' | 'ranges' | 'rangesRev' | 'emptyArea' | 'emptyAreaRev' | 'count';
interface Call {
  op: WriteName | ReadName;
  args: unknown[];
}
type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

function writeCall(g: Gen): Call {
  const [a, b] = g.pair();
  const roll = g.int(100);
  if (roll < 34) return { op: 'store', args: [a, b, g.value()] };
  if (roll < 50) return { op: 'insert', args: [a, b, g.value()] };
  if (roll < 62) return { op: 'erase', args: [g.index()] };
  if (roll < 72) return { op: 'clear', args: [a, b] };
  if (roll < 74) return { op: 'clear', args: [g.chance(0.3) ? 0 : g.index(), MAX_INDEX] };
  if (roll < 86) {
    const [min, max] = g.chance(0.2) ? [0, MAX_INDEX] : [a, b];
    return { op: g.pick(['allocRange', 'allocRangeRev'] as const), args: [g.size(), min, max, g.value()] };
  }
  if (roll < 94) return refusedWrite(g, a, b);
  return { op: 'store', args: [a, a, g.value()] };
}

/** A write whose arguments API.md refuses with EINVAL (the reference decides which). */
function refusedWrite(g: Gen, a: number, b: number): Call {
  switch (g.int(6)) {
    case 0:
      return { op: 'store', args: [g.badIndex(), b, 1] };
    case 1:
      return { op: g.pick(['store', 'insert'] as const), args: [a, b, g.pick([null, undefined])] };
    case 2:
      return { op: 'insert', args: [a, g.badIndex(), 'x'] };
    case 3:
      return { op: 'clear', args: b > a ? [b, a] : [a, g.badIndex()] };
    case 4:
      return { op: g.pick(['allocRange', 'allocRangeRev'] as const), args: [g.pick([0, -1, MAX_SIZE + 1, 1.5]), a, b, 1] };
    default:
      return { op: 'erase', args: [g.badIndex()] };
  }
}

function readCall(g: Gen): Call {
  const op = g.pick(['load', 'entry', 'find', 'findRev', 'ranges', 'rangesRev', 'emptyArea', 'emptyAreaRev', 'count'] as const);
  switch (op) {
    case 'load':
    case 'entry':
      return { op, args: [g.index()] };
    case 'find':
    case 'findRev':
      return { op, args: g.chance(0.3) ? [g.index()] : [g.index(), g.index()] };
    case 'ranges':
    case 'rangesRev':
      return { op, args: g.chance(0.2) ? [] : g.pair() };
    case 'emptyArea':
    case 'emptyAreaRev':
      return { op, args: [...(g.chance(0.1) ? [0, MAX_INDEX] : g.pair()), g.size()] };
    case 'count':
      return { op, args: [] };
  }
}

function codeOf(err: unknown): string {
  if (err instanceof MapleError || err instanceof RefError) return err.code;
  return `non-MapleError ${(err as Error)?.name}: ${(err as Error)?.message}`;
}

/** Runs `call` on any target with that method; iterators are drained into arrays. */
function attempt(target: object, call: Call): Outcome {
  try {
    const fn = (target as Record<string, (...a: unknown[]) => unknown>)[call.op]!;
    let value = fn.apply(target, call.args);
    if (call.op === 'ranges' || call.op === 'rangesRev') value = [...(value as Iterable<unknown>)];
    return { ok: true, value };
  } catch (err) {
    return { ok: false, code: codeOf(err) };
  }
}

const show = (v: unknown): string => inspect(v, { depth: 4, maxStringLength: 40, maxArrayLength: 6, breakLength: Infinity });
const callText = (c: Call): string => `${c.op}(${c.args.map(show).join(', ')})`;

function expectSame(where: string, actual: Outcome, expected: Outcome): void {
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`${where}: store gave ${show(actual)}, reference gives ${show(expected)}`);
}

/** Applies a write to a copy of `ref`; returns the outcome and the state it leaves (`ref` itself on a refusal). */
function applyToReference(ref: Reference<Value>, call: Call): { expected: Outcome; next: Reference<Value> } {
  const next = ref.clone();
  const expected = attempt(next, call);
  return { expected, next: expected.ok ? next : ref };
}

// ---------------------------------------------------------------------------------------------
// Comparisons of whole views with the reference.

interface View {
  ranges(): IterableIterator<unknown>;
  rangesRev(): IterableIterator<unknown>;
  count(): number;
}

/** The full contents, ascending and descending, and count(). */
function expectSameContents(where: string, view: View, ref: Reference<Value>): void {
  const want = ref.all();
  const got = [...view.ranges()];
  if (!isDeepStrictEqual(got, want)) {
    const i = want.findIndex((w, k) => !isDeepStrictEqual(got[k], w));
    const at = i < 0 ? want.length : i;
    throw new Error(`${where}: contents differ at position ${at} of ${got.length}/${want.length}: store ${show(got[at])}, reference ${show(want[at])}`);
  }
  if (!isDeepStrictEqual([...view.rangesRev()], want.reverse())) throw new Error(`${where}: rangesRev() is not ranges() reversed`);
  if (view.count() !== ref.count()) throw new Error(`${where}: count() ${view.count()}, reference ${ref.count()}`);
}

/** emptyArea/emptyAreaRev over windows at the edges of the index space. */
function expectSameEdgeGaps(where: string, view: object, ref: Reference<Value>, g: Gen): void {
  const windows: Array<[number, number, number]> = [
    [0, MAX_INDEX, 1],
    [0, MAX_INDEX, MAX_SIZE],
    [0, MAX_INDEX, MAX_INDEX],
    [MAX_INDEX, MAX_INDEX, 1],
    [0, 0, 1],
    [MAX_INDEX - 50, MAX_INDEX, 1 + g.int(60)],
    [0, 50, 1 + g.int(60)],
    [g.index(), MAX_INDEX, g.size()],
  ];
  for (const [min, max, size] of windows) {
    for (const op of ['emptyArea', 'emptyAreaRev'] as const) {
      const call = { op, args: [min, max, size] };
      expectSame(`${where}: ${callText(call)}`, attempt(view, call), attempt(ref, call));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One run: a store file, its reference, and the snapshots held on it.

interface Held {
  snap: Snapshot<Value>;
  ref: Reference<Value>;
  version: number;
}

/** The options of one open, re-picked at every reopen; only combinations API.md allows. */
function pickOptions(g: Gen): OpenOptions {
  const sync = g.pick(['full', 'none'] as const);
  const protocol = sync === 'none' ? g.pick([undefined, 'one-sync', 'two-sync'] as const) : g.pick([undefined, 'log', 'one-sync', 'two-sync'] as const);
  const cacheSize = g.pick([1, 1, 4096, 65536, undefined]);
  const o: OpenOptions = { sync };
  if (protocol !== undefined) o.commitProtocol = protocol;
  if (cacheSize !== undefined) o.cacheSize = cacheSize;
  if (g.chance(0.5)) o.packValues = false;
  if (g.chance(0.5)) o.sharedStructures = false;
  if (g.chance(0.3)) o.maxGroupWrites = 1 + g.int(4);
  if (g.chance(0.2)) o.maxGroupBytes = 1 + g.int(3000);
  if (g.chance(0.3)) o.maxQueuedWrites = 1 + g.int(3);
  return o;
}

class Run {
  store: Store;
  ref = new Reference<Value>();
  held: Held[] = [];
  opts: OpenOptions;
  readonly firstOptions: OpenOptions;
  /** The last steps, for the failure message. */
  readonly trail: string[] = [];
  readonly reopens: OpenOptions[] = [];
  /** How often each kind of outcome was met (refusal codes, rollbacks, async rejections): proof the run reached them. */
  readonly seen = new Map<string, number>();

  constructor(
    readonly file: string,
    readonly g: Gen,
  ) {
    this.opts = pickOptions(g);
    this.firstOptions = this.opts;
    this.store = openStore<Value>(file, this.opts);
  }

  count(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  note(text: string): void {
    this.trail.push(text.length > 300 ? `${text.slice(0, 300)}…` : text);
    if (this.trail.length > 40) this.trail.shift();
  }

  /** Versions never go back; a refusal, a read or a rollback leaves them unchanged. */
  expectVersion(where: string, before: number, how: 'unchanged' | 'moved' | 'monotonic'): void {
    const v = this.store.version;
    if (v < before) throw new Error(`${where}: version went back from ${before} to ${v}`);
    if (how === 'unchanged' && v !== before) throw new Error(`${where}: version moved from ${before} to ${v}`);
    if (how === 'moved' && v === before) throw new Error(`${where}: contents changed but version stayed ${v}`);
  }

  /** A synchronous write on the store: same result or refusal code as the reference. */
  syncWrite(where: string, call: Call): void {
    const before = this.store.version;
    const { expected, next } = applyToReference(this.ref, call);
    expectSame(`${where}: s.${callText(call)}`, attempt(this.store, call), expected);
    this.count(expected.ok ? 'sync write' : `sync ${expected.code}`);
    const changed = !isDeepStrictEqual(next.all(), this.ref.all());
    this.ref = next;
    this.expectVersion(`${where}: s.${callText(call)}`, before, !expected.ok ? 'unchanged' : changed ? 'moved' : 'monotonic');
  }

  /** A read on the store equals the reference's, and leaves the version alone. */
  read(where: string, call: Call): void {
    const before = this.store.version;
    expectSame(`${where}: s.${callText(call)}`, attempt(this.store, call), attempt(this.ref, call));
    this.expectVersion(where, before, 'unchanged');
  }

  /**
   * A transaction of writes and reads (its own, and of the store outside it) that commits, throws
   * at the end, or lets a refusal propagate; a rollback leaves contents and version as they were,
   * and the transaction object is ECLOSED afterwards.
   */
  transaction(where: string): void {
    const g = this.g;
    const mode = g.pick(['commit', 'commit', 'throw', 'abortOnRefusal'] as const);
    const calls = Array.from({ length: 1 + g.int(g.chance(0.1) ? 60 : 10) }, () => (g.chance(0.65) ? { kind: 'write' as const, call: writeCall(g) } : { kind: g.chance(0.75) ? ('read' as const) : ('outer' as const), call: readCall(g) }));
    this.note(`transaction ${mode}: ${calls.map((c) => `${c.kind === 'outer' ? 's' : 't'}.${callText(c.call)}`).join('; ')}`);
    const committed = this.ref;
    let work = committed.clone();
    const before = this.store.version;
    const rollback = new Error('rollback');
    let refused: string | undefined;
    let txn: WriteTxn<Value> | undefined;
    let thrown: unknown;
    try {
      this.store.transaction((t) => {
        txn = t;
        for (const { kind, call } of calls) {
          if (kind === 'outer') {
            expectSame(`${where}: s.${callText(call)} during the transaction`, attempt(this.store, call), attempt(committed, call));
          } else if (kind === 'read') {
            expectSame(`${where}: t.${callText(call)}`, attempt(t, call), attempt(work, call));
          } else {
            const { expected, next } = applyToReference(work, call);
            if (mode === 'abortOnRefusal' && !expected.ok) {
              refused = expected.code;
              (t as unknown as Record<string, (...a: unknown[]) => unknown>)[call.op]!(...call.args); // must throw
              throw new Error(`${where}: t.${callText(call)} did not refuse (${expected.code} expected)`);
            }
            expectSame(`${where}: t.${callText(call)}`, attempt(t, call), expected);
            work = next;
          }
        }
        expectSameContents(`${where}: the transaction's own view`, t, work);
        if (mode === 'throw') throw rollback;
      });
    } catch (err) {
      thrown = err;
    }
    if (mode === 'throw' || refused !== undefined) {
      if (mode === 'throw' && thrown !== rollback) throw thrown ?? new Error(`${where}: the transaction did not rethrow its error`);
      if (refused !== undefined && codeOf(thrown) !== refused) throw new Error(`${where}: aborted transaction threw ${codeOf(thrown)}, expected ${refused}`);
      this.expectVersion(`${where}: rolled-back transaction`, before, 'unchanged');
      this.count(`transaction ${mode}`);
    } else {
      if (thrown !== undefined) throw thrown;
      this.ref = work;
      this.expectVersion(`${where}: committed transaction`, before, 'monotonic');
      this.count('transaction commit');
    }
    const late = attempt(txn!, { op: 'load', args: [0] });
    if (late.ok || late.code !== 'ECLOSED') throw new Error(`${where}: a finished transaction gave ${show(late)}, expected ECLOSED`);
    expectSameContents(`${where}: after the transaction`, this.store, this.ref);
  }

  /**
   * Async writes queued in call order — *Async calls and write(fn) with several operations, some
   * throwing — interleaved with synchronous writes (which commit the queue first), reads (which
   * see the published version), flushes and snapshots. Every promise settles as the reference
   * says, in call order.
   */
  async burst(where: string): Promise<void> {
    const g = this.g;
    const n = 1 + g.int(g.chance(0.1) ? 200 : 14);
    this.note(`async burst of ${n}`);
    this.count('burst');
    const before = this.store.version;
    /** The reference of the version readers see: the last one a synchronous call committed. */
    let published = this.ref;
    const settled: Array<Promise<void>> = [];
    const expectSettles = (what: string, p: Promise<unknown>, expected: Outcome): void => {
      settled.push(
        p.then(
          (value) => expectSame(`${where}: ${what}`, { ok: true, value }, expected),
          (err) => expectSame(`${where}: ${what}`, { ok: false, code: codeOf(err) }, expected),
        ),
      );
    };
    for (let i = 0; i < n; i++) {
      const k = g.roll();
      if (k < 0.5) {
        const call = writeCall(g);
        const { expected, next } = applyToReference(this.ref, call);
        this.ref = next;
        this.count(expected.ok ? 'async write' : `async ${expected.code}`);
        this.note(`  ${call.op}Async${callText(call).slice(call.op.length)}`);
        const fn = (this.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`${call.op}Async`]!;
        expectSettles(`${call.op}Async ${callText(call)}`, fn.apply(this.store, call.args), expected);
      } else if (k < 0.75) {
        settled.push(this.queueWriteFn(where, g));
      } else if (k < 0.85) {
        const call = writeCall(g);
        this.note(`  sync s.${callText(call)}`);
        const { expected, next } = applyToReference(this.ref, call);
        expectSame(`${where}: s.${callText(call)} among queued writes`, attempt(this.store, call), expected);
        this.ref = next;
        published = this.ref;
        expectSameContents(`${where}: after a synchronous write committed the queue`, this.store, this.ref);
      } else if (k < 0.93) {
        const call = readCall(g);
        expectSame(`${where}: s.${callText(call)} with writes queued`, attempt(this.store, call), attempt(published, call));
      } else if (k < 0.97 || this.opts.sync !== 'none') {
        this.note('  snapshot');
        this.held.push({ snap: this.store.snapshot(), ref: published, version: this.store.version });
      } else {
        this.note('  flush');
        this.store.flush();
        published = this.ref;
        expectSameContents(`${where}: after flush() with writes queued`, this.store, this.ref);
      }
    }
    await Promise.all(settled);
    this.expectVersion(`${where}: after the burst`, before, 'monotonic');
    expectSameContents(`${where}: after the burst settled`, this.store, this.ref);
  }

  /** write(fn): 1–4 operations on its transaction, then maybe a throw that rejects only this promise. */
  private queueWriteFn(where: string, g: Gen): Promise<void> {
    const calls = Array.from({ length: 1 + g.int(4) }, () => (g.chance(0.8) ? writeCall(g) : readCall(g)));
    const throws = g.chance(0.3);
    this.note(`  write(t => { ${calls.map((c) => `t.${callText(c)}`).join('; ')}${throws ? '; throw' : ''} })`);
    let next = this.ref;
    const expected = calls.map((call) => {
      const r = applyToReference(next, call);
      next = r.next;
      return r.expected;
    });
    if (!throws) this.ref = next;
    this.count(throws ? 'write(fn) throws' : 'write(fn)');
    const marker = new Error('write rollback');
    const p = this.store.write((t) => {
      const got = calls.map((call) => attempt(t, call));
      if (throws) throw marker;
      return got;
    });
    return p.then(
      (got) => {
        if (throws) throw new Error(`${where}: a throwing write(fn) resolved`);
        got.forEach((outcome, i) => expectSame(`${where}: write(fn) t.${callText(calls[i]!)}`, outcome, expected[i]!));
      },
      (err) => {
        if (err !== marker) throw err instanceof MapleError ? new Error(`${where}: write(fn) rejected with ${err.code}: ${err.message}`) : err;
      },
    );
  }

  /** A snapshot of the current version, held until a later step (or the reopen) compares and closes it. */
  openSnapshot(): void {
    const snap = this.store.snapshot();
    if (snap.version !== this.store.version) throw new Error(`snapshot version ${snap.version} != store version ${this.store.version}`);
    this.held.push({ snap, ref: this.ref, version: snap.version });
  }

  /** A held snapshot still reads its own version, whatever was committed since; closing it ends it. */
  checkSnapshot(where: string, close: boolean): void {
    if (this.held.length === 0) return;
    const k = this.g.int(this.held.length);
    const h = this.held[k]!;
    const call = readCall(this.g);
    this.note(`snapshot of v${h.version}: ${callText(call)}${close ? ', close' : ''}`);
    this.count(h.version < this.store.version ? 'read of an older snapshot' : 'read of a current snapshot');
    expectSame(`${where}: snapshot of v${h.version}.${callText(call)}`, attempt(h.snap, call), attempt(h.ref, call));
    if (h.snap.version !== h.version) throw new Error(`${where}: a snapshot's version moved from ${h.version} to ${h.snap.version}`);
    if (!close) return;
    expectSameContents(`${where}: snapshot of v${h.version}`, h.snap, h.ref);
    h.snap.close();
    this.held.splice(k, 1);
    const late = attempt(h.snap, { op: 'count', args: [] });
    if (late.ok || late.code !== 'ECLOSED') throw new Error(`${where}: a closed snapshot gave ${show(late)}`);
  }

  /** Hundreds of ranges in one transaction, so the tree grows past one level even in a small cache. */
  bulk(where: string): void {
    const g = this.g;
    const base = g.int(g.space);
    const count = 100 + g.int(600);
    const stride = 1 + g.int(5);
    const length = g.int(stride);
    this.note(`bulk: ${count} ranges from ${base}, stride ${stride}, length ${length + 1}`);
    const next = this.ref.clone();
    const values = Array.from({ length: count }, (_, i) => (i % 7 === 0 ? g.value() : i));
    this.store.transaction((t) => {
      values.forEach((v, i) => {
        const first = Math.min(base + i * stride, MAX_INDEX);
        t.store(first, Math.min(first + length, MAX_INDEX), v);
        next.store(first, Math.min(first + length, MAX_INDEX), v);
      });
    });
    this.ref = next;
    expectSameContents(`${where}: after the bulk load`, this.store, this.ref);
  }

  /**
   * Closes the store — by close(), or by closeAsync() with async writes still queued, which must
   * all commit — and reopens it with newly picked options. The held snapshots are compared before
   * and are ECLOSED after; the reopened store has the version and contents the reference says.
   */
  async reopen(where: string): Promise<void> {
    const g = this.g;
    for (const h of this.held) expectSameContents(`${where}: snapshot of v${h.version} before close`, h.snap, h.ref);
    let version = this.store.version;
    if (g.chance(0.4)) {
      const settled: Array<Promise<void>> = [];
      for (let i = g.int(8); i > 0; i--) {
        const call = writeCall(g);
        const { expected, next } = applyToReference(this.ref, call);
        this.ref = next;
        this.note(`  ${call.op}Async${callText(call).slice(call.op.length)} before closeAsync`);
        const fn = (this.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`${call.op}Async`]!;
        settled.push(
          fn.apply(this.store, call.args).then(
            (value) => expectSame(`${where}: ${callText(call)} before closeAsync`, { ok: true, value }, expected),
            (err) => expectSame(`${where}: ${callText(call)} before closeAsync`, { ok: false, code: codeOf(err) }, expected),
          ),
        );
      }
      this.note(`closeAsync with ${settled.length} writes queued`);
      this.count('closeAsync');
      const closing = this.store.closeAsync();
      const late = await this.store.storeAsync(1, 1, 'after close').then(
        () => 'resolved',
        (err: unknown) => codeOf(err),
      );
      if (late !== 'ECLOSED') throw new Error(`${where}: a write called during closeAsync gave ${late}, expected ECLOSED`);
      await Promise.all([closing, ...settled]);
      version = -1; // the queued writes committed as some number of groups
    } else {
      this.note('close');
      this.store.close();
    }
    for (const h of this.held) {
      const late = attempt(h.snap, { op: 'count', args: [] });
      if (late.ok || late.code !== 'ECLOSED') throw new Error(`${where}: a snapshot of a closed store gave ${show(late)}`);
    }
    this.held = [];
    this.opts = pickOptions(g);
    this.reopens.push(this.opts);
    this.note(`open ${JSON.stringify(this.opts)}`);
    this.store = openStore<Value>(this.file, this.opts);
    if (version >= 0 && this.store.version !== version) throw new Error(`${where}: closed at version ${version}, reopened at ${this.store.version}`);
    this.verifyWhole(`${where}: after reopen with ${JSON.stringify(this.opts)}`);
  }

  /** Everything a reopened store must agree on: contents both ways, count, stats, gaps, check(). */
  verifyWhole(where: string): void {
    expectSameContents(where, this.store, this.ref);
    const st = this.store.stats();
    if (st.ranges !== this.ref.count()) throw new Error(`${where}: stats().ranges ${st.ranges}, reference ${this.ref.count()}`);
    if (st.snapshots !== this.held.length) throw new Error(`${where}: stats().snapshots ${st.snapshots}, ${this.held.length} held`);
    expectSameEdgeGaps(where, this.store, this.ref, this.g);
    this.store.check();
  }

  close(): void {
    for (const h of this.held) h.snap.close();
    this.held = [];
    this.store.close();
  }
}

/** One seed: STEPS steps of every kind, then a final close and reopen. */
async function runSeed(seed: number, file: string): Promise<Run> {
  const g = new Gen(seed, [40, 300, 5000, 1e6, 2 ** 40][seed % 5]!);
  const run = new Run(file, g);
  let step = 0;
  try {
    for (; step < STEPS; step++) {
      const where = `step ${step}`;
      const k = g.roll();
      if (k < 0.28) {
        const call = writeCall(g);
        run.note(`s.${callText(call)}`);
        run.syncWrite(where, call);
      } else if (k < 0.4) {
        const call = readCall(g);
        run.note(`s.${callText(call)}`);
        run.read(where, call);
      } else if (k < 0.52) run.transaction(where);
      else if (k < 0.66) await run.burst(where);
      else if (k < 0.7) {
        run.note('snapshot');
        run.openSnapshot();
      } else if (k < 0.78) run.checkSnapshot(where, g.chance(0.3));
      else if (k < 0.82) {
        run.note('edge gaps');
        expectSameEdgeGaps(where, run.store, run.ref, g);
        run.syncWrite(where, { op: g.pick(['allocRange', 'allocRangeRev'] as const), args: [g.pick([1, 2, 40, MAX_INDEX, MAX_SIZE]), g.pick([0, MAX_INDEX - 40]), MAX_INDEX, g.value()] });
      } else if (k < 0.84) run.bulk(where);
      else if (k < 0.9) await run.reopen(where);
      else if (k < 0.92) {
        run.note('check');
        run.verifyWhole(where);
      } else {
        const call = writeCall(g);
        run.note(`s.${callText(call)}`);
        run.syncWrite(where, call);
      }
      run.ref.selfCheck();
    }
    await run.reopen('end');
    run.close();
    return run;
  } catch (err) {
    try {
      run.close();
    } catch {
      // The store may already be closed, or be the thing that failed.
    }
    const e = err instanceof Error ? err : new Error(String(err));
    e.message =
      `seed ${seed}, step ${step}, options ${JSON.stringify(run.opts)}: ${e.message}\n` +
      `reproduce: MAPLE_REOPEN_SEEDS=${seed} MAPLE_REOPEN_STEPS=${STEPS} npx vitest run test/optionReopens.test.ts\n` +
      `last steps:\n  ${run.trail.join('\n  ')}`;
    throw e;
  }
}

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-reopens-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('one file reopened with options re-picked each time, against the reference', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const run = await runSeed(seed, path.join(dir, `seed-${seed}.maple`));
      // The run reached what it claims to: reopens with each kind of option, every refusal code,
      // rollbacks, queued writes at close, older snapshots, more object shapes than msgpackr shares.
      const opened = [run.firstOptions, ...run.reopens];
      const features: Array<[string, (o: OpenOptions) => boolean]> = [
        ["sync: 'none'", (o) => o.sync === 'none'],
        ["sync: 'full'", (o) => o.sync === 'full'],
        ["commitProtocol: 'one-sync'", (o) => o.commitProtocol === 'one-sync'],
        ["commitProtocol: 'two-sync'", (o) => o.commitProtocol === 'two-sync'],
        ['cacheSize: 1', (o) => o.cacheSize === 1],
        ['packValues: false', (o) => o.packValues === false],
        ['sharedStructures: false', (o) => o.sharedStructures === false],
        ['maxQueuedWrites', (o) => o.maxQueuedWrites !== undefined],
      ];
      for (const [feature, has] of features) expect(opened.some(has), `an open with ${feature}`).toBe(true);
      for (const outcome of ['sync EEXIST', 'sync EBUSY', 'sync EINVAL', 'async EEXIST', 'async EINVAL', 'transaction throw', 'write(fn) throws', 'closeAsync', 'read of an older snapshot']) {
        expect(run.seen.get(outcome) ?? 0, outcome).toBeGreaterThan(0);
      }
      expect(run.g.shapes.size).toBeGreaterThan(32);
    });
  }
});
