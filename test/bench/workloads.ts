// The ten workloads of issue 4, plus 11 (first-fit gap search over the whole key space), each run
// against every engine on the same seeded data, timed per repetition, and cross-checked against the
// reference before any number is kept; 12 and 13 (issue 12: worker-thread readers, a held
// snapshot; concurrency.ts); and 14 (issue 12: durable writes by concurrent awaiting writers,
// concurrentWrites.ts), which checks every acknowledged write instead; 15 and 16 (issue 11: the
// value sweep and bytes per range after single-store commits) run in their own module (sweep.ts).
//
// They run in an order that lets the read workloads share the bulk-loaded stores:
// 1 bulk load → 9 size/open → 2 warm stabs → 3 cold-ish stabs → 4 ranges → 7 gaps → 11 first fit →
// 5 overwrites → 10 snapshot during overwrites → 6 durable single commits → 8 VMA traces →
// 12 worker readers → 13 held snapshot → 14 concurrent writers.

import fs from 'node:fs';
import path from 'node:path';
import { Digest } from './checksum.js';
import { BenchContext, measure, median, Slot, stateDigest } from './context.js';
import { GAP_WINDOW_KEYS, firstFitQueries, gapQueries, generateRanges, stabQueries, storeOps, windowQueries, type RangeData, type StoreOps } from './data.js';
import type { Engine, ReadView } from './engines/engine.js';
import { defaultPrograms, recordTrace, replayOp, type TraceOp } from './vmaTrace.js';
import type { ValueShape } from './values.js';
import { heldSnapshot, workerReaders } from './concurrency.js';
import { CONCURRENT_ENGINES, WRITER_COUNTS, countSyncsPerOp, idleLoopP99Ms, runCell, type CellResult, type ConcurrentEngine } from './concurrentWrites.js';

