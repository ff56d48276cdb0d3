// fdatasync cost by the number of 4 KiB pages dirtied (docs/design.md, "What bounds maple").
//
//   node dist/test/bench/probes/syncPages.js [cells=4000]
//
// In a 32 MiB file written and synced beforehand, writes `cells` 256-byte cells spread over
// 250 … 4,000 random pages, then times the fdatasync; median of 5 trials each.

import fs from 'node:fs';
import path from 'node:path';
import { arg, tempDir } from './common.js';

const cells = arg(0, 4000);
const dir = tempDir('sync');
const file = path.join(dir, 'sync.bin');
const SIZE = 32 << 20;
try {
  const fd = fs.openSync(file, 'w+');
  for (let at = 0; at < SIZE; at += 1 << 20) fs.writeSync(fd, Buffer.alloc(1 << 20, 2), 0, 1 << 20, at);
  fs.fdatasyncSync(fd);
  const pages = SIZE / 4096;
  const cell = Buffer.alloc(256, 7);
  for (const spread of [16, 8, 4, 2, 1]) {
    const count = Math.ceil(cells / spread);
    const trials: { writeMs: number; syncMs: number }[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const chosen = new Set<number>();
      while (chosen.size < count) chosen.add(Math.floor(Math.random() * pages));
      const sorted = [...chosen].sort((a, b) => a - b);
      const t0 = performance.now();
      for (const p of sorted) {
        if (spread === 16) fs.writeSync(fd, Buffer.alloc(4096, 9), 0, 4096, p * 4096);
        else for (let c = 0; c < spread; c++) fs.writeSync(fd, cell, 0, 256, p * 4096 + c * 512);
      }
      const t1 = performance.now();
      fs.fdatasyncSync(fd);
      trials.push({ writeMs: t1 - t0, syncMs: performance.now() - t1 });
    }
    trials.sort((a, b) => a.syncMs - b.syncMs);
    const m = trials[2]!;
    console.log(`${cells} cells in ${count} pages (${spread} a page): writes ${m.writeMs.toFixed(1)} ms, fdatasync ${m.syncMs.toFixed(1)} ms`);
  }
  fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
