// The concurrency workloads of issue 12 (readers in worker threads), maple-store and lmdb-js side by
// side, each on stores of its own built from the run's data:
//
//   12 worker-readers  one writer committing continuously (single-store durable commits on the main
//                      thread) + R reader Workers doing stabbing loads, R = 1, 2, 4 (1, 2 with
//                      --quick); each reader's loads/s against the same readers with no writer,
//                      and their p99 load latency with and without the writer.
//   13 held-snapshot   a snapshot held for 30 s (3 s with --quick) by a Worker (maple: openShared;
//                      lmdb: a read transaction) while the main thread churns (durable commits of
//                      100 overwrites): file growth while held, space returned after release, and
//                      growth over as many commits again after it.
//
// The readers check what they read: the stabbing points' hit/miss pattern never changes under the
// writer (it overwrites ranges with their own bounds), so every pass over the points must find the
// same number of values as the reference does; a mismatch fails the run.

import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchContext } from './context.js';
import { Rng, rangeAt, stabQueries, type RangeData } from './data.js';
import { addHistogram, percentile } from './latency.js';
import type { EngineRow, ExtraColumn, WorkloadResult } from './workloads.js';

type Maple = typeof import('../../src/index.js');
type MapleStore = import('../../src/index.js').MapleStore<{ id: number; prot: number }>;
type Lmdb = typeof import('lmdb');
type LmdbDb = import('lmdb').RootDatabase<[number, { id: number; prot: number }], number>;

const WORKER = new URL('./readerWorker.js', import.meta.url);
/** Ranges in the stores of these workloads (the run's data, cut to this). */
const MAX_RANGES = 200_000;
const LMDB_OPTIONS = { noSubdir: true, overlappingSync: false, noMemInit: true, pageSize: 4096, mapSize: 16 * 2 ** 30, cache: false } as const;

/** One engine's store for these workloads: how to write one range, and what to hand a reader. */
interface ConcurrentStore {
  readonly engine: 'maple' | 'lmdb';
  /** Overwrites range i of the data with a new prot value, one durable commit per call. */
  overwrite(i: number, prot: number): void;
  /** Overwrites `count` ranges in one durable commit. */
  overwriteMany(rng: Rng, count: number): void;
  /** Data for a reader Worker (its workerData besides the queries). */
  readerData(worker?: Worker): Record<string, unknown>;
  fileBytes(): number;
  /** maple only: pending and free bytes inside the file. */
  space(): { pending: number; free: number } | undefined;
  /** lmdb only: opens a read transaction on the main thread; returns its release. */
  holdRead?(): () => void;
  close(): Promise<void>;
}

async function mapleStore(dir: string, data: RangeData, count: number): Promise<ConcurrentStore> {
  const lib = (await import('../../src/index.js')) as Maple;
  const file = path.join(dir, 'store.maple');
  const store: MapleStore = lib.open(file, { sync: 'full' });
  store.transaction((tx) => {
    for (let i = 0; i < count; i++) tx.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: data.prots[i]! });
  });
  return {
    engine: 'maple',
    overwrite: (i, prot) => store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot }),
    overwriteMany: (rng, n) =>
      store.transaction((tx) => {
        for (let k = 0; k < n; k++) {
          const i = rng.below(count);
          tx.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: rng.prot() });
        }
      }),
    readerData: (worker) => ({ handle: store.share(worker) }),
    fileBytes: () => fs.statSync(file).size,
    space: () => {
      const st = store.stats();
      return { pending: st.pendingBytes, free: st.freeBytes };
    },
    close: async () => store.close(),
  };
}

