// What a bulk load allocates (docs/design.md, section 10): V8's sampling heap profiler, keeping
// objects already collected, over one transaction storing the bench's `ranges` ranges of a value
// shape into a new store; bytes by allocating site (built-ins under their caller), the values the
// caller makes included.
//
//   node dist/test/bench/probes/bulkAllocation.js [ranges=1000000] [shape=10B]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { generateRanges } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, sampleAllocations, tempDir } from './common.js';

const ranges = arg(0, 1_000_000);
const shape = shapeNamed(process.argv[3] ?? '10B');
const dir = tempDir('bulk-alloc');
try {
  const data = generateRanges(ranges, 1, shape);
  const bytes = await sampleAllocations(() => {
    const store = open(path.join(dir, 'bulk.maple'));
    store.transaction((txn) => {
      for (let i = 0; i < data.count; i++) txn.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]!, data.prots[i]!));
    });
    store.close();
  }, 4096);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  console.log(`${ranges} ranges of ${shape.name}: ${(total / 1e6).toFixed(1)} MB allocated (sampled); the largest sites:`);
  for (const [site, n] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${(n / 1e6).toFixed(1).padStart(7)} MB  ${site}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
