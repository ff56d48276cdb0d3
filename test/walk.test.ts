/**
 * findFirst (src/tree/walk.ts) against iterate: on committed trees of random ranges (multi-level,
 * with empty runs), the first entry — and the last, in reverse — of random windows is the very
 * entry iterate yields first, and undefined exactly when iterate yields nothing.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { afterAll, expect, test } from 'vitest';
import { open } from '../src/index.js';
import { MAX_INDEX } from '../src/common/limits.js';
import { TreeReader } from '../src/read/treeReader.js';
import { findFirst, iterate } from '../src/tree/walk.js';
import type { DurableState } from '../storage/commit/commit.js';
import { treeOf } from '../storage/commit/commit.js';
import type { CellReader } from '../storage/io/cellReader.js';
import { prng, tempDir } from './helpers.js';

const tmp = tempDir('walk');
afterAll(() => tmp.cleanup());

test('findFirst finds what iterate yields first, in both directions', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 3000 }), (seed, count) => {
      const rand = prng(seed);
      const file = tmp.file(`w${seed}-${count}.maple`);
      const store = open<number>(file, { sync: 'none' });
      try {
        store.transaction((txn) => {
          for (let i = 0; i < count; i++) {
            const first = Math.floor(rand() * 1_000_000);
            txn.store(first, first + Math.floor(rand() * 300), i);
          }
          // Some ranges at the very top of the key space.
          if (count % 3 === 0) txn.store(MAX_INDEX - 10, MAX_INDEX, -1);
        });
        const inner = store as unknown as { pager: CellReader; state: DurableState };
        const rec = inner.state.rec;
        const tree = treeOf(rec.main);
        const src = new TreeReader(inner.pager, tree, rec.commit);
        const windows: [number, number][] = [[0, MAX_INDEX], [MAX_INDEX, MAX_INDEX], [5, 4]];
        for (let k = 0; k < 40; k++) {
          const a = Math.floor(rand() * 1_100_000);
          windows.push([a, a + Math.floor(rand() * (k % 2 === 0 ? 50 : 50_000))]);
        }
        for (const [from, to] of windows) {
          for (const reverse of [false, true]) {
            let expected;
            for (const e of iterate(src, tree, from, to, reverse)) {
              expected = e;
              break;
            }
            expect(findFirst(src, tree, from, to, reverse), `[${from}, ${to}] reverse ${reverse}`).toEqual(expected);
          }
        }
      } finally {
        store.close();
        fs.rmSync(file, { force: true });
      }
    }),
    { numRuns: 25, seed: 20261206 },
  );
});
