// Snapshot loads after writes (docs/design.md, "What bounds maple"): µs per load through a snapshot, in
// batches of 10,000, with between batches nothing, a committed 1,000-store transaction, a
// rolled-back one, the same followed by a full GC, 27 MB of short-lived allocation and a full GC, or 4, 8 or 16 MB of
// short-lived allocation alone.
//
//   node --expose-gc dist/test/bench/probes/snapshotAfterWrites.js [ranges=1000000] [rounds=6]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { stabQueries, storeOps } from '../data.js';
import { arg, buildBenchStore, tempDir } from './common.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const ranges = arg(0, 1_000_000);
const rounds = arg(1, 6);
const dir = tempDir('snapshot');
const file = path.join(dir, 's.maple');
let keep: unknown;
function churn(mb: number): void {
  let a: unknown[] = [];
  for (let i = 0; i < (mb * 1e6) / 64; i++) {
    a.push({ x: i, y: i + 1, z: [i] });
    if (a.length > 1000) a = [];
  }
  keep = a;
}
try {
  const data = buildBenchStore(file, ranges);
  const store = open<{ id: number; prot: number }>(file, { sync: 'none' });
  let sink = 0;
  const timeLoads = (view: { load(x: number): { id: number } | undefined }, q: Float64Array): number => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < q.length; i++) sink += view.load(q[i]!)?.id ?? 0;
    return Number(process.hrtime.bigint() - t) / 1e3;
  };
  timeLoads(store, stabQueries(data, 1_000_000, 3));
  const snap = store.snapshot();
  const modes = ['nothing', 'committed', 'transaction', 'transaction + gc', '27 MB + gc', '4 MB', '8 MB', '16 MB'] as const;
  const results = new Map<string, number[]>();
  /** Per round: mean µs per load of the first and of the last 1,000 loads of each batch. */
  const edges = new Map<string, [number, number][]>();
  for (let round = 0; round < rounds; round++) {
    for (const [m, mode] of modes.entries()) {
      const ops = storeOps(data, 5000, 700 + round * 10 + m, 30_000_000);
      const q = stabQueries(data, 50_000, 800 + round * 10 + m);
      let us = 0;
      const first: number[] = [];
      const last: number[] = [];
      for (let t = 0; t < 5; t++) {
        if (mode === 'committed') {
          store.transaction((w) => {
            for (let k = t * 1000; k < (t + 1) * 1000; k++) w.store(ops.firsts[k]!, ops.lasts[k]!, { id: ops.ids[k]!, prot: ops.prots[k]! });
          });
        }
        if (mode.startsWith('transaction')) {
          try {
            store.transaction((w) => {
              for (let k = t * 1000; k < (t + 1) * 1000; k++) w.store(ops.firsts[k]!, ops.lasts[k]!, { id: ops.ids[k]!, prot: ops.prots[k]! });
              throw new Error('roll back');
            });
          } catch {
            /* rolled back */
          }
        }
        if (mode === '27 MB + gc') churn(27);
        else if (mode.endsWith(' MB')) churn(Number.parseInt(mode, 10));
        if (mode.endsWith('gc')) gc();
        // The batch in tenths: the first and last thousand loads, apart.
        for (let part = 0; part < 10; part++) {
          const partUs = timeLoads(snap, q.subarray(t * 10_000 + part * 1000, t * 10_000 + (part + 1) * 1000));
          us += partUs;
          if (part === 0) first.push(partUs / 1000);
          if (part === 9) last.push(partUs / 1000);
        }
      }
      let list = results.get(mode);
      if (list === undefined) results.set(mode, (list = []));
      list.push(us / 50_000);
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      (edges.get(mode) ?? edges.set(mode, []).get(mode)!).push([mean(first), mean(last)]);
    }
  }
  for (const [mode, list] of results) {
    const e = edges.get(mode)!.map(([a, b]) => `${a.toFixed(2)}/${b.toFixed(2)}`).join(' ');
    console.log(`${mode.padEnd(18)} µs per snapshot load, by round: ${list.map((x) => x.toFixed(3)).join(' ')}   first/last 1,000 of a batch: ${e}`);
  }
  snap.close();
  store.close();
  if (sink === -1 || keep === undefined) console.log('');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
