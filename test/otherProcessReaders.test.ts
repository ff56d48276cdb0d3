/**
 * Readers in other processes (storage/io/readerFiles.ts): a read-only store registers the version it
 * reads, and the writer keeps every cell of that version while it lives, wherever it runs. A child
 * process holds a read-only store while this process overwrites everything many times over; its
 * reads must stay exactly what it saw at open. Also: a reader in the writer's own process, and a
 * reader whose process died being dropped.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../src/index.js';
import type { MapleStore } from '../src/index.js';
import { readersDir } from '../storage/io/readerFiles.js';
import { PROC } from '../storage/io/liveness.js';
import { privateBuild, tempDir } from './helpers.js';

const processStart = (pid: number): string | undefined => PROC.processStart(pid);

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'child-reader.mjs');

let indexJs = '';
let cleanupBuild = (): void => {};
const dir = tempDir('maple-readers-');

beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-readers-build-'));
}, 120_000);

afterAll(() => {
  cleanupBuild();
  dir.cleanup();
});

type Value = { i: number; gen: number; pad: string };

/** Must match child-reader.mjs. */
function digest(store: Pick<MapleStore<Value>, 'ranges'>): string {
  let out = '';
  for (const r of store.ranges()) out += `${r.first}-${r.last}=${JSON.stringify(r.value)};`;
  let h = 2166136261;
  for (let i = 0; i < out.length; i++) h = Math.imul(h ^ out.charCodeAt(i), 16777619) >>> 0;
  return `${out.length}:${h.toString(16)}`;
}

const RANGES = 3000;

/** Every range rewritten: small (packed), medium and record-sized values, so cells of every kind are freed. */
function overwriteAll(store: MapleStore<Value>, gen: number): void {
  store.transaction((tx) => {
    for (let i = 0; i < RANGES; i++) tx.store(i * 10, i * 10 + 4 + (gen % 3), { i, gen, pad: 'x'.repeat((i * 7 + gen) % 300) });
  });
}

/** A child process with a read-only store; `ask` sends a line and resolves with the reply line. */
function startChild(storePath: string): { pid: number; ready: Promise<string>; ask: (line: string) => Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CHILD, indexJs, storePath], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      child.once('exit', (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
    });
  const ready = next();
  return {
    pid: child.pid!,
    ready,
    ask: (line) => {
      const reply = next();
      child.stdin.write(`${line}\n`);
      return reply;
    },
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
}