export const WORKLOAD_IDS = ['bulk', 'stab-warm', 'stab-cold', 'ranges', 'overwrite', 'durable', 'gaps', 'vma', 'size-open', 'snapshot', 'gaps-all', 'worker-readers', 'held-snapshot', 'concurrent', 'values', 'commit-size'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/** The run order (see the header comment). */
const RUN_ORDER: readonly WorkloadId[] = ['bulk', 'size-open', 'stab-warm', 'stab-cold', 'ranges', 'gaps', 'gaps-all', 'overwrite', 'snapshot', 'durable', 'vma', 'worker-readers', 'held-snapshot', 'concurrent'];
/** Workloads on stores of their own (concurrency.ts, concurrentWrites.ts), not the bulk-loaded ones. */
const OWN_STORES: readonly WorkloadId[] = ['vma', 'worker-readers', 'held-snapshot', 'concurrent'];

export interface ExtraColumn {
  readonly key: string;
  readonly label: string;
  readonly digits: number;
}

export interface EngineRow {
  readonly engine: string;
  /** Operations per repetition. */
  readonly ops: number;
  readonly seconds: number[];
  readonly medianSeconds: number;
  readonly opsPerSec: number;
  readonly usPerOp: number;
  readonly checksum: string;
  readonly settings: string;
  readonly extra: Record<string, number>;
}

export interface WorkloadResult {
  readonly id: WorkloadId;
  readonly number: number;
  /** The value shape stored (values.ts). */
  readonly values: string;
  /** For the value sweep (15) and commit-size (16) workloads: which figure of that shape this is. */
  readonly measure?: string;
  readonly title: string;
  /** What one "op" is, singular and plural, for table headers. */
  readonly opName: string;
  readonly opsName: string;
  /** Shown in the ops/s chart (the size/open workload is not a throughput). */
  readonly chart: boolean;
  readonly extraColumns: ExtraColumn[];
  readonly notes: string[];
  readonly rows: EngineRow[];
}

const NUMBER_OF: Record<WorkloadId, number> = {
  bulk: 1,
  'stab-warm': 2,
  'stab-cold': 3,
  ranges: 4,
  overwrite: 5,
  durable: 6,
  gaps: 7,
  vma: 8,
  'size-open': 9,
  snapshot: 10,
  'gaps-all': 11,
  'worker-readers': 12,
  'held-snapshot': 13,
  concurrent: 14,
  values: 15,
  'commit-size': 16,
};

/** Collects per-engine timings and answers over the repetitions of one workload. */
class Tally {
  private readonly seconds = new Map<Slot, number[]>();
  private readonly answers = new Map<Slot, string>();
  private readonly extras = new Map<Slot, Map<string, number[]>>();

  constructor(
    private readonly ctx: BenchContext,
    private readonly workload: WorkloadId,
  ) {}

  /** Records one repetition; the reference's answer for that repetition must already be in. */
  add(slot: Slot, seconds: number, answer: string, expected: string | undefined, extra: Record<string, number> = {}): void {
    this.record(slot, seconds, answer, expected, extra);
    logSlowRep(this.ctx, this.workload, slot, seconds);
  }

  /** add() without the progress line (for timings already reported). */
  record(slot: Slot, seconds: number, answer: string, expected: string | undefined, extra: Record<string, number> = {}): void {
    if (slot !== this.ctx.reference) this.ctx.check(this.workload, slot.name, answer, expected);
    push(this.seconds, slot, seconds);
    this.answers.set(slot, answer);
    let byKey = this.extras.get(slot);
    if (byKey === undefined) this.extras.set(slot, (byKey = new Map()));
    for (const [key, value] of Object.entries(extra)) push(byKey, key, value);
  }

  rows(ops: number, slots: Slot[], settings: (slot: Slot) => string = (slot) => slot.describe()): EngineRow[] {
    return slots
      .filter((slot) => this.seconds.has(slot) && slot.failure === undefined)
      .map((slot) => {
        const seconds = this.seconds.get(slot)!;
        const medianSeconds = median(seconds);
        const extra: Record<string, number> = {};
        for (const [key, values] of this.extras.get(slot) ?? []) extra[key] = median(values);
        return {
          engine: slot.name,
          ops,
          seconds,
          medianSeconds,
          opsPerSec: ops / medianSeconds,
          usPerOp: (medianSeconds * 1e6) / ops,
          checksum: this.answers.get(slot) ?? '',
          settings: settings(slot),
          extra,
        };
      });
  }
}

/** Long repetitions get their own progress line, so a slow engine doesn't look like a hang. */
const SLOW_REP_SECONDS = 5;

function logSlowRep(ctx: BenchContext, workload: WorkloadId, slot: Slot, seconds: number): void {
  if (seconds >= SLOW_REP_SECONDS) ctx.log(`  ${workload}: ${slot.name} took ${seconds.toFixed(1)} s for one repetition`);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

async function measureAsync(body: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function result(
  ctx: BenchContext,
  id: WorkloadId,
  title: string,
  opName: string,
  rows: EngineRow[],
  notes: string[] = [],
  extraColumns: ExtraColumn[] = [],
  chart = true,
): WorkloadResult {
  // Workload 14 stores values of its own, { id, prot } with a numeric prot (the inline shape).
  const values = id === 'concurrent' ? 'inline' : ctx.shape.name;
  return { id, number: NUMBER_OF[id], values, title: `${title} [${values} values]`, opName, opsName: plural(opName), chart, extraColumns, notes, rows };
}

/** A WorkloadResult of the sweep workloads (12, 13): one figure of one value shape. */
export function sweepResult(
  ctx: BenchContext,
  id: 'values' | 'commit-size',
  measure: string,
  title: string,
  opName: string,
  rows: EngineRow[],
  notes: string[] = [],
  extraColumns: ExtraColumn[] = [],
  chart = false,
): WorkloadResult {
  return { ...result(ctx, id, title, opName, rows, notes, extraColumns, chart), measure };
}

function plural(noun: string): string {
  if (/(s|sh|ch|x)$/.test(noun)) return `${noun}es`;
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  return `${noun}s`;
}

/** Each workload sees this much. */
interface RunState {
  readonly ctx: BenchContext;
  readonly data: RangeData;
}

export function stabAll(view: ReadView, queries: Float64Array, shape: ValueShape): [number, string] {
  const digest = new Digest(shape);
  const seconds = measure(() => {
    for (let q = 0; q < queries.length; q++) digest.addValue(view.load(queries[q]!));
  });
  return [seconds, digest.hex()];
}

/** Applies `ops` in transactions of `perTransaction` stores each. */
export function applyStores(engine: Engine, ops: StoreOps, from: number, to: number, perTransaction: number, shape: ValueShape): void {
  for (let start = from; start < to; start += perTransaction) {
    const end = Math.min(to, start + perTransaction);
    engine.transaction((writer) => {
      for (let k = start; k < end; k++) writer.store(ops.firsts[k]!, ops.lasts[k]!, shape.make(ops.ids[k]!, ops.prots[k]!));
    });
  }
}

/** Untimed: what the store now says at and around each written range. */
export function probeStores(view: ReadView, ops: StoreOps, shape: ValueShape): string {
  const digest = new Digest(shape);
  for (let k = 0; k < ops.count; k++) {
    const first = ops.firsts[k]!;
    const last = ops.lasts[k]!;
    if (first > 0) digest.addValue(view.load(first - 1));
    digest.addValue(view.load(first));
    digest.addValue(view.load(last));
    digest.addValue(view.load(last + 1));
  }
  return digest.hex();
}

export function engineOf(slot: Slot): Engine {
  if (slot.engine === undefined) throw new Error(`engine '${slot.name}' is not open`);
  return slot.engine;
}

/** Every engine with a main store, opened the usual way (durable, default cache). */
async function openMain(ctx: BenchContext, workload: string): Promise<void> {
  await ctx.each(workload, ctx.slots, async (slot) => {
    if (slot.mainDir === undefined) return;
    const wanted = slot.engine !== undefined && slot.openedWith.durable && slot.openedWith.cacheBytes === undefined;
    if (!wanted) await slot.open(true);
  });
}

/** Builds main stores (untimed) for engines that have none, when workload 1 is not selected. */
async function ensureMainStores(state: RunState, workload: string): Promise<void> {
  const { ctx } = state;
  await ctx.each(workload, ctx.slots, async (slot) => {
    if (slot.mainDir !== undefined || slot.factory.cloneOf !== undefined) return;
    const dir = ctx.freshDir(`${slot.name}-main`);
    const engine = await slot.factory.open({ dir, durable: true, shape: ctx.shape });
    engine.bulkLoad(state.data);
    await engine.close();
    slot.mainDir = dir;
  });
}

async function bulk(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  const slots = ctx.slotsFor('bulk').filter((slot) => slot.factory.cloneOf === undefined);
  const seconds = new Map<Slot, number[]>();
  for (let rep = 0; rep < ctx.reps; rep++) {
    await ctx.each('bulk', ctx.repOrder(slots, rep), async (slot) => {
      await slot.close();
      if (slot.mainDir !== undefined) fs.rmSync(slot.mainDir, { recursive: true, force: true });
      const dir = ctx.freshDir(`${slot.name}-bulk${rep}`);
      const engine = await slot.factory.open({ dir, durable: true, shape: ctx.shape });
      const repSeconds = measure(() => engine.bulkLoad(data));
      push(seconds, slot, repSeconds);
      logSlowRep(ctx, 'bulk', slot, repSeconds);
      await engine.close();
      slot.mainDir = dir;
    });
  }
  // The loaded state, read back in full after a reopen, must equal the reference's.
  const tally = new Tally(ctx, 'bulk');
  let expected: string | undefined;
  await ctx.each('bulk', slots, async (slot) => {
    const digest = stateDigest(await slot.open(true), ctx.shape);
    if (slot === ctx.reference) expected = digest;
    for (const repSeconds of seconds.get(slot) ?? []) tally.record(slot, repSeconds, digest, expected);
  });
  return result(
    ctx,
    'bulk',
    `Bulk load of ${data.count.toLocaleString('en-US')} sorted ranges in one transaction (durable commit)`,
    'range',
    tally.rows(data.count, slots),
    ['LMDB: one transactionSync of append puts; SQLite: one transaction of inserts in rowid order; maple: one transaction of stores'],
  );
}

async function sizeOpen(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  const slots = ctx.slotsFor('size-open').filter((slot) => slot.mainDir !== undefined && slot.factory.inMemory !== true);
  const probe = data.firsts[data.count >> 1]!;
  const expected = new Digest(ctx.shape);
  expected.addValue((ctx.reference.engine ?? (await ctx.reference.open(true))).load(probe));
  const tally = new Tally(ctx, 'size-open');
  for (let rep = 0; rep < ctx.reps; rep++) {
    await ctx.each('size-open', ctx.repOrder([ctx.reference, ...slots], rep).slice(1), async (slot) => {
      await slot.close();
      const answer = new Digest(ctx.shape);
      const seconds = await measureAsync(async () => {
        answer.addValue((await slot.open(true)).load(probe)); // open, then the first read
      });
      const engine = engineOf(slot);
      const fileBytes = engine.fileBytes();
      tally.add(slot, seconds, answer.hex(), expected.hex(), { fileBytes, bytesPerRange: fileBytes / data.count });
    });
  }
  return result(
    ctx,
    'size-open',
    `File size per range after workload 1, and open time (open + first load) of that file`,
    'open',
    tally.rows(1, slots),
    ['bytes on disk: maple stats().fileBytes; LMDB data file size; SQLite db file after wal_checkpoint(TRUNCATE)'],
    [
      { key: 'bytesPerRange', label: 'bytes/range', digits: 1 },
      { key: 'fileBytes', label: 'file bytes', digits: 0 },
    ],
    false,
  );
}

async function stabs(state: RunState, id: 'stab-warm' | 'stab-cold'): Promise<WorkloadResult> {
  const { ctx, data } = state;
  const cold = id === 'stab-cold';
  const slots = ctx.slotsFor(id).filter((slot) => slot.mainDir !== undefined);
  const queries = stabQueries(data, ctx.sizes.stabs, ctx.seed + (cold ? 3 : 2));
  const notes: string[] = [];
  if (cold) {
    await ctx.each(id, slots, async (slot) => {
      await slot.open(true, ctx.sizes.coldCacheBytes);
      if (slot.factory.inMemory !== true) {
        notes.push(`${slot.name}: file ${(engineOf(slot).fileBytes() / 2 ** 20).toFixed(1)} MiB vs cache budget ${(ctx.sizes.coldCacheBytes / 1024).toFixed(0)} KiB`);
      }
    });
    notes.push('LMDB reads through mmap: its cache cannot be limited. All engines: the OS page cache still holds the files (no cache is dropped), so "cold" means engine-cache misses, not disk reads.');
  } else {
    await openMain(ctx, id);
    const warmup = queries.subarray(0, Math.max(1000, queries.length >> 3));
    await ctx.each(id, slots, (slot) => { stabAll(engineOf(slot), warmup, ctx.shape); });
    notes.push('a warm-up pass over 1/8 of the queries precedes the timed repetitions');
  }
  const tally = new Tally(ctx, id);
  for (let rep = 0; rep < ctx.reps; rep++) {
    let expected: string | undefined;
    await ctx.each(id, ctx.repOrder(slots, rep), async (slot) => {
      const [seconds, answer] = stabAll(engineOf(slot), queries, ctx.shape);
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, seconds, answer, expected);
    });
  }
  const rows = tally.rows(queries.length, slots);
  if (cold) await openMain(ctx, id);
  const count = queries.length.toLocaleString('en-US');
  const title = cold
    ? `${count} random stabbing loads, engine cache ${(ctx.sizes.coldCacheBytes / 1024).toFixed(0)} KiB (much smaller than the file)`
    : `${count} random stabbing loads (half hits, half misses), warm cache`;
  return result(ctx, id, title, 'load', rows, notes);
}

async function rangeWindows(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  await openMain(ctx, 'ranges');
  const slots = ctx.slotsFor('ranges').filter((slot) => slot.mainDir !== undefined);
  const { froms, tos } = windowQueries(data, ctx.sizes.windows, ctx.seed + 4);
  const tally = new Tally(ctx, 'ranges');
  for (let rep = 0; rep < ctx.reps; rep++) {
    let expected: string | undefined;
    await ctx.each('ranges', ctx.repOrder(slots, rep), async (slot) => {
      const engine = engineOf(slot);
      const digest = new Digest(ctx.shape);
      let visited = 0;
      const seconds = measure(() => {
        for (let q = 0; q < froms.length; q++) {
          engine.ranges(froms[q]!, tos[q]!, (first, last, value) => {
            digest.addRange(first, last, value);
            visited++;
          });
        }
      });
      const answer = digest.hex();
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, seconds, answer, expected, { rangesPerQuery: visited / froms.length });
    });
  }
  return result(
    ctx,
    'ranges',
    `${froms.length.toLocaleString('en-US')} ranges(a, b) queries over small windows`,
    'query',
    tally.rows(froms.length, slots),
    [],
    [{ key: 'rangesPerQuery', label: 'ranges/query', digits: 2 }],
  );
}

/**
 * 7: random windows of up to 2^24 keys (the issue's setting). 11: first fit over the whole key
 * space (min 0, max MAX_INDEX), the question mmap asks when it places a mapping — a scan must walk
 * every range below the first hole big enough, all of them when no hole is.
 */
async function gaps(state: RunState, id: 'gaps' | 'gaps-all'): Promise<WorkloadResult> {
  const { ctx, data } = state;
  await openMain(ctx, id);
  const slots = ctx.slotsFor(id).filter((slot) => slot.mainDir !== undefined);
  const queries = id === 'gaps' ? gapQueries(data, ctx.sizes.gaps, ctx.seed + 7) : firstFitQueries(ctx.sizes.gapsAll, ctx.seed + 11);
  const tally = new Tally(ctx, id);
  // One untimed pass first, for every engine: a thousand microsecond searches are otherwise timed
  // mostly as JIT warm-up.
  await ctx.each(id, slots, (slot) => {
    const engine = engineOf(slot);
    for (let q = 0; q < queries.count; q++) engine.emptyArea(queries.mins[q]!, queries.maxes[q]!, queries.sizes[q]!);
  });
  for (let rep = 0; rep < ctx.reps; rep++) {
    let expected: string | undefined;
    await ctx.each(id, ctx.repOrder(slots, rep), async (slot) => {
      const engine = engineOf(slot);
      const digest = new Digest(ctx.shape);
      let found = 0;
      const seconds = measure(() => {
        for (let q = 0; q < queries.count; q++) {
          const start = engine.emptyArea(queries.mins[q]!, queries.maxes[q]!, queries.sizes[q]!);
          digest.add(start === undefined ? 0 : start + 1);
          if (start !== undefined) found++;
        }
      });
      const answer = digest.hex();
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, seconds, answer, expected, { foundPercent: (100 * found) / queries.count });
    });
  }
  return result(
    ctx,
    id,
    id === 'gaps'
      ? `${queries.count.toLocaleString('en-US')} gap searches (emptyArea), log-uniform sizes 1..8192 in windows of up to 2^24 keys (~${Math.round(GAP_WINDOW_KEYS / (data.endIndex / data.count)).toLocaleString('en-US')} ranges)`
      : `${queries.count.toLocaleString('en-US')} first-fit gap searches over the whole key space (emptyArea(0, MAX_INDEX, size)), log-uniform sizes 1..8192`,
    'search',
    tally.rows(queries.count, slots),
    [
      'an untimed pass over the same searches precedes the timed repetitions',
      'LMDB and the reference scan ranges upward from min; SQLite scans rowids in order from the range containing min (see engines/sqlite.ts for the window-function alternative)',
    ],
    [{ key: 'foundPercent', label: '% found', digits: 1 }],
  );
}

