// Durable asynchronous writes arriving at a fixed rate whatever the acknowledgements (an open
// loop, as requests reach a server), against the closed loop of workload 14: issues `rate`
// storeAsync() calls a second for `seconds`, at random keys, small values, sync 'full', and prints
// the rate acknowledged during the run, p50/p99 latency from call to acknowledgement, and how
// many groups ran ahead of the group in flight (stats().groupsAhead). A store that keeps up
// acknowledges the rate asked for at low latency; one that does not falls behind, and its latency
// grows with the queue. Also prints when the writes acknowledged after more than 50 ms were issued
// (a backlog while the process warms up, or one that lasts).
//
//   node dist/test/bench/probes/openLoopWrites.js [rate=100000] [seconds=4]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { arg, tempDir } from './common.js';

const rate = arg(0, 100_000);
const seconds = arg(1, 4);
const dir = tempDir('open-loop');
try {
  const store = open<{ id: number; prot: number }>(path.join(dir, 'store.maple'), { sync: 'full', maxQueuedWrites: 1 << 22 });
  const latencies: number[] = [];
  /** When (ms after the start) each write that waited over 50 ms was issued. */
  const slowIssued: number[] = [];
  let issued = 0;
  let acknowledged = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (now >= end) {
        resolve();
        return;
      }
      const due = Math.floor(((now - start) / 1000) * rate);
      while (issued < due) {
        const n = issued++;
        const key = (n * 7919) % 1_000_000_007;
        const called = performance.now();
        void store.storeAsync(key, key, { id: n, prot: n & 7 }).then(() => {
          acknowledged++;
          const ms = performance.now() - called;
          latencies.push(ms);
          if (ms > 50) slowIssued.push(called - start);
        });
      }
      setImmediate(tick);
    };
    tick();
  });
  const elapsed = (performance.now() - start) / 1000;
  const during = acknowledged;
  const ahead = store.stats().groupsAhead;
  const commits = store.stats().commits;
  await store.closeAsync();
  latencies.sort((a, b) => a - b);
  const at = (q: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN).toFixed(2);
  console.log(`asked ${rate}/s: acknowledged ${Math.round(during / elapsed)}/s during the run; latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms; ${commits} groups, ${ahead} run ahead`);
  const slow = slowIssued.length === 0 ? 'none' : `${slowIssued.length}, issued ${Math.round(Math.min(...slowIssued))}–${Math.round(Math.max(...slowIssued))} ms after the start`;
  console.log(`writes acknowledged after more than 50 ms: ${slow}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
