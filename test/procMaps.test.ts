import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMaps, parseMapsLine, readAllMaps, readProcessMaps } from '../examples/vmas/procMaps.js';

// A trimmed /proc/<pid>/maps of a real x86-64 process, with the awkward cases: padding before the
// path, no path, a path with spaces, a deleted file, and the [vsyscall] page above 2^53.
const SAMPLE = `55d0c1400000-55d0c1402000 r--p 00000000 fe:00 260131                     /usr/bin/cat
55d0c1402000-55d0c1407000 r-xp 00002000 fe:00 260131                     /usr/bin/cat
55d0c19f1000-55d0c1a12000 rw-p 00000000 00:00 0                          [heap]
7f3c2a000000-7f3c2a021000 rw-p 00000000 00:00 0 
7f3c2a400000-7f3c2a428000 r--p 00000000 fe:00 18446744073709551557       /opt/My App/lib thing.so
7f3c2a600000-7f3c2a601000 rw-s 00000000 00:05 1234                       /memfd:shm (deleted)
7ffd12c3e000-7ffd12c5f000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

describe('parseMapsLine', () => {
  it('turns the exclusive end into an inclusive last and keeps every field', () => {
    expect(parseMapsLine('55d0c1402000-55d0c1407000 r-xp 00002000 fe:00 260131                     /usr/bin/cat')).toEqual({
      first: 0x55d0c1402000,
      last: 0x55d0c1406fff,
      perms: 'r-xp',
      offset: 0x2000,
      dev: 'fe:00',
      inode: '260131',
      path: '/usr/bin/cat',
    });
  });

  it('gives an empty path to anonymous memory, trailing space or not', () => {
    for (const line of ['7f3c2a000000-7f3c2a021000 rw-p 00000000 00:00 0 ', '7f3c2a000000-7f3c2a021000 rw-p 00000000 00:00 0']) {
      const m = parseMapsLine(line);
      expect(m).not.toBe('unaddressable');
      expect(m).toMatchObject({ path: '', inode: '0', first: 0x7f3c2a000000, last: 0x7f3c2a020fff });
    }
  });

  it('marks addresses above 2^53 − 1 as unaddressable instead of rounding them', () => {
    expect(parseMapsLine('ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]')).toBe('unaddressable');
    // The last representable byte is still fine.
    const top = (2n ** 53n).toString(16);
    expect(parseMapsLine(`1ffffffffff000-${top} r--p 00000000 00:00 0`)).toMatchObject({ last: Number.MAX_SAFE_INTEGER });
  });

  it('refuses lines that are not in the kernel format', () => {
    expect(() => parseMapsLine('hello world')).toThrow(/not a \/proc/);
    expect(() => parseMapsLine('1000-2000 rw 00000000 00:00 0')).toThrow(/not a \/proc/);
    expect(() => parseMapsLine('2000-1000 rw-p 00000000 00:00 0')).toThrow(/end ≤ start/);
  });
});

describe('parseMaps', () => {
  it('parses the sample into ordered mappings plus the unaddressable line', () => {
    const { mappings, unaddressable } = parseMaps(SAMPLE);
    expect(mappings.map((m) => m.path)).toEqual(['/usr/bin/cat', '/usr/bin/cat', '[heap]', '', '/opt/My App/lib thing.so', '/memfd:shm (deleted)', '[stack]']);
    expect(mappings.map((m) => m.perms)).toEqual(['r--p', 'r-xp', 'rw-p', 'rw-p', 'r--p', 'rw-s', 'rw-p']);
    expect(mappings[4]?.inode).toBe('18446744073709551557');
    expect(mappings[6]).toMatchObject({ first: 0x7ffd12c3e000, last: 0x7ffd12c5efff });
    expect(unaddressable).toEqual(['ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]']);
    for (let i = 1; i < mappings.length; i++) expect(mappings[i]!.first).toBeGreaterThan(mappings[i - 1]!.last);
  });

  it('ignores blank lines and reports the line that is malformed', () => {
    expect(parseMaps('\n\n').mappings).toEqual([]);
    expect(() => parseMaps(`${SAMPLE}garbage\n`)).toThrow(/garbage/);
  });
});

describe('reading a /proc tree', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function fakeProc(files: Record<string, string>): string {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-procmaps-'));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    return dir;
  }

  it('reads every process, leaves out kernel threads and counts the unreadable ones', () => {
    const root = fakeProc({
      '42/maps': SAMPLE,
      '42/comm': 'cat\n',
      '7/maps': '',
      '7/comm': 'kthreadd\n',
      'cpuinfo': 'not a process',
      'self/maps': SAMPLE,
    });
    fs.mkdirSync(path.join(root, '99')); // listed, then gone before we read it: ENOENT
    const all = readAllMaps(root);
    expect(all.selfOnly).toBe(false);
    expect(all.unreadable).toBe(1);
    expect(all.processes.map((p) => [p.pid, p.command, p.mappings.length])).toEqual([[42, 'cat', 7]]);
  });

  it('falls back to self/maps when no numbered process is readable', () => {
    const root = fakeProc({ 'self/maps': SAMPLE });
    const all = readAllMaps(root);
    expect(all.selfOnly).toBe(true);
    expect(all.processes).toHaveLength(1);
    expect(all.processes[0]).toMatchObject({ pid: process.pid, command: '' });
    expect(all.processes[0]!.mappings).toHaveLength(7);
  });

  it('returns nothing, without throwing, when the root does not exist', () => {
    expect(readAllMaps('/nonexistent-proc-root')).toEqual({ processes: [], unreadable: 0, selfOnly: false });
    expect(readProcessMaps(1, '/nonexistent-proc-root')).toBeUndefined();
  });

  it('reads this machine\'s own /proc/self/maps when there is one', () => {
    if (!fs.existsSync('/proc/self/maps')) return; // not Linux: the fake trees above cover the logic
    const self = readProcessMaps('self');
    expect(self).toBeDefined();
    expect(self!.pid).toBe(process.pid);
    expect(self!.mappings.some((m) => m.path === '[stack]')).toBe(true);
  });
});
