/**
 * One writer per file in one process too: a writer in a worker_threads Worker, on the main thread,
 * or in another copy of the library (its own module instance, so nothing in memory is shared) gets
 * ELOCKED while another holds the store — never a second writer whose commits overwrite the
 * first's. A lock left by a Worker that ended (terminated, crashed) is taken over at the next open
 * and reported in stats().recovery.lockTakenOver. Workers and the second copy run a private build
 * (test/helpers.ts privateBuild); the main thread also uses the sources vitest loads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { open, openShared, type SharedHandle } from '../src/index.js';
import { PROC } from '../storage/io/liveness.js';
import { readersDir } from '../storage/io/readerFiles.js';
import { START_CHECK_MS } from '../src/common/limits.js';
import { expectMapleError, privateBuild, tempDir } from './helpers.js';

type Lib = typeof import('../src/index.js');
type Reply = { ok: true; value: unknown } | { ok: false; code?: string; message: string };

const hasProc = PROC.self().threadId !== undefined;
const WORKER_SCRIPT = path.join(import.meta.dirname, 'worker-writer.mjs');

let indexJs = '';
let copyIndexJs = '';
let cleanupBuild = () => {};
let dir: ReturnType<typeof tempDir>;
let file = '';
const workers: WriterWorker[] = [];

beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-threads-build-'));
  // A second copy of the whole compiled library beside the first (as two installs of the package
  // would be): its own module instances of every file.
  const dist = path.dirname(path.dirname(indexJs));
  const copy = `${dist}-copy`;
  fs.cpSync(dist, copy, { recursive: true });
  copyIndexJs = path.join(copy, 'src', 'index.js');
}, 180_000);

afterAll(() => cleanupBuild());

beforeEach(() => {
  dir = tempDir('maple-threads-');
  file = dir.file();
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
  dir.cleanup();
});

/** A Worker running test/worker-writer.mjs on the private build, answering one call at a time. */
class WriterWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  readonly exited: Promise<number>;
  readonly ready: Promise<void>;

  constructor() {
    this.worker = new Worker(WORKER_SCRIPT, { workerData: { indexJs } });
    let ready = () => {};
    this.ready = new Promise((resolve) => (ready = resolve));
    this.worker.on('message', (msg: { id?: number; ready?: boolean } & Reply) => {
      if (msg.ready) return ready();
      this.pending.get(msg.id!)?.(msg);
      this.pending.delete(msg.id!);
    });
    this.worker.on('error', () => {}); // the "crash" call ends it with an uncaught exception
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    workers.push(this);
  }

  static async start(): Promise<WriterWorker> {
    const w = new WriterWorker();
    await w.ready;
    return w;
  }

  call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, op, ...args });
    });
  }

  /** call(), expecting success; returns the value. */
  async ok(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const reply = await this.call(op, args);
    if (!reply.ok) throw new Error(`worker ${op} failed: ${reply.code} ${reply.message}`);
    return reply.value;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'opened';
}

async function loadLib(index: string): Promise<Lib> {
  return (await import(pathToFileURL(index).href)) as Lib;
}

const lockOf = (f: string) => `${path.join(fs.realpathSync(path.dirname(f)), path.basename(f))}.lock`;

