// Where a batched-overwrite transaction's time goes (docs/design.md, "What bounds maple").
//
//   node dist/test/bench/probes/overwritePhases.js [ranges=1000000] [reps=5] [shape=inline]
//
// Bulk-loads the bench's data set with values of `shape` (test/bench/values.ts: inline, 10B,
// 120B, …), reopens it (as the bench does before workload 5), then runs
// `reps` rounds of ten 1,000-store transactions of the bench's stores, printing per transaction:
// the store phase (inside the callback), the commit's CPU, its pwrites and its fdatasync; and
// after each round, the file's size and its free bytes.

import fs from 'node:fs';
import path from 'node:path';
import { storeOps } from '../data.js';
import { shapeNamed } from '../values.js';
import { TimedFileIO, arg, buildBenchStore, tempDir } from './common.js';
import { openWith } from '../../../src/api/open.js';

const ranges = arg(0, 1_000_000);
const reps = arg(1, 5);
const shapeName = process.argv[4] ?? 'inline';
const shape = shapeNamed(shapeName);
const dir = tempDir('overwrite');
const file = path.join(dir, 's.maple');
try {
  const data = buildBenchStore(file, ranges, shapeName);
  const io = new TimedFileIO(file, 'r+');
  // The bench's cache for maple outside workload 3 (a million ranges of 120-byte values do not fit 64 MiB).
  const store = openWith(file, { cacheSize: 256 * 2 ** 20 }, { fileIO: io });
  for (let rep = 0; rep < reps; rep++) {
    const ops = storeOps(data, 10_000, 500 + rep, 20_000_000 + rep * 100_000);
    io.reset();
    let body = 0;
    let pages = 0;
    const cells = store.stats().cellsWritten;
    const start = performance.now();
    for (let b = 0; b < 10; b++) {
      store.transaction((txn) => {
        const t = performance.now();
        for (let k = b * 1000; k < (b + 1) * 1000; k++) txn.store(ops.firsts[k]!, ops.lasts[k]!, shape.make(ops.ids[k]!, ops.prots[k]!));
        body += performance.now() - t;
      });
      pages += io.t.pages.size;
      io.t.pages.clear();
    }
    const ms = performance.now() - start;
    const per = (x: number): string => (x / 10).toFixed(1);
    const after = store.stats();
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
    console.log(
      `round ${rep}: ${Math.round(10_000 / (ms / 1000))} stores/s; per transaction: ${per(ms)} ms = store phase ${per(body)} + commit CPU ${per(ms - body - io.t.writeMs - io.t.syncMs)} + ${per(io.t.writes)} pwrites ${per(io.t.writeMs)} + fdatasync ${per(io.t.syncMs)}; ${per(after.cellsWritten - cells)} cells in ${per(pages)} pages; file ${mib(after.fileBytes)} MiB, ${mib(after.freeBytes)} MiB free`,
    );
  }
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
