// What a durable single-store commit pays besides its CPU (docs/benchmarks.md, issue 11's
// durable-commit target): the first touch of fresh process memory (every buffer-pool frame a
// reopened store fills is fresh until the pool is full), and fdatasync by how many 4 KiB pages a
// commit dirties, scattered or contiguous, with and without the file growing.
//
//   node dist/test/bench/probes/freshPages.js [mib=64] [trials=300]
//
// Medians of `trials` fdatasyncs each, in a 64 MiB file written and synced beforehand.

import fs from 'node:fs';
import path from 'node:path';
import { arg, tempDir } from './common.js';

const mib = arg(0, 64);
const trials = arg(1, 300);
const PAGE = 4096;

{
  const start = performance.now();
  const fresh = new Uint8Array(mib * 2 ** 20);
  for (let i = 0; i < fresh.length; i += PAGE) fresh[i] = 1;
  const ms = performance.now() - start;
  const again = performance.now();
  for (let i = 0; i < fresh.length; i += PAGE) fresh[i] = 2;
  const warmMs = performance.now() - again;
  console.log(`first touch of ${mib} MiB of fresh memory: ${((ms * 1000) / (fresh.length / PAGE)).toFixed(2)} µs a 4 KiB page (again: ${((warmMs * 1000) / (fresh.length / PAGE)).toFixed(3)} µs)`);
}

const dir = tempDir('fresh-pages');
const file = path.join(dir, 'f.bin');
const FILE_PAGES = 16384;
try {
  const fd = fs.openSync(file, 'w+');
  const page = Buffer.alloc(PAGE, 1);
  for (let p = 0; p < FILE_PAGES; p++) fs.writeSync(fd, page, 0, PAGE, p * PAGE);
  fs.fsyncSync(fd);
  let endBytes = FILE_PAGES * PAGE;
  let seed = 12345;
  const random = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const median = (pages: number, contiguous: boolean, growBytes: number): string => {
    const ms: number[] = [];
    for (let t = 0; t < trials; t++) {
      const base = random(FILE_PAGES - pages);
      for (let j = 0; j < pages; j++) fs.writeSync(fd, page, 0, PAGE, (contiguous ? base + j : random(FILE_PAGES)) * PAGE);
      if (growBytes > 0) {
        fs.writeSync(fd, page, 0, growBytes, endBytes);
        endBytes += growBytes;
      }
      const start = performance.now();
      fs.fdatasyncSync(fd);
      ms.push(performance.now() - start);
    }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)]!.toFixed(3);
  };
  for (const pages of [1, 3, 10, 16, 40]) {
    console.log(
      `fdatasync after ${pages} page(s): scattered ${median(pages, false, 0)} ms, contiguous ${median(pages, true, 0)} ms; ` +
        `with 1 KiB appended: scattered ${median(pages, false, 1024)} ms, contiguous ${median(pages, true, 1024)} ms`,
    );
  }
  fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
