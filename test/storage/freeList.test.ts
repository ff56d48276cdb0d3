/**
 * FreeList.takeRuns (storage/commit/freeList.ts) against a plain statement of its policy: the
 * longest loaded run first (the first of equals), then the shortest runs (ties in list order),
 * each from its start — for small requests (picked by scanning) and large ones (by a sort) alike.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import type { CellRun } from '../../storage/format/pageFile.js';
import { PREFER_SCAN_RUNS } from '../../src/common/limits.js';
import { FreeList } from '../../storage/commit/freeList.js';
import { RunHints, SEARCH_RETRY_MIN_CELLS } from '../../storage/commit/runHints.js';

/** The policy, spelled out on copies of the runs. */
function expected(entries: CellRun[][], count: number): number[] {
  const runs = entries.flat().map((r) => ({ ...r }));
  const out: number[] = [];
  const take = (r: CellRun, n: number): void => {
    for (let c = 0; c < n; c++) out.push(r.start + c);
    r.start += n;
    r.count -= n;
  };
  let longest = -1;
  runs.forEach((r, i) => {
    if (longest < 0 || r.count > runs[longest]!.count) longest = i;
  });
  if (longest >= 0) take(runs[longest]!, Math.min(count, runs[longest]!.count));
  const order = runs
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.count > 0)
    .sort((a, b) => a.r.count - b.r.count || a.i - b.i);
  for (const { r } of order) {
    if (out.length >= count) break;
    take(r, Math.min(count - out.length, r.count));
  }
  return out;
}

/** Disjoint runs, in entries, from sizes and gaps. */
const entriesArb = fc
  .array(fc.array(fc.record({ size: fc.integer({ min: 1, max: 12 }), gap: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 5 })
  .map((lists) => {
    let at = 100;
    return lists.map((list) =>
      list.map(({ size, gap }) => {
        const run = { start: at, count: size };
        at += size + gap;
        return run;
      }),
    );
  });

test('takeRuns takes the longest run, then the shortest ones, for any request size', () => {
  fc.assert(
    fc.property(entriesArb, fc.integer({ min: 1, max: 400 }), (entries, count) => {
      const want = expected(entries, count);
      const pending = entries.map((list) => list.map((r) => ({ ...r })));
      const free = new FreeList(() => pending.shift());
      while (free.loadNext()) {
        /* load every entry */
      }
      const total = entries.flat().reduce((n, r) => n + r.count, 0);
      const out: number[] = [];
      const got = free.takeRuns(count, out);
      expect(out).toEqual(want);
      expect(got).toBe(Math.min(count, total));
      expect(free.available()).toBe(total - got);
      // What is left is exactly the cells not taken.
      const left = new Set(free.leftovers().flatMap((r) => Array.from({ length: r.count }, (_, k) => r.start + k)));
      for (const c of out) expect(left.has(c)).toBe(false);
      expect(left.size).toBe(total - got);
    }),
    { numRuns: 300, seed: 20261206 },
  );
});

/** Whether `set` holds `count` consecutive cells. */
function hasRun(set: Set<number>, count: number): boolean {
  const cells = [...set].sort((a, b) => a - b);
  let length = 0;
  for (let i = 0; i < cells.length; i++) {
    length = i > 0 && cells[i] === cells[i - 1]! + 1 ? length + 1 : 1;
    if (length >= count) return true;
  }
  return false;
}

test('run finds count free cells in a row exactly when there are, across requests of any sizes', () => {
  fc.assert(
    fc.property(entriesArb, fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }), (entries, requests) => {
      const free = new Set(entries.flat().flatMap((r) => Array.from({ length: r.count }, (_, k) => r.start + k)));
      const pending = entries.map((l) => l.map((r) => ({ ...r })));
      const fresh = new FreeList(() => pending.shift());
      for (const count of requests) {
        const possible = hasRun(free, count);
        const start = fresh.run(count);
        if (start === undefined) {
          // A failure is remembered for longer requests: it must be right, before and after.
          expect(possible).toBe(false);
          continue;
        }
        for (let c = start; c < start + count; c++) {
          expect(free.has(c)).toBe(true);
          free.delete(c);
        }
      }
      while (fresh.loadNext()) {
        /* what is left, loaded */
      }
      expect(fresh.available()).toBe(free.size);
    }),
    { numRuns: 300, seed: 20261207 },
  );
});

