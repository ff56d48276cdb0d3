/**
 * The commit's sorts (storage/commit/sort.ts) against a plain stable sort: orderByKey's three
 * paths (insertion sort below SMALL_SORT, a merge of ascending runs when the keys come as few of
 * them, the typed-array sort otherwise) give the same order, ties in position order.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { orderByKey, sortNumbers } from '../../storage/commit/sort.js';
import { SMALL_SORT } from '../../src/common/limits.js';

/** Positions in ascending key order, ties by position: what orderByKey must return. */
function reference(keys: number[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
}

/** Keys made of `lists` ascending lists concatenated, as a commit's loaded pending entries are. */
const chunkedKeys = fc
  .array(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 40 })
  .map((lists) => lists.flatMap((l) => [...l].sort((a, b) => a - b)));

describe('orderByKey', () => {
  it('orders keys made of a few ascending lists (the merge) as a stable sort does', () => {
    fc.assert(
      fc.property(chunkedKeys, (keys) => {
        expect(orderByKey(keys.length, (i) => keys[i]!)).toEqual(reference(keys));
      }),
      { numRuns: 300 },
    );
  });

  it('orders random keys, many of them equal, as a stable sort does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 600 }), fc.array(fc.nat({ max: 2 ** 32 - 1 }), { maxLength: 600 }), (few, wide) => {
        expect(orderByKey(few.length, (i) => few[i]!)).toEqual(reference(few));
        expect(orderByKey(wide.length, (i) => wide[i]!)).toEqual(reference(wide));
      }),
      { numRuns: 200 },
    );
  });

  it('takes the merge for a few long lists and returns sorted input as it is', () => {
    // 1,400 keys in 35 ascending lists of 40, the largest keys first: every list starts below the last one's end.
    const keys: number[] = [];
    for (let l = 0; l < 35; l++) for (let i = 0; i < 40; i++) keys.push((35 - l) * 1000 + i * 7);
    expect(orderByKey(keys.length, (i) => keys[i]!)).toEqual(reference(keys));
    const sorted = Array.from({ length: 3 * SMALL_SORT }, (_, i) => i * 3);
    expect(orderByKey(sorted.length, (i) => sorted[i]!)).toEqual(sorted.map((_, i) => i));
    // Equal keys across lists keep their positions' order.
    const ties = [...Array(SMALL_SORT).fill(5), ...Array(SMALL_SORT).fill(5), 1, 2, 3];
    expect(orderByKey(ties.length, (i) => ties[i]!)).toEqual(reference(ties));
  });
});

describe('sortNumbers', () => {
  it('sorts cell addresses, small and large inputs alike', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 2 ** 32 - 1 }), { maxLength: 300 }), (cells) => {
        expect(sortNumbers(cells)).toEqual([...cells].sort((a, b) => a - b));
      }),
      { numRuns: 200 },
    );
  });
});