describe('readers in other processes', () => {
  test('a read-only store in a child process keeps reading its version while the writer reuses space', async () => {
    const file = dir.file('child.maple');
    const store = open<Value>(file, { sync: 'none' });
    overwriteAll(store, 0);
    const seen = digest(store);
    const version = store.version;

    const child = startChild(file);
    expect(await child.ready).toBe(`ready ${version} ${seen}`);
    const names = fs.readdirSync(readersDir(file));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^${child.pid}\\.[0-9a-f]+(t\\d+(b[0-9a-f]{16})?)?\\.${version}$`));

    // Everything overwritten 30 times: without the registration the writer reuses the cells of
    // `version` from the second commit on (the child then sees ECORRUPT or different ranges).
    const sizeBefore = store.stats().fileBytes;
    for (let gen = 1; gen <= 30; gen++) overwriteAll(store, gen);
    expect(store.stats().pendingBytes).toBeGreaterThan(0);
    expect(store.stats().readOnlyReaders).toBe(1);
    expect(await child.ask('read')).toBe(`digest ${seen}`);
    expect(store.stats().fileBytes).toBeGreaterThan(sizeBefore);

    await child.ask('exit').catch(() => undefined);
    expect(await child.exited).toBe(0);
    expect(fs.existsSync(readersDir(file))).toBe(false);
    // The reader is gone: nothing is pending any more, and the space is reused.
    expect(store.stats().pendingBytes).toBe(0);
    expect(store.stats().readOnlyReaders).toBe(0);
    const size = store.stats().fileBytes;
    for (let gen = 31; gen <= 40; gen++) overwriteAll(store, gen);
    expect(store.stats().fileBytes).toBe(size);
    store.check();
    store.close();
  }, 60_000);

  test('a read-only store in the writer’s own process is a registered reader too', () => {
    const file = dir.file('same.maple');
    const store = open<Value>(file, { sync: 'none' });
    overwriteAll(store, 0);
    const seen = digest(store);
    const reader = open<Value>(file, { readOnly: true });
    expect(fs.readdirSync(readersDir(file))).toEqual([expect.stringMatching(new RegExp(`^${process.pid}\\.[0-9a-f]+(t\\d+(b[0-9a-f]{16})?)?\\.${store.version}$`))]);
    for (let gen = 1; gen <= 20; gen++) overwriteAll(store, gen);
    expect(digest(reader)).toBe(seen);
    expect(store.stats().pendingBytes).toBeGreaterThan(0);
    reader.close();
    expect(fs.existsSync(readersDir(file))).toBe(false);
    expect(store.stats().pendingBytes).toBe(0);
    store.close();
  });

  test('a store whose directory was renamed while open leaves no lock or registration behind at the new path', () => {
    // The lock file and `<path>.readers/` sit beside the store and move with its directory; closing
    // must find them there, or the lock refuses this very thread (ELOCKED) and the registration
    // pins its version for as long as the process runs.
    const sub = dir.file('moved-while-open');
    fs.mkdirSync(sub);
    const file = path.join(sub, 'a.maple');
    const writer = open<Value>(file, { sync: 'none' });
    overwriteAll(writer, 0);
    writer.close();
    const reader = open<Value>(file, { readOnly: true });
    const writer2 = open<Value>(file, { sync: 'none' });
    fs.renameSync(sub, `${sub}-2`);
    const moved = path.join(`${sub}-2`, 'a.maple');
    reader.close();
    writer2.close();
    expect(fs.existsSync(`${moved}.lock`)).toBe(false);
    expect(fs.existsSync(`${moved}.readers`)).toBe(false);
    const again = open<Value>(moved, { sync: 'none' });
    try {
      overwriteAll(again, 1);
      expect(again.stats().readOnlyReaders).toBe(0);
    } finally {
      again.close();
    }
  });

  test('a reader through a hard link, the store’s new name or its directory’s new name is a registered reader too', () => {
    // Each is another path to the file the writer holds, so another `<path>.readers`: the writer
    // must see the reader all the same, or it reuses what the reader reads (ECORRUPT on a healthy file).
    for (const how of ['hard link', 'renamed file', 'renamed directory'] as const) {
      const sub = dir.file(`moved-${how.replace(' ', '-')}`);
      fs.mkdirSync(sub);
      const file = path.join(sub, 'a.maple');
      const store = open<Value>(file, { sync: 'none' });
      overwriteAll(store, 0);
      const seen = digest(store);
      let other = path.join(sub, 'b.maple');
      if (how === 'hard link') fs.linkSync(file, other);
      else if (how === 'renamed file') fs.renameSync(file, other);
      else {
        fs.renameSync(sub, `${sub}-2`);
        other = path.join(`${sub}-2`, 'a.maple');
      }
      const reader = open<Value>(other, { readOnly: true });
      for (let gen = 1; gen <= 20; gen++) overwriteAll(store, gen);
      expect(store.stats().readOnlyReaders, how).toBe(1);
      expect(digest(reader), how).toBe(seen);
      reader.close();
      store.close();
    }
  });

  test('a reader whose process is gone is dropped by the writer', () => {
    const file = dir.file('dead.maple');
    const store = open<Value>(file, { sync: 'none' });
    overwriteAll(store, 0);
    // A pid that surely belonged to a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', ''], { encoding: 'utf8' }).pid!;
    const readers = readersDir(file);
    fs.mkdirSync(readers);
    fs.writeFileSync(path.join(readers, `${gone}.0123456789ab.1`), '');
    fs.writeFileSync(path.join(readers, 'not-a-reader'), '');
    overwriteAll(store, 1);
    expect(fs.readdirSync(readers)).toEqual(['not-a-reader']);
    expect(store.stats().pendingBytes).toBe(0);
    fs.unlinkSync(path.join(readers, 'not-a-reader'));
    // A live one (this process) with an old version holds the space.
    fs.writeFileSync(path.join(readers, `${process.pid}.0123456789ab.1`), '');
    overwriteAll(store, 2);
    expect(store.stats().pendingBytes).toBeGreaterThan(0);
    fs.unlinkSync(path.join(readers, `${process.pid}.0123456789ab.1`));
    overwriteAll(store, 3);
    expect(store.stats().pendingBytes).toBe(0);
    expect(fs.existsSync(readers)).toBe(false);
    store.close();
  });

  test('a reader whose pid now belongs to a later process is dropped; with its own start it holds', () => {
    const file = dir.file('reused.maple');
    const store = open<Value>(file, { sync: 'none' });
    overwriteAll(store, 0);
    const readers = readersDir(file);
    // Live pids (the parent, this process) with start times they never had: left by earlier
    // processes that had those pids.
    const parent = process.ppid;
    const parentStart = processStart(parent);
    const ownStartTime = processStart(process.pid);
    const wrong = (start: string | undefined): string => (start === undefined ? '1' : String(BigInt(start) + 1n));
    fs.mkdirSync(readers);
    fs.writeFileSync(path.join(readers, `${parent}.0123456789abt${wrong(parentStart)}.1`), '');
    fs.writeFileSync(path.join(readers, `${process.pid}.0123456789abt${wrong(ownStartTime)}.1`), '');
    overwriteAll(store, 1);
    if (parentStart === undefined) {
      // No /proc: a live pid is all that can be known, so both hold the space.
      expect(store.stats().pendingBytes).toBeGreaterThan(0);
      store.close();
      return;
    }
    expect(fs.existsSync(readers)).toBe(false);
    expect(store.stats().pendingBytes).toBe(0);
    // The parent with its real start time holds the space.
    fs.mkdirSync(readers);
    fs.writeFileSync(path.join(readers, `${parent}.0123456789abt${parentStart}.1`), '');
    overwriteAll(store, 2);
    expect(store.stats().pendingBytes).toBeGreaterThan(0);
    expect(store.stats().readOnlyReaders).toBe(1);
    fs.rmSync(readers, { recursive: true });
    store.close();
  });

  test('a reader registered before a reboot is dropped, even when its pid and start match a live process', () => {
    const file = dir.file('reboot.maple');
    const store = open<Value>(file, { sync: 'none' });
    overwriteAll(store, 0);
    const readers = readersDir(file);
    const parent = process.ppid;
    const parentStart = processStart(parent);
    const boot = PROC.bootId()?.replace(/-/g, '').slice(0, 16);
    if (parentStart === undefined || boot === undefined) {
      store.close();
      return; // no /proc: boots cannot be told apart (the pid check alone is tested above)
    }
    // Another boot tag: the same digits with the first one changed.
    const otherBoot = `${boot[0] === '0' ? '1' : '0'}${boot.slice(1)}`;
    fs.mkdirSync(readers);
    fs.writeFileSync(path.join(readers, `${parent}.0123456789abt${parentStart}b${otherBoot}.1`), '');
    overwriteAll(store, 1);
    expect(fs.existsSync(readers)).toBe(false);
    expect(store.stats().pendingBytes).toBe(0);
    // With this boot's tag the same reader holds the space.
    fs.mkdirSync(readers);
    fs.writeFileSync(path.join(readers, `${parent}.0123456789abt${parentStart}b${boot}.1`), '');
    overwriteAll(store, 2);
    expect(store.stats().pendingBytes).toBeGreaterThan(0);
    expect(store.stats().readOnlyReaders).toBe(1);
    fs.rmSync(readers, { recursive: true });
    store.close();
  });

  test('a read-only store registers with this process start time', () => {
    const file = dir.file('named.maple');
    open<Value>(file).close();
    const reader = open<Value>(file, { readOnly: true });
    const [name] = fs.readdirSync(readersDir(file));
    const start = processStart(process.pid);
    const boot = PROC.bootId()?.replace(/-/g, '').slice(0, 16);
    expect(name).toMatch(
      start === undefined ? new RegExp(`^${process.pid}\\.[0-9a-f]{12}\\.\\d+$`) : new RegExp(`^${process.pid}\\.[0-9a-f]{12}t${start}${boot === undefined ? '' : `b${boot}`}\\.\\d+$`),
    );
    reader.close();
  });
});
