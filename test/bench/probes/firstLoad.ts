// A bulk load as a program does it once: the first transaction of a fresh process, against a
// second one in the same process (the bench's workload 1 reports the median of its repetitions,
// all in one process, so V8's warm-up stays out of it). Each of `processes` child processes
// generates the bench's data set, stores it into a new store in one durable transaction, then
// into another; the stores' time and the commit's are printed apart, with medians over the
// processes.
//
//   node dist/test/bench/probes/firstLoad.js [ranges=1000000] [shapes=10B,120B] [processes=5]

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../../../src/index.js';
import { generateRanges } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, tempDir } from './common.js';

interface Load {
  storesMs: number;
  commitMs: number;
}

const ranges = arg(0, 1_000_000);

function child(shapeName: string): void {
  const shape = shapeNamed(shapeName);
  const data = generateRanges(ranges, 1, shape);
  const dir = tempDir('first-load');
  const loads: Load[] = [];
  try {
    for (let n = 0; n < 2; n++) {
      const store = open(path.join(dir, `load-${n}.maple`));
      let stored = 0;
      const start = performance.now();
      store.transaction((txn) => {
        for (let i = 0; i < data.count; i++) txn.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]!, data.prots[i]!));
        stored = performance.now();
      });
      loads.push({ storesMs: stored - start, commitMs: performance.now() - stored });
      store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(loads));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.argv[5] === '--child') child(process.argv[3]!);
else {
  const shapes = (process.argv[3] ?? '10B,120B').split(',');
  const processes = arg(2, 5);
  const self = fileURLToPath(import.meta.url);
  console.log(`${ranges} ranges, one durable transaction, ${processes} processes per shape (medians; ranges/s of stores + commit)`);
  for (const shapeName of shapes) {
    const runs: Load[][] = [];
    for (let p = 0; p < processes; p++) {
      const r = spawnSync(process.execPath, [self, String(ranges), shapeName, String(processes), '--child'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
      runs.push(JSON.parse(r.stdout) as Load[]);
    }
    for (const [n, label] of [[0, 'first load of the process'], [1, 'second load']] as const) {
      const stores = median(runs.map((l) => l[n]!.storesMs));
      const commit = median(runs.map((l) => l[n]!.commitMs));
      const totals = runs.map((l) => l[n]!.storesMs + l[n]!.commitMs);
      console.log(`${shapeName.padEnd(5)} ${label.padEnd(26)} stores ${stores.toFixed(0).padStart(5)} ms  commit ${commit.toFixed(0).padStart(5)} ms  ${Math.round(ranges / (median(totals) / 1000)).toLocaleString('en-US').padStart(10)}/s  (totals ${totals.map((t) => t.toFixed(0)).join(', ')} ms)`);
    }
  }
}
