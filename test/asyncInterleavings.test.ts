/**
 * A model-based run of the asynchronous write path (src/api/writeQueue.ts, writeGroup.ts,
 * storage/commit/writeAsync.ts, the write paths of src/api/store.ts) against test/reference.ts,
 * with the calls interleaved as an application would make them: not batch by batch (as
 * groupCommit.test.ts does), but asynchronous writes left pending while synchronous writes,
 * flushes, snapshots, closes and crashes happen — at any stage of a group (queued, run, prepared,
 * syncing, run ahead) — and more calls made from the writes' own `.then` callbacks and from
 * setImmediate callbacks.
 *
 * The store runs on a SimulatedDisk whose asynchronous syncs take a random number of turns of the
 * event loop (so groups run ahead of a group in flight, and synchronous calls take groups over at
 * every step), with every commit protocol, `sync: 'none'`, a small commit log, small groups and a
 * small queue.
 *
 * The model: every write takes effect in call order (a synchronous write commits the queue first),
 * so the reference is updated when a call is made, and every state it passes through is kept (the
 * history). Checked:
 *  - each promise settles with what the reference gave for its call (the erased value, the start
 *    of an allocated range, a write function's result; EEXIST, EBUSY or its own throw), in call
 *    order, and never after a close has returned without settling;
 *  - when a promise resolves its write is published (the store reads a history state at or after
 *    it) and durable (with `sync: 'full'`, the disk's durable image, opened, holds such a state);
 *  - after a synchronous write, or flush(), the store reads exactly the reference;
 *  - the store reads only history states, never one before a resolved write; a snapshot reads one
 *    too, frozen for as long as it is open;
 *  - after close()/closeAsync() every promise has settled and a reopen reads exactly the
 *    reference; writes called while closing are ECLOSED and have no effect;
 *  - after a power loss (`sync: 'full'`: the durable image) the store reads a history state no
 *    older than the last resolved write, and check() passes;
 *  - no unhandled rejection or uncaught exception.
 *
 * Longer runs: MAPLE_ASYNC_RUNS=500 MAPLE_ASYNC_SEEDS=1,2,3 npx vitest run test/asyncInterleavings.test.ts
 * (MAPLE_ASYNC_FAULTS=0 leaves out the injected I/O faults). The regressions at the end each failed
 * before its fix.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapleError, type MapleStore, type OpenOptions, type Snapshot } from '../src/index.js';
import { openWith } from '../src/api/open.js';
import { FaultyIO, SimulatedDisk, type FileIO } from '../recovery/testing/index.js';
import { Reference, RefError, type WriteOp } from './reference.js';
import { ForwardingIO } from './helpers.js';
import { later } from '../recovery/testing/simulatedDisk.js';

type V = unknown;

// ── The disk: syncs that take a random number of turns ─────────────────────────────────────────

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A FileIO whose asynchronous syncs take 1..maxTurns turns of the event loop, at random. */
class SlowSyncIO extends ForwardingIO {
  constructor(
    inner: FileIO,
    private readonly rng: () => number,
    private readonly maxTurns: number,
  ) {
    super(inner);
  }
  syncAsync(): Promise<void> {
    return later(() => this.inner.sync(), 1 + Math.floor(this.rng() * this.maxTurns));
  }
}

// ── Commands ───────────────────────────────────────────────────────────────────────────────────

type Op = WriteOp<V>;

interface Fn {
  ops: Op[];
  /** Throw after the ops. */
  fail: boolean;
  /** Return what it reads too (the group's tree so far). */
  read: boolean;
}

/** A call that can be made anywhere: from the driver, a `.then` callback or a setImmediate. */
type Leaf =
  | { k: 'async'; single: boolean; fn: Fn }
  | { k: 'sync'; single: boolean; fn: Fn }
  | { k: 'snapshot' }
  | { k: 'read' }
  | { k: 'flush' };

type Cmd =
  | { k: 'async'; single: boolean; fn: Fn; then: Leaf | null }
  | Leaf
  | { k: 'turns'; n: number }
  | { k: 'micro' }
  | { k: 'immediate'; leaf: Leaf }
  | { k: 'closeSnap'; i: number }
  | { k: 'awaitAll' }
  | { k: 'close'; how: 'sync' | 'async'; during: Leaf[] }
  | { k: 'crash' }
  /** The `after`-th file mutation from now fails (the store then refuses writes until reopened). */
  | { k: 'fault'; kind: 'EIO' | 'ENOSPC' | 'short-write'; after: number }
  /** Asynchronous writes, each `gap` turns of the event loop after the one before (they arrive while groups sync). */
  | { k: 'stagger'; writes: Array<{ single: boolean; fn: Fn; then: Leaf | null }>; gap: number };

