// Space under held readers (README, guarantees: what a reader pins): on a store of `ranges`
// small objects overwritten at random, cells written per commit (stats().cellsWritten / commits)
// and the file and pending sizes after `commits` single-store commits and 50 commits of 1,000
// stores — with no reader, a snapshot held throughout, a read-only open held throughout, and two
// snapshots each reopened after a random hold of up to `hold` commits. Counts and sizes only.
//
//   node dist/test/bench/probes/heldReaders.js [ranges=100000] [commits=20000] [hold=2000]

import fs from 'node:fs';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { arg, tempDir } from './common.js';

const ranges = arg(0, 100_000);
const commits = arg(1, 20_000);
const hold = arg(2, 2_000);
const dir = tempDir('held-readers');
type Value = { id: number; gen: number };
type Reader = { close(): void };

function run(mode: 'none' | 'snapshot' | 'read-only open' | 'two rotating snapshots'): void {
  const file = path.join(dir, `${mode.replace(/ /g, '-')}.maple`);
  const s = open<Value>(file, { sync: 'none' });
  let seed = 1;
  const rand = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  s.transaction((t) => {
    for (let i = 0; i < ranges; i++) t.store(i * 10, i * 10 + 4, { id: i, gen: 0 });
  });
  for (let n = 0; n < 2000; n++) {
    const i = Math.floor(rand() * ranges);
    s.store(i * 10, i * 10 + 4, { id: i, gen: 1 });
  }
  const before = s.stats();
  const held: Reader[] = [];
  if (mode === 'snapshot') held.push(s.snapshot());
  if (mode === 'read-only open') held.push(open(file, { readOnly: true }));
  const rotating: (Reader | null)[] = [null, null];
  const until = [0, 0];
  const rotate = (c: number): void => {
    if (mode !== 'two rotating snapshots') return;
    for (let k = 0; k < 2; k++) {
      if (c < until[k]!) continue;
      rotating[k]?.close();
      rotating[k] = s.snapshot();
      until[k] = c + 1 + Math.floor(rand() * hold);
    }
  };
  let st = s.stats();
  let c0 = st.commits;
  let w0 = st.cellsWritten;
  for (let n = 0; n < commits; n++) {
    rotate(n);
    const i = Math.floor(rand() * ranges);
    s.store(i * 10, i * 10 + 4, { id: i, gen: 2 + n });
  }
  st = s.stats();
  const single = (st.cellsWritten - w0) / (st.commits - c0);
  const afterSingle = st;
  c0 = st.commits;
  w0 = st.cellsWritten;
  for (let b = 0; b < 50; b++) {
    rotate(commits + b * 100);
    s.transaction((t) => {
      for (let k = 0; k < 1000; k++) {
        const i = Math.floor(rand() * ranges);
        t.store(i * 10, i * 10 + 4, { id: i, gen: 3 + b });
      }
    });
  }
  st = s.stats();
  const batch = (st.cellsWritten - w0) / (st.commits - c0);
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);
  console.log(
    `${mode.padEnd(24)} cells/commit single ${single.toFixed(2)} batch-1000 ${batch.toFixed(1)}; ` +
      `file MiB before ${mib(before.fileBytes)}, after singles ${mib(afterSingle.fileBytes)} (pending ${mib(afterSingle.pendingBytes)}), after batches ${mib(st.fileBytes)} (pending ${mib(st.pendingBytes)})`,
  );
  for (const r of [...held, ...rotating]) r?.close();
  s.close();
}

try {
  for (const mode of ['none', 'snapshot', 'read-only open', 'two rotating snapshots'] as const) run(mode);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