describe('writers in two threads of one process', () => {
  test('a writer in a Worker, then writers on the main thread: ELOCKED, and no commit the Worker acknowledged is lost', async () => {
    const w = await WriterWorker.start();
    await w.ok('open', { path: file });
    for (let i = 0; i < 20; i++) await w.ok('store', { first: i, last: i, value: `w${i}` });
    // This module instance (the sources) and the build's: other isolates than the Worker's.
    expectMapleError(() => open(file), 'ELOCKED', /open for writing by /);
    const built = await loadLib(indexJs);
    expect(codeOf(() => built.open(file))).toBe('ELOCKED');
    // The scenario that lost commits: the Worker commits on, believing it is the only writer.
    for (let i = 20; i < 40; i++) await w.ok('store', { first: i, last: i, value: `w${i}` });
    await w.ok('close');
    const s = open<string>(file);
    try {
      for (let i = 0; i < 40; i++) expect(s.load(i)).toBe(`w${i}`);
      s.check();
      expect(s.stats().recovery.lockTakenOver).toBeNull();
    } finally {
      s.close();
    }
  });

  test('a writer on the main thread, then a writer in a Worker: ELOCKED until the main thread closes', async () => {
    const s = open<string>(file);
    s.store(1, 1, 'main');
    const w = await WriterWorker.start();
    const refused = await w.call('open', { path: file });
    expect(refused.ok).toBe(false);
    expect(refused.ok ? '' : refused.code).toBe('ELOCKED');
    s.store(2, 2, 'main, after the refusal');
    s.close();
    await w.ok('open', { path: file });
    expect(await w.ok('load', { index: 2 })).toBe('main, after the refusal');
    await w.ok('store', { first: 3, last: 3, value: 'worker' });
    expect(await w.ok('lockTakenOver')).toBeNull();
    await w.ok('close');
    const again = open<string>(file);
    expect([again.load(1), again.load(2), again.load(3)]).toEqual(['main', 'main, after the refusal', 'worker']);
    again.close();
  });

  test('two copies of the library in one thread: the second writer is ELOCKED', async () => {
    const a = await loadLib(indexJs);
    const b = await loadLib(copyIndexJs);
    expect(b.open).not.toBe(a.open);
    const sa = a.open<string>(file);
    sa.store(1, 1, 'a');
    expect(codeOf(() => b.open(file))).toBe('ELOCKED');
    expect(codeOf(() => open(file))).toBe('ELOCKED');
    sa.store(2, 2, 'a, after the refusals');
    sa.close();
    const sb = b.open<string>(file);
    expect(sb.load(2)).toBe('a, after the refusals');
    expect(sb.stats().recovery.lockTakenOver).toBeNull();
    expect(codeOf(() => a.open(file))).toBe('ELOCKED');
    sb.close();
  });

  test.runIf(hasProc)('a Worker terminated while holding the lock: the next open takes it over, says so, and commits', async () => {
    const w = await WriterWorker.start();
    await w.ok('open', { path: file });
    for (let i = 0; i < 10; i++) await w.ok('store', { first: i, last: i, value: `w${i}` });
    const tid = (await w.ok('tid')) as number;
    expect(tid).not.toBe(PROC.self().threadId);
    await w.terminate();
    const s = open<string>(file);
    try {
      const taken = s.stats().recovery.lockTakenOver;
      expect(taken).toContain(`${lockOf(file)}: thread ${tid} of process ${process.pid} has ended`);
      // The device-and-inode lock was the Worker's too.
      expect(taken).toMatch(/maple-store-locks\/\d+-\d+\.lock: thread \d+ of process \d+ has ended/);
      for (let i = 0; i < 10; i++) expect(s.load(i)).toBe(`w${i}`);
      s.store(10, 10, 'after the takeover');
      s.check();
    } finally {
      s.close();
    }
    const again = open<string>(file);
    expect(again.load(10)).toBe('after the takeover');
    expect(again.stats().recovery.lockTakenOver).toBeNull();
    again.close();
  });

  for (const how of ['exit', 'crash'] as const) {
    test.runIf(hasProc)(`a Worker that ended itself (${how === 'exit' ? 'process.exit' : 'an uncaught exception'}) while holding the lock: taken over`, async () => {
      const w = await WriterWorker.start();
      await w.ok('open', { path: file });
      await w.ok('store', { first: 1, last: 1, value: 'w' });
      const tid = (await w.ok('tid')) as number;
      void w.call(how, { code: 3 });
      await w.exited;
      const s = open<string>(file);
      expect(s.stats().recovery.lockTakenOver).toContain(`thread ${tid} of process ${process.pid} has ended`);
      expect(s.load(1)).toBe('w');
      s.store(2, 2, 'main');
      s.close();
    });
  }

  test('without /proc, a lock a Worker left is kept while the process lives (never take over a lock that may be live)', async () => {
    const w = await WriterWorker.start();
    await w.ok('open', { path: file, noProc: true });
    await w.ok('store', { first: 1, last: 1, value: 'w' });
    await w.terminate();
    // The lock names only this process's pid: no thread can be known to have ended.
    expect(fs.readFileSync(lockOf(file), 'latin1')).toMatch(new RegExp(`^${process.pid} \\d+ - - - - [0-9a-f]{16} [0-9a-f]{8}\\n$`));
    expectMapleError(() => open(file), 'ELOCKED', new RegExp(`process ${process.pid} \\(this process\\)`));
    // Its device-and-inode lock would refuse a later file given the same inode, in this process.
    const st = fs.statSync(file);
    fs.rmSync(path.join(os.tmpdir(), 'maple-store-locks', `${st.dev}-${st.ino}.lock`), { force: true });
  });

  test('Workers racing to take over the same stale lock: exactly one opens', async () => {
    for (const stale of ['2 torn', '', `${process.pid}\n`]) {
      fs.writeFileSync(lockOf(file), stale);
      const racers = await Promise.all([0, 1, 2, 3].map(() => WriterWorker.start()));
      const barrier = new Int32Array(new SharedArrayBuffer(4));
      const replies = racers.map((w) => w.call('open', { path: file, barrier }));
      await new Promise((resolve) => setTimeout(resolve, 50)); // let every Worker reach the wait
      Atomics.store(barrier, 0, 1);
      Atomics.notify(barrier, 0);
      const outcomes = await Promise.all(replies);
      const opened = outcomes.filter((r) => r.ok);
      expect(opened, JSON.stringify(outcomes)).toHaveLength(1);
      for (const r of outcomes) if (!r.ok) expect(r.code, r.message).toBe('ELOCKED');
      // The winner took the stale lock over — or another racer removed it and lost the race to link.
      const winner = racers[outcomes.findIndex((r) => r.ok)]!;
      const taken = await winner.ok('lockTakenOver');
      if (taken !== null) expect(taken).toMatch(/not a valid lock/);
      await winner.ok('close');
      for (const w of racers) await w.terminate();
      workers.splice(0);
    }
  });
});

