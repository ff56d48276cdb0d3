/**
 * share() while asynchronous writes are in flight: a write group planned ahead of the group in
 * flight before share() writes its cells after it, and they must be noted in the page log like
 * every later commit's (storage/io/pageLog.ts), or a shared reader keeps the stale pages it cached
 * and reads the new version through them (ECORRUPT, or an older cell's content).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { open, openShared } from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const tick = () => new Promise((resolve) => setImmediate(resolve));
type Value = { i: number; gen: number; pad: string };
const val = (i: number, gen: number): Value => ({ i, gen, pad: String.fromCharCode(97 + (i % 26)).repeat(20 + ((i * 7 + gen) % 60)) });

describe('share() during asynchronous writes', () => {
  for (const commitProtocol of ['one-sync', 'two-sync', 'log'] as const) {
    test(`${commitProtocol}: a group planned ahead before share() has its pages noted; a shared reader reads its version right`, async () => {
      const dir = tempDir('maple-share-ahead-');
      cleanups.push(dir.cleanup);
      const N = 400;
      const s = open<Value | string>(dir.file(), { sync: 'full', commitProtocol });
      cleanups.push(() => s.close());
      s.transaction((tx) => {
        for (let i = 0; i < N; i++) tx.store(i * 10, i * 10 + 4, val(i, 0));
      });
      // Free cells in pages that hold live ones, reusable by the next commits.
      s.transaction((tx) => {
        for (let i = 1; i < N; i += 2) tx.clear(i * 10, i * 10 + 4);
      });
      for (let k = 0; k < 3; k++) s.store(1e9 + k, 1e9 + k, 'x');
      const flight = s.write((tx) => tx.store(1e9 + 10, 1e9 + 10, 'y'));
      await tick();
      await tick();
      const ahead = s.write((tx) => {
        for (let i = 1; i < N; i += 2) tx.store(i * 10, i * 10 + 4, val(i, 4));
      });
      await tick();
      await tick();
      const r = openShared<Value | string>(s.share());
      cleanups.push(() => r.close());
      // The reader caches every page of the version published now.
      const before = r.snapshot();
      expect([...before.ranges()].length).toBeGreaterThan(N / 2);
      before.close();
      await flight;
      await ahead;
      const snap = r.snapshot();
      expect(snap.version).toBe(s.version);
      let n = 0;
      for (const x of snap.ranges()) {
        if (x.first >= 1e9) continue;
        const i = x.first / 10;
        expect(x.value).toEqual(val(i, i % 2 === 1 ? 4 : 0));
        n++;
      }
      expect(n).toBe(N);
      snap.close();
    });
  }
});