test('run with a seek that takes entries out of order: the same answers, every cell once', () => {
  fc.assert(
    fc.property(entriesArb, fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), (entries, requests, knows) => {
      const free = new Set(entries.flat().flatMap((r) => Array.from({ length: r.count }, (_, k) => r.start + k)));
      const pending: (CellRun[] | null)[] = entries.map((l) => l.map((r) => ({ ...r })));
      const takeAt = (i: number): CellRun[] => {
        const runs = pending[i]!;
        pending[i] = null;
        return runs;
      };
      // Newest first, as the pending tree is read; the seek, like the run hints, knows only some
      // entries (and may not know of one that would do).
      const list = new FreeList(
        () => {
          for (let i = pending.length - 1; i >= 0; i--) if (pending[i] !== null) return takeAt(i);
          return undefined;
        },
        (count) => {
          for (let i = 0; i < pending.length; i++) {
            if (pending[i] !== null && knows[i % knows.length] && pending[i]!.some((r) => r.count >= count)) {
              return takeAt(i);
            }
          }
          return undefined;
        },
      );
      for (const count of requests) {
        const possible = hasRun(free, count);
        const start = list.run(count);
        if (start === undefined) {
          expect(possible).toBe(false);
          continue;
        }
        for (let c = start; c < start + count; c++) {
          expect(free.has(c)).toBe(true);
          free.delete(c);
        }
      }
      while (list.loadNext()) {
        /* what is left, loaded */
      }
      expect(list.available()).toBe(free.size);
      const left = list.leftovers().flatMap((r) => Array.from({ length: r.count }, (_, k) => r.start + k));
      expect(new Set(left)).toEqual(free);
      expect(left.length).toBe(free.size);
    }),
    { numRuns: 300, seed: 20261208 },
  );
});

test('run asks the seek before loading entries newest first, and loads nothing when it answers', () => {
  const loaded: number[] = [];
  const entries = [[{ start: 100, count: 9 }], [{ start: 200, count: 2 }], [{ start: 300, count: 1 }]];
  const list = new FreeList(
    () => {
      const e = entries.pop();
      if (e) loaded.push(e[0]!.start);
      return e;
    },
    (count) => (count <= 9 && entries[0] !== undefined && entries[0]![0]!.count === 9 ? entries.shift() : undefined),
  );
  expect(list.run(5)).toBe(100);
  expect(loaded).toEqual([]);
  expect(list.run(4)).toBe(105); // the rest of the sought run, already loaded
  expect(list.run(2)).toBe(200); // no hint: newest first, as before
  expect(loaded).toEqual([300, 200]);
});

test('run(count, prefer): the newest loaded run holding `prefer` cells (taken whole), else the newest holding `count`', () => {
  const entries = [[{ start: 10, count: 4 }, { start: 50, count: 3 }, { start: 90, count: 3 }]];
  const list = new FreeList(() => entries.pop());
  // Newest first is the end of the loaded runs: 90 holds 3, 50 holds 3, 10 holds 4.
  expect(list.run(3, 4)).toBe(10);
  expect(list.taken).toBe(4); // all four cells of that run
  expect(list.run(3, 4)).toBe(90); // none holds 4 any more: the newest holding 3
  expect(list.taken).toBe(3);
  expect(list.run(3)).toBe(50);
  expect(list.available()).toBe(0);
  // Nothing loaded holds `count`: loaded, searched, and undefined as run(count) is.
  expect(list.run(2, 3)).toBeUndefined();
  // A run holding `prefer` further back than PREFER_SCAN_RUNS runs past the first that holds `count` is not looked for.
  const runs = [{ start: 1000, count: 5 }, ...Array.from({ length: PREFER_SCAN_RUNS + 1 }, (_, i) => ({ start: 2000 + 10 * i, count: 4 }))];
  // One entry holding all of them, loaded by the first run().
  const listOf = (entry: CellRun[]): FreeList => {
    const entries = [entry];
    return new FreeList(() => entries.pop());
  };
  const far = listOf(runs.map((r) => ({ ...r })));
  expect(far.run(4, 5)).toBe(2000 + 10 * PREFER_SCAN_RUNS);
  expect(far.taken).toBe(4);
  runs.pop();
  const near = listOf(runs.map((r) => ({ ...r })));
  expect(near.run(4, 5)).toBe(1000);
  expect(near.taken).toBe(5);
});

