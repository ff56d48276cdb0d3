/**
 * Cell numbers, commit numbers and counts stay small integers in V8 (docs/design.md, section 10,
 * "Cell numbers stay small integers"). A child process writes and reads a store under V8's
 * --trace-generalization, which prints every object field whose representation widens; no field
 * the commit path keeps cells, commits or counts in may widen to a double: one that does makes
 * every node's layout deprecated, and a bulk load's first commit recompiled its loops dozens of
 * times. Read from a file before (low + high × 2^32), every such number was a heap double.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateBuild, tempDir } from './helpers.js';

/** Fields of nodes, value areas, allocation runs and commit records that hold cells, commits or counts. */
const SMALL_FIELDS = ['cell', 'cells', 'area', 'areaCells', 'commit', 'gen', 'highWaterCell', 'allocatedCells', 'pendingCells', 'highestCommit', 'ranges', 'nodes', 'start', 'count'];

const CHILD = `
import fs from 'node:fs';
const [indexJs, file] = process.argv.slice(2);
const { open } = await import(indexJs);
let store = open(file);
store.transaction((t) => { for (let i = 0; i < 20000; i++) t.store(i * 10, i * 10 + 5 + (i % 3), { id: i, prot: 'r-x' }); });
store.close();
for (let life = 0; life < 2; life++) {
  store = open(file);
  let x = 7 + life;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648) % 20000;
  for (let k = 0; k < 30; k++) store.transaction((t) => { for (let j = 0; j < 50; j++) { const i = next(); t.store(i * 10, i * 10 + 5, { id: i, prot: 'rw-', path: '/usr/lib/x86_64-linux-gnu/libc.so.6' }); } });
  for (let k = 0; k < 200; k++) { const i = next(); store.store(i * 10, i * 10 + 4, { id: -i, prot: 'r--' }); }
  for (let k = 0; k < 50; k++) { const i = next(); store.erase(i * 10 + 1); }
  const snap = store.snapshot();
  let n = 0;
  for (let i = 0; i < 20000; i++) if (snap.load(i * 10 + 3) !== undefined) n++;
  snap.close();
  store.check();
  store.close();
  // On stderr: V8's trace fills stdout through its own buffer, and a line printed between its
  // writes could land in the middle of one of them.
  process.stderr.write('loaded ' + n + '\\n');
}
`;

let indexJs = '';
let cleanupBuild = (): void => {};
const dir = tempDir('maple-smi-');

beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-smi-'));
});

afterAll(() => {
  cleanupBuild();
  dir.cleanup();
});

describe('cell and commit numbers stay small integers', () => {
  it('no field holding cells, commits or counts widens to a double while writing, reopening and reading', () => {
    const script = path.join(dir.dir, 'child.mjs');
    fs.writeFileSync(script, CHILD);
    // --no-sparkplug: Node 20's V8 aborts printing a generalization from baseline code.
    const r = spawnSync(process.execPath, ['--no-sparkplug', '--trace-generalization', script, indexJs, dir.file()], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/^loaded \d+$/gm), r.stderr).toHaveLength(2);
    const ours = r.stdout.split('\n').filter((l) => l.startsWith('[generalizing]') && l.includes(path.dirname(path.dirname(indexJs))));
    // The trace works: fields holding indexes (up to 2^53 − 1) are doubles, as they should be.
    expect(ours.some((l) => /^\[generalizing\](first|last|max|min):.*->d\{/.test(l))).toBe(true);
    const widened = ours.filter((l) => SMALL_FIELDS.some((f) => l.startsWith(`[generalizing]${f}:`)) && /->d\{/.test(l));
    expect(widened).toEqual([]);
  });
});