/** After a writing workload: every engine's whole state must equal the reference's. */
async function checkStates(ctx: BenchContext, workload: string, slots: Slot[]): Promise<void> {
  let expected: string | undefined;
  await ctx.each(workload, slots, async (slot) => {
    const digest = stateDigest(engineOf(slot), ctx.shape);
    if (slot === ctx.reference) expected = digest;
    else ctx.check(workload, slot.name, digest, expected);
  });
}

async function overwrite(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  await openMain(ctx, 'overwrite');
  const slots = ctx.slotsFor('overwrite').filter((slot) => slot.mainDir !== undefined);
  const { overwrites, perTransaction } = ctx.sizes;
  const tally = new Tally(ctx, 'overwrite');
  for (let rep = 0; rep < ctx.reps; rep++) {
    const ops = storeOps(data, overwrites, ctx.seed + 500 + rep, 10_000_000 + rep * overwrites);
    let expected: string | undefined;
    await ctx.each('overwrite', ctx.repOrder(slots, rep), async (slot) => {
      const engine = engineOf(slot);
      const seconds = measure(() => applyStores(engine, ops, 0, ops.count, perTransaction, ctx.shape));
      const answer = probeStores(engine, ops, ctx.shape);
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, seconds, answer, expected);
    });
  }
  return result(
    ctx,
    'overwrite',
    `${overwrites.toLocaleString('en-US')} random overwriting stores, ${perTransaction.toLocaleString('en-US')} per transaction (durable commits)`,
    'store',
    tally.rows(overwrites, slots),
    ['each repetition applies new stores on top of the previous ones; the whole state is cross-checked after the last writing workload'],
  );
}

