// Open, first load and close, again and again in one process (the code warm, the file in the OS
// page cache): what every open costs beyond the first (docs/design.md, section 9).
//
//   node dist/test/bench/probes/reopens.js [ranges=1000000] [opens=400] [shape=10B]
//
// Bulk-loads the bench's data set, opens it 50 times to warm up, then times `opens` rounds of
// open + one load + close, writable and then read-only, and prints µs per round.

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 1_000_000);
const opens = arg(1, 400);
const shape = process.argv[4] ?? '10B';
const dir = tempDir('reopens');
const file = path.join(dir, 's.maple');
try {
  buildBenchStore(file, ranges, shape);
  for (const readOnly of [false, true]) {
    const options = { cacheSize: 256 * 2 ** 20, readOnly };
    for (let i = 0; i < 50; i++) {
      const s = open(file, options);
      s.load(i * 1000);
      s.close();
    }
    const start = performance.now();
    for (let i = 0; i < opens; i++) {
      const s = open(file, options);
      s.load(12_345 + i * 1000);
      s.close();
    }
    const us = ((performance.now() - start) * 1000) / opens;
    console.log(`${readOnly ? 'read-only' : 'writable '}: ${us.toFixed(0)} µs an open + first load + close (${opens} rounds, ${ranges} ranges of ${shape})`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
