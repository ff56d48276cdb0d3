// What a shared reader (openShared) pays when the writer publishes: in one thread, single-store
// commits (sync 'none') each followed by one load through the shared store — it pins the newer
// version and its pool re-reads the pages the commit wrote — then 100 more loads; against loads
// with no commit in between. Prints µs per load of each kind and the pages dropped per commit.
//
//   node dist/test/bench/probes/sharedRenewal.js [ranges] [commits]

import fs from 'node:fs';
import path from 'node:path';
import { open, openShared } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 200_000);
const commits = arg(1, 3000);
const dir = tempDir('renewal');
try {
  const file = path.join(dir, 'store.maple');
  const data = buildBenchStore(file, ranges);
  const store = open<{ id: number; prot: number }>(file, { sync: 'none' });
  const reader = openShared<{ id: number; prot: number }>(store.share());
  let seed = 1;
  const next = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % data.count;
  };
  const point = (): number => data.firsts[next()]!;
  for (let i = 0; i < data.count; i++) reader.load(data.firsts[i]!);
  let steady = performance.now();
  for (let k = 0; k < 100 * commits; k++) reader.load(point());
  steady = performance.now() - steady;
  let first = 0;
  let rest = 0;
  for (let c = 0; c < commits; c++) {
    const i = next();
    store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: c & 7 });
    let t = performance.now();
    reader.load(point());
    first += performance.now() - t;
    t = performance.now();
    for (let k = 0; k < 100; k++) reader.load(point());
    rest += performance.now() - t;
  }
  // The same with the writer's own loads (its pool is refreshed by its commits): what a commit
  // costs the loads after it in this thread whatever reads them.
  let own = 0;
  for (let c = 0; c < commits; c++) {
    const i = next();
    store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: c & 7 });
    const t = performance.now();
    for (let k = 0; k < 101; k++) store.load(point());
    own += performance.now() - t;
  }
  const misses = reader.stats().cacheMisses;
  const st = reader.stats();
  console.log(`${ranges} ranges, ${commits} commits`);
  console.log(`steady load: ${((steady / (100 * commits)) * 1000).toFixed(2)} µs`);
  console.log(`first load after a commit: ${((first / commits) * 1000).toFixed(2)} µs (pages dropped per commit: ${(st.pagesDropped / commits).toFixed(1)})`);
  console.log(`next 100 loads: ${((rest / (100 * commits)) * 1000).toFixed(2)} µs each; pool misses per commit ${(misses / commits).toFixed(1)}`);
  console.log(`the writer's own 101 loads after each commit: ${((own / (101 * commits)) * 1000).toFixed(2)} µs each`);
  reader.close();
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