async function snapshotDuringWrites(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  await openMain(ctx, 'snapshot');
  const slots = ctx.slotsFor('snapshot').filter((slot) => slot.mainDir !== undefined);
  const { overwrites, perTransaction, snapshotReads } = ctx.sizes;
  const transactions = Math.ceil(overwrites / perTransaction);
  const tally = new Tally(ctx, 'snapshot');
  for (let rep = 0; rep < ctx.reps; rep++) {
    const ops = storeOps(data, overwrites, ctx.seed + 700 + rep, 30_000_000 + rep * overwrites);
    const queries = stabQueries(data, snapshotReads, ctx.seed + 800 + rep);
    let expected: string | undefined;
    await ctx.each('snapshot', ctx.repOrder(slots, rep), async (slot) => {
      const engine = engineOf(slot);
      const snapshot = engine.snapshot();
      const bytesBefore = engine.diskBytes();
      const digest = new Digest(ctx.shape);
      let readSeconds = 0;
      let writeSeconds = 0;
      for (let t = 0; t < transactions; t++) {
        const start = t * perTransaction;
        writeSeconds += measure(() => applyStores(engine, ops, start, Math.min(ops.count, start + perTransaction), perTransaction, ctx.shape));
        const reads = queries.subarray(Math.floor((t * queries.length) / transactions), Math.floor(((t + 1) * queries.length) / transactions));
        readSeconds += measure(() => {
          for (let q = 0; q < reads.length; q++) digest.addValue(snapshot.load(reads[q]!));
        });
      }
      const growthBytes = engine.diskBytes() - bytesBefore;
      snapshot.close();
      const answer = digest.hex();
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, readSeconds, answer, expected, { growthMiB: growthBytes / 2 ** 20, writeOpsPerSec: overwrites / writeSeconds });
    });
  }
  return result(
    ctx,
    'snapshot',
    `A snapshot held open during ${overwrites.toLocaleString('en-US')} overwriting stores: ${snapshotReads.toLocaleString('en-US')} loads through it, interleaved`,
    'snapshot load',
    tally.rows(snapshotReads, slots),
    [
      'snapshot answers are cross-checked against the state before the writes',
      'file growth: bytes on disk (SQLite: db + WAL, no forced checkpoint) at the end minus at the start, snapshot still open',
      'LMDB snapshot: a read transaction (useReadTransaction); SQLite snapshot: a second connection inside BEGIN … (WAL reader)',
    ],
    [
      { key: 'writeOpsPerSec', label: 'stores/s', digits: 0 },
      { key: 'growthMiB', label: 'growth MiB', digits: 2 },
    ],
  );
}