async function lmdbStore(dir: string, data: RangeData, count: number): Promise<ConcurrentStore> {
  const { open } = (await import('lmdb')) as Lmdb;
  const file = path.join(dir, 'store.mdb');
  const db: LmdbDb = open({ path: file, ...LMDB_OPTIONS });
  db.transactionSync(() => {
    for (let i = 0; i < count; i++) db.putSync(data.firsts[i]!, [data.lasts[i]!, { id: i, prot: data.prots[i]! }], { append: true });
  });
  return {
    engine: 'lmdb',
    overwrite: (i, prot) => db.putSync(data.firsts[i]!, [data.lasts[i]!, { id: i, prot }]),
    overwriteMany: (rng, n) =>
      db.transactionSync(() => {
        for (let k = 0; k < n; k++) {
          const i = rng.below(count);
          db.putSync(data.firsts[i]!, [data.lasts[i]!, { id: i, prot: rng.prot() }]);
        }
      }),
    readerData: () => ({ lmdbPath: file }),
    fileBytes: () => fs.statSync(file).size,
    space: () => undefined,
    holdRead: () => {
      const transaction = db.useReadTransaction();
      return () => transaction.done();
    },
    close: async () => db.close(),
  };
}

/** The engines of the run that these workloads know (maple, lmdb), in run order. */
function enginesOf(ctx: BenchContext): ('maple' | 'lmdb')[] {
  const names = ctx.slots.map((slot) => slot.name);
  return (['maple', 'lmdb'] as const).filter((name) => names.includes(name));
}

async function openStore(ctx: BenchContext, engine: 'maple' | 'lmdb', data: RangeData, count: number, label: string): Promise<ConcurrentStore> {
  const dir = ctx.freshDir(`${engine}-${label}`);
  return engine === 'maple' ? mapleStore(dir, data, count) : lmdbStore(dir, data, count);
}

/** The next message of `worker` (rejects on its error or exit first). */
function nextMessage(worker: Worker): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>): void => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve(message);
    };
    const onError = (error: Error): void => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      reject(error);
    };
    const onExit = (code: number): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      reject(new Error(`reader worker exited with code ${code} before answering`));
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}

interface ReaderRun {
  loadsPerSec: number;
  /** Loads per second the readers spent on a CPU (NaN where /proc does not say). */
  loadsPerCpuSec: number;
  histogram: number[];
  commitsPerSec: number;
}

/** How a reader Worker reads: the store's own reads, one snapshot (maple), or no store at all. */
type ReaderKind = 'newest' | 'pinned' | 'memory';

/** R readers for `durationMs`, with the main thread committing single overwrites meanwhile or idle. */
async function readersRun(store: ConcurrentStore, queries: Float64Array, expectedHits: number, readers: number, durationMs: number, withWriter: boolean, rng: Rng, data: RangeData, kind: ReaderKind): Promise<ReaderRun> {
  const count = data.count;
  const go = new Int32Array(new SharedArrayBuffer(4));
  const workers: Worker[] = [];
  try {
    const answers: Promise<Record<string, unknown>>[] = [];
    for (let r = 0; r < readers; r++) {
      const job =
        kind === 'memory'
          ? { engine: 'memory', firsts: data.firsts.subarray(0, count), lasts: data.lasts.subarray(0, count) }
          : { engine: store.engine, pinned: kind === 'pinned', ...store.readerData() };
      const worker = new Worker(WORKER, { workerData: { queries, expectedHits, go, durationMs, ...job } });
      workers.push(worker);
      // Watched only once the Worker exists (maple frees its slots at exit).
      if (kind !== 'memory') store.readerData(worker);
      answers.push(nextMessage(worker));
    }
    for (const ready of await Promise.all(answers)) if (ready['ready'] !== true) throw new Error(`reader did not start: ${JSON.stringify(ready)}`);
    const done = workers.map((worker) => nextMessage(worker));
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    let commits = 0;
    const started = process.hrtime.bigint();
    if (withWriter) {
      const deadline = started + BigInt(Math.round(durationMs * 1e6));
      while (process.hrtime.bigint() < deadline) {
        store.overwrite(rng.below(count), rng.prot());
        commits++;
      }
    } else {
      await new Promise((resolve) => setTimeout(resolve, durationMs));
    }
    const writerSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const histogram: number[] = [];
    let loadsPerSec = 0;
    let loads = 0;
    let cpu = 0;
    for (const result of await Promise.all(done)) {
      const errors = result['errors'] as string[];
      if (errors.length > 0) throw new Error(`a ${store.engine} reader failed: ${errors.join('; ')}`);
      loadsPerSec += (result['loads'] as number) / (result['seconds'] as number);
      loads += result['loads'] as number;
      cpu += result['cpu'] as number;
      addHistogram(histogram, result['histogram'] as number[]);
    }
    return { loadsPerSec, loadsPerCpuSec: loads / cpu, histogram, commitsPerSec: commits / writerSeconds };
  } finally {
    for (const worker of workers) await worker.terminate();
  }
}

