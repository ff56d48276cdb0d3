// The slowest single-store commits after a reopen, while the buffer pool fills (docs/design.md,
// section 9): each commit timed on its own, `sync: 'none'` so the disk's noise stays out; the
// total, p50, p99 and the four slowest with their commit numbers.
//
//   node dist/test/bench/probes/commitStalls.js [ranges=1000000] [commits=3000] [shapes=10B,120B]
//
// Bulk-loads the bench's data set of each shape, reopens it with a 256 MiB cache (the bench's),
// then commits `commits` single stores of a random range each (a new value of the same shape).

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { storeOps } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, buildBenchStore, tempDir, timedStores } from './common.js';

const ranges = arg(0, 1_000_000);
const commits = arg(1, 3000);
const shapes = (process.argv[4] ?? '10B,120B').split(',');
const dir = tempDir('commit-stalls');
try {
  for (const name of shapes) {
    const shape = shapeNamed(name);
    const file = path.join(dir, `${name}.maple`);
    const data = buildBenchStore(file, ranges, name);
    const store = open(file, { sync: 'none', cacheSize: 256 * 2 ** 20 });
    const ops = storeOps(data, commits, 77, 30_000_000);
    const { ms, totalMs: total } = timedStores(store, ops, shape, commits);
    const sorted = Float64Array.from(ms).sort();
    const slowest = [...ms.keys()].sort((a, b) => ms[b]! - ms[a]!).slice(0, 4);
    console.log(
      `${name}: ${commits} commits in ${total.toFixed(0)} ms; p50 ${sorted[commits >> 1]!.toFixed(3)} ms, p99 ${sorted[Math.floor(commits * 0.99)]!.toFixed(2)} ms; ` +
        `slowest ${slowest.map((k) => `${ms[k]!.toFixed(1)} ms (commit ${k})`).join(', ')}`,
    );
    store.close();
    fs.rmSync(file, { force: true });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