async function durable(state: RunState): Promise<WorkloadResult> {
  const { ctx, data } = state;
  await openMain(ctx, 'durable');
  const slots = ctx.slotsFor('durable');
  // Variants (maple two-sync) run on a byte copy of their base engine's store, so states agree.
  await ctx.each('durable', slots, async (slot) => {
    const baseName = slot.factory.cloneOf;
    if (baseName === undefined) return;
    const base = ctx.slots.find((other) => other.name === baseName);
    if (base?.mainDir === undefined || base.failure !== undefined) return;
    await base.close();
    const dir = ctx.freshDir(`${slot.name}-copy`);
    for (const name of fs.readdirSync(base.mainDir)) {
      if (!name.endsWith('.lock')) fs.copyFileSync(path.join(base.mainDir, name), path.join(dir, name));
    }
    slot.mainDir = dir;
    await base.open(true);
    await slot.open(true);
  });
  const taking = slots.filter((slot) => slot.mainDir !== undefined);
  const commits = ctx.sizes.durableCommits;
  const tally = new Tally(ctx, 'durable');
  for (let rep = 0; rep < ctx.reps; rep++) {
    const ops = storeOps(data, commits, ctx.seed + 900 + rep, 40_000_000 + rep * commits);
    let expected: string | undefined;
    await ctx.each('durable', ctx.repOrder(taking, rep), async (slot) => {
      const engine = engineOf(slot);
      const seconds = measure(() => applyStores(engine, ops, 0, ops.count, 1, ctx.shape));
      const answer = probeStores(engine, ops, ctx.shape);
      if (slot === ctx.reference) expected = answer;
      tally.add(slot, seconds, answer, expected);
    });
  }
  // The variants' files are deleted below: check their whole state now (the others at the end).
  await checkStates(ctx, 'durable', taking.filter((slot) => slot === ctx.reference || slot.factory.cloneOf !== undefined));
  const rows = tally.rows(commits, taking);
  await ctx.each('durable', taking, async (slot) => {
    if (slot.factory.cloneOf === undefined || slot.mainDir === undefined) return;
    await slot.close();
    fs.rmSync(slot.mainDir, { recursive: true, force: true });
    slot.mainDir = undefined;
  });
  return result(
    ctx,
    'durable',
    `${commits.toLocaleString('en-US')} single-store durable commits (an fsync each)`,
    'commit',
    rows,
    ['maple: commit log (cells + record home unsynced, then one O_DSYNC append to the log; the default), maple-1sync: one-sync (cells + commit record, one fdatasync), maple-2sync: two-sync (cells, sync, record, sync); the reference does no I/O'],
  );
}

