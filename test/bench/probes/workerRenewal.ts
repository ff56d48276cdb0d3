// What a reader Worker pays for the writer's commits, in the Worker: the main thread commits
// single-store overwrites back to back (sync 'full' or as given) while one Worker loads random
// points through openShared; the Worker times every load and sorts them into loads right after it
// moved to a newer version (the first load of each version) and the rest. Then the same Worker
// loop with the main thread idle. Prints loads/s, µs per first load and per other load, and the
// share of the Worker's time the first loads take.
//
//   node dist/test/bench/probes/workerRenewal.js [ranges] [seconds] [sync: full|none]

import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { open, openShared, type SharedHandle } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';

interface Job {
  handle: SharedHandle;
  points: Float64Array;
  go: Int32Array;
  ms: number;
  file: string;
}

interface Result {
  loads: number;
  seconds: number;
  versions: number;
  firstMs: number;
  restMs: number;
  slowLoads: number;
  pagesDropped: number;
  misses: number;
  pinMs: number;
  pinOnlyMs: number;
  preadMs: number;
}

function readerMain(job: Job): void {
  const store = openShared(job.handle);
  const points = job.points;
  for (let q = 0; q < points.length; q++) store.load(points[q]!);
  parentPort!.postMessage('ready');
  Atomics.wait(job.go, 0, 0);
  const stats0 = store.stats();
  const fd = fs.openSync(job.file, 'r');
  const page = new Uint8Array(4096);
  let pinMs = 0;
  let pinOnlyMs = 0;
  let preadMs = 0;
  let loads = 0;
  let versions = 0;
  let firstMs = 0;
  let restMs = 0;
  let slowLoads = 0;
  let last = store.stats().version;
  let q = 0;
  const started = performance.now();
  const deadline = started + job.ms;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) {
      const v = store.stats().version;
      if (v !== last) {
        const t0 = performance.now();
        const { token, root } = (store as any).pins.pinNewest('snapshot');
        const tm = performance.now();
        (store as any).readerOf(root);
        token.release();
        const t1 = performance.now();
        pinOnlyMs += tm - t0;
        fs.readSync(fd, page, 0, 4096, 4096 * (200 + ((q * 7919) % 1000)));
        pinMs += t1 - t0;
        preadMs += performance.now() - t1;
      }
      const before = performance.now();
      store.load(points[q]!);
      now = performance.now();
      if (++q === points.length) q = 0;
      const ms = now - before;
      if (ms > 0.02) slowLoads++;
      if (v !== last) {
        last = v;
        versions++;
        firstMs += ms;
      } else restMs += ms;
    }
    loads += 1000;
  }
  const st = store.stats();
  const result: Result = {
    loads,
    seconds: (now - started) / 1000,
    versions,
    firstMs,
    restMs,
    slowLoads,
    pagesDropped: st.pagesDropped - stats0.pagesDropped,
    misses: st.cacheMisses - stats0.cacheMisses,
    pinMs,
    pinOnlyMs,
    preadMs,
  };
  store.close();
  parentPort!.postMessage(result);
}

async function run(file: string, handle: SharedHandle, points: Float64Array, ms: number, write: (() => void) | null): Promise<Result> {
  const go = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL(import.meta.url), { workerData: { handle, points, go, ms, file } });
  const messages: unknown[] = [];
  let wake: (() => void) | null = null;
  worker.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  const next = async (): Promise<unknown> => {
    while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return messages.shift();
  };
  await next();
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  let commits = 0;
  if (write !== null) {
    const deadline = performance.now() + ms;
    while (performance.now() < deadline) {
      write();
      commits++;
    }
  }
  const result = (await next()) as Result;
  await worker.terminate();
  console.log(
    `${write === null ? 'alone      ' : 'with writer'}: ${Math.round(result.loads / result.seconds)} loads/s; ${result.versions} versions (${commits} commits); first load ${result.versions > 0 ? ((result.firstMs / result.versions) * 1000).toFixed(1) : '-'} µs, other loads ${((result.restMs / (result.loads - result.versions)) * 1000).toFixed(3)} µs; first loads ${((100 * result.firstMs) / (result.seconds * 1000)).toFixed(1)}% of the time; loads > 20 µs: ${result.slowLoads}; pinNewest ${((result.pinOnlyMs / Math.max(1, result.versions)) * 1000).toFixed(1)} µs, pin+readerOf ${((result.pinMs / Math.max(1, result.versions)) * 1000).toFixed(1)} µs, pread ${((result.preadMs / Math.max(1, result.versions)) * 1000).toFixed(1)} µs; pages dropped ${result.pagesDropped}, misses ${result.misses}`,
  );
  return result;
}

async function main(): Promise<void> {
  const ranges = arg(0, 200_000);
  const seconds = arg(1, 2);
  const sync = (process.argv[4] ?? 'full') as 'full' | 'none';
  const dir = tempDir('worker-renewal');
  try {
    const file = path.join(dir, 'store.maple');
    const data = buildBenchStore(file, ranges);
    const store = open<{ id: number; prot: number }>(file, { sync });
    const points = new Float64Array(100_000);
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % data.count;
    };
    for (let q = 0; q < points.length; q++) points[q] = data.firsts[next()]!;
    const handle = store.share();
    let c = 0;
    for (let round = 0; round < 2; round++) {
      await run(file, handle, points, seconds * 1000, null);
      await run(file, handle, points, seconds * 1000, () => {
        const i = next();
        store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: c++ & 7 });
      });
    }
    store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) void main();
else readerMain(workerData as Job);
