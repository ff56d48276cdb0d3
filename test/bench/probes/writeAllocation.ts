// What a 1,000-store transaction allocates (docs/design.md, "What bounds maple"): V8's sampling heap
// profiler, keeping objects already collected, over 20 transactions of the bench's stores after
// 10 untimed ones; bytes per transaction by allocating function (built-ins under their caller).
//
//   node dist/test/bench/probes/writeAllocation.js [ranges=1000000]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { storeOps } from '../data.js';
import { arg, buildBenchStore, sampleAllocations, tempDir } from './common.js';

const ranges = arg(0, 1_000_000);
const dir = tempDir('alloc');
const file = path.join(dir, 's.maple');
try {
  const data = buildBenchStore(file, ranges);
  const store = open(file, { sync: 'none' });
  const ops = storeOps(data, 30_000, 900, 40_000_000);
  const run = (from: number, to: number): void => {
    for (let t = from; t < to; t++) {
      store.transaction((w) => {
        for (let k = t * 1000; k < (t + 1) * 1000; k++) w.store(ops.firsts[k]!, ops.lasts[k]!, { id: ops.ids[k]!, prot: ops.prots[k]! });
      });
    }
  };
  run(0, 10);
  const bytes = await sampleAllocations(() => run(10, 30), 1024);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  console.log(`${(total / 20 / 1e6).toFixed(2)} MB allocated per 1,000-store transaction (sampled); the largest sites:`);
  for (const [site, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`${(b / 20 / 1e3).toFixed(0).padStart(7)} KB  ${site}`);
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