const KEYS = 120;
const FAULTS = Number(process.env.MAPLE_ASYNC_FAULTS ?? 1);
const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1000 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 900 }).map((n) => 'x'.repeat(n)) },
  // Now and then a value of many cells: with `sync: 'none'`, a group's publish makes a checkpoint due.
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }).chain((n): fc.Arbitrary<V> => (n === 0 ? fc.integer({ min: 20_000, max: 120_000 }).map((k) => 'y'.repeat(k)) : fc.integer({ min: 0, max: 9 }))) },
  { weight: 1, arbitrary: fc.record({ k: fc.integer({ min: 0, max: 99 }), s: fc.string({ maxLength: 8 }) }) },
  // Objects of many shapes: new shared structures (msgpackr records) in groups, some of them dropped.
  { weight: 2, arbitrary: fc.record({ a: fc.integer({ min: 0, max: 9 }), b: fc.string({ maxLength: 4 }), c: fc.boolean(), d: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }), e: fc.constantFrom('p', 'q') }, { requiredKeys: [] }) },
);
const spanArb = fc.tuple(fc.integer({ min: 0, max: KEYS }), fc.integer({ min: 0, max: 10 })).map(([first, len]) => ({ first, last: first + len }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(spanArb, valueArb).map(([s, value]) => ({ op: 'store' as const, ...s, value })) },
  { weight: 2, arbitrary: fc.tuple(spanArb, valueArb).map(([s, value]) => ({ op: 'insert' as const, ...s, value })) },
  { weight: 1, arbitrary: spanArb.map((s) => ({ op: 'clear' as const, ...s })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: KEYS }).map((index) => ({ op: 'erase' as const, index })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: KEYS }), valueArb, fc.boolean())
      .map(([size, min, value, rev]) => ({ op: rev ? ('allocRangeRev' as const) : ('allocRange' as const), size, min, max: min + 30, value })),
  },
);
const fnArb: fc.Arbitrary<Fn> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 4 }),
  fail: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  read: fc.boolean(),
});
const singleArb = opArb.map((op): Fn => ({ ops: [op], fail: false, read: false }));
const writeArb = <K extends 'async' | 'sync'>(k: K): fc.Arbitrary<{ k: K; single: boolean; fn: Fn }> =>
  fc.oneof(
    fc.record({ k: fc.constant(k), single: fc.constant(true), fn: singleArb }),
    fc.record({ k: fc.constant(k), single: fc.constant(false), fn: fnArb }),
  );
