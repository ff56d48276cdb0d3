/**
 * The type of MapleStore.transaction refuses promise-returning functions at compile time (the
 * runtime refusal is in test/errors.test.ts). tsc checks test/types/transactionTypes.ts, where
 * each refused call is marked `@ts-expect-error`: an accepted one leaves its directive unused,
 * which tsc reports as an error. The same file with its directives removed must then fail on
 * exactly those lines, with the message that names the problem.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '..');
const TYPES = path.join(REPO, 'test', 'types');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const FIXTURE = 'transactionTypes.ts';

function tsc(project: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: REPO, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('transaction() types', () => {
  test('synchronous functions compile; every promise-returning one is a compile error', () => {
    const r = tsc(path.join(TYPES, 'tsconfig.json'));
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  test('without the @ts-expect-error directives, exactly the marked lines fail, saying why', () => {
    const source = fs.readFileSync(path.join(TYPES, FIXTURE), 'utf8').split('\n');
    const marked = source.flatMap((line, i) => (line.trim().startsWith('// @ts-expect-error') ? [i + 2] : [])); // 1-based line after
    expect(marked.length).toBeGreaterThanOrEqual(5);
    const unmarked = source.map((line) => (line.trim().startsWith('// @ts-expect-error') ? '//' : line)).join('\n');
    const stem = `unmarked-${process.pid}`;
    const file = path.join(TYPES, `${stem}.ts`);
    const project = path.join(TYPES, `${stem}.tsconfig.json`);
    fs.writeFileSync(file, unmarked);
    fs.writeFileSync(project, JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: [`${stem}.ts`] }));
    try {
      const r = tsc(project);
      expect(r.status).not.toBe(0);
      const errorLines = [...r.out.matchAll(new RegExp(`${stem}\\.ts\\((\\d+),\\d+\\): error`, 'g'))].map((m) => Number(m[1]));
      expect([...new Set(errorLines)].sort((a, b) => a - b)).toEqual(marked);
      expect(r.out).toContain('transaction functions must be synchronous');
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(project, { force: true });
    }
  });
});
