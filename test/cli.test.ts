/**
 * The `maple` tool and the `npm start` demo, run as a user runs them: the compiled files in
 * dist/, in child processes, against a store this test writes through the public API.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '../src/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const DEMO = path.join(ROOT, 'dist/examples/vmas/demo.js');

const RANGES = 3000; // enough for a tree of several levels
let dir: string;
let file: string;

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [script, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: res.status, out: res.stdout, err: res.stderr };
}
const maple = (...args: string[]) => run(CLI, args);

beforeAll(() => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-cli-'));
  file = path.join(dir, 'test.maple');
  const store = open(file);
  store.transaction((txn) => {
    for (let i = 0; i < RANGES; i++) txn.store(1_000_000 + i * 10, 1_000_000 + i * 10 + 4, { i, name: `range ${i}` });
  });
  store.store(10, 19, { name: 'a' });
  store.store(0x1000, 0x1fff, 'page');
  store.store(100, 100, new Uint8Array([1, 2, 255]));
  store.close();
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('maple help and usage', () => {
  it('prints the usage with every command for no arguments, help and --help', () => {
    for (const args of [[], ['help'], ['--help']]) {
      const r = maple(...args);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      for (const cmd of ['stats FILE', 'check FILE', 'dump FILE', 'help']) expect(r.out).toContain(cmd);
    }
    const one = maple('help', 'dump');
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^usage: maple dump FILE \[--from N\] \[--to N\]/);
  });

  it('rejects an unknown command with the usage on stderr and exit 2', () => {
    const r = maple('frobnicate', file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('unknown command "frobnicate"');
    expect(r.err).toContain('commands:');
  });

  it('exits 2 with the command usage on bad arguments', () => {
    for (const args of [['dump'], ['stats', file, '--bogus'], ['dump', file, '--from', '-3'], ['dump', file, '--from', '12', '--to', '3'], ['dump', file, '--to'], ['check', file, 'extra'], ['dump', file, '--from', 'x1']]) {
      const r = maple(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain(`usage: maple ${args[0]}`);
    }
  });
});

describe('maple stats', () => {
  it('prints aligned key: value lines', () => {
    const r = maple('stats', file);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    const get = (key: string) => lines.find((l) => l.startsWith(`${key}:`))?.slice(key.length + 1).trim();
    expect(get('ranges')).toBe(String(RANGES + 3));
    expect(Number(get('height'))).toBeGreaterThanOrEqual(2);
    expect(get('fileBytes')).toMatch(/^\d+ \(\d+(\.\d)? [KMG]iB\)$/);
    expect(get('recovery.commit')).toBe('4');
    // Every value starts in the same column.
    const columns = new Set(lines.map((l) => /^[\w.]+:\s+/.exec(l)?.[0].length));
    expect(columns.size).toBe(1);
    expect(columns.has(undefined)).toBe(false);
  });

  it('prints JSON with --json', () => {
    const r = maple('stats', '--json', file);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ version: 4, ranges: RANGES + 3, snapshots: 0 });
    expect(s.nodes).toBeGreaterThan(1);
    expect(s.recovery.fellBack).toBe(false);
  });
});

describe('maple check', () => {
  it('says ok with the counts and exits 0 on a sound store', () => {
    const s = JSON.parse(maple('stats', '--json', file).out);
    const r = maple('check', file);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`ok: ${RANGES + 3} ranges, ${s.nodes} nodes, commit 4\n`);
  });

  it('adds the statistics with --verbose', () => {
    const r = maple('check', file, '--verbose');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok: /);
    expect(r.out).toMatch(/^height:\s+\d+$/m);
  });

  it('exits 1 with "corrupt:" when bytes in the middle of the file are overwritten', () => {
    const bad = path.join(dir, 'corrupt.maple');
    fs.copyFileSync(file, bad);
    const size = fs.statSync(bad).size;
    const fd = fs.openSync(bad, 'r+');
    fs.writeSync(fd, Buffer.alloc(16 * 1024, 0xa5), 0, 16 * 1024, Math.floor(size / 2 / 4096) * 4096);
    fs.closeSync(fd);
    const r = maple('check', bad);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^corrupt: .*ECORRUPT/);
    expect(r.out.trimEnd().split('\n')).toHaveLength(1);
    // dump prints what it can read, then the error, and exits 1.
    const d = maple('dump', bad);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/^maple dump: ECORRUPT/);
    // The original is untouched and still fine.
    expect(maple('check', file).code).toBe(0);
  });

  it('exits 1 with ENOTSTORE for a file that is not a store', () => {
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'just some text, long enough to have a header-sized first page\n'.repeat(200));
    const r = maple('check', text);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^corrupt: .*ENOTSTORE/);
    const s = maple('stats', text);
    expect(s.code).toBe(1);
    expect(s.err).toContain('ENOTSTORE');
  });

  it('refuses a FIFO at once (ENOTSTORE, exit 1) instead of waiting forever for a writer to it, in every command', () => {
    if (process.platform === 'win32') return;
    const fifo = path.join(dir, 'a-fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo here
    try {
      for (const args of [['check', fifo], ['stats', fifo], ['dump', fifo], ['salvage', fifo, path.join(dir, 'from-fifo.maple')], ['recover', fifo, '--to-commit', '1']]) {
        const res = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
        expect(res.status, `maple ${args[0]} on a FIFO (${res.signal ?? 'exited'})`).toBe(1);
        expect(`${res.stdout}${res.stderr}`, args[0]).toContain(`${fifo} is a FIFO`);
      }
      expect(fs.existsSync(path.join(dir, 'from-fifo.maple'))).toBe(false);
    } finally {
      fs.rmSync(fifo, { force: true });
    }
  });

  it('salvage refuses an OUT that exists with exit 1, as a missing directory of OUT, and leaves it as it was', () => {
    const out = path.join(dir, 'taken.maple');
    fs.writeFileSync(out, 'not mine');
    const r = maple('salvage', file, out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${out} exists`);
    expect(r.err).not.toContain('usage:');
    expect(fs.readFileSync(out, 'utf8')).toBe('not mine');
    expect(maple('salvage', file, path.join(dir, 'no-such-dir', 'out.maple')).code).toBe(1);
  });

  it('exits 1 without a verdict on the contents when the file does not exist', () => {
    const r = maple('check', path.join(dir, 'missing.maple'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('ENOENT');
    expect(fs.existsSync(path.join(dir, 'missing.maple'))).toBe(false);
  });
});

describe('maple dump', () => {
  it('prints one line per range in decimal and hex with the value as JSON', () => {
    const r = maple('dump', file);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(RANGES + 3);
    expect(lines.slice(0, 3)).toEqual(['10-19 0xa-0x13 {"name":"a"}', '100-100 0x64-0x64 {"$hex":"0102ff"}', '4096-8191 0x1000-0x1fff "page"']);
    expect(lines[3]).toBe('1000000-1000004 0xf4240-0xf4244 {"i":0,"name":"range 0"}');
    expect(lines.at(-1)).toBe(`${1_000_000 + (RANGES - 1) * 10}-${1_000_000 + (RANGES - 1) * 10 + 4} 0x${(1_000_000 + (RANGES - 1) * 10).toString(16)}-0x${(1_000_000 + (RANGES - 1) * 10 + 4).toString(16)} {"i":${RANGES - 1},"name":"range ${RANGES - 1}"}`);
  });

  it('prints values JSON has no words for as tagged objects, not as null, 0, strings or numbered keys', () => {
    const f = path.join(dir, 'kinds.maple');
    const store = open(f);
    const values: unknown[] = [NaN, -Infinity, new Date(5), new Float64Array([1.5, NaN]), [1, undefined], { a: undefined, n: Infinity }, /x+/g, new Int16Array([-3]), 12345678901234567890n];
    store.transaction((txn) => values.forEach((v, i) => txn.store(i * 10, i * 10 + 1, v)));
    store.close();
    const r = maple('dump', f);
    expect(r.code).toBe(0);
    expect(r.out.trimEnd().split('\n').map((line) => line.split(' ').slice(2).join(' '))).toEqual([
      '{"$number":"NaN"}',
      '{"$number":"-Infinity"}',
      '{"$date":"1970-01-01T00:00:00.005Z"}',
      '{"$Float64Array":[1.5,{"$number":"NaN"}]}',
      '[1,{"$undefined":true}]',
      '{"a":{"$undefined":true},"n":{"$number":"Infinity"}}',
      '{"$regexp":"/x+/g"}',
      '{"$Int16Array":[-3]}',
      '{"$bigint":"12345678901234567890"}',
    ]);
  });

  it('prints an ArrayBuffer and a DataView as tagged bytes, not as {} (an empty object)', () => {
    const f = path.join(dir, 'buffers.maple');
    const store = open(f);
    store.store(0, 0, new Uint8Array([1, 2, 0xff]).buffer);
    store.store(1, 1, new DataView(new Uint8Array([9, 3, 4, 9]).buffer, 1, 2));
    store.store(2, 2, { empty: new ArrayBuffer(0), obj: {} });
    store.close();
    const r = maple('dump', f);
    expect(r.code).toBe(0);
    expect(r.out).toBe('0-0 0x0-0x0 {"$ArrayBuffer":"0102ff"}\n1-1 0x1-0x1 {"$DataView":"0304"}\n2-2 0x2-0x2 {"empty":{"$ArrayBuffer":""},"obj":{}}\n');
  });

  it('limits the dump to ranges intersecting --from/--to, in decimal or hex', () => {
    expect(maple('dump', file, '--from', '15', '--to', '100').out).toBe('10-19 0xa-0x13 {"name":"a"}\n100-100 0x64-0x64 {"$hex":"0102ff"}\n');
    expect(maple('dump', file, '--from=0x1fff', '--to=0x1fff').out).toBe('4096-8191 0x1000-0x1fff "page"\n');
    const tail = maple('dump', file, '--from', String(1_000_000 + (RANGES - 2) * 10 + 3));
    expect(tail.out.trimEnd().split('\n')).toHaveLength(2);
    const none = maple('dump', file, '--from', '20', '--to', '99');
    expect(none.code).toBe(0);
    expect(none.out).toBe('');
  });
});

describe('output that cannot be written', () => {
  it('exits 1 with a one-line message, not a stack trace, when stdout fails (a full disk: /dev/full)', () => {
    if (!fs.existsSync('/dev/full')) return;
    for (const args of [['dump', file], ['stats', file], ['check', file]]) {
      const full = fs.openSync('/dev/full', 'w');
      try {
        const res = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', full, 'pipe'], timeout: 60_000 });
        expect(res.status, `maple ${args[0]} > /dev/full`).toBe(1);
        expect(res.stderr, args[0]).toMatch(/^maple: cannot write the output: ENOSPC/);
        expect(res.stderr, args[0]).not.toMatch(/\n\s+at /);
      } finally {
        fs.closeSync(full);
      }
    }
  });
});

describe('read-only use', () => {
  it('stats, check and dump leave the file byte-for-byte unchanged and take no lock', () => {
    const before = fs.readFileSync(file);
    const entries = fs.readdirSync(dir).sort();
    for (const args of [['stats', file], ['check', file], ['dump', file]]) expect(maple(...args).code).toBe(0);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(entries);
  });

  it('reads a store that a writer holds open', () => {
    const live = path.join(dir, 'live.maple');
    const store = open(live);
    try {
      store.store(5, 6, 'x');
      expect(maple('check', live).out).toBe(`ok: 1 ranges, 1 nodes, commit 1\n`);
      expect(maple('dump', live).out).toBe('5-6 0x5-0x6 "x"\n');
    } finally {
      store.close();
    }
  });
});

describe('maple bench', () => {
  it('is not a command: the benchmarks need the dev dependencies and run from a clone (npm run bench)', () => {
    const r = run(CLI, ['bench']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "bench"/);
  });
});

describe('npm start (the demo)', () => {
  function demoFile(out: string): string {
    const m = /^ {2}file (.+\.maple)$/m.exec(out);
    expect(m, out).not.toBeNull();
    return m![1]!;
  }
  function cleanUp(out: string): void {
    fs.rmSync(path.dirname(demoFile(out)), { recursive: true, force: true });
  }
  /** The last line names the file, the version it ends at, and the command to inspect it. */
  function closingLine(out: string): { file: string; version: number } {
    const lines = out.trimEnd().split('\n');
    const m = /^the file (.+\.maple) is at version (\d+); inspect it: npx maple stats (.+\.maple)$/.exec(lines.at(-1)!);
    expect(m, out).not.toBeNull();
    expect(m![1]).toBe(m![3]);
    expect(m![1]).toBe(demoFile(out));
    return { file: m![1]!, version: Number(m![2]) };
  }
  /** The version the file holds, read as a user would: through open(), and through `maple stats`. */
  function fileVersion(file: string): number {
    const store = open(file, { readOnly: true });
    const version = store.version;
    store.close();
    const stats = maple('stats', file, '--json');
    expect(stats.code).toBe(0);
    expect((JSON.parse(stats.out) as { version: number }).version).toBe(version);
    return version;
  }

  it('stores this machine\'s memory maps and answers before and after reopening', () => {
    const r = run(DEMO, []);
    try {
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      for (const section of ['which range holds an address (entry)', 'largest free gap (emptyArea', 'agrees', 'where a new 1 MiB mapping goes', 'emptyAreaRev', 'allocRangeRev', 'a snapshot keeps reading its version', 'closed and reopened']) expect(r.out).toContain(section);
      expect(r.out).toMatch(/^ {2}store +v\d+ load\(0x[0-9a-f]+\) -> nothing$/m);
      expect(r.out).toMatch(/^ {2}snapshot v\d+ load\(0x[0-9a-f]+\) -> rw-p \[demo mmap\]$/m);
      expect(r.out).toMatch(/same answers: yes; check\(\): ok$/m);
      if (fs.existsSync('/proc/self/maps')) expect(r.out).toMatch(/^ {2}the stack +0x[0-9a-f]{12,} +in [0-9a-f]+-[0-9a-f]+ rw-p \[stack\]$/m);
      const closing = closingLine(r.out);
      expect(closing.version).toBe(fileVersion(closing.file));
      const check = maple('check', closing.file);
      expect(check.code).toBe(0);
    } finally {
      cleanUp(r.out);
    }
  });

  it('works when only /proc/self/maps is readable', () => {
    const proc = path.join(dir, 'proc-self-only');
    fs.mkdirSync(path.join(proc, 'self'), { recursive: true });
    fs.writeFileSync(
      path.join(proc, 'self/maps'),
      [
        '555555554000-555555556000 r--p 00000000 fe:00 42 /usr/bin/demo',
        '555555556000-55555555a000 r-xp 00002000 fe:00 42 /usr/bin/demo',
        '555555600000-555555621000 rw-p 00000000 00:00 0 [heap]',
        '7ffff7c00000-7ffff7c28000 r--p 00000000 fe:00 7 /usr/lib/libc.so.6',
        '7ffff7c28000-7ffff7dbd000 r-xp 00028000 fe:00 7 /usr/lib/libc.so.6',
        '7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0 [vdso]',
        '7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]',
        'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]',
        '',
      ].join('\n'),
    );
    const r = run(DEMO, [], { MAPLE_DEMO_PROC: proc });
    try {
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain('read only /proc/self/maps was readable: 7 mappings');
      expect(r.out).toContain('7 ranges in one commit (1 above 2^53 left out');
      expect(r.out).toContain('  the stack        0x7fffffffe800  in 7ffffffde000-7fffffffefff rw-p [stack]');
      expect(r.out).toMatch(/^ {2}the heap {9}0x5555556[0-2][0-9a-f]{4} {2}in 555555600000-555555620fff rw-p \[heap\]$/m);
      expect(r.out).toContain('  a null pointer   0x000000000010  unmapped; next mapping up: 555555554000-555555555fff r--p /usr/bin/demo');
      // The hole below the program (from mmap_min_addr, 64 KiB by default) is larger than heap..libc.
      expect(r.out).toContain('  000000010000-555555553fff 85.3 TiB; a walk over all 7 ranges agrees');
      // mmap_base is the top of the highest mapping 128 MiB below the stack ([vdso]); 1 MiB fits right under it.
      expect(r.out).toContain('emptyAreaRev below mmap_base ≈ 7ffff7fc3000');
      expect(r.out).toContain('  7ffff7ec1000-7ffff7fc0fff, right under r-xp [vdso]');
      expect(r.out).toContain('  snapshot v2 load(0x7ffff7ec1000) -> rw-p [demo mmap]');
      expect(r.out).toContain('  7 ranges in a tree of height 1, 1 node of 256 bytes');
      expect(r.out).toContain('same answers: yes; check(): ok');
      // One commit of the mappings, one mmap, one munmap; reopening only reads.
      const closing = closingLine(r.out);
      expect(closing.version).toBe(3);
      expect(fileVersion(closing.file)).toBe(3);
    } finally {
      cleanUp(r.out);
    }
  });

  it('falls back to a built-in sample when no maps can be read at all', () => {
    const r = run(DEMO, [], { MAPLE_DEMO_PROC: path.join(dir, 'no-such-proc') });
    try {
      expect(r.code).toBe(0);
      expect(r.out).toContain('using a built-in sample layout');
      expect(r.out).toContain('same answers: yes; check(): ok');
      const closing = closingLine(r.out);
      expect(closing.version).toBe(fileVersion(closing.file));
    } finally {
      cleanUp(r.out);
    }
  });
});