const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  { weight: 5, arbitrary: writeArb('async') },
  { weight: 3, arbitrary: writeArb('sync') },
  { weight: 1, arbitrary: fc.constant({ k: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'flush' as const }) },
);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(writeArb('async'), fc.option(leafArb, { freq: 4 })).map(([w, then]) => ({ ...w, then })) },
  { weight: 4, arbitrary: writeArb('sync') },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => ({ k: 'turns' as const, n })) },
  { weight: 2, arbitrary: fc.constant({ k: 'micro' as const }) },
  { weight: 2, arbitrary: leafArb.map((leaf) => ({ k: 'immediate' as const, leaf })) },
  { weight: 1, arbitrary: fc.constant({ k: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }).map((i) => ({ k: 'closeSnap' as const, i })) },
  { weight: 2, arbitrary: fc.constant({ k: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'awaitAll' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), how: fc.constantFrom('sync' as const, 'async' as const), during: fc.array(leafArb, { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'crash' as const }) },
  { weight: FAULTS, arbitrary: fc.record({ k: fc.constant('fault' as const), kind: fc.constantFrom('EIO' as const, 'ENOSPC' as const, 'short-write' as const), after: fc.integer({ min: 1, max: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('stagger' as const),
      writes: fc.array(fc.tuple(writeArb('async'), fc.option(leafArb, { freq: 5 })).map(([w, then]) => ({ single: w.single, fn: w.fn, then })), { minLength: 2, maxLength: 10 }),
      gap: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

interface Config {
  protocol: 'log' | 'one-sync' | 'two-sync';
  sync: 'full' | 'none';
  maxGroupWrites?: number;
  maxQueuedWrites?: number;
  maxGroupBytes?: number;
  smallLog: boolean;
  packValues: boolean;
  sharedStructures: boolean;
  smallCache: boolean;
  syncTurns: number;
  seed: number;
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    protocol: fc.constantFrom('log' as const, 'one-sync' as const, 'two-sync' as const),
    none: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    maxGroupWrites: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    maxQueuedWrites: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    maxGroupBytes: fc.option(fc.integer({ min: 1, max: 1500 }), { nil: undefined }),
    smallLog: fc.boolean(),
    packValues: fc.boolean(),
    sharedStructures: fc.boolean(),
    smallCache: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    syncTurns: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
  })
  .map(({ none, protocol, ...rest }) => ({ ...rest, sync: none ? ('none' as const) : ('full' as const), protocol: none && protocol === 'log' ? ('one-sync' as const) : protocol }));

// ── The reference ──────────────────────────────────────────────────────────────────────────────

type Writer = Record<string, (...args: never[]) => unknown>;

function applyOp(w: Writer, o: Op): unknown {
  switch (o.op) {
    case 'store':
    case 'insert':
      return (w[o.op] as (a: number, b: number, v: V) => unknown)(o.first, o.last, o.value);
    case 'clear':
      return (w.clear as (a: number, b: number) => unknown)(o.first, o.last);
    case 'erase':
      return (w.erase as (i: number) => unknown)(o.index);
    case 'allocRange':
    case 'allocRangeRev':
      return (w[o.op] as (s: number, a: number, b: number, v: V) => unknown)(o.size, o.min, o.max, o.value);
  }
}

/** Runs `fn` on a writer (a transaction or the reference); returns what a write function returns. */
function applyFn(w: Writer, fn: Fn): unknown {
  const results: unknown[] = [];
  for (const o of fn.ops) {
    results.push(applyOp(w, o) ?? null);
    if (fn.read) results.push((w.count as () => number)(), ((w.load as (i: number) => unknown)(o.op === 'erase' ? o.index : 'min' in o ? o.min : o.first)) ?? null);
  }
  if (fn.fail) throw new Error('rollback');
  return results;
}

/** The outcome of a call, as compared: 'ok:' + JSON of the result, or the error's code / message. */
function outcomeOf(err: unknown): string {
  if (err instanceof RefError) return err.code;
  if (err instanceof MapleError) return err.code;
  return err instanceof Error ? err.message : String(err);
}

function ser(ranges: Iterable<{ first: number; last: number; value: unknown }>): string {
  const out: Array<[number, number, unknown]> = [];
  for (const r of ranges) out.push([r.first, r.last, r.value]);
  return JSON.stringify(out);
}

// ── One run ────────────────────────────────────────────────────────────────────────────────────

interface Job {
  seq: number;
  epoch: number;
  /** Index in the history of the state after it (the one before, when it is refused). */
  idx: number;
  want: string;
  settled: boolean;
  leaf: Leaf | null;
  /** Refused when called (the store was closing): settles at once, out of order. */
  refused: boolean;
}

const problems: string[] = [];
const onUnhandled = (err: unknown): void => {
  problems.push(`unhandled: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

class Run {
  disk = new SimulatedDisk();
  s!: MapleStore<V>;
  ref = new Reference<V>();
  history: string[] = [];
  /** The oldest history state the store may read now (the last resolved or synchronous write). */
  lo = 0;
  jobs: Job[] = [];
  seq = 0;
  epoch = 0;
  closing = false;
  closed = false;
  snaps: Array<{ snap: Snapshot<V>; want: string; epoch: number }> = [];
  images: Array<{ image: Uint8Array; lo: number; hi: number; history: string[] }> = [];
  failures: string[] = [];
  rng: () => number;
  log: string[] = [];

  constructor(readonly cfg: Config) {
    this.rng = lcg(cfg.seed);
    this.history.push(ser(this.ref.all()));
    this.open();
  }

  opts(): OpenOptions {
    const c = this.cfg;
    return { sync: c.sync, commitProtocol: c.protocol, maxGroupWrites: c.maxGroupWrites, maxQueuedWrites: c.maxQueuedWrites, maxGroupBytes: c.maxGroupBytes, packValues: c.packValues, sharedStructures: c.sharedStructures, cacheSize: c.smallCache ? 64 * 1024 : undefined };
  }

  open(): void {
    this.faulty = new FaultyIO(this.disk.fileIO());
    this.armed = false;
    this.degraded = false;
    this.badIdx = Infinity;
    const io = new SlowSyncIO(this.faulty, this.rng, this.cfg.syncTurns);
    this.s = openWith<V>('/async/store', this.opts(), { fileIO: io, lockEnv: this.disk.lockEnv(), logCells: this.cfg.smallLog ? 256 : undefined });
    this.closing = false;
    this.closed = false;
  }

  fail(msg: string): void {
    this.failures.push(`${msg}\n  log: ${this.log.slice(-30).join(' | ')}`.replace(/(.)\1{40,}/g, (m, c: string) => `${c}×${m.length}`));
  }

  /** Whether the store's contents are a history state in [lo, hi]. */
  inHistory(got: string, lo: number, hi = this.history.length - 1, history = this.history): boolean {
    for (let i = hi; i >= lo; i--) if (history[i] === got) return true;
    return false;
  }

  readCheck(what: string): void {
    if (this.closed) return;
    let got: string;
    try {
      got = ser(this.s.ranges());
    } catch (err) {
      if (this.closing && err instanceof MapleError && err.code === 'ECLOSED') return;
      this.fail(`${what}: read threw ${String(err)}`);
      return;
    }
    if (!this.inHistory(got, this.lo)) this.fail(`${what}: store reads ${got}, no history state at or after ${this.lo} (of ${this.history.length}); ref ${this.history[this.history.length - 1]}`);
    for (const x of this.snaps) {
      if (x.snap.isClosed) continue;
      let s: string;
      try {
        s = ser(x.snap.ranges());
      } catch (err) {
        this.fail(`${what}: snapshot read threw ${String(err)}`);
        continue;
      }
      if (s !== x.want) this.fail(`${what}: snapshot changed: ${x.want} → ${s}`);
    }
  }

  /** The expected outcome of `fn` now; updates the reference. */
  model(fn: Fn): { want: string; idx: number } {
    const next = this.ref.clone();
    let want: string;
    try {
      want = 'ok:' + JSON.stringify(applyFn(next as unknown as Writer, fn));
      this.ref = next;
    } catch (err) {
      want = outcomeOf(err);
    }
    this.history.push(ser(this.ref.all()));
    return { want, idx: this.history.length - 1 };
  }

  asyncCall(single: boolean, fn: Fn, leaf: Leaf | null): void {
    const s = this.s;
    const refused = this.closing || this.closed;
    const early = this.armed && this.faulty.fired.length > 0;
    let p!: Promise<unknown>;
    if (single) {
      const o = fn.ops[0]!;
      switch (o.op) {
        case 'store':
          p = s.storeAsync(o.first, o.last, o.value);
          break;
        case 'insert':
          p = s.insertAsync(o.first, o.last, o.value);
          break;
        case 'clear':
          p = s.clearAsync(o.first, o.last);
          break;
        case 'erase':
          p = s.eraseAsync(o.index);
          break;
        case 'allocRange':
          p = s.allocRangeAsync(o.size, o.min, o.max, o.value);
          break;
        case 'allocRangeRev':
          p = s.allocRangeRevAsync(o.size, o.min, o.max, o.value);
          break;
      }
    } else {
      p = s.write((t) => applyFn(t as unknown as Writer, fn) as never);
    }
    const m = refused ? { want: 'ECLOSED', idx: this.history.length - 1 } : this.model(single ? { ops: fn.ops, fail: false, read: false } : fn);
    // A single op resolves with the op's own result (undefined for store, insert, clear).
    const want = single && m.want.startsWith('ok:') ? 'ok:' + JSON.stringify(JSON.parse(m.want.slice(3))[0] === null ? undefined : JSON.parse(m.want.slice(3))[0]) : m.want;
    const job: Job = { seq: this.seq++, epoch: this.epoch, idx: m.idx, want, settled: false, leaf, refused: refused || early };
    this.jobs.push(job);
    this.log.push(`async#${job.seq}${single ? ' ' + fn.ops[0]!.op : ' fn'} → ${want.slice(0, 40)}`);
    p.then(
      (value) => this.settled(job, 'ok:' + JSON.stringify(value)),
      (err) => this.settled(job, outcomeOf(err)),
    );
  }

  settled(job: Job, got: string): void {
    if (job.settled) this.fail(`job ${job.seq} settled twice`);
    job.settled = true;
    if (job.epoch === this.epoch) {
      if (got !== job.want && !this.faultOutcome(got, job.idx, job.want)) this.fail(`job ${job.seq}: got ${got}, want ${job.want}`);
      if (!job.refused) for (const j of this.jobs) if (j.epoch === job.epoch && !j.refused && j.seq < job.seq && !j.settled) this.fail(`job ${job.seq} settled before job ${j.seq}`);
      if (got.startsWith('ok:')) {
        totals.resolved++;
        this.lo = Math.max(this.lo, job.idx);
        this.readCheck(`at resolution of job ${job.seq}`);
        if (this.cfg.sync === 'full' && this.rng() < 0.2) this.images.push({ image: this.disk.durableImage(), lo: this.lo, hi: this.history.length - 1, history: this.history });
      }
    } else if (got.startsWith('ok:')) {
      // A job of a crashed store that resolved after the crash: its write must be in the image.
      this.crashLo = Math.max(this.crashLo, job.idx);
    }
    if (job.leaf !== null) this.leaf(job.leaf, `then of job ${job.seq}`);
  }
  crashLo = 0;
  faulty!: FaultyIO;
  /** A fault is armed on this store: calls may fail with EIO (or be refused after a failed commit). */
  armed = false;
  /** A call failed with the fault: the store refuses writes. */
  degraded = false;
  /** The first history state of a write that took effect in the reference but failed: the store never reaches it. */
  badIdx = Infinity;

  /** A failure the armed fault explains (it may also have been refused). */
  faultOutcome(got: string, idx: number, want: string): boolean {
    if (!this.armed || !(got === 'EIO' || got === 'ENOSPC' || got === 'ECLOSED')) return false;
    this.degraded = true;
    if (want.startsWith('ok:') && this.history[idx] !== this.history[idx - 1]) this.badIdx = Math.min(this.badIdx, idx);
    return true;
  }
  /** Between a crash and the reopen: calls from callbacks are not made. */
  crashing = false;

  syncCall(single: boolean, fn: Fn): void {
    const s = this.s;
    const refused = this.closing || this.closed;
    let got: string;
    try {
      let r: unknown;
      if (single) r = applyOp(s as unknown as Writer, fn.ops[0]!);
      else r = s.transaction((t) => applyFn(t as unknown as Writer, fn) as never);
      got = 'ok:' + JSON.stringify(single ? r : r);
    } catch (err) {
      got = outcomeOf(err);
    }
    if (refused) {
      if (got !== 'ECLOSED' && !(this.armed && (got === 'EIO' || got === 'ENOSPC'))) this.fail(`sync write while closing: got ${got}`);
      this.log.push(`sync refused`);
      return;
    }
    const m = this.model(single ? { ops: fn.ops, fail: false, read: false } : fn);
    const want = single && m.want.startsWith('ok:') ? 'ok:' + JSON.stringify(JSON.parse(m.want.slice(3))[0] === null ? undefined : JSON.parse(m.want.slice(3))[0]) : m.want;
    this.log.push(`sync${single ? ' ' + fn.ops[0]!.op : ' fn'} → ${got.slice(0, 40)}`);
    if (got !== want && this.faultOutcome(got, m.idx, want)) return;
    if (got !== want) this.fail(`sync write: got ${got}, want ${want}`);
    if (this.degraded) return;
    this.lo = m.idx;
    const now = ser(this.s.ranges());
    if (now !== this.history[m.idx]) this.fail(`after a sync write the store reads ${now}, want ${this.history[m.idx]}`);
  }

  leaf(l: Leaf, where: string): void {
    if (this.crashing) return;
    try {
      switch (l.k) {
        case 'async':
          this.asyncCall(l.single, l.fn, null);
          break;
        case 'sync':
          this.syncCall(l.single, l.fn);
          break;
        case 'snapshot':
          this.snapshot();
          break;
        case 'read':
          this.readCheck(`read (${where})`);
          break;
        case 'flush':
          this.flush();
          break;
      }
    } catch (err) {
      this.fail(`${where}: ${l.k} threw ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  snapshot(): void {
    if (this.closed) return;
    let snap: Snapshot<V>;
    try {
      snap = this.s.snapshot();
    } catch (err) {
      if (this.closing && err instanceof MapleError && err.code === 'ECLOSED') return;
      throw err;
    }
    const want = ser(snap.ranges());
    if (!this.inHistory(want, this.lo)) this.fail(`snapshot reads ${want}, no history state at or after ${this.lo}`);
    this.snaps.push({ snap, want, epoch: this.epoch });
    this.log.push('snapshot');
  }

  flush(): void {
    if (this.closed) return;
    try {
      this.s.flush();
    } catch (err) {
      if ((this.closing || this.closed) && err instanceof MapleError && err.code === 'ECLOSED') return;
      if (err instanceof MapleError && this.faultOutcome(err.code, 0, '')) return;
      throw err;
    }
    if (this.degraded) return;
    this.log.push('flush');
    if (this.closing) return;
    this.lo = this.history.length - 1;
    const now = ser(this.s.ranges());
    if (now !== this.history[this.lo]) this.fail(`after flush the store reads ${now}, want ${this.history[this.lo]}`);
  }

  closeSnaps(): void {
    for (const x of this.snaps.splice(0)) {
      if (!x.snap.isClosed) {
        if (!this.closed) {
          const s = ser(x.snap.ranges());
          if (s !== x.want) this.fail(`snapshot changed before close: ${x.want} → ${s}`);
        }
        x.snap.close();
      }
    }
  }

  async settleAll(what: string): Promise<void> {
    await Promise.resolve();
    await Promise.resolve();
    for (const j of this.jobs) if (j.epoch === this.epoch && !j.settled) this.fail(`${what}: job ${j.seq} never settled`);
  }

  async close(how: 'sync' | 'async', during: Leaf[]): Promise<void> {
    this.closeSnaps();
    this.log.push(`close ${how}`);
    totals.closes++;
    totals.groupsAhead += this.s.stats().groupsAhead;
    if (how === 'sync') {
      this.closing = true;
      this.s.close();
      this.closed = true;
      await this.settleAll('after close()');
    } else {
      this.closing = true;
      const p = this.s.closeAsync();
      for (const l of during) this.leaf(l, 'during closeAsync');
      await p;
      this.closed = true;
      await this.settleAll('after closeAsync()');
    }
    // Calls from callbacks meanwhile: a few turns, then nothing is pending.
    await turns(2);
    this.closeSnaps();
    if (this.faulty.fired.length > 0) this.log.push(`fault fired: ${this.faulty.fired.map((f) => `${f.kind} ${f.op}@${f.positionBytes}+${f.lengthBytes}`).join(', ')}`);
    const degraded = this.degraded;
    const badIdx = this.badIdx;
    this.open();
    this.epoch++;
    const got = ser(this.s.ranges());
    if (degraded) {
      totals.faulted++;
      // The commit in flight at the fault may be whole after the reopen (docs/design.md section 11):
      // only "no resolved write lost, nothing but history" is checked.
      if (!this.inHistory(got, this.lo)) this.fail(`reopened after a failed commit: ${got}, no history state in [${this.lo}, ${this.history.length - 1}] (a resolved write lost)`);
      if (!this.inHistory(got, this.lo, Math.min(badIdx - 1, this.history.length - 1))) totals.failedKept++;
      this.s.check();
      this.ref = new Reference<V>();
      for (const r of this.s.ranges()) this.ref.store(r.first, r.last, r.value);
      this.history = [ser(this.ref.all())];
      this.lo = 0;
      return;
    }
    this.lo = this.history.length - 1;
    if (got !== this.history[this.lo]) this.fail(`reopened after close: ${got}, want ${this.history[this.lo]}`);
    this.s.check();
  }

  async crash(): Promise<void> {
    if (this.cfg.sync !== 'full' || this.closing || this.armed) return;
    this.log.push('crash');
    totals.crashes++;
    totals.groupsAhead += this.s.stats().groupsAhead;
    const image = this.disk.durableImage();
    const locks = this.disk.crashLockFiles({ mode: 'drop-all', seed: 1 });
    const hi = this.history.length - 1;
    const old = this.disk;
    old.crashAt = old.events + 1; // every later disk call fails: the machine is gone
    const oldEpoch = this.epoch;
    const history = this.history;
    this.crashLo = this.lo;
    this.epoch++;
    this.crashing = true;
    await turns(this.cfg.syncTurns + 6);
    this.crashing = false;
    for (const j of this.jobs) if (j.epoch === oldEpoch && !j.settled) this.fail(`crash: job ${j.seq} of the crashed store never settled`);
    for (const x of this.snaps.splice(0)) if (!x.snap.isClosed) x.snap.close();
    this.disk = SimulatedDisk.fromImage(image, locks);
    this.closing = false;
    this.closed = false;
    this.open();
    const got = ser(this.s.ranges());
    if (!this.inHistory(got, this.crashLo, hi, history)) this.fail(`after a crash the store reads ${got}: no history state in [${this.crashLo}, ${hi}]`);
    this.s.check();
    this.ref = new Reference<V>();
    for (const r of this.s.ranges()) this.ref.store(r.first, r.last, r.value);
    this.history = [ser(this.ref.all())];
    this.lo = 0;
  }

  async exec(c: Cmd): Promise<void> {
    switch (c.k) {
      case 'async':
        if (this.closed) return;
        this.asyncCall(c.single, c.fn, 'then' in c ? c.then : null);
        return;
      case 'sync':
      case 'snapshot':
      case 'read':
      case 'flush':
        this.leaf(c, 'driver');
        return;
      case 'turns':
        await turns(c.n);
        return;
      case 'micro':
        await Promise.resolve();
        return;
      case 'immediate':
        setImmediate(() => this.leaf(c.leaf, 'setImmediate'));
        return;
      case 'closeSnap': {
        const x = this.snaps[c.i];
        if (x !== undefined && !x.snap.isClosed) {
          const s = ser(x.snap.ranges());
          if (s !== x.want) this.fail(`snapshot changed: ${x.want} → ${s}`);
          x.snap.close();
        }
        return;
      }
      case 'awaitAll':
        for (let i = 0; i < 200 && this.jobs.some((j) => !j.settled && j.epoch === this.epoch); i++) await turns(1);
        if (this.jobs.some((j) => !j.settled && j.epoch === this.epoch)) this.fail('awaitAll: writes still pending after 200 turns');
        return;
      case 'close':
        await this.close(c.how, c.during);
        return;
      case 'crash':
        await this.crash();
        return;
      case 'fault':
        if (this.armed || this.closed) return;
        this.armed = true;
        this.log.push(`fault ${c.kind} at +${c.after}`);
        this.faulty.arm({ kind: c.kind, at: this.faulty.calls + c.after, counting: 'mutations' });
        return;
      case 'stagger':
        for (const w of c.writes) {
          if (this.closed) return;
          this.asyncCall(w.single, w.fn, w.then);
          await turns(c.gap);
        }
        return;
    }
  }

  async finish(): Promise<void> {
    await this.exec({ k: 'awaitAll' });
    this.readCheck('final');
    await this.close(this.rng() < 0.5 ? 'sync' : 'async', []);
    for (const img of this.images) {
      const d = SimulatedDisk.fromImage(img.image);
      const s = openWith<V>('/async/image', this.opts(), { fileIO: d.fileIO(), lockEnv: d.lockEnv() });
      const got = ser(s.ranges());
      if (!this.inHistory(got, img.lo, img.hi, img.history)) this.fail(`durable image at a resolution reads ${got}: no history state in [${img.lo}, ${img.hi}]`);
      s.check();
      s.close();
    }
    this.closeSnaps();
    this.s.close();
  }
}

const totals = { runs: 0, cmds: 0, jobs: 0, resolved: 0, groupsAhead: 0, crashes: 0, closes: 0, images: 0, faulted: 0, failedKept: 0 };

async function runOne(cfg: Config, cmds: Cmd[]): Promise<void> {
  const before = problems.length;
  const r = new Run(cfg);
  totals.runs++;
  totals.cmds += cmds.length;
  try {
    for (const c of cmds) await r.exec(c);
    totals.jobs += r.jobs.length;
    totals.images += r.images.length;
    await r.finish();
  } catch (err) {
    r.fail(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  await turns(3);
  const all = [...r.failures, ...problems.slice(before)];
  if (all.length > 0) throw new Error(`${all.length} problem(s):\n${all.slice(0, 5).join('\n')}`);
}

const RUNS = Number(process.env.MAPLE_ASYNC_RUNS ?? 150);
const SEEDS = (process.env.MAPLE_ASYNC_SEEDS ?? '20260511').split(',').map(Number);

describe('asynchronous writes interleaved with everything else, against the reference', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      await fc.assert(
        fc.asyncProperty(configArb, fc.array(cmdArb, { minLength: 1, maxLength: 80, size: 'max' }), async (cfg, cmds) => {
          await runOne(cfg, cmds);
        }),
        { numRuns: RUNS, seed, endOnFailure: false },
      );
      console.log(JSON.stringify(totals));
    }, 600_000);
  }
});

// ── Regressions the run above found (or, for the first, came near) ───────────────────────────────

/** A FileIO whose sync() fails with EIO once `failSyncs` is set (with `sync: 'none'`, only checkpoints sync). */
function failingSyncs(inner: FileIO): FileIO & { failSyncs: boolean } {
  const io = {
    failSyncs: false,
    read: (b: Uint8Array, at: number) => inner.read(b, at),
    write: (b: Uint8Array, at: number) => inner.write(b, at),
    sync: () => {
      if (io.failSyncs) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      inner.sync();
    },
    size: () => inner.size(),
    truncate: (n: number) => inner.truncate(n),
    close: () => inner.close(),
  };
  return io;
}

describe('regressions', () => {
  it("sync: 'none': a checkpoint that fails after a group is published settles the group's promises (no unhandled rejection), and the store then refuses writes", async () => {
    for (const takeover of [false, true]) {
      const before = problems.length;
      const disk = new SimulatedDisk();
      const io = failingSyncs(disk.fileIO());
      const s = openWith<V>('/async/checkpoint', { sync: 'none' }, { fileIO: io, lockEnv: disk.lockEnv() });
      io.failSyncs = true;
      // ~1,200 cells: the group's publish makes a checkpoint due (CHECKPOINT_MIN_CELLS = 1,024).
      const states: string[] = [];
      const p = s.storeAsync(1, 1, 'x'.repeat(300_000)).then(
        () => states.push('resolved'),
        (err: unknown) => states.push(outcomeOf(err)),
      );
      if (takeover) {
        // A synchronous write commits the group first (drainSync), then is refused: the store failed.
        expect(() => s.store(2, 2, 'sync')).toThrow(expect.objectContaining({ code: 'EIO' }));
      }
      await turns(10);
      void p;
      expect(states).toEqual(['resolved']); // committed (and, with sync: 'none', that is all a resolution says)
      expect(s.load(1)).toHaveLength(300_000);
      expect(s.load(2)).toBeUndefined();
      expect(outcomeOf(await s.storeAsync(3, 3, 'after').catch((err: unknown) => err))).toBe('EIO');
      await s.closeAsync();
      await turns(2);
      expect(problems.slice(before)).toEqual([]);
      const again = openWith<V>('/async/checkpoint', { sync: 'none' }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
      expect(again.load(1)).toHaveLength(300_000);
      again.check();
      again.close();
    }
  });

  it('a synchronous write from a promise callback, run after a group\'s I/O failed but before the queue handled it, does not publish the failed group', async () => {
    const disk = new SimulatedDisk();
    const inner = disk.fileIO();
    let ringWritesToFail = 0; // the k-th write into the commit ring from now fails (once)
    const io: FileIO = {
      read: (b, at) => inner.read(b, at),
      write: (b, at) => {
        if (ringWritesToFail > 0 && at >= 4096 && at < 5 * 4096 && --ringWritesToFail === 0) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        inner.write(b, at);
      },
      writeDurable: (b, at) => inner.writeDurable!(b, at),
      sync: () => inner.sync(),
      size: () => inner.size(),
      truncate: (n) => inner.truncate(n),
      close: () => inner.close(),
      syncAsync: () => new Promise((resolve, reject) => setImmediate(() => { try { inner.sync(); resolve(); } catch (err) { reject(err); } })),
    };
    const s = openWith<V>('/async/takeover-failed', {}, { fileIO: io, lockEnv: disk.lockEnv() });
    // Group 1, the store's first commit, starts a log pass: two-sync, its syncs asynchronous.
    const g1 = s.storeAsync(1, 1, 'group 1');
    await turns(2);
    // Group 2 runs ahead of it (logged); its I/O runs as group 1 is published, and fails.
    const g2 = s.storeAsync(2, 2, 'group 2');
    ringWritesToFail = 2;
    let sync = '';
    void g1.then(() => {
      try {
        s.store(3, 3, 'sync');
        sync = 'returned';
      } catch (err) {
        sync = outcomeOf(err);
      }
    });
    const r2 = await g2.then(() => 'resolved', (err: unknown) => outcomeOf(err));
    await turns(3);
    expect([r2, sync]).toEqual(['EIO', 'EIO']);
    expect(outcomeOf(await s.storeAsync(4, 4, 'after').catch((err: unknown) => err))).toBe('EIO');
    expect(ser(s.ranges())).toBe(JSON.stringify([[1, 1, 'group 1']]));
    s.close();
    const t = openWith<V>('/async/takeover-failed', {}, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
    expect(ser(t.ranges())).toBe(JSON.stringify([[1, 1, 'group 1']]));
    t.check();
    t.close();
  });

  it("log: a pass-start commit whose fdatasync failed, reopened on the same boot: the writes acknowledged after the reopen survive a power loss", async () => {
    const disk = new SimulatedDisk();
    const faulty = new FaultyIO(disk.fileIO());
    const s = openWith<V>('/async/eio-log', {}, { fileIO: faulty, lockEnv: disk.lockEnv() });
    // The first commit sets the writer's open mark and starts a pass (cells, sync, record, sync;
    // then the log's run written whole): its 5th mutation, the last sync, fails.
    faulty.arm({ kind: 'EIO', at: faulty.calls + 5, counting: 'mutations' });
    expect(() => s.store(1, 1, 'first')).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(faulty.fired.map((f) => f.op)).toEqual(['sync']);
    s.close();
    // The application restarts on the same boot and carries on: logged commits, acknowledged.
    const t = openWith<V>('/async/eio-log', {}, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
    t.store(2, 2, 'sync');
    await t.storeAsync(3, 3, 'async');
    await Promise.all([t.storeAsync(4, 4, 'group a'), t.storeAsync(5, 5, 'group b')]);
    // A power loss now.
    const after = SimulatedDisk.fromImage(disk.durableImage());
    const u = openWith<V>('/async/eio-log-after', {}, { fileIO: after.fileIO(), lockEnv: after.lockEnv() });
    expect([u.load(2), u.load(3), u.load(4), u.load(5)]).toEqual(['sync', 'async', 'group a', 'group b']);
    u.check();
    u.close();
    t.close();
  });

  it('a commit whose fdatasync failed, reopened on the same boot: a power loss during the next commit keeps the last acknowledged version', async () => {
    for (const [protocol, sync] of [['one-sync', 'full'], ['two-sync', 'full'], ['one-sync', 'none']] as const) {
      const opts: OpenOptions = { commitProtocol: protocol, sync };
      const disk = new SimulatedDisk();
      const faulty = new FaultyIO(disk.fileIO());
      const s = openWith<V>('/async/eio', opts, { fileIO: faulty, lockEnv: disk.lockEnv() });
      s.transaction((t) => {
        for (let i = 0; i < 1000; i++) t.store(i * 10, i * 10 + 5, { v: 1, i, pad: 'p'.repeat(30) });
      });
      s.flush();
      const acknowledged = s.version;
      // Commit 2 (with sync: 'none', the checkpoint after it) fails at its last fdatasync: its
      // record is in the page cache only.
      const origSync = faulty.sync.bind(faulty);
      const origWrite = faulty.write.bind(faulty);
      let recordWritten = false;
      faulty.write = (b, at) => {
        if (at >= 4096 && at < 5 * 4096) recordWritten = true; // a ring slot
        origWrite(b, at);
      };
      faulty.sync = () => {
        if (recordWritten) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        origSync();
      };
      const second = (): void =>
        s.transaction((t) => {
          for (let i = 0; i < 500; i++) t.store(i * 10, i * 10 + 5, { v: 2, i });
        });
      if (sync === 'none') {
        second();
        expect(() => s.flush()).toThrow(expect.objectContaining({ code: 'EIO' }));
      } else expect(second).toThrow(expect.objectContaining({ code: 'EIO' }));
      s.close();
      const t = openWith<V>('/async/eio', opts, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
      // Commit 3 reuses the cells commit 2 freed, which the acknowledged version reaches: a power
      // loss at any of its disk events must open at that version or later, whole.
      const bad: string[] = [];
      const off = disk.onEvent((e, d) => {
        for (const mode of ['drop-all', 'random-subset', 'reorder'] as const) {
          const choice = { mode, seed: e.seq };
          const r = SimulatedDisk.fromImage(d.crashImage(choice), d.crashLockFiles(choice));
          try {
            const u = openWith<V>('/async/eio-crash', opts, { fileIO: r.fileIO(), lockEnv: r.lockEnv() });
            if (u.version < acknowledged) bad.push(`${mode} at event ${e.seq}: opened at version ${u.version} < ${acknowledged}`);
            u.check();
            u.close();
          } catch (err) {
            bad.push(`${mode} at event ${e.seq}: ${String(err)}`);
          }
        }
      });
      t.transaction((tx) => {
        for (let i = 500; i < 1000; i++) tx.store(i * 10, i * 10 + 5, { v: 3, i, pad: 'q'.repeat(30) });
      });
      if (sync === 'none') t.flush();
      off();
      expect(bad.slice(0, 3), `${protocol}, sync: ${sync}`).toEqual([]);
      t.close();
    }
  });
});


