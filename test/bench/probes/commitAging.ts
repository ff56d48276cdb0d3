// Whether single-store commits stay as cheap as a store ages (docs/design.md, section 6: the search
// of the whole free list): bulk-loads the bench's data set (`ranges` ranges of the shape named),
// then, in `rounds` rounds, reopens the store and makes `commits` durable single stores of random
// ranges (as workload 6). Per round: µs per commit (mean and p50/p90), cells written per commit,
// the file's size and the free cells it holds.
//
//   node dist/test/bench/probes/commitAging.js [ranges=1000000] [commits=2000] [rounds=4] [values=300B] [protocol=one-sync]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import type { CommitProtocol } from '../../../storage/commit/commit.js';
import { storeOps } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, buildBenchStore, tempDir, timedStores } from './common.js';

const ranges = arg(0, 1_000_000);
const commits = arg(1, 2000);
const rounds = arg(2, 4);
const shapeName = process.argv[5] ?? '300B';
const protocol = (process.argv[6] ?? 'one-sync') as CommitProtocol;
const dir = tempDir('commit-aging');
try {
  const shape = shapeNamed(shapeName);
  const file = path.join(dir, 'store.maple');
  const data = buildBenchStore(file, ranges, shapeName);
  for (let round = 1; round <= rounds; round++) {
    const store = open(file, { commitProtocol: protocol, cacheSize: 256 * 2 ** 20 });
    store.store(1, 1, 'first');
    const before = store.stats().cellsWritten;
    const ops = storeOps(data, commits, 77 + round, 30_000_000);
    const { ms: times, totalMs } = timedStores(store, ops, shape, commits);
    const us = (totalMs / commits) * 1000;
    times.sort();
    const s = store.stats();
    const cells = (s.cellsWritten - before) / commits;
    console.log(
      `round ${round} (${shapeName}, ${protocol}): ${Math.round(us)} µs a commit (p50 ${Math.round(times[commits >> 1]! * 1000)}, p90 ${Math.round(times[Math.floor(commits * 0.9)]! * 1000)}), ` +
        `${cells.toFixed(1)} cells a commit, file ${(s.fileBytes / 2 ** 20).toFixed(1)} MiB, ${(s.freeBytes / 2 ** 20).toFixed(2)} MiB free`,
    );
    store.close();
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
