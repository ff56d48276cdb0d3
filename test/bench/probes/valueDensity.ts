// Bytes per range of values of a given size, after a bulk load and after single-store commits
// (docs/design.md, section 4): `ranges` ranges of 5 keys with a gap of 5 after each (two slots per
// range, as in a process's mappings), values `{ id, prot: 'r-x', path }` with a path of `pad`
// characters, then `commits` commits of one store each over a whole random range. Not durable
// (sync 'none'): the bytes a file keeps do not depend on the sync.
//
//   node dist/test/bench/probes/valueDensity.js [ranges] [commits] [pad]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { arg, tempDir } from './common.js';

const ranges = arg(0, 5000);
const commits = arg(1, 20_000);
const pad = arg(2, 26);

const dir = tempDir('maple-density-');
const file = path.join(dir, 'store.maple');
try {
  const store = open<{ id: number; prot: string; path: string }>(file, { sync: 'none' });
  const value = (i: number, gen: number) => ({ id: i, prot: 'r-x', path: 'p'.repeat(pad) + (gen % 10) });
  store.transaction((txn) => {
    for (let i = 0; i < ranges; i++) txn.store(i * 10, i * 10 + 4, value(i, 0));
  });
  const bulk = store.stats().fileBytes / ranges;
  let x = 12345;
  const t = process.hrtime.bigint();
  for (let k = 0; k < commits; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const i = x % ranges;
    store.store(i * 10, i * 10 + 4, value(i, k));
  }
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  store.check();
  const after = store.stats().fileBytes / ranges;
  store.close();
  console.log(`${ranges} ranges, values of ${pad + 9} bytes: ${bulk.toFixed(1)} bytes a range after the load, ${after.toFixed(1)} after ${commits} single-store commits (${Math.round(commits / seconds)} commits/s, sync none)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
