/**
 * The buffer pool starts small and grows on misses (storage/io/bufferPool.ts), replacing its slab in
 * the middle of reads. Every read path that keeps the slab in locals (the point lookup, the range
 * iterator, gap search, snapshots) must fetch it again after a miss: these tests open a store much
 * larger than the first slab, run only one kind of read from a fresh open until the pool has
 * doubled twice (so the growths happen inside that kind of read), and check every answer
 * against the reference model.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { INITIAL_FRAMES, READ_AHEAD_PAGES } from '../src/common/limits.js';
import { prng, tempDir } from './helpers.js';
import { type MapleStore, openStore } from './openStore.js';
import { Reference } from './reference.js';
import { PAGE_BYTES } from '../src/common/limits.js';

const dir = tempDir('maple-poolgrowth-');
afterAll(() => dir.cleanup());
const path = dir.file('s.maple');
const ref = new Reference<number>();
const RANGES = 240_000;

/** Frames the store's pool has allocated (an internal, read for the test only). */
function frames(store: MapleStore<number>): number {
  return (store as unknown as { pool: { frameCount: number } }).pool.frameCount;
}

{
  const rnd = prng(99);
  const store = openStore<number>(path);
  store.transaction((tx) => {
    let x = 0;
    for (let i = 0; i < RANGES; i++) {
      const len = 1 + Math.floor(rnd() * 50);
      tx.store(x, x + len - 1, i);
      ref.store(x, x + len - 1, i);
      x += len + (i % 3 === 0 ? 1 + Math.floor(rnd() * 200) : 0);
    }
  });
  store.close();
}
const span = ref.ranges().at(-1)!.last + 1;

/** Opens the store fresh with a budget of 16 × INITIAL_FRAMES, runs `read` until the pool has grown twice. */
function growingUnder(read: (store: MapleStore<number>, rnd: () => number) => void): void {
  const store = openStore<number>(path, { cacheSize: 16 * INITIAL_FRAMES * PAGE_BYTES });
  try {
    expect(frames(store)).toBe(INITIAL_FRAMES);
    const rnd = prng(7);
    for (let round = 0; frames(store) < 4 * INITIAL_FRAMES; round++) {
      expect(round, 'the pool grows').toBeLessThan(100_000);
      read(store, rnd);
    }
  } finally {
    store.close();
  }
}

describe('fault-around from a fresh open', () => {
  test('random loads cache the neighbours of their pages while the pool has room, then stop', () => {
    const budget = 16 * INITIAL_FRAMES;
    const store = openStore<number>(path, { cacheSize: budget * PAGE_BYTES });
    try {
      const rnd = prng(21);
      let loads = 0;
      const pool = (store as unknown as { pool: { residentPages: number } }).pool;
      for (; pool.residentPages < budget; loads++) {
        expect(loads, 'the pool fills').toBeLessThan(100_000);
        const x = Math.floor(rnd() * span);
        expect(store.load(x)).toBe(ref.load(x));
      }
      const filled = store.stats();
      // Most of the pool came in around misses: far fewer misses than pages cached.
      expect(filled.cacheReadAhead).toBeGreaterThan(budget / 2);
      expect(filled.cacheMisses).toBeLessThan(budget / 4);
      // Full: misses read their page only from now on.
      for (let i = 0; i < 2000; i++) {
        const x = Math.floor(rnd() * span);
        expect(store.load(x)).toBe(ref.load(x));
      }
      const after = store.stats();
      expect(after.cacheMisses).toBeGreaterThan(filled.cacheMisses);
      expect(after.cacheReadAhead - filled.cacheReadAhead).toBeLessThan(READ_AHEAD_PAGES);
    } finally {
      store.close();
    }
  });
});

describe('reads while the buffer pool grows', () => {
  test('the store is several times larger than the first slab', () => {
    const store = openStore<number>(path);
    try {
      expect(store.stats().fileBytes).toBeGreaterThan(5 * INITIAL_FRAMES * PAGE_BYTES);
    } finally {
      store.close();
    }
  });

  test('load and entry', () => {
    growingUnder((store, rnd) => {
      const x = Math.floor(rnd() * span);
      expect(store.load(x)).toBe(ref.load(x));
      expect(store.entry(x)).toEqual(ref.entry(x));
    });
  });

  test('ranges and rangesRev', () => {
    growingUnder((store, rnd) => {
      const from = Math.floor(rnd() * span);
      const to = from + Math.floor(rnd() * 200_000);
      const reverse = rnd() < 0.5;
      const got = [...(reverse ? store.rangesRev(from, to) : store.ranges(from, to))];
      expect(got).toEqual(reverse ? ref.rangesRev(from, to) : ref.ranges(from, to));
    });
  });

  test('an iterator held while other reads grow the pool', () => {
    const store = openStore<number>(path, { cacheSize: 16 * INITIAL_FRAMES * PAGE_BYTES });
    try {
      const want = ref.ranges();
      const it = store.ranges()[Symbol.iterator]();
      const got: unknown[] = [];
      const rnd = prng(5);
      for (let r = it.next(); !r.done; r = it.next()) {
        got.push(r.value);
        if (got.length % 1000 === 0) {
          for (let i = 0; i < 50; i++) {
            const y = Math.floor(rnd() * span);
            if (store.load(y) !== ref.load(y)) expect(store.load(y), `load(${y})`).toBe(ref.load(y));
          }
        }
      }
      expect(got).toEqual(want);
      expect(frames(store)).toBeGreaterThanOrEqual(4 * INITIAL_FRAMES);
    } finally {
      store.close();
    }
  });

  test('emptyArea and emptyAreaRev', () => {
    growingUnder((store, rnd) => {
      const min = Math.floor(rnd() * span);
      const max = min + Math.floor(rnd() * 200_000);
      const size = 1 + Math.floor(rnd() * 150);
      expect(store.emptyArea(min, max, size)).toBe(ref.emptyArea(min, max, size));
      expect(store.emptyAreaRev(min, max, size)).toBe(ref.emptyAreaRev(min, max, size));
    });
  });

  test('a snapshot', () => {
    const store = openStore<number>(path, { cacheSize: 16 * INITIAL_FRAMES * PAGE_BYTES });
    try {
      const snap = store.snapshot();
      // The writer overwrites what the snapshot reads; its cells are written at other addresses.
      store.transaction((tx) => {
        for (let x = 0; x < span; x += 997) tx.store(x, x, -1);
      });
      const rnd = prng(11);
      for (let round = 0; frames(store) < 4 * INITIAL_FRAMES; round++) {
        expect(round, 'the pool grows').toBeLessThan(100_000);
        const x = Math.floor(rnd() * span);
        expect(snap.load(x)).toBe(ref.load(x));
      }
      snap.close();
    } finally {
      store.close();
    }
  });
});
