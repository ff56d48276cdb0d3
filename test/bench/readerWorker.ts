// A reader thread for the concurrency workloads (concurrency.ts): stabbing loads on a store the main
// thread writes, timed one by one into a log-bucket histogram, for a fixed time after a shared start
// signal.
//
//   maple: openShared(handle) — the store's own reads, each reading the newest published version
//          (workerData.pinned: through one snapshot instead, a control that never moves on).
//   lmdb:  the same environment opened in this thread (lmdb-js shares one per process); a load is
//          the reverse range read of limit 1 the lmdb engine uses, in lmdb-js's implicit read
//          transaction (renewed once per event turn).
//   memory: no store — a binary search over the ranges' bounds held in this thread's own arrays
//          (workerData.firsts, lasts): a control for what the writer costs any reader on the
//          machine (cores, caches, the writer's kernel and garbage-collector threads).
//
// Every BATCH loads the thread yields to its event loop (setImmediate) so both engines move to
// newer versions as they would in a server. Messages: { ready } once warm, then { loads, seconds,
// cpu, histogram, errors } when done (cpu: the thread's seconds on a CPU meanwhile). workerData.hold instead holds one snapshot until told to close it
// (held-snapshot workload): { held: version }, then on the message 'release', { released: true }.

import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import { HISTOGRAM_BUCKETS, bucketOf } from './latency.js';
import { rangeAt } from './data.js';

/**
 * This thread's time on a CPU in seconds (/proc/thread-self/schedstat, nanoseconds), or NaN where
 * Linux does not give it: loads per CPU-second tell the reader's own cost from time it lost to
 * other threads and processes.
 */
function cpuSeconds(): number {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

interface Job {
  readonly engine: 'maple' | 'lmdb' | 'memory';
  readonly handle?: unknown;
  readonly lmdbPath?: string;
  readonly queries: Float64Array;
  /** Loads of one pass over `queries` that find a value (the reference's count). */
  readonly expectedHits: number;
  /** Set to 1 (and notified) by the main thread: start timing. */
  readonly go: Int32Array;
  readonly durationMs: number;
  readonly hold?: boolean;
  /** maple: load through one snapshot opened before the start (a control: no move to newer versions). */
  readonly pinned?: boolean;
  /** memory: the ranges' bounds, in order. */
  readonly firsts?: Float64Array;
  readonly lasts?: Float64Array;
}

const BATCH = 1000;

type Load = (index: number) => unknown;

const job = workerData as Job;
const port = parentPort!;

async function openLoad(): Promise<{ load: Load; close: () => void; snapshot?: () => { version: number; close(): void } }> {
  if (job.engine === 'memory') {
    const firsts = job.firsts!;
    const lasts = job.lasts!;
    return {
      load: (index) => {
        const at = rangeAt(firsts, lasts, firsts.length, index);
        return at < 0 ? undefined : at;
      },
      close: () => {},
    };
  }
  if (job.engine === 'maple') {
    const lib = (await import('../../src/index.js')) as typeof import('../../src/index.js');
    const store = lib.openShared(job.handle as import('../../src/index.js').SharedHandle);
    if (job.pinned) {
      const snap = store.snapshot();
      return { load: (index) => snap.load(index), close: () => store.close() };
    }
    return { load: (index) => store.load(index), close: () => store.close(), snapshot: () => store.snapshot() };
  }
  const { open } = await import('lmdb');
  const db = open<[number, unknown], number>({ path: job.lmdbPath!, noSubdir: true, overlappingSync: false, noMemInit: true, pageSize: 4096, mapSize: 16 * 2 ** 30, cache: false });
  return {
    load: (index) => {
      for (const { value } of db.getRange({ start: index, reverse: true, limit: 1 })) return value[0] >= index ? value[1] : undefined;
      return undefined;
    },
    close: () => void db.close(),
  };
}

async function main(): Promise<void> {
  const reader = await openLoad();
  if (job.hold) {
    const snap = reader.snapshot!();
    port.postMessage({ held: snap.version });
    port.once('message', () => {
      snap.close();
      reader.close();
      port.postMessage({ released: true });
    });
    return;
  }
  const queries = job.queries;
  const errors: string[] = [];
  let hits = 0;
  /** The hit count of every whole pass must be the reference's: the writer keeps every range's bounds. */
  const endPass = (): void => {
    if (hits !== job.expectedHits && errors.length < 3) errors.push(`a pass over the points found ${hits} values, the reference ${job.expectedHits}`);
    hits = 0;
  };
  // Warm: every query once (the pool and the page cache hold what the run reads).
  for (let q = 0; q < queries.length; q++) if (reader.load(queries[q]!) !== undefined) hits++;
  endPass();
  port.postMessage({ ready: true });
  Atomics.wait(job.go, 0, 0);
  const histogram = new Float64Array(HISTOGRAM_BUCKETS);
  let loads = 0;
  let q = 0;
  const cpuStarted = cpuSeconds();
  const started = performance.now();
  const deadline = started + job.durationMs;
  let now = started;
  while (now < deadline) {
    try {
      for (let i = 0; i < BATCH; i++) {
        const index = queries[q]!;
        const before = performance.now();
        const value = reader.load(index);
        now = performance.now();
        if (value !== undefined) hits++;
        if (++q === queries.length) {
          q = 0;
          endPass();
        }
        histogram[bucketOf((now - before) * 1e6)]!++;
      }
      loads += BATCH;
    } catch (error) {
      errors.push(String(error));
    }
    if (errors.length > 0) break;
    await new Promise((resolve) => setImmediate(resolve));
    now = performance.now();
  }
  const seconds = (now - started) / 1000;
  const cpu = cpuSeconds() - cpuStarted;
  reader.close();
  port.postMessage({ loads, seconds, cpu, histogram: Array.from(histogram), errors });
}

void main();
