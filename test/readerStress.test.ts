/**
 * Readers against a writer committing continuously (single stores, write groups, big transactions,
 * clear of everything, erase; values of 10 B–3 KB): Worker threads holding, closing and slowly
 * iterating shared snapshots and own iterators (small caches, so pages are evicted and re-read),
 * short-lived Workers that exit or are terminated mid-read, and read-only opens in a Worker
 * (registered as another process's). Every digest a reader computes must be the writer's digest of
 * the version it read; once every reader is gone, no slot stays pinned and the file stops growing.
 * Seeded (the writer's operations; thread interleavings vary), no timing assertion.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open, type MapleStore } from '../src/index.js';
import { START_CHECK_MS } from '../src/common/limits.js';
import { privateBuild, prng, tempDir } from './helpers.js';

const SHARED_READER = path.join(import.meta.dirname, 'stress-shared-reader.mjs');
const RO_READER = path.join(import.meta.dirname, 'stress-ro-reader.mjs');
let indexJs = '';
let cleanupBuild = (): void => {};
beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-stress-build-'));
}, 180_000);
afterAll(() => cleanupBuild());

function hashStr(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

async function run(seed: number, sync: 'none' | 'full', commits: number): Promise<void> {
  const rnd = prng(seed);
  const dir = tempDir('maple-reader-stress-');
  const file = dir.file();
  const db: MapleStore<unknown> = open(file, { sync, ...(sync === 'full' && seed % 2 === 0 ? { commitProtocol: 'one-sync' as const } : {}) });
  const MAXV = 20_000;
  const digests = new Int32Array(new SharedArrayBuffer(MAXV * 12));
  const recorded = new Set<number>();
  const record = (): void => {
    const v = db.version;
    if (recorded.has(v)) return;
    let h = 2166136261;
    let n = 0;
    for (const x of db.ranges()) {
      h = hashStr(h, `${x.first}-${x.last}=${JSON.stringify(x.value)};`);
      n++;
    }
    Atomics.store(digests, v * 3 + 1, n);
    Atomics.store(digests, v * 3, h | 0);
    Atomics.store(digests, v * 3 + 2, 1);
    recorded.add(v);
  };
  const KEYS = 1500;
  const value = (k: number): unknown => {
    const r = rnd();
    const len = r < 0.5 ? 10 + Math.floor(rnd() * 60) : r < 0.85 ? 100 + Math.floor(rnd() * 500) : 1000 + Math.floor(rnd() * 2000);
    const c = String.fromCharCode(97 + Math.floor(rnd() * 26));
    return rnd() < 0.3 ? { k, v: db.version, t: c.repeat(len) } : rnd() < 0.5 ? c.repeat(len) : Math.floor(rnd() * 1e9);
  };
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const errors: string[] = [];
  const live = new Set<Promise<void>>();
  const late = (w: Worker, pending: [number, number, number, string?][]): void => {
    for (const [v, h, n, what] of pending) {
      if (!recorded.has(v)) continue;
      const want = Atomics.load(digests, v * 3) >>> 0;
      const wantN = Atomics.load(digests, v * 3 + 1);
      if (want !== h >>> 0 || wantN !== n) errors.push(`[worker ${w.threadId}] ${what ?? 'read-only'} version ${v}: ${h >>> 0}/${n}, expected ${want}/${wantN}`);
    }
  };
  const spawn = (script: string, data: Record<string, unknown>, watch: boolean): Worker => {
    const w = new Worker(script, { workerData: { indexJs, stop, digests, seed: Math.floor(rnd() * 2 ** 31), ...data } });
    if (watch) db.share(w);
    w.on('message', (m: { done?: boolean; errors: string[]; checks?: { pending: [number, number, number, string][] }; pending?: [number, number, number][] }) => {
      if (!m.done) return;
      errors.push(...m.errors.map((e) => `[worker ${w.threadId}] ${e}`));
      late(w, m.checks?.pending ?? m.pending ?? []);
    });
    w.on('error', (e) => {
      if (!String(e).includes('bye')) errors.push(`[worker ${w.threadId}] ${String(e)}`);
    });
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    live.add(exited);
    void exited.then(() => live.delete(exited));
    return w;
  };
  const shared = (mode: string): Worker => spawn(SHARED_READER, { handle: db.share(), mode, maxHeld: 1 + Math.floor(rnd() * 6) }, rnd() < 0.7);
  record();
  db.transaction((tx) => {
    for (let i = 0; i < KEYS; i += 3) tx.store(i * 10, i * 10 + 5, value(i));
  });
  record();
  shared('normal');
  shared('normal');
  spawn(RO_READER, { file }, false);
  for (let c = 0; c < commits; c++) {
    const p = rnd();
    if (p < 0.35) {
      const k = Math.floor(rnd() * KEYS);
      db.store(k * 10, k * 10 + Math.floor(rnd() * 9), value(k));
    } else if (p < 0.55) {
      const writes: Promise<unknown>[] = [];
      for (let j = 1 + Math.floor(rnd() * 30); j > 0; j--) {
        const k = Math.floor(rnd() * KEYS);
        const r = rnd();
        const w = r < 0.7 ? db.storeAsync(k * 10, k * 10 + 3, value(k)) : r < 0.85 ? db.write((tx) => tx.erase(k * 10)) : db.clearAsync(k * 10, k * 10 + 200);
        writes.push(w.then(record));
      }
      await Promise.all(writes);
    } else if (p < 0.7) {
      const n = 50 + Math.floor(rnd() * 800);
      db.transaction((tx) => {
        for (let j = 0; j < n; j++) {
          const k = Math.floor(rnd() * KEYS);
          tx.store(k * 10, k * 10 + Math.floor(rnd() * 9), value(k));
        }
      });
    } else if (p < 0.73) db.clear(0, 2 ** 40);
    else if (p < 0.85) db.erase(Math.floor(rnd() * KEYS) * 10);
    else if (p < 0.9) {
      const k = Math.floor(rnd() * KEYS);
      db.clear(k * 10, k * 10 + Math.floor(rnd() * 3000));
    } else if (p < 0.95) {
      db.transaction((tx) => {
        for (let i = 0; i < KEYS; i += 1 + Math.floor(rnd() * 3)) tx.store(i * 10, i * 10 + 5, value(i));
      });
    } else await new Promise((resolve) => setTimeout(resolve, Math.floor(rnd() * 5)));
    record();
    if (rnd() < 0.3) await new Promise((resolve) => setImmediate(resolve));
    if (rnd() < 0.04) {
      const m = rnd();
      const w = shared(m < 0.4 ? 'exitmid' : m < 0.7 ? 'throwmid' : 'normal');
      if (m >= 0.7) setTimeout(() => void w.terminate(), Math.floor(rnd() * 50));
    }
  }
  Atomics.store(stop, 0, 1);
  while (live.size > 0) await Promise.race(live);
  // Slots of Workers that ended unannounced are freed by the writer's thread check.
  await new Promise((resolve) => setTimeout(resolve, START_CHECK_MS + 100));
  db.clear(0, 2 ** 40);
  const sizes: number[] = [];
  for (let g = 0; g < 25; g++) {
    db.transaction((tx) => {
      for (let i = 0; i < 500; i++) tx.store(i * 10, i * 10 + 5, 'x'.repeat(50 + ((i * 7 + g) % 400)));
    });
    if (g >= 10) sizes.push(db.stats().fileBytes);
  }
  const st = db.stats();
  db.check();
  db.close();
  dir.cleanup();
  expect(errors).toEqual([]);
  expect(st.sharedReaders).toBe(0);
  expect(st.readOnlyReaders).toBe(0);
  expect(new Set(sizes).size, `file sizes under steady churn: ${sizes.join(', ')}`).toBe(1);
}

describe('readers against a writer committing continuously', () => {
  test("sync: 'none', seed 7", () => run(7, 'none', 100), 120_000);
  test("sync: 'full', seed 8", () => run(8, 'full', 100), 120_000);
});