async function vma(ctx: BenchContext): Promise<WorkloadResult> {
  // Recorded once per run: every value shape replays the same operations.
  if (ctx.shared.trace === undefined) {
    const traceDir = ctx.freshDir('trace');
    ctx.shared.trace = recordTrace(defaultPrograms(traceDir, ctx.quick), traceDir);
  }
  const trace = await ctx.shared.trace;
  const kinds: Record<string, number> = {};
  for (const op of trace.ops) kinds[op.kind] = (kinds[op.kind] ?? 0) + 1;
  const notes = [
    `trace source: ${trace.source} — ${trace.note}`,
    `programs: ${trace.programs.join('; ')}`,
    `calls: ${Object.entries(trace.callCounts).map(([name, count]) => `${name} ${count}`).join(', ')}`,
    `range operations: ${Object.entries(kinds).map(([kind, count]) => `${kind} ${count}`).join(', ')}; each replayed as its own non-durable commit (maple sync 'none', LMDB noSync, SQLite synchronous=OFF)`,
  ];
  const slots = ctx.slotsFor('vma');
  const tally = new Tally(ctx, 'vma');
  if (trace.ops.length > 0) {
    for (let rep = 0; rep < ctx.reps; rep++) {
      let expected: string | undefined;
      await ctx.each('vma', ctx.repOrder(slots, rep), async (slot) => {
        const dir = ctx.freshDir(`${slot.name}-vma${rep}`);
        const engine = await slot.factory.open({ dir, durable: false, shape: ctx.shape });
        const digest = new Digest(ctx.shape);
        const seconds = measure(() => replayAll(engine, trace.ops, digest, ctx.shape));
        const answer = `${digest.hex()}|${stateDigest(engine, ctx.shape)}`;
        await engine.close();
        fs.rmSync(dir, { recursive: true, force: true });
        if (slot === ctx.reference) expected = answer;
        tally.add(slot, seconds, answer, expected);
      });
    }
  }
  const rows = tally.rows(trace.ops.length, slots, (slot) => slot.factory.describe(false, undefined));
  return result(ctx, 'vma', `Real VMA traces replayed (${trace.ops.length.toLocaleString('en-US')} operations from ${trace.source})`, 'op', rows, notes);
}

function replayAll(engine: Engine, ops: TraceOp[], digest: Digest, shape: ValueShape): void {
  for (const op of ops) engine.transaction((writer) => replayOp(op, writer, digest, shape));
}