function row(engine: string, ops: number, seconds: number[], settings: string, extra: Record<string, number>): EngineRow {
  const sorted = [...seconds].sort((a, b) => a - b);
  const medianSeconds = sorted[sorted.length >> 1]!;
  return { engine, ops, seconds, medianSeconds, opsPerSec: ops / medianSeconds, usPerOp: (medianSeconds / ops) * 1e6, checksum: '', settings, extra };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Workload 12. */
export async function workerReaders(ctx: BenchContext, data: RangeData): Promise<WorkloadResult> {
  const count = Math.min(data.count, MAX_RANGES);
  const durationMs = ctx.quick ? 500 : 1000;
  const readerCounts = ctx.quick ? [1, 2] : [1, 2, 4];
  const pairs = ctx.quick ? 2 : Math.max(5, ctx.reps);
  const cut: RangeData = { ...data, count };
  const queries = stabQueries(cut, Math.min(count, 100_000), ctx.seed + 1200);
  // The reference's answer: points inside one of the first `count` ranges.
  let expectedHits = 0;
  for (let q = 0; q < queries.length; q++) if (hitsRange(cut, queries[q]!)) expectedHits++;
  const rows: EngineRow[] = [];
  for (const engine of enginesOf(ctx)) {
    const store = await openStore(ctx, engine, data, count, 'workers');
    try {
      // maple also runs two controls of one reader, with the same writer: one through a single
      // snapshot (it never moves to newer versions: what the writer costs a reader besides the
      // renewal), and one that reads no store (a binary search in the Worker's own arrays: what the
      // writer costs any reader on this machine — the cores, the caches, the writer's kernel and
      // garbage-collector threads).
      const controls: { readers: number; kind: ReaderKind }[] = [
        { readers: 1, kind: 'pinned' },
        { readers: 1, kind: 'memory' },
      ];
      const variants = [...readerCounts.map((readers) => ({ readers, kind: 'newest' as ReaderKind })), ...(engine === 'maple' ? controls : [])];
      for (const { readers, kind } of variants) {
        // Pairs of runs, alone and with the writer, alternating which goes first: each pair sees
        // about the same load from whatever else runs on the machine; its ratio is what is kept.
        const alone: number[] = [];
        const withWriter: number[] = [];
        const kept: number[] = [];
        const keptCpu: number[] = [];
        const commits: number[] = [];
        const histAlone: number[] = [];
        const histWriter: number[] = [];
        for (let pair = 0; pair < pairs; pair++) {
          const rng = new Rng(ctx.seed + 1300 + pair);
          const runAlone = (): Promise<ReaderRun> => readersRun(store, queries, expectedHits, readers, durationMs, false, rng, cut, kind);
          const runWith = (): Promise<ReaderRun> => readersRun(store, queries, expectedHits, readers, durationMs, true, rng, cut, kind);
          let a: ReaderRun;
          let w: ReaderRun;
          if (pair % 2 === 0) {
            a = await runAlone();
            w = await runWith();
          } else {
            w = await runWith();
            a = await runAlone();
          }
          alone.push(a.loadsPerSec);
          withWriter.push(w.loadsPerSec);
          kept.push((100 * w.loadsPerSec) / a.loadsPerSec);
          keptCpu.push((100 * w.loadsPerCpuSec) / a.loadsPerCpuSec);
          commits.push(w.commitsPerSec);
          addHistogram(histAlone, a.histogram);
          addHistogram(histWriter, w.histogram);
        }
        const loadsWith = median(withWriter);
        const loadsAlone = median(alone);
        const label = kind === 'memory' ? 'no store ×1 (control)' : `${engine} ×${readers}${kind === 'pinned' ? ' (one snapshot)' : ''}`;
        ctx.log(`  ${label}: ${Math.round(loadsWith)} loads/s with the writer, ${Math.round(loadsAlone)} alone; kept ${median(kept).toFixed(1)}% (pairs: ${kept.map((k) => k.toFixed(0)).join(', ')}), per CPU-second ${median(keptCpu).toFixed(1)}%`);
        rows.push(
          row(label, loadsWith, [1], `${readers} reader Worker(s)${kind === 'pinned' ? ' reading one snapshot' : kind === 'memory' ? ' reading no store (binary search in its own arrays)' : ''}; writer: ${engine}'s single-store durable commits on the main thread`, {
            alone: loadsAlone,
            kept: median(kept),
            keptCpu: median(keptCpu),
            p99With: percentile(histWriter, 0.99) / 1000,
            p99Alone: percentile(histAlone, 0.99) / 1000,
            commits: median(commits),
          }),
        );
      }
    } finally {
      await store.close();
    }
  }
  const columns: ExtraColumn[] = [
    { key: 'alone', label: 'loads/s alone', digits: 0 },
    { key: 'kept', label: '% kept', digits: 1 },
    { key: 'keptCpu', label: '% kept per CPU-s', digits: 1 },
    { key: 'p99With', label: 'p99 µs (writer)', digits: 1 },
    { key: 'p99Alone', label: 'p99 µs (alone)', digits: 1 },
    { key: 'commits', label: 'commits/s', digits: 0 },
  ];
  return {
    id: 'worker-readers',
    number: 12,
    values: 'inline',
    title: `Reader Workers while the main thread commits continuously (${count.toLocaleString('en-US')} ranges)`,
    opName: 'load',
    opsName: 'loads',
    chart: false,
    extraColumns: columns,
    notes: [
      'loads/s: all readers together, while the main thread commits single-store durable overwrites back to back; "alone": the same readers, the main thread idle (medians of the runs)',
      '"% kept": median over pairs of runs (alone, with the writer; alternating which runs first) of the ratio of their loads/s; "per CPU-s": the same with loads per second the readers spent on a CPU (/proc/thread-self/schedstat), which leaves out time lost to other threads and processes',
      'p99: per-load latency (timed one by one, log buckets ±2%) over every reader and repetition',
      'maple readers: openShared(handle) in each Worker, the store\'s own reads (newest published version); lmdb readers: the same environment opened in each Worker, implicit read transactions',
      'each reader yields to its event loop every 1,000 loads; the machine\'s cores are shared by the readers and the writer',
      'maple ×1 (one snapshot): a control, the reader loads through one snapshot opened before the run, so it never moves to the writer\'s new versions',
      'no store ×1 (control): a reader Worker that reads no store — a binary search over the ranges\' bounds in its own arrays — while maple\'s writer commits: what the writer costs any reader on this machine, the bound of "% kept"',
      `${pairs} pairs of ${durationMs / 1000} s runs per row`,
    ],
    rows,
  };
}

/** Whether `index` lies in one of the data's first `count` ranges. */
function hitsRange(data: RangeData, index: number): boolean {
  return rangeAt(data.firsts, data.lasts, data.count, index) >= 0;
}

/** Workload 13. */
export async function heldSnapshot(ctx: BenchContext, data: RangeData): Promise<WorkloadResult> {
  const count = Math.min(data.count, MAX_RANGES);
  const holdMs = ctx.quick ? 3000 : 30_000;
  const rows: EngineRow[] = [];
  const MiB = 2 ** 20;
  for (const engine of enginesOf(ctx)) {
    const store = await openStore(ctx, engine, data, count, 'held');
    const rng = new Rng(ctx.seed + 1400);
    // maple: a Worker holds the snapshot (openShared); lmdb: a read transaction on the main thread
    // (lmdb-js keeps one reader table per process, so it pins the same way).
    const worker = engine === 'maple' ? new Worker(WORKER, { workerData: { engine, hold: true, queries: new Float64Array(0), go: new Int32Array(new SharedArrayBuffer(4)), durationMs: 0, ...store.readerData() } }) : undefined;
    try {
      let release: () => Promise<void>;
      if (worker !== undefined) {
        store.readerData(worker);
        const held = await nextMessage(worker);
        if (typeof held['held'] !== 'number') throw new Error(`the reader did not hold a snapshot: ${JSON.stringify(held)}`);
        release = async () => {
          worker.postMessage('release');
          const released = await nextMessage(worker);
          if (released['released'] !== true) throw new Error(`the reader did not release: ${JSON.stringify(released)}`);
        };
      } else {
        const done = store.holdRead!();
        release = async () => done();
      }
      const sizeStart = store.fileBytes();
      let commits = 0;
      const started = process.hrtime.bigint();
      const deadline = started + BigInt(holdMs * 1e6);
      while (process.hrtime.bigint() < deadline) {
        store.overwriteMany(rng, 100);
        commits++;
      }
      const heldSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const sizeHeld = store.fileBytes();
      const spaceHeld = store.space();
      await release();
      // Two commits: the first lists the readers without the snapshot, the second reuses.
      store.overwriteMany(rng, 100);
      store.overwriteMany(rng, 100);
      const spaceAfter = store.space();
      const sizeReleased = store.fileBytes();
      const afterDeadline = process.hrtime.bigint() + BigInt(Math.min(holdMs, 10_000) * 1e6);
      for (let c = 0; c < commits && process.hrtime.bigint() < afterDeadline; c++) store.overwriteMany(rng, 100);
      const sizeAfter = store.fileBytes();
      ctx.log(`  ${engine}: ${commits} commits while held, file +${((sizeHeld - sizeStart) / MiB).toFixed(1)} MiB; after release +${((sizeAfter - sizeReleased) / MiB).toFixed(1)} MiB`);
      const extra: Record<string, number> = {
        startMiB: sizeStart / MiB,
        grownMiB: (sizeHeld - sizeStart) / MiB,
        afterMiB: (sizeAfter - sizeReleased) / MiB,
      };
      if (spaceHeld !== undefined && spaceAfter !== undefined) {
        extra['pendingHeldMiB'] = spaceHeld.pending / MiB;
        extra['pendingAfterMiB'] = spaceAfter.pending / MiB;
        extra['freeAfterMiB'] = spaceAfter.free / MiB;
      }
      rows.push(row(engine, commits, [heldSeconds], 'durable commits of 100 overwrites each', extra));
    } finally {
      if (worker !== undefined) await worker.terminate();
      await store.close();
    }
  }
  return {
    id: 'held-snapshot',
    number: 13,
    values: 'inline',
    title: `A snapshot held ${holdMs / 1000} s by a reader Worker under churn (${count.toLocaleString('en-US')} ranges; commits of 100 random overwrites)`,
    opName: 'commit',
    opsName: 'commits',
    chart: false,
    extraColumns: [
      { key: 'startMiB', label: 'file MiB', digits: 1 },
      { key: 'grownMiB', label: '+MiB held', digits: 1 },
      { key: 'pendingHeldMiB', label: 'pending MiB (held)', digits: 1 },
      { key: 'pendingAfterMiB', label: 'pending MiB (released)', digits: 2 },
      { key: 'freeAfterMiB', label: 'free MiB (released)', digits: 1 },
      { key: 'afterMiB', label: '+MiB after', digits: 1 },
    ],
    notes: [
      '+MiB held: file growth while the snapshot is held; pending/free (maple): bytes freed by commits and waiting for readers, and bytes reusable, in the file, at the end of the hold and two commits after the release',
      '+MiB after: file growth over as many commits again (at most 10 s) after the release: 0 when released space is reused',
      'maple: the snapshot is a Worker\'s (openShared, pinned in the shared reader table); lmdb: a read transaction on the main thread (one reader table per process)',
    ],
    rows,
  };
}
