// pread cost by size from the OS page cache (docs/design.md, fault-around): 3,000 random reads each.
//
//   node dist/test/bench/probes/preadSizes.js

import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './common.js';

const dir = tempDir('pread');
const file = path.join(dir, 'f.bin');
try {
  fs.writeFileSync(file, Buffer.alloc(32 << 20, 1));
  const fd = fs.openSync(file, 'r');
  const pages = (32 << 20) / 4096;
  fs.readFileSync(file); // into the page cache
  for (const kb of [4, 16, 64, 128, 256]) {
    const buf = Buffer.alloc(kb * 1024);
    const n = 3000;
    const t = performance.now();
    for (let i = 0; i < n; i++) fs.readSync(fd, buf, 0, buf.length, Math.floor(Math.random() * (pages - 64)) * 4096);
    const us = ((performance.now() - t) / n) * 1000;
    console.log(`${kb} KiB: ${us.toFixed(2)} µs a read, ${(us / (kb / 4)).toFixed(2)} µs a page`);
  }
  fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
