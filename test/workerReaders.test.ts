/**
 * Readers in worker threads (MapleStore.share / openShared), with real Workers: a Worker reading
 * while the main thread overwrites everything sees exactly its snapshot's data, never ECORRUPT;
 * a Worker that ends frees its reader slots — at once through share(worker), or through the
 * writer's check of the thread otherwise — and the space its version pinned is reused. Workers run
 * a private build (test/helpers.ts privateBuild); the main thread uses the sources vitest loads,
 * so the shared area is read by two module instances, as it is by two copies of the package.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { open, type MapleStore, type SharedHandle } from '../src/index.js';
import { PROC } from '../storage/io/liveness.js';
import { START_CHECK_MS } from '../src/common/limits.js';
import { privateBuild, tempDir } from './helpers.js';

type Value = { i: number; gen: number; pad: unknown };
const WORKER_SCRIPT = path.join(import.meta.dirname, 'worker-reader.mjs');
const hasProc = PROC.self().threadId !== undefined;

let indexJs = '';
let cleanupBuild = () => {};
let dir: ReturnType<typeof tempDir>;
const workers: Worker[] = [];
const stores: MapleStore<Value>[] = [];

beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-readers-build-'));
}, 180_000);
afterAll(() => cleanupBuild());
beforeEach(() => {
  dir = tempDir('maple-worker-readers-');
});
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
  for (const s of stores.splice(0)) s.close();
  dir.cleanup();
});

function writer(): MapleStore<Value> {
  const s = open<Value>(dir.file(), { sync: 'none' });
  stores.push(s);
  return s;
}

function overwriteAll(s: MapleStore<Value>, n: number, gen: number, pad = 'p'.repeat(40)): void {
  s.transaction((tx) => {
    for (let i = 0; i < n; i++) tx.store(i * 10, i * 10 + 4, { i, gen, pad });
  });
}

/** Range n's pad in generation gen for values of every size (test/worker-reader.mjs checks the same). */
function sizedPad(n: number, gen: number): unknown {
  const len = n % 97 === 0 ? 700 + (gen % 50) : 3 + ((n * 7 + gen) % 180);
  return n % 5 === 0 ? { text: 'v'.repeat(len), list: [n, gen, 'x'.repeat(n % 13)], nested: { gen } } : String.fromCharCode(97 + (n % 26)).repeat(len);
}

