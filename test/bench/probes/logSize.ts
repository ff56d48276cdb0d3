// How large the commit log should be (storage/commit/commitLog.ts, docs/design.md section 5):
// durable single stores on the bench's data set with logs of several sizes. Each pass of the log
// starts with a commit that syncs every page the pass dirtied, so a small log turns over often.
//
//   node dist/test/bench/probes/logSize.js [ranges=1000000] [commits=3000] [log cells=256,1024,4096] [values=10B]
//
// Bulk-loads the data set (values of the shape named, test/bench/values.ts), then for each size in
// turn, twice, alternating: opens the store with a log of that size (its first commit makes it),
// and times `commits` single stores of random ranges, sync 'full'. A size of 0 is the one-sync
// protocol instead (no log), for comparison.

import fs from 'node:fs';
import path from 'node:path';
import { storeOps } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, buildBenchStore, tempDir } from './common.js';
import { openWith } from '../../../src/api/open.js';

const ranges = arg(0, 1_000_000);
const commits = arg(1, 3000);
const sizes = (process.argv[4] ?? '256,1024,4096').split(',').map(Number);
const dir = tempDir('log-size');
try {
  const shapeName = process.argv[5] ?? '10B';
  const shape = shapeNamed(shapeName);
  const file = path.join(dir, 'store.maple');
  const data = buildBenchStore(file, ranges, shapeName);
  let seed = 1;
  for (let round = 0; round < 2; round++) {
    for (const cells of sizes) {
      const store =
        cells === 0
          ? openWith(file, { commitProtocol: 'one-sync', cacheSize: 256 * 2 ** 20 }, {})
          : openWith(file, { commitProtocol: 'log', cacheSize: 256 * 2 ** 20 }, { logCells: cells });
      store.store(1, 1, 'first'); // makes the log of this size
      const ops = storeOps(data, commits, 77 + seed++, 30_000_000);
      const start = performance.now();
      for (let k = 0; k < commits; k++) store.store(ops.firsts[k]!, ops.lasts[k]!, shape.make(ops.ids[k]!, ops.prots[k]!));
      const ms = performance.now() - start;
      const name = cells === 0 ? 'one-sync, no log' : `log of ${cells} cells (${(cells * 256) / 1024} KiB)`;
      console.log(`${name}: ${Math.round((ms / commits) * 1000)} µs a commit, ${(store.stats().syncs / commits).toFixed(3)} syncs a commit`);
      store.close();
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
