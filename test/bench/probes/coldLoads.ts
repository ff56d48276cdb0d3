// Point loads through a buffer pool far smaller than the file (the bench's workload 3): pool
// misses and µs per load, by value shape (docs/design.md, section 6, "A leaf beside its area").
// Builds the bench's data set with values of each shape, opens it with a 977 KiB cache and makes
// `loads` random loads (seeded), about half of them hits.
//
//   node dist/test/bench/probes/coldLoads.js [ranges=1000000] [loads=200000] [shapes=10B,120B]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 1_000_000);
const loads = arg(1, 200_000);
const shapes = (process.argv[4] ?? '10B,120B').split(',');
const dir = tempDir('cold-loads');
try {
  for (const name of shapes) {
    const file = path.join(dir, `${name}.maple`);
    const data = buildBenchStore(file, ranges, name);
    const store = open(file, { cacheSize: 977 * 1024 });
    const top = data.lasts[data.count - 1]!;
    let x = 7;
    let hits = 0;
    const before = store.stats().cacheMisses;
    const start = performance.now();
    for (let i = 0; i < loads; i++) {
      x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
      if (store.load(Math.floor((x / 0x7fffffff) * top)) !== undefined) hits++;
    }
    const us = ((performance.now() - start) * 1000) / loads;
    const misses = (store.stats().cacheMisses - before) / loads;
    console.log(`${name}: ${misses.toFixed(3)} pool misses a load, ${us.toFixed(2)} µs a load (${hits} of ${loads} hits)`);
    store.close();
    fs.rmSync(file, { force: true });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