/** Runs the selected workloads in the fixed order, logging one progress line per workload. */
export async function runWorkloads(ctx: BenchContext, selected: ReadonlySet<WorkloadId>): Promise<WorkloadResult[]> {
  const order = RUN_ORDER.filter((id) => selected.has(id));
  const results: WorkloadResult[] = [];
  const wroteMain: WorkloadId[] = [];
  const needsData = order.some((id) => id !== 'vma' && id !== 'concurrent');
  const data = needsData ? generateRanges(ctx.sizes.ranges, ctx.seed, ctx.shape) : undefined;
  const state = data === undefined ? undefined : { ctx, data };
  for (const [at, id] of order.entries()) {
    ctx.log(`[${at + 1}/${order.length}] workload ${NUMBER_OF[id]} (${id}), ${ctx.shape.name} values …`);
    const started = process.hrtime.bigint();
    if (state !== undefined && id !== 'bulk' && !OWN_STORES.includes(id)) await ensureMainStores(state, id);
    let outcome: WorkloadResult;
    switch (id) {
      case 'bulk':
        outcome = await bulk(state!);
        break;
      case 'size-open':
        outcome = await sizeOpen(state!);
        break;
      case 'stab-warm':
      case 'stab-cold':
        outcome = await stabs(state!, id);
        break;
      case 'ranges':
        outcome = await rangeWindows(state!);
        break;
      case 'gaps':
        outcome = await gaps(state!, 'gaps');
        break;
      case 'gaps-all':
        outcome = await gaps(state!, 'gaps-all');
        break;
      case 'overwrite':
        outcome = await overwrite(state!);
        break;
      case 'snapshot':
        outcome = await snapshotDuringWrites(state!);
        break;
      case 'durable':
        outcome = await durable(state!);
        break;
      case 'vma':
        outcome = await vma(ctx);
        break;
      case 'worker-readers':
        outcome = await workerReaders(ctx, state!.data);
        break;
      case 'held-snapshot':
        outcome = await heldSnapshot(ctx, state!.data);
        break;
      case 'concurrent':
        outcome = await concurrent(ctx);
        break;
      default:
        throw new Error(`workload ${id} runs in its own module (sweep.ts)`);
    }
    for (const failure of ctx.failures) {
      if (failure.workload === id) outcome.notes.push(`${failure.engine} FAILED here and was left out of the rest of the run: ${failure.message}`);
    }
    results.push(outcome);
    if (WRITES_MAIN_STORES.includes(id)) wroteMain.push(id);
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const summary = outcome.rows.map((row) => `${row.engine} ${formatRate(row.opsPerSec)}/s`).join(', ');
    ctx.log(`[${at + 1}/${order.length}] workload ${NUMBER_OF[id]} (${id}) done in ${elapsed.toFixed(1)} s: ${summary}`);
  }
  if (wroteMain.length > 0) {
    // One full-state comparison after all writing workloads (a full scan is slow on some engines).
    await openMain(ctx, 'final check');
    ctx.log(`checking the final state of every store after ${wroteMain.join(', ')} …`);
    await checkStates(ctx, wroteMain.join('+'), ctx.slots.filter((slot) => slot.engine !== undefined));
  }
  await ctx.closeAll();
  return results;
}

/** The bench engine each engine of workload 12 stands for (it runs when that one is chosen). */
const CONCURRENT_BASE: Record<ConcurrentEngine, string> = { 'maple-sync': 'maple', 'maple-async': 'maple', 'maple-1sync-async': 'maple', 'lmdb-async': 'lmdb', 'sqlite-full': 'sqlite' };

