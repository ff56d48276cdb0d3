// The CPU of single-store commits by value shape (docs/design.md, section 12: placing a leaf's
// value area): loads `ranges` ranges of the shape in one transaction, then commits `commits`
// single stores of a new value of the same shape over random stored ranges, sync 'none' (no
// fdatasync: the commit's CPU and its write calls). Prints µs per commit and bytes per range after.
//
//   node dist/test/bench/probes/singleCommits.js [ranges=20000] [commits=20000] [shapes=10B,120B,300B]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { generateRanges } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, tempDir } from './common.js';

const ranges = arg(0, 20_000);
const commits = arg(1, 20_000);
const shapes = (process.argv[4] ?? '10B,120B,300B').split(',');
const dir = tempDir('single-commits');
try {
  for (const name of shapes) {
    const shape = shapeNamed(name);
    const data = generateRanges(ranges, 1, shape);
    const file = path.join(dir, `${name}.maple`);
    const store = open(file, { sync: 'none' });
    store.transaction((txn) => {
      for (let i = 0; i < data.count; i++) txn.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]!, data.prots[i]!));
    });
    let x = 12345;
    const start = performance.now();
    for (let k = 0; k < commits; k++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const i = x % data.count;
      store.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]! + k, data.prots[i]!));
    }
    const us = ((performance.now() - start) * 1000) / commits;
    console.log(`${name}: ${us.toFixed(1)} µs per commit; ${(store.stats().fileBytes / data.count).toFixed(1)} bytes per range after`);
    store.close();
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
