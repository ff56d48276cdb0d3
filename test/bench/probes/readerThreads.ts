// Where a reader Worker's time goes while the main thread commits (docs/benchmarks.md, "What bounds
// the worker reader"): one Worker loads random points — through openShared (the newest version),
// through one snapshot, or from no store at all (a binary search in its own arrays) — for `seconds`
// alone, then as long again while the main thread commits single-store durable overwrites back to
// back; twice. Prints the reader's loads/s, its context switches (voluntary: it waited; involuntary:
// another thread took its core), and the CPU every thread of the process used meanwhile
// (/proc/self/task/*/stat: the main thread, the reader, V8's helper threads, libuv's pool).
//
//   node dist/test/bench/probes/readerThreads.js [ranges=200000] [seconds=3] [reader: newest|snapshot|memory]

import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { open, openShared, type SharedHandle } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';
import { rangeAt } from '../data.js';

interface Job {
  handle: SharedHandle;
  points: Float64Array;
  firsts: Float64Array;
  lasts: Float64Array;
  go: Int32Array;
  ms: number;
  reader: string;
}

/** The calling thread's voluntary and involuntary context switches so far. */
function switches(): [number, number] {
  const status = fs.readFileSync('/proc/thread-self/status', 'latin1');
  return [Number(/\bvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]), Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1])];
}

async function readerMain(job: Job): Promise<void> {
  const store = openShared(job.handle);
  let load: (index: number) => unknown = (index) => store.load(index);
  if (job.reader === 'snapshot') {
    const snap = store.snapshot();
    load = (index) => snap.load(index);
  } else if (job.reader === 'memory') {
    const { firsts, lasts } = job;
    load = (index) => {
      const at = rangeAt(firsts, lasts, firsts.length, index);
      return at < 0 ? undefined : at;
    };
  }
  const points = job.points;
  for (let q = 0; q < points.length; q++) load(points[q]!);
  parentPort!.postMessage('ready');
  Atomics.wait(job.go, 0, 0);
  const [v0, n0] = switches();
  let loads = 0;
  let q = 0;
  const started = performance.now();
  const deadline = started + job.ms;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) {
      load(points[q]!);
      if (++q === points.length) q = 0;
    }
    loads += 1000;
    await new Promise((resolve) => setImmediate(resolve));
    now = performance.now();
  }
  const [v1, n1] = switches();
  parentPort!.postMessage({ loadsPerSec: loads / ((now - started) / 1000), voluntary: v1 - v0, involuntary: n1 - n0 });
  store.close();
}

/** CPU milliseconds (user + system) of every thread of this process, by thread id, with its name. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // the thread ended
    }
  }
  return out;
}

async function main(): Promise<void> {
  const ranges = arg(0, 200_000);
  const seconds = arg(1, 3);
  const reader = process.argv[4] ?? 'newest';
  const dir = tempDir('reader-threads');
  const file = path.join(dir, 's.maple');
  try {
    const data = buildBenchStore(file, ranges);
    const store = open<{ id: number; prot: number }>(file, { sync: 'full' });
    const points = new Float64Array(100_000);
    for (let i = 0; i < points.length; i++) points[i] = data.firsts[(i * 7919) % data.count]! + (i % 3);
    let k = 0;
    for (const withWriter of [false, true, false, true]) {
      const go = new Int32Array(new SharedArrayBuffer(4));
      const job: Job = { handle: store.share(), points, firsts: data.firsts, lasts: data.lasts, go, ms: seconds * 1000, reader };
      const worker = new Worker(new URL(import.meta.url), { workerData: job });
      store.share(worker);
      await new Promise((resolve) => worker.once('message', resolve));
      const done = new Promise<{ loadsPerSec: number; voluntary: number; involuntary: number }>((resolve) => worker.once('message', resolve));
      const before = threadCpu();
      const started = performance.now();
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      let commits = 0;
      if (withWriter) {
        while (performance.now() - started < seconds * 1000) {
          const i = (k++ * 7919) % data.count;
          store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: k & 7 });
          commits++;
        }
      }
      const result = await done;
      const elapsed = performance.now() - started;
      const after = threadCpu();
      await worker.terminate();
      const busy = [...after]
        .map(([tid, ms]) => [tid, ((ms - (before.get(tid) ?? ms)) / elapsed) * 100] as const)
        .filter(([, share]) => share >= 0.5)
        .map(([tid, share]) => `${tid === String(process.pid) ? 'main' : tid} ${share.toFixed(0)}%`);
      console.log(
        `${reader} reader, ${withWriter ? `writer on (${Math.round(commits / (elapsed / 1000))} commits/s)` : 'writer idle'}: ${Math.round(result.loadsPerSec)} loads/s, ` +
          `switches ${result.voluntary} voluntary / ${result.involuntary} involuntary; CPU by thread: ${busy.join(', ')}`,
      );
    }
    store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await readerMain(workerData as Job);