function startWorker(data: { handle: SharedHandle; mode: 'verify' | 'hold'; ranges: number; base?: number; stop?: Int32Array; sized?: boolean }): { worker: Worker; messages: AsyncIterator<Record<string, unknown>>; exited: Promise<number> } {
  const worker = new Worker(WORKER_SCRIPT, { workerData: { indexJs, ...data } });
  workers.push(worker);
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  worker.on('message', (m: Record<string, unknown>) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  worker.on('error', (err) => {
    const m = { error: String(err) };
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const messages: AsyncIterator<Record<string, unknown>> = {
    next: () => new Promise((resolve) => {
      const m = queue.shift();
      if (m) resolve({ value: m, done: false });
      else waiting.push((x) => resolve({ value: x, done: false }));
    }),
  };
  return { worker, messages, exited };
}

describe('worker threads reading a store the main thread writes', () => {
  test('a worker sees exactly its snapshot\'s data while the main thread overwrites everything 150 times', async () => {
    const RANGES = 1000;
    const s = writer();
    const base = s.version + 1;
    overwriteAll(s, RANGES, 0);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const { messages } = startWorker({ handle: s.share(), mode: 'verify', ranges: RANGES, base, stop });
    expect((await messages.next()).value).toEqual({ ready: true });
    for (let gen = 1; gen <= 150; gen++) {
      overwriteAll(s, RANGES, gen);
      // Let the worker's event loop see a few versions between bursts too.
      if (gen % 30 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    Atomics.store(stop, 0, 1);
    const result = (await messages.next()).value as { snapshots: number; loads: number; versions: number; errors: string[] };
    expect(result.errors).toEqual([]);
    expect(result.snapshots).toBeGreaterThan(0);
    expect(result.versions).toBeGreaterThan(1);
    expect(s.stats().sharedReaders).toBe(0);
    s.check();
  });

  test('values of every size (leaf value areas, records, nested shapes) read whole in a worker while the main thread rewrites them, in transactions and in write groups', async () => {
    const RANGES = 200; // a group takes up to 256 functions: each write group below is one commit
    const s = writer();
    const base = s.version + 1;
    const writeGen = (gen: number): void =>
      s.transaction((tx) => {
        for (let i = 0; i < RANGES; i++) tx.store(i * 10, i * 10 + 4, { i, gen, pad: sizedPad(i, gen) });
      });
    writeGen(0);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const { messages } = startWorker({ handle: s.share(), mode: 'verify', ranges: RANGES, base, stop, sized: true });
    expect((await messages.next()).value).toEqual({ ready: true });
    for (let gen = 1; gen <= 40; gen++) {
      if (gen % 2 === 0) writeGen(gen);
      else {
        // One write group: a function per range, one of them throwing (its savepoint is dropped).
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < RANGES; i++) writes.push(s.write((tx) => tx.store(i * 10, i * 10 + 4, { i, gen, pad: sizedPad(i, gen) })));
        const dropped = s.write((tx) => {
          tx.store(3, 3, { i: -1, gen, pad: 'dropped'.repeat(50) });
          throw new Error('dropped');
        });
        await Promise.all(writes);
        await expect(dropped).rejects.toThrow('dropped');
        expect(s.version, 'one group, one version').toBe(base + gen);
      }
      if (gen % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    Atomics.store(stop, 0, 1);
    const result = (await messages.next()).value as { snapshots: number; loads: number; versions: number; errors: string[] };
    expect(result.errors).toEqual([]);
    expect(result.snapshots).toBeGreaterThan(0);
    expect(s.load(3)).toEqual({ i: 0, gen: 40, pad: sizedPad(0, 40) });
    s.check();
  });

  test('a terminated worker\'s slots are freed at its exit (share(worker)) and the space it pinned is reused', async () => {
    const RANGES = 1000;
    const s = writer();
    overwriteAll(s, RANGES, 0, 'z'.repeat(300));
    const worker = new Worker(WORKER_SCRIPT, { workerData: { indexJs, handle: s.share(), mode: 'hold', ranges: RANGES } });
    workers.push(worker);
    s.share(worker);
    const held = await new Promise<Record<string, unknown>>((resolve) => worker.once('message', resolve));
    expect(held).toEqual({ held: s.version, count: RANGES });
    expect(s.stats().sharedReaders).toBe(1);
    for (let gen = 1; gen <= 4; gen++) overwriteAll(s, RANGES, gen, 'z'.repeat(300));
    const pinned = s.stats();
    expect(pinned.pendingBytes).toBeGreaterThan(RANGES * 300);
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await worker.terminate();
    await exited;
    expect(s.stats().sharedReaders).toBe(0);
    overwriteAll(s, RANGES, 5, 'z'.repeat(300));
    overwriteAll(s, RANGES, 6, 'z'.repeat(300));
    const released = s.stats();
    expect(released.pendingBytes).toBeLessThan(pinned.pendingBytes / 2);
    for (let gen = 7; gen < 20; gen++) overwriteAll(s, RANGES, gen, 'z'.repeat(300));
    expect(s.stats().fileBytes).toBe(released.fileBytes);
  });

  test('a worker that ends unannounced (handle through workerData only) loses its slot to the writer\'s thread check', async () => {
    const s = writer();
    overwriteAll(s, 100, 0);
    const { messages, worker, exited } = startWorker({ handle: s.share(), mode: 'hold', ranges: 100 });
    expect((await messages.next()).value).toEqual({ held: s.version, count: 100 });
    overwriteAll(s, 100, 1);
    expect(s.stats().sharedReaders).toBe(1);
    await worker.terminate();
    await exited;
    // The writer checks the threads of the slots at most every START_CHECK_MS, when it commits.
    await new Promise((resolve) => setTimeout(resolve, START_CHECK_MS + 100));
    overwriteAll(s, 100, 2);
    // Without /proc the writer cannot tell, and keeps the slot (pinning more, never less).
    expect(s.stats().sharedReaders).toBe(hasProc ? 0 : 1);
  });

  test('two workers at once: each sees its snapshots whole', async () => {
    const RANGES = 500;
    const s = writer();
    const base = s.version + 1;
    overwriteAll(s, RANGES, 0);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const a = startWorker({ handle: s.share(), mode: 'verify', ranges: RANGES, base, stop });
    const b = startWorker({ handle: s.share(), mode: 'verify', ranges: RANGES, base, stop });
    expect((await a.messages.next()).value).toEqual({ ready: true });
    expect((await b.messages.next()).value).toEqual({ ready: true });
    for (let gen = 1; gen <= 80; gen++) overwriteAll(s, RANGES, gen);
    Atomics.store(stop, 0, 1);
    for (const w of [a, b]) {
      const result = (await w.messages.next()).value as { snapshots: number; errors: string[] };
      expect(result.errors).toEqual([]);
      expect(result.snapshots).toBeGreaterThan(0);
    }
    expect(s.stats().sharedReaders).toBe(0);
  });
});