describe('readers of a writer in a Worker that ended without closing the store', () => {
  test.runIf(hasProc)('once another writer took the lock over and reused the space: ECLOSED, never ECORRUPT or a newer version\'s data', async () => {
    type Value = { i: number; gen: number; pad: string };
    const RANGES = 3000;
    const w = await WriterWorker.start();
    await w.ok('open', { path: file });
    await w.ok('fill', { ranges: RANGES, gen: 0 });
    const handle = (await w.ok('share')) as SharedHandle;
    // A small pool: the snapshot's scan below reads most of its cells from the file.
    const r = openShared<Value>(handle, { cacheSize: 128 * 1024 });
    const snap = r.snapshot();
    expect(snap.count()).toBe(RANGES);
    await w.terminate();
    const s = open<Value>(file, { sync: 'none' });
    try {
      expect(s.stats().recovery.lockTakenOver).toMatch(/has ended/);
      // Every cell the Worker's last version reached is free to the new writer: it reuses them.
      for (let gen = 1; gen <= 20; gen++) {
        s.transaction((tx) => {
          for (let i = 0; i < RANGES; i++) tx.store(i * 10, i * 10 + 5, { i, gen, pad: 'm'.repeat(100) });
        });
      }
      // The old snapshot reads its version where its cells are still cached, else ECLOSED (before:
      // ECORRUPT, "value area checksum mismatch" or a cell written by a newer commit).
      let n = 0;
      try {
        for (const range of snap.ranges()) {
          expect(range.value).toEqual({ i: n, gen: 0, pad: 'w'.repeat(100) });
          n++;
        }
        expect(n).toBe(RANGES);
      } catch (err) {
        expect((err as { code?: string }).code, String(err)).toBe('ECLOSED');
      }
      expectMapleError(() => openShared(handle), 'ECLOSED', /ended without closing it/);
      // The store's own reads check the writer's thread at most every START_CHECK_MS.
      await new Promise((resolve) => setTimeout(resolve, START_CHECK_MS + 100));
      expectMapleError(() => r.load(3), 'ECLOSED', /ended without closing it/);
      expectMapleError(() => r.snapshot(), 'ECLOSED', /ended without closing it/);
      snap.close();
      r.close();
      s.check();
    } finally {
      s.close();
    }
  });
});

describe('a read-only store in a Worker', () => {
  test.runIf(hasProc)('pins its version while the Worker runs; once it is terminated the writer drops it and reuses the space', async () => {
    const s = open<{ i: number; gen: number; pad: string }>(file, { sync: 'none' });
    const overwrite = (gen: number) =>
      s.transaction((tx) => {
        for (let i = 0; i < 2000; i++) tx.store(i * 10, i * 10 + 5, { i, gen, pad: 'x'.repeat(100) });
      });
    try {
      overwrite(0);
      const w = await WriterWorker.start();
      expect(await w.ok('openReadOnly', { path: file })).toBe(s.version);
      expect(fs.readdirSync(readersDir(file))).toHaveLength(1);
      for (let gen = 1; gen <= 3; gen++) overwrite(gen);
      expect(await w.ok('count')).toBe(2000);
      expect(s.stats().readOnlyReaders).toBe(1);
      expect(s.stats().pendingBytes).toBeGreaterThan(0);
      await w.terminate();
      // The writer re-reads a live reader's thread at most every START_CHECK_MS. Before, the
      // registration named only the process, which still runs: the version stayed pinned (and
      // the file grew by every overwrite's cells) until the process exited.
      await new Promise((resolve) => setTimeout(resolve, START_CHECK_MS + 100));
      for (let gen = 4; gen <= 6; gen++) overwrite(gen);
      expect(s.stats().readOnlyReaders).toBe(0);
      expect(s.stats().pendingBytes).toBe(0);
      expect(fs.existsSync(readersDir(file))).toBe(false);
      s.check();
    } finally {
      s.close();
    }
  });
});
