// What an fdatasync costs by the number of scattered pages it flushes, against one O_DSYNC write
// of a commit's size at one place (docs/design.md section 5, the commit log).
//
//   node dist/test/bench/probes/scatteredSync.js [rounds=400]
//
// In a 64 MiB file written and synced beforehand: k random pages written (1 KiB each) then one
// fdatasync, for k = 1, 2, 3, 4, 8; 3 contiguous pages; and a 3 KB / 12 KB append through a second
// descriptor opened O_DSYNC. Medians and 90th percentiles, two rounds.

import fs from 'node:fs';
import path from 'node:path';
import { arg, syncedFile, tempDir } from './common.js';

const rounds = arg(0, 400);
const SIZE = 64 << 20;
const dir = tempDir('scattered-sync');
try {
  const file = path.join(dir, 'f.bin');
  const { fd, dsync } = syncedFile(file, SIZE);
  const buf = Buffer.alloc(16384, 7);
  const pages = SIZE / 4096;
  const time = (name: string, f: () => void): void => {
    const us: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = process.hrtime.bigint();
      f();
      us.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    us.sort((a, b) => a - b);
    console.log(`${name.padEnd(34)} median ${us[rounds >> 1]!.toFixed(0)} µs, p90 ${us[Math.floor(rounds * 0.9)]!.toFixed(0)} µs`);
  };
  for (let round = 0; round < 2; round++) {
    for (const k of [1, 2, 3, 4, 8]) {
      time(`fdatasync of ${k} random pages`, () => {
        for (let j = 0; j < k; j++) fs.writeSync(fd, buf, 0, 1024, Math.floor(Math.random() * pages) * 4096);
        fs.fdatasyncSync(fd);
      });
    }
    time('fdatasync of 3 contiguous pages', () => {
      fs.writeSync(fd, buf, 0, 12288, Math.floor(Math.random() * (pages - 3)) * 4096);
      fs.fdatasyncSync(fd);
    });
    let at = 32 << 20;
    for (const bytes of [3072, 12288]) {
      time(`O_DSYNC append of ${bytes / 1024} KB`, () => {
        fs.writeSync(dsync, buf, 0, bytes, at);
        at = at + bytes > 48 << 20 ? 32 << 20 : at + bytes;
      });
    }
  }
  fs.closeSync(dsync);
  fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
