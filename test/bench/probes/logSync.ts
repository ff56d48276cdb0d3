// What a write-ahead log synced by an O_DSYNC write would save a durable commit (docs/design.md,
// "What bounds maple"): the commit's sync today flushes every scattered page its cells dirtied;
// with a log, the commit would write its cells home unsynced and also append them, contiguous, to
// a log region of the same file through a second descriptor opened O_DSYNC — Linux then flushes
// only that range — and the home pages would be flushed once per log wrap (a checkpoint).
//
//   node dist/test/bench/probes/logSync.js [rounds-scale=1]
//
// In a 64 MiB file written and synced beforehand (an 8 MiB log region at its end), for three
// commit shapes measured on the bench's data (design.md section 12) — a single store (10 cells in
// 8 pages), a write group of 64 writers (200 cells in 41 pages), a 1,000-store transaction (4,000
// cells in 2,000 pages) — each round writes the cells into random pages of the home region (one write per page), then:
//   sync: fdatasync (today's one-sync commit);
//   log:  the cells appended to the log through the O_DSYNC descriptor, and an fdatasync of the
//         file whenever the log wraps (its cost counted in the round's time).
// Runs of each mode alternate (sync, log, sync, log); prints µs per round and the ratio.

import fs from 'node:fs';
import path from 'node:path';
import { arg, syncedFile, tempDir } from './common.js';

const scale = arg(0, 1);
const SIZE = 64 << 20;
const LOG_BYTES = 8 << 20;
const LOG_AT = SIZE - LOG_BYTES;
const HOME_PAGES = LOG_AT / 4096;

interface Shape {
  name: string;
  cells: number;
  pages: number;
  rounds: number;
}

const SHAPES: Shape[] = [
  { name: 'single store', cells: 10, pages: 8, rounds: 2000 },
  { name: 'group of 64 writers', cells: 200, pages: 41, rounds: 600 },
  { name: '1,000-store transaction', cells: 4000, pages: 2000, rounds: 30 },
];

const dir = tempDir('logsync');
const file = path.join(dir, 'log.bin');
try {
  const { fd, dsync } = syncedFile(file, SIZE);
  const cells = Buffer.alloc(4096, 7);
  let logAt = 0;

  const round = (shape: Shape, log: Buffer | null): { checkpoint: boolean } => {
    // The cells, spread over `pages` random pages, one write per page (a commit writes each
    // contiguous run of cells with one call).
    const perPage = Math.ceil(shape.cells / shape.pages);
    for (let p = 0, left = shape.cells; p < shape.pages; p++) {
      const n = Math.min(perPage, left - (shape.pages - 1 - p), 16);
      const page = Math.floor(Math.random() * HOME_PAGES);
      fs.writeSync(fd, cells, 0, n * 256, page * 4096 + 256 * Math.floor(Math.random() * (17 - n)));
      left -= n;
    }
    if (log === null) {
      fs.fdatasyncSync(fd);
      return { checkpoint: false };
    }
    let checkpoint = false;
    if (logAt + log.length > LOG_BYTES) {
      fs.fdatasyncSync(fd);
      logAt = 0;
      checkpoint = true;
    }
    fs.writeSync(dsync, log, 0, log.length, LOG_AT + logAt);
    logAt += log.length;
    return { checkpoint };
  };

  for (const shape of SHAPES) {
    const rounds = Math.max(4, Math.round(shape.rounds * scale));
    // A log entry: the cells and a header, rounded up to whole pages.
    const log = Buffer.alloc(Math.ceil((shape.cells * 256 + 64) / 4096) * 4096, 9);
    const results: Record<'sync' | 'log', number[]> = { sync: [], log: [] };
    let checkpoints = 0;
    for (const mode of ['sync', 'log', 'sync', 'log'] as const) {
      logAt = 0;
      fs.fdatasyncSync(fd);
      const t0 = performance.now();
      for (let r = 0; r < rounds; r++) if (round(shape, mode === 'log' ? log : null).checkpoint) checkpoints++;
      // What is still dirty is the next checkpoint's: charge it to this run.
      if (mode === 'log') fs.fdatasyncSync(fd);
      results[mode].push(((performance.now() - t0) * 1000) / rounds);
    }
    const show = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `${shape.name} (${shape.cells} cells in ${shape.pages} pages, log entry ${log.length / 1024} KiB): ` +
        `fdatasync ${show(results.sync)} µs a round; O_DSYNC log ${show(results.log)} µs (${checkpoints} checkpoints); ` +
        `sync ÷ log ${(mean(results.sync) / mean(results.log)).toFixed(2)}×`,
    );
  }
  fs.closeSync(dsync);
  fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
