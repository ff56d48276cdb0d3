/**
 * RunHints (storage/commit/runHints.ts): what a commit listed under each key, and which keys it
 * offers for a run of a given length.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { HINT_MIN_RUN, RunHints } from '../../storage/commit/runHints.js';

const runs = (...counts: number[]) => counts.map((count, i) => ({ start: 1000 * (i + 1), count }));
const all = (): boolean => true;

test('candidates: entries with a long enough run, the shortest such run first, within the limit', () => {
  const h = new RunHints();
  h.note(10, runs(1, 9));
  h.note(11, runs(5));
  h.note(12, runs(3, 2, 12));
  h.note(13, runs(5, 1));
  expect(h.size).toBe(4);
  expect(h.candidates(5, all, 10)).toEqual([13, 11, 10, 12]); // equal runs: the newer key first
  expect(h.candidates(10, all, 10)).toEqual([12]);
  expect(h.candidates(13, all, 10)).toEqual([]);
  expect(h.candidates(1, all, 2)).toEqual([13, 11]);
  expect(h.candidates(5, (key) => key % 2 === 0, 10)).toEqual([10, 12]);
});

test('a note replaces the last one; runs too short to hint, and forget, drop the key', () => {
  const h = new RunHints();
  h.note(7, runs(8));
  h.note(7, runs(3));
  expect(h.candidates(4, all, 10)).toEqual([]);
  expect(h.candidates(3, all, 10)).toEqual([7]);
  h.note(7, runs(HINT_MIN_RUN - 1, HINT_MIN_RUN - 1));
  expect(h.size).toBe(0);
  h.note(8, runs(4));
  h.note(9, []);
  expect(h.size).toBe(1);
  h.forget(8);
  h.forget(42);
  expect(h.size).toBe(0);
  expect(h.candidates(1, all, 10)).toEqual([]);
});

test("a windowed entry's window goes with its hint, for the caller to pass over a pinned one unread", () => {
  const h = new RunHints();
  h.note(5, runs(6), { lowBirth: 40, freedBy: 52 });
  h.note(6, runs(6));
  const seen: Array<[number, number, number]> = [];
  const keys = h.candidates(6, (key, hint) => {
    seen.push([key, hint.lowBirth, hint.freedBy]);
    return hint.freedBy < 0;
  }, 10);
  expect(keys).toEqual([6]);
  expect(seen.sort((a, b) => a[0] - b[0])).toEqual([
    [5, 40, 52],
    [6, -1, -1],
  ]);
});

test('knownShorter: every key listed or read is known by its longest run, hinted or not, until forgotten', () => {
  const h = new RunHints();
  h.note(20, runs(1, 1, 1));
  h.note(21, runs(2, 6));
  expect(h.size).toBe(1); // a run of one cell is not hinted, but it is known
  expect(h.knownShorter(20, 2)).toBe(true);
  expect(h.knownShorter(20, 1)).toBe(false);
  expect(h.knownShorter(21, 7)).toBe(true);
  expect(h.knownShorter(21, 6)).toBe(false);
  expect(h.knownShorter(22, 99)).toBe(false); // never seen: it must be read
  h.note(21, runs(1));
  expect(h.knownShorter(21, 2)).toBe(true);
  h.forget(20);
  expect(h.knownShorter(20, 2)).toBe(false);
});

test('candidates agree with a plain statement of the order (every hint in the spans sorted by run, then newest key) through any notes and forgets', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('note' as const), key: fc.integer({ min: 0, max: 40 }), counts: fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant('forget' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({
      kind: fc.constant('ask' as const),
      count: fc.integer({ min: 1, max: 13 }),
      limit: fc.integer({ min: 1, max: 8 }),
      parity: fc.integer({ min: 0, max: 2 }),
      // Two key spans, the higher first (as a commit passes its windowed and by-commit keys), or none.
      spans: fc.option(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })).map(([a, b, c]) => {
        const [x, y, z] = [a, b, c].sort((p, q) => p - q) as [number, number, number];
        return [[y + 1, 40], [x, z <= y ? z : y]] as [number, number][];
      })),
    }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const h = new RunHints();
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === 'note') {
          const n = Math.max(0, ...o.counts);
          h.note(o.key, runs(...o.counts));
          if (n >= HINT_MIN_RUN) model.set(o.key, n);
          else model.delete(o.key);
        } else if (o.kind === 'forget') {
          h.forget(o.key);
          model.delete(o.key);
        } else {
          // parity 2: every key usable; else only keys of that parity.
          const usable = (key: number): boolean => o.parity === 2 || key % 2 === o.parity;
          const inSpans = (key: number): boolean => o.spans === null || o.spans.some(([lo, hi]) => lo <= key && key <= hi);
          const want = [...model]
            .filter(([key, run]) => run >= o.count && usable(key) && inSpans(key))
            .sort((a, b) => a[1] - b[1] || b[0] - a[0])
            .slice(0, o.limit)
            .map(([key]) => key);
          expect(o.spans === null ? h.candidates(o.count, usable, o.limit) : h.candidates(o.count, usable, o.limit, o.spans)).toEqual(want);
        }
        expect(h.size).toBe(model.size);
      }
    }),
    { numRuns: 300 },
  );
});
