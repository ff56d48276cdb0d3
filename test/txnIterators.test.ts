/**
 * Iterators of a write transaction (src/api/txn.ts TxnRanges): each yields the transaction's state when
 * it was created, whatever the transaction writes while it is unfinished — as store iterators
 * yield their version. Random interleavings of writes and next() calls against the reference, on
 * a transaction that has not written yet (committed nodes) and on one that has (its own nodes,
 * changed in place by later writes); and ECLOSED after the transaction ends.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { expectMapleError, prng, tempDir } from './helpers.js';
import { type MapleStore, type OpenOptions, openStore } from './openStore.js';
import { type RefRange, Reference } from './reference.js';

const dir = tempDir('maple-txnit-');
afterAll(() => dir.cleanup());
let fileNo = 0;

function seeded(n: number, opts?: OpenOptions): { store: MapleStore<number | string>; ref: Reference<number | string> } {
  const store = openStore<number | string>(dir.file(`s${fileNo++}.maple`), { sync: 'none', ...opts });
  const ref = new Reference<number | string>();
  store.transaction((tx) => {
    for (let i = 0; i < n; i++) {
      const v = i % 3 === 0 ? `v${i}-${'p'.repeat(i % 40)}` : i;
      tx.store(i * 10, i * 10 + 4, v);
      ref.store(i * 10, i * 10 + 4, v);
    }
  });
  return { store, ref };
}

interface Open {
  it: Iterator<{ first: number; last: number; value: unknown }>;
  want: RefRange<number | string>[];
  got: { first: number; last: number; value: unknown }[];
}

function interleave(seed: number, writeFirst: boolean): void {
  const { store, ref } = seeded(3000);
  const rnd = prng(seed);
  const span = 30_000;
  store.transaction((tx) => {
    if (writeFirst) {
      for (let i = 0; i < 300; i++) {
        const a = Math.floor(rnd() * span);
        tx.store(a, a + 3, -1 - i);
        ref.store(a, a + 3, -1 - i);
      }
    }
    const open: Open[] = [];
    for (let step = 0; step < 3000; step++) {
      const r = rnd();
      if (r < 0.03) {
        const from = Math.floor(rnd() * span);
        const to = from + Math.floor(rnd() * 8000);
        const reverse = rnd() < 0.5;
        open.push({
          it: (reverse ? tx.rangesRev(from, to) : tx.ranges(from, to))[Symbol.iterator](),
          // Copies: the reference trims its range objects in place.
          want: (reverse ? ref.rangesRev(from, to) : ref.ranges(from, to)).map((x) => ({ ...x })),
          got: [],
        });
      } else if (r < 0.6 && open.length > 0) {
        const o = open[Math.floor(rnd() * open.length)]!;
        for (let k = Math.floor(rnd() * 40); k >= 0; k--) {
          const n = o.it.next();
          if (n.done) break;
          o.got.push(n.value);
        }
      } else {
        const a = Math.floor(rnd() * span);
        const w = rnd();
        if (w < 0.6) {
          const last = a + Math.floor(rnd() * 30);
          tx.store(a, last, step);
          ref.store(a, last, step);
        } else if (w < 0.8) {
          const last = a + Math.floor(rnd() * 200);
          tx.clear(a, last);
          ref.clear(a, last);
        } else if (w < 0.9) {
          expect(tx.erase(a)).toEqual(ref.erase(a));
        } else {
          // Beyond every key: the append path.
          const first = span * 2 + step * 10;
          tx.insert(first, first + 3, `a${step}`);
          ref.insert(first, first + 3, `a${step}`);
        }
      }
    }
    for (const o of open) {
      for (let n = o.it.next(); !n.done; n = o.it.next()) o.got.push(n.value);
      expect(o.got).toEqual(o.want);
    }
    expect(open.length).toBeGreaterThan(50);
    expect([...tx.ranges()]).toEqual(ref.ranges());
  });
  expect([...store.ranges()]).toEqual(ref.ranges());
  store.check();
  store.close();
}

describe('transaction iterators', () => {
  test('yield the state at their creation while the transaction writes (before any write)', () => interleave(1, false));
  test('yield the state at their creation while the transaction writes (after writes)', () => interleave(2, true));
  test('an iterator used after its transaction ended is ECLOSED; a finished one stays done', () => {
    const { store } = seeded(100);
    let open: Iterator<unknown> | undefined;
    let finished: Iterator<unknown> | undefined;
    store.transaction((tx) => {
      tx.store(5, 5, 'x');
      open = tx.ranges()[Symbol.iterator]();
      open.next();
      finished = tx.ranges(0, 20)[Symbol.iterator]();
      while (!finished.next().done) {
        /* drain */
      }
    });
    expectMapleError(() => open!.next(), 'ECLOSED');
    expect(finished!.next().done).toBe(true);
    store.close();
  });
});
