// Open in a fresh process (docs/design.md): N child processes each import maple-store,
// open the bench's data set, load one key and close, timing each step; medians printed.
//
//   node dist/test/bench/probes/freshOpen.js [ranges=1000000] [processes=9]

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 1_000_000);
const processes = arg(1, 9);
const dir = tempDir('fresh');
const file = path.join(dir, 's.maple');
const index = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../src/index.js')).href;
const child = `
const t0 = process.hrtime.bigint();
const { open } = await import(${JSON.stringify(index)});
const t1 = process.hrtime.bigint();
const s = open(${JSON.stringify(file)});
const t2 = process.hrtime.bigint();
s.load(${Math.floor(ranges / 2)});
const t3 = process.hrtime.bigint();
s.close();
const t4 = process.hrtime.bigint();
console.log(JSON.stringify([t1 - t0, t2 - t1, t3 - t2, t4 - t3].map((d) => Number(d) / 1e3)));
`;
try {
  buildBenchStore(file, ranges);
  const runs: number[][] = [];
  for (let i = 0; i < processes; i++) {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`child failed: ${out.stderr}`);
    runs.push(JSON.parse(out.stdout) as number[]);
  }
  const median = (k: number): string => {
    const v = runs.map((r) => r[k]!).sort((a, b) => a - b);
    return `${Math.round(v[v.length >> 1]!)} µs (${Math.round(v[0]!)}–${Math.round(v[v.length - 1]!)})`;
  };
  console.log(`${processes} fresh processes, medians (range): import ${median(0)}, open ${median(1)}, first load ${median(2)}, close ${median(3)}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