/** A free list over `entries` (each a list of runs), counting the entries it loads. */
function listOver(entries: CellRun[][], hints: RunHints): { free: FreeList; loads: () => number } {
  const left = entries.map((e) => e.map((r) => ({ ...r })));
  let loads = 0;
  const free = new FreeList(
    () => {
      const next = left.shift();
      if (next !== undefined) loads++;
      return next;
    },
    () => undefined,
    hints,
  );
  return { free, loads: () => loads };
}

test('a search of the whole list that found nothing is not repeated until enough cells were freed since (RunHints)', () => {
  // 30 entries of isolated 2-cell runs: no run, nor chain, of 8 cells.
  const entries = Array.from({ length: 30 }, (_, e) => [{ start: 1000 + e * 10, count: 2 }, { start: 1005 + e * 10, count: 2 }]);
  const hints = new RunHints();
  const first = listOver(entries, hints);
  expect(first.free.run(8)).toBeUndefined();
  expect(first.loads()).toBe(30); // searched everything
  expect(hints.skipSearch(8)).toBe(true);
  // The next commit: no load at all for 8 cells or more…
  const second = listOver(entries, hints);
  expect(second.free.run(8)).toBeUndefined();
  expect(second.free.run(12)).toBeUndefined();
  expect(second.loads()).toBe(0);
  // …while a shorter run is still looked for, and found.
  expect(second.free.run(2)).toBe(1005);
  // Once enough cells were freed since (at least SEARCH_RETRY_MIN_CELLS; half the list searched), it searches again.
  hints.freed(SEARCH_RETRY_MIN_CELLS - 1);
  expect(hints.skipSearch(8)).toBe(true);
  hints.freed(1);
  expect(hints.skipSearch(8)).toBe(false);
  const third = listOver([...entries, [{ start: 5000, count: 9 }]], hints);
  expect(third.free.run(8)).toBe(5000);
  expect(third.loads()).toBe(31);
});

test('a search that finds its run arms nothing', () => {
  const hints = new RunHints();
  const { free } = listOver([[{ start: 100, count: 2 }], [{ start: 102, count: 6 }]], hints);
  expect(free.run(8)).toBe(100); // a chain across the two entries
  expect(hints.skipSearch(8)).toBe(false);
});

test('run(count, prefer) over entries loaded one by one: the run a plain statement of the rule picks, every time', () => {
  fc.assert(
    fc.property(entriesArb, fc.array(fc.record({ count: fc.integer({ min: 1, max: 14 }), more: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 40 }), (entries, requests) => {
      // The reference: every loaded run, newest last; a request scans all of them from the newest
      // for the first holding `count`, then up to PREFER_SCAN_RUNS older ones for one holding
      // `prefer`, and loads the next entry while none holds `count` (runs never touch: no chains).
      const source = entries.map((l) => l.map((r) => ({ ...r })));
      const loaded: CellRun[] = [];
      const pending = entries.map((l) => l.map((r) => ({ ...r })));
      const list = new FreeList(() => pending.shift());
      for (const { count, more } of requests) {
        const prefer = count + more;
        let want: { start: number; taken: number } | undefined;
        for (;;) {
          let fit = -1;
          for (let i = loaded.length - 1, past = 0; i >= 0; i--) {
            if (loaded[i]!.count >= prefer) {
              fit = i;
              break;
            }
            if (fit >= 0) {
              if (++past >= PREFER_SCAN_RUNS) break;
            } else if (loaded[i]!.count >= count) fit = i;
          }
          if (fit >= 0) {
            const r = loaded[fit]!;
            want = { start: r.start, taken: r.count >= prefer ? prefer : count };
            r.start += want.taken;
            r.count -= want.taken;
            if (r.count === 0) loaded.splice(fit, 1);
            break;
          }
          const next = source.shift();
          if (next === undefined) break;
          loaded.push(...next.filter((r) => r.count > 0));
        }
        const start = list.run(count, prefer);
        expect(start).toBe(want?.start);
        if (want !== undefined) expect(list.taken).toBe(want.taken);
      }
    }),
    { numRuns: 300, seed: 20261209 },
  );
});
