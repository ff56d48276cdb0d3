/**
 * The package a user installs: only the library, its declarations and its docs; no constructor
 * internals or test hooks in the public types; `maple-store` and `maple-store/testing` import the
 * way a user imports them, and the testing entry runs a crash-recovery test end to end.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

beforeAll(() => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
});

describe('the package', () => {
  it('ships the library, its declarations and docs, and nothing else', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    const outside = files.filter((f) => !/^dist\/(src|storage|recovery)\/.+\.(js|d\.ts)$/.test(f) && !['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(f) && !/^docs\/[\w-]+\.md$/.test(f));
    expect(outside).toEqual([]);
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('LICENSE');
    // Source maps stay out of the package, so the code names none.
    expect(fs.readFileSync(path.join(ROOT, 'dist/src/index.js'), 'utf8')).not.toMatch(/sourceMappingURL/);
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('dist/recovery/testing/index.d.ts');
    expect(files.some((f) => f.startsWith('dist/test/') || f.startsWith('dist/examples/'))).toBe(false);
  });

  it('declares no constructor internals and no test hooks in the public types', () => {
    const store = fs.readFileSync(path.join(ROOT, 'dist/src/api/store.d.ts'), 'utf8');
    expect(store).not.toMatch(/constructor\(/);
    const options = fs.readFileSync(path.join(ROOT, 'dist/src/api/options.d.ts'), 'utf8');
    const publicOptions = /export interface OpenOptions \{[\s\S]*?\n\}/.exec(options)![0];
    expect(publicOptions).not.toMatch(/fileIO|lockEnv/);
    expect(options).not.toMatch(/OpenHooks/);
    for (const file of ['dist/src/api/snapshot.d.ts', 'dist/src/common/errors.d.ts']) {
      expect(fs.readFileSync(path.join(ROOT, file), 'utf8')).not.toMatch(/constructor\(/);
    }
  });

  it("imports as a user imports it, and maple-store/testing proves a store's crash recovery", () => {
    // A project of the user's: node_modules/maple-store is this package.
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-user-'));
    try {
      fs.mkdirSync(path.join(project, 'node_modules'));
      fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'maple-store'), 'dir');
      fs.writeFileSync(path.join(project, 'package.json'), '{"type":"module"}\n');
      fs.writeFileSync(
        path.join(project, 'crash.mjs'),
        `import { open, MapleError, MAX_INDEX } from 'maple-store';
import { SimulatedDisk, CRASH_MODES, openOnDisk } from 'maple-store/testing';
if (typeof open !== 'function' || typeof MapleError !== 'function' || MAX_INDEX !== 2 ** 53 - 1) throw new Error('main entry');
const disk = new SimulatedDisk();
const db = openOnDisk(disk, '/app/ranges.maple');
db.store(10, 19, 'acknowledged');
const images = [];
disk.onEvent(() => { for (const mode of CRASH_MODES) images.push(disk.crashImage({ mode, seed: images.length })); });
db.store(20, 29, 'in flight');
db.close();
let before = 0, after = 0;
for (const image of images) {
  const again = openOnDisk(new SimulatedDisk(image), '/app/ranges.maple');
  again.check();
  if (again.load(15) !== 'acknowledged') throw new Error('lost an acknowledged commit');
  if (again.load(25) === 'in flight') after++; else if (again.load(25) === undefined) before++; else throw new Error('a mix');
  again.close();
}
console.log(JSON.stringify({ images: images.length, before, after }));
`,
      );
      const r = spawnSync(process.execPath, ['crash.mjs'], { cwd: project, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { images: number; before: number; after: number };
      expect(out.images).toBeGreaterThan(0);
      expect(out.before + out.after).toBe(out.images);
      expect(out.before).toBeGreaterThan(0);
      expect(out.after).toBeGreaterThan(0);
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });

  it('README: at most 15,000 bytes, and its Quick start and Testing examples run as written', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15_000);
    const block = (heading: string): string => {
      const section = readme.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
      const code = section === undefined ? null : /```js\n([\s\S]*?)```/.exec(section);
      if (code === null) throw new Error(`README has no js block under "## ${heading}"`);
      return code[1]!;
    };
    // A line `expr; // result` whose comment is a JavaScript value becomes an assertion of it.
    let asserted = 0;
    const quickStart = block('Quick start')
      .split('\n')
      .map((line) => {
        const m = /^(.*?);\s+\/\/ (.*)$/.exec(line);
        if (m === null) return line;
        try {
          new Function(`return (${m[2]});`)();
        } catch {
          return line; // prose, not a value
        }
        asserted++;
        return `assert.deepStrictEqual(${m[1]}, (${m[2]}));`;
      })
      .join('\n');
    expect(asserted).toBeGreaterThanOrEqual(2);
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-readme-'));
    try {
      fs.mkdirSync(path.join(project, 'node_modules'));
      fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'maple-store'), 'dir');
      fs.writeFileSync(path.join(project, 'package.json'), '{"type":"module"}\n');
      fs.writeFileSync(path.join(project, 'quick.mjs'), `import assert from 'node:assert';\n${quickStart}`);
      fs.writeFileSync(path.join(project, 'testing.mjs'), block('Testing'));
      for (const script of ['quick.mjs', 'testing.mjs']) {
        const r = spawnSync(process.execPath, [script], { cwd: project, encoding: 'utf8' });
        expect(r.status, `${script}: ${r.stderr}`).toBe(0);
      }
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });

  it('builds with TypeScript alone: no benchmark engine (lmdb, better-sqlite3) is needed to build the library', () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-build-'));
    try {
      for (const entry of ['src', 'storage', 'recovery', 'examples', 'tsconfig.json', 'package.json']) {
        fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
      }
      fs.mkdirSync(path.join(copy, 'node_modules', '@types'), { recursive: true });
      for (const dep of ['typescript', 'msgpackr', '@types/node']) {
        fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(copy, 'node_modules', dep), 'dir');
      }
      const tsc = path.join(copy, 'node_modules', 'typescript', 'bin', 'tsc');
      const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: copy, encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(fs.existsSync(path.join(copy, 'dist', 'src', 'index.js'))).toBe(true);
      const modules = fs.readdirSync(path.join(copy, 'node_modules'));
      expect(modules.filter((m) => m === 'lmdb' || m === 'better-sqlite3')).toEqual([]);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
