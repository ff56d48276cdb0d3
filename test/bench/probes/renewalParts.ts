// Scratch: where the first load after a commit spends its time.
import fs from 'node:fs';
import path from 'node:path';
import { open, openShared } from '../../../src/index.js';
import { arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 200_000);
const commits = arg(1, 3000);
const dir = tempDir('parts');
try {
  const file = path.join(dir, 'store.maple');
  const data = buildBenchStore(file, ranges);
  const store = open<{ id: number; prot: number }>(file, { sync: 'none' });
  const reader = openShared<{ id: number; prot: number }>(store.share()) as any;
  let seed = 1;
  const next = (): number => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % data.count; };
  const point = (): number => data.firsts[next()]!;
  for (let i = 0; i < data.count; i++) reader.load(data.firsts[i]!);
  for (let k = 0; k < 200000; k++) reader.load(point());
  let tOf = 0, tView = 0, tStore = 0, tPin = 0, tLoad = 0, tSecond = 0, missesFirst = 0;
  for (let c = 0; c < commits; c++) {
    const i = next();
    let t = performance.now();
    store.store(data.firsts[i]!, data.lasts[i]!, { id: i, prot: c & 7 });
    tStore += performance.now() - t;
    t = performance.now();
    const { token, root } = reader.pins.pinNewest('snapshot');
    tPin += performance.now() - t;
    t = performance.now();
    reader.readerOf(root);
    tOf += performance.now() - t;
    token.release();
    t = performance.now();
    reader.reader();
    tView += performance.now() - t;
    const m = reader.pool.misses;
    t = performance.now();
    reader.load(point());
    tLoad += performance.now() - t;
    missesFirst += reader.pool.misses - m;
    t = performance.now();
    reader.load(point());
    tSecond += performance.now() - t;
    for (let k = 0; k < 100; k++) reader.load(point());
  }
  const us = (ms: number) => ((ms / commits) * 1000).toFixed(2);
  console.log(`store ${us(tStore)} µs; pin ${us(tPin)} µs; readerOf ${us(tOf)}; view ${us(tView)}; first load ${us(tLoad)} µs (misses ${(missesFirst / commits).toFixed(2)}); second ${us(tSecond)} µs`);
  reader.close();
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