async function concurrent(ctx: BenchContext): Promise<WorkloadResult> {
  const chosen = new Set(ctx.slots.map((slot) => slot.name));
  const engines = CONCURRENT_ENGINES.filter((engine) => chosen.has(CONCURRENT_BASE[engine]));
  const seconds = ctx.quick ? 0.5 : 2;
  const countOps = ctx.quick ? 200 : 1000;
  // Every cell runs once per repetition (engines rotated, so none always runs last); the
  // repetition with the median ops/s is reported whole (its latencies and loop delay with it).
  const idleBefore = await idleLoopP99Ms(seconds);
  const runs = new Map<string, CellResult[]>();
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const writers of WRITER_COUNTS) {
      const order = engines.map((_, at) => engines[(at + rep) % engines.length]!);
      for (const engine of order) {
        const cell = await runCell(engine, writers, ctx.freshDir(`concurrent-${engine}-${writers}-${rep}`), { seconds });
        ctx.log(`  rep ${rep + 1} ${engine} C=${writers}: ${Math.round(cell.ops / cell.seconds)} ops/s, p99 ${(cell.p99Us / 1000).toFixed(2)} ms, loop p99 ${cell.loopP99Ms.toFixed(2)} ms`);
        const key = `${engine} ${writers}`;
        runs.set(key, [...(runs.get(key) ?? []), cell]);
      }
    }
  }
  const idleAfter = await idleLoopP99Ms(seconds);
  const cells: Array<{ cell: CellResult; traced: number | undefined }> = [];
  let traceWorks = true;
  for (const writers of WRITER_COUNTS) {
    for (const engine of engines) {
      const reps = [...runs.get(`${engine} ${writers}`)!].sort((x, y) => x.ops / x.seconds - y.ops / y.seconds);
      const cell = reps[(reps.length - 1) >> 1]!;
      const traced = traceWorks ? countSyncsPerOp(engine, writers, countOps, ctx.freshDir(`concurrent-${engine}-${writers}-strace`)) : undefined;
      if (traced === undefined) traceWorks = false;
      cells.push({ cell, traced });
    }
  }
  const rateOf = (engine: ConcurrentEngine, writers: number): number | undefined => {
    const hit = cells.find((c) => c.cell.engine === engine && c.cell.writers === writers);
    return hit === undefined ? undefined : hit.cell.ops / hit.cell.seconds;
  };
  const rows: EngineRow[] = cells.map(({ cell, traced }) => {
    const rate = cell.ops / cell.seconds;
    const extra: Record<string, number> = { p50: cell.p50Us / 1000, p99: cell.p99Us / 1000, loop: cell.loopP99Ms, elu: cell.elu };
    if (traced !== undefined) extra.fsyncs = traced;
    if (cell.statsSyncsPerOp !== undefined) extra.statsSyncs = cell.statsSyncsPerOp;
    const sqlite = rateOf('sqlite-full', cell.writers);
    const lmdb = rateOf('lmdb-async', cell.writers);
    if (sqlite !== undefined) extra.vsSqlite = rate / sqlite;
    if (lmdb !== undefined) extra.vsLmdb = rate / lmdb;
    return { engine: `${cell.engine} C=${cell.writers}`, ops: cell.ops, seconds: [cell.seconds], medianSeconds: cell.seconds, opsPerSec: rate, usPerOp: (cell.seconds * 1e6) / cell.ops, checksum: '', settings: '', extra };
  });
  const notes = [
    `each cell: C writers on a fresh store, each awaiting its write before the next, for ${seconds} s; keys distinct, values { id, prot }; every acknowledged write checked present afterwards; the repetition with the median ops/s of ${ctx.reps}`,
    'latency: from the writer being ready to issue the op to its acknowledgement (synchronous engines: writers take turns, one op per turn of the event loop)',
    'fsyncs/op: fsync + fdatasync + msync calls counted by strace -f in an untimed child run of the same cell; "stats" is maple\'s own count of durable writes (stats().syncs: fdatasyncs, and with its commit log — maple-sync, maple-async — the O_DSYNC appends, which strace does not count as syncs)',
    'vs sqlite-full / vs lmdb-async: ops/s ÷ theirs at the same C; busy: event-loop utilization (the share of the run the main thread was working)',
  ];
  notes.push(`the event loop's delay p99 with nothing to do, before and after the cells: ${idleBefore.toFixed(2)} ms, ${idleAfter.toFixed(2)} ms (what other work on the machine adds to every loop p99)`);
  const maple64 = rateOf('maple-async', 64);
  const sqlite64 = rateOf('sqlite-full', 64);
  const lmdb64 = rateOf('lmdb-async', 64);
  const loop64 = cells.find((c) => c.cell.engine === 'maple-async' && c.cell.writers === 64)?.cell.loopP99Ms;
  if (maple64 !== undefined) {
    notes.push(
      `targets at C=64: maple-async ${maple64.toFixed(0)}/s = ${sqlite64 === undefined ? '—' : (maple64 / sqlite64).toFixed(1)}× sqlite-full per commit (target ≥ 10×), ${lmdb64 === undefined ? '—' : (maple64 / lmdb64).toFixed(2)}× lmdb-async (target ≥ 1×); event-loop delay p99 ${loop64?.toFixed(2)} ms (target < 5 ms)`,
    );
  }
  return result(
    ctx,
    'concurrent',
    `durable writes by C concurrent awaiting writers (C = ${WRITER_COUNTS.join(', ')})`,
    'write',
    rows,
    notes,
    [
      { key: 'p50', label: 'p50 ms', digits: 2 },
      { key: 'p99', label: 'p99 ms', digits: 2 },
      { key: 'fsyncs', label: 'fsyncs/op', digits: 3 },
      { key: 'statsSyncs', label: 'stats', digits: 3 },
      { key: 'loop', label: 'loop p99 ms', digits: 2 },
      { key: 'elu', label: 'busy', digits: 2 },
      { key: 'vsSqlite', label: 'vs sqlite-full', digits: 1 },
      { key: 'vsLmdb', label: 'vs lmdb-async', digits: 2 },
    ],
  );
}

/** Workloads that change the bulk-loaded stores. */
const WRITES_MAIN_STORES: readonly WorkloadId[] = ['overwrite', 'snapshot', 'durable'];

function formatRate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k`;
  return opsPerSec.toFixed(1);
}
