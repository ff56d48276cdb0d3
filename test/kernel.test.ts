/**
 * The Linux kernel's gap-search test tables (lib/test_maple_tree.c: check_alloc_range,
 * check_alloc_rev_range, check_empty_area_window, check_empty_area_fill, check_gap_combining,
 * check_rev_find), ported as data and asserting the kernel's exact answers, plus a few of its
 * structural sequences (spanning stores, node overwrites) and the edges of the key space.
 *
 * Translation rules:
 * - The kernel's keys are unsigned longs; its alloc tables work in 4 KiB pages (`>> 12`), which
 *   already fit below MAX_INDEX (2^52 − 1 at most), so they are used unchanged. Its ULONG_MAX
 *   becomes MAX_INDEX.
 * - The kernel reserves [MTREE_ALLOC_MAX = 2^49, ULONG_MAX] with XA_ZERO_ENTRY (occupied for
 *   allocation, reads as NULL). This store has no zero entry; an ordinary value occupies it.
 * - mtree_alloc_range(size, min, max) → allocRange(size, min, max); -EBUSY → MapleError EBUSY.
 *   The kernel's rev helper passes `end - 1` as max; that is kept.
 * - mas_empty_area(min, max, size) → emptyArea(min, max, size) (mas.index), and -EBUSY →
 *   undefined. A window narrower than size is -EINVAL in newer kernels; API.md makes it "no fit"
 *   (undefined), see test/reference.ts.
 * Every scenario is also mirrored in test/reference.ts, and the full contents compared at the end.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MapleError, type MapleStore, openStore } from './openStore.js';
import { MAX_SIZE, RefError, Reference } from './reference.js';
import { MAX_INDEX } from '../src/common/limits.js';

type V = unknown;

let dir = '';
let store: MapleStore<V>;
let ref: Reference<V>;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-kernel-'));
  store = openStore<V>(path.join(dir, 'k.maple'), { sync: 'none' });
  ref = new Reference<V>();
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Both sides, same call. */
const both = {
  store(first: number, last: number, value: V): void {
    store.store(first, last, value);
    ref.store(first, last, value);
  },
  insert(first: number, last: number, value: V): void {
    store.insert(first, last, value);
    ref.insert(first, last, value);
  },
  clear(first: number, last: number): void {
    store.clear(first, last);
    ref.clear(first, last);
  },
  erase(index: number): V | undefined {
    const got = store.erase(index);
    expect(got).toEqual(ref.erase(index));
    return got;
  },
  /** Fills both in one transaction (setup only). */
  bulk(fill: (put: (first: number, last: number, value: V) => void) => void): void {
    store.transaction((t) => fill((first, last, value) => t.store(first, last, value)));
    fill((first, last, value) => ref.store(first, last, value));
  },
};

function expectSameContents(): void {
  expect([...store.ranges()]).toEqual(ref.all());
  expect(store.count()).toBe(ref.count());
  store.check();
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MapleError || err instanceof RefError) return err.code;
    throw err;
  }
  return 'ok';
}

/** Kernel page number of a byte address (the tables' `>> 12`). */
const page = (bytes: number): number => Math.floor(bytes / 4096);
/** The kernel's `-1 >> 12` / `ULONG_MAX >> 12` on 64 bits. */
const ULONG_MAX_PAGES = 2 ** 52 - 1;
const MTREE_ALLOC_MAX = 0x2000000000000; // 2^49

/** /proc/self/maps of the kernel test, bytes, [start, end) pairs. */
const MAPS: Array<[number, number]> = [
  [0x565234af2000, 0x565234af4000],
  [0x565234af4000, 0x565234af9000],
  [0x565234af9000, 0x565234afb000],
  [0x565234afc000, 0x565234afd000],
  [0x565234afd000, 0x565234afe000],
  [0x565235def000, 0x565235e10000],
  [0x7f36d4bfd000, 0x7f36d4ee2000],
  [0x7f36d4ee2000, 0x7f36d4f04000],
  [0x7f36d4f04000, 0x7f36d504c000],
  [0x7f36d504c000, 0x7f36d5098000],
  [0x7f36d5098000, 0x7f36d5099000],
  [0x7f36d5099000, 0x7f36d509d000],
  [0x7f36d509d000, 0x7f36d509f000],
  [0x7f36d509f000, 0x7f36d50a5000],
  [0x7f36d50b9000, 0x7f36d50db000],
  [0x7f36d50db000, 0x7f36d50dc000],
  [0x7f36d50dc000, 0x7f36d50fa000],
  [0x7f36d50fa000, 0x7f36d5102000],
  [0x7f36d5102000, 0x7f36d5103000],
  [0x7f36d5103000, 0x7f36d5104000],
  [0x7f36d5104000, 0x7f36d5105000],
  [0x7fff5876b000, 0x7fff5878d000],
  [0x7fff5878e000, 0x7fff58791000],
  [0x7fff58791000, 0x7fff58793000],
];

/** Holes between the maps: [start, end) bytes and size bytes. */
const HOLES: Array<[number, number, number]> = [
  [0x565234afb000, 0x565234afc000, 0x1000],
  [0x565234afe000, 0x565235def000, 0x12f1000],
  [0x565235e10000, 0x7f36d4bfd000, 0x28e49eded000],
];

/** The alloc tests' setup: the reserved top, then every map inserted as pages [start, end − 1]. */
function setupMaps(): void {
  both.store(MTREE_ALLOC_MAX, MAX_INDEX, 'reserved');
  for (const [start, end] of MAPS) {
    both.insert(page(start), page(end) - 1, page(start));
    expect(store.load(page(start))).toBe(page(start));
    expect(store.load(page(end) - 1)).toBe(page(start));
  }
  expectSameContents();
}

describe('check_alloc_range', () => {
  /** min, max, size (all already in pages), expected start or 'EBUSY'. */
  const REQUESTS: Array<[number, number, number, number | 'EBUSY']> = [
    [page(0x565234af9000), page(0x7fff58791000), page(0x1000), page(0x565234afb000)], // first hole of one page
    [0, page(0x7fff58791000), page(0x1f00), 0], // 0x1F00 bytes is one page
    [34148797436, page(0x7fff587af000), page(0x3000), 34148798629], // ascend
    [34148798623, 34148798683, page(0x15000), 'EBUSY'], // failing
    [34148798623, page(0x7fff587af000), page(0x10000), 34148798632], // filling an entire gap
    [0, ULONG_MAX_PAGES, ULONG_MAX_PAGES, 'EBUSY'], // walking off the end of the root
    [0, ULONG_MAX_PAGES, 4503599618982063, 'EBUSY'], // too large a hole across the entire range
  ];

  test('holes found by emptyArea, then the allocation table', () => {
    setupMaps();
    let min = 0x565234af2000;
    for (const [start, end, size] of HOLES) {
      expect(store.emptyArea(page(min), page(end), page(size)), `hole at ${start.toString(16)}`).toBe(page(start));
      expect(ref.emptyArea(page(min), page(end), page(size))).toBe(page(start));
      min = end;
    }
    for (const [min, max, size, expected] of REQUESTS) {
      const row = `allocRange(${size}, ${min}, ${max})`;
      if (expected === 'EBUSY') {
        expect(codeOf(() => store.allocRange(size, min, max, min)), row).toBe('EBUSY');
        expect(codeOf(() => ref.allocRange(size, min, max, min))).toBe('EBUSY');
      } else {
        expect(store.allocRange(size, min, max, min), row).toBe(expected);
        expect(ref.allocRange(size, min, max, min)).toBe(expected);
      }
      expectSameContents();
    }
  });
});

describe('check_alloc_rev_range', () => {
  /** min, max as the kernel passes it (end − 1), size, expected start or 'EBUSY'. */
  const REQUESTS: Array<[number, number, number, number | 'EBUSY']> = [
    [page(0x565234af9000), page(0x7fff58791000) - 1, page(0x1000), 0x7fff5878d], // first rev hole of one page
    [0, 0x565234af1 - 1, page(0x3000), 0x565234aee], // max − 3
    [0, ULONG_MAX_PAGES - 1, page(0x1000), 562949953421311], // just below the reserved top
    [0, 0x7f36d510a - 1, page(0x4000), 0x7f36d5106],
    [0, 34148798629 - 1, 19, 34148797418], // ascend
    [0, ULONG_MAX_PAGES - 1, 562915594369134, 'EBUSY'], // too big
  ];

  test('holes found by emptyAreaRev, the reverse allocation table, then an erased range', () => {
    setupMaps();
    let min = 0;
    for (const [, end, size] of HOLES) {
      const got = store.emptyAreaRev(min, page(end), page(size));
      expect(got, `rev hole ending at ${end.toString(16)}`).toBe(page(end) - page(size));
      expect(ref.emptyAreaRev(min, page(end), page(size))).toBe(got);
      min = page(end);
    }
    for (const [min, max, size, expected] of REQUESTS) {
      const row = `allocRangeRev(${size}, ${min}, ${max})`;
      if (expected === 'EBUSY') {
        expect(codeOf(() => store.allocRangeRev(size, min, max, min)), row).toBe('EBUSY');
        expect(codeOf(() => ref.allocRangeRev(size, min, max, min))).toBe('EBUSY');
      } else {
        expect(store.allocRangeRev(size, min, max, min), row).toBe(expected);
        expect(ref.allocRangeRev(size, min, max, min)).toBe(expected);
      }
      expectSameContents();
    }
    both.erase(34148798727); // create a deleted range
    expect(store.allocRangeRev(210253414, 0, 34359052173 - 1, 'last')).toBe(34148798725);
    expect(ref.allocRangeRev(210253414, 0, 34359052173 - 1, 'last')).toBe(34148798725);
    expectSameContents();
  });
});

describe('check_empty_area_window', () => {
  function setup(): void {
    both.bulk((put) => {
      for (let i = 1; i <= 20; i++) put(i * 10, i * 10 + 9, i);
    });
    both.clear(160, 169); // another hole besides the one at 0
  }

  /** [reverse?, min, max, size, expected start or undefined]. */
  const TABLE: Array<[boolean, number, number, number, number | undefined]> = [
    [true, 5, 90, 10, undefined], // lower bound that does not fit
    [true, 6, 90, 5, undefined],
    [true, 5, 90, 5, 5], // lower bound that fits: [5, 9]
    [true, 5, 217, 9, 161], // one gap too small (210..217), one that fits: [161, 169]
    [true, 100, 218, 3, 216], // fits above the min: [216, 218]
    [true, 100, 218, 16, undefined], // fits no gap
    [true, 167, 200, 4, undefined], // fits the gap but not the window's lower end
    [true, 100, 162, 4, undefined], // fits the gap but not the window's upper end
    [false, 0, 100, 9, 0], // [0, 8]
    [false, 0, 100, 4, 0], // [0, 3]
    [false, 0, 100, 11, undefined],
    [false, 5, 100, 6, undefined],
    [false, 0, 8, 10, undefined], // narrower than size: kernel -EINVAL, here no fit
    [false, 100, 165, 3, 160], // not asserted by the kernel; the lowest fit is [160, 162]
    [false, 100, 163, 6, undefined],
  ];

  test('the kernel table, on the store, a snapshot and inside a transaction', () => {
    setup();
    const snap = store.snapshot();
    try {
      for (const [reverse, min, max, size, expected] of TABLE) {
        const row = `${reverse ? 'emptyAreaRev' : 'emptyArea'}(${min}, ${max}, ${size})`;
        const search = (v: { emptyArea(a: number, b: number, c: number): number | undefined; emptyAreaRev(a: number, b: number, c: number): number | undefined }) =>
          reverse ? v.emptyAreaRev(min, max, size) : v.emptyArea(min, max, size);
        expect(search(store), row).toBe(expected);
        expect(search(ref), `reference ${row}`).toBe(expected);
        expect(search(snap), `snapshot ${row}`).toBe(expected);
        store.transaction((t) => expect(search(t), `transaction ${row}`).toBe(expected));
      }
      // Allocation follows the same answers, and then the gap is gone.
      expect(store.allocRangeRev(9, 5, 217, 'a')).toBe(161);
      expect(store.emptyAreaRev(5, 217, 9)).toBeUndefined();
      expect(codeOf(() => store.allocRange(11, 0, 100, 'b'))).toBe('EBUSY');
      expect(store.allocRange(9, 0, 100, 'c')).toBe(0);
      expect(snap.emptyAreaRev(5, 217, 9)).toBe(161); // the snapshot still sees the old gaps
      store.check();
    } finally {
      snap.close();
    }
  });
});

describe('check_empty_area_fill', () => {
  test('5000 allocations of each size 2^12..2^16 fill the window exactly, then a depth-3 regression', () => {
    const max = 0x25d78000;
    let next = 0; // everything below `next` is allocated, everything from `next` to max is empty
    for (let shift = 12; shift <= 16; shift++) {
      const size = 2 ** shift;
      if (shift === 12) {
        // One commit per allocation, as the kernel stores one at a time.
        for (let loop = 0; loop < 5000; loop++) {
          const s = store.emptyArea(0, max, size);
          expect(s).toBe(next);
          store.store(next, next + size - 1, size);
          next += size;
        }
      } else {
        // The rest inside transactions: the search must see the transaction's own allocations.
        store.transaction((t) => {
          for (let loop = 0; loop < 5000; loop++) {
            const s = t.allocRange(size, 0, max, size);
            if (s !== next) expect(s, `size ${size}, allocation ${loop}`).toBe(next);
            next += size;
          }
        });
      }
    }
    expect(next).toBe(max); // only index `max` itself is left
    expect(store.emptyArea(0, max, 0x1000)).toBeUndefined();
    expect(store.emptyArea(0, max, 1)).toBe(max);
    store.check();

    // Mirror in the reference for the rest (same ranges, built directly).
    let at = 0;
    for (let shift = 12; shift <= 16; shift++) {
      for (let loop = 0; loop < 5000; loop++, at += 2 ** shift) ref.store(at, at + 2 ** shift - 1, 2 ** shift);
    }
    expectSameContents();

    // Fill a depth-3 node to the maximum, make space in the last two depth-4 nodes, search past it.
    store.transaction((t) => {
      for (let i = 629440511; i <= 629440800; i += 6) t.store(i, i + 5, i);
    });
    for (let i = 629440511; i <= 629440800; i += 6) ref.store(i, i + 5, i);
    both.erase(631668735);
    both.erase(629506047);
    const got = store.emptyArea(629506048, 690000000, 0x5000);
    expect(got).not.toBeUndefined();
    expect(got).toBe(ref.emptyArea(629506048, 690000000, 0x5000));
    expectSameContents();
  });
});

describe('check_gap_combining', () => {
  /** check_seq(n): singletons 0..n, value = index. */
  const seq = (n: number) =>
    both.bulk((put) => {
      for (let i = 0; i <= n; i++) put(i, i, i);
    });

  test('seq100: erased singletons merge into gaps found by emptyAreaRev', () => {
    seq(100);
    both.erase(76);
    both.erase(75);
    expect(store.emptyAreaRev(50, 100, 2)).toBe(75);
    both.erase(44);
    both.erase(45);
    both.erase(46);
    expect(store.emptyAreaRev(20, 50, 3)).toBe(44);
    both.clear(80, 80); // the kernel stores NULL
    expect(store.load(80)).toBeUndefined();
    expect(store.load(81)).toBe(81);
    both.clear(81, 81);
    expect(store.emptyAreaRev(76, 82, 2)).toBe(80);
    both.clear(79, 81);
    both.erase(82);
    expect(store.emptyAreaRev(76, 85, 4)).toBe(79);
    expectSameContents();
  });

  test('seq2000: a gap across a multi-level tree', () => {
    seq(2000);
    both.erase(1152);
    both.erase(1151);
    expect(store.emptyAreaRev(1100, 1200, 2)).toBe(1151);
    expectSameContents();
  });

  test('seq400: rebalancing over two levels', () => {
    seq(400);
    both.clear(286, 318);
    expectSameContents();
    for (const first of [256, 260, 266, 270, 286, 275, 280, 290]) both.store(first, 398, first);
    both.store(286, 310, 286);
    expectSameContents();
  });
});

describe('check_rev_find', () => {
  /** The kernel's repeated mas_find_rev: each call continues below the previous find. */
  function revWalk(start: number, min: number): V[] {
    const out: V[] = [];
    let r = store.findRev(start, min);
    while (r !== undefined) {
      out.push(r.value);
      r = r.first === 0 || r.first - 1 < min ? undefined : store.findRev(r.first - 1, min);
    }
    return out;
  }

  test('ranges [i*10, i*10+5] for i = 0..200', () => {
    both.bulk((put) => {
      for (let i = 0; i <= 200; i++) put(i * 10, i * 10 + 5, i);
    });
    expect(revWalk(1000, 1000)).toEqual([100]);
    expect(revWalk(999, 997)).toEqual([]);
    expect(revWalk(1000, 900).slice(0, 2)).toEqual([100, 99]);
    expect(revWalk(20, 0)).toEqual([2, 1, 0]);
    expect([...store.rangesRev(900, 1000)].map((r) => r.value)).toEqual([100, 99, 98, 97, 96, 95, 94, 93, 92, 91, 90]);
    expect(store.findRev(999, 997)).toBeUndefined();
    expect(store.findRev(1003)).toEqual({ first: 1000, last: 1005, value: 100 });
    expect(store.find(17, 512)).toEqual({ first: 20, last: 25, value: 2 });
    expect(store.find(16, 19)).toBeUndefined();
    expectSameContents();
  });
});

describe('kernel structural sequences (contents compared with the reference, check() after)', () => {
  test('check_node_overwrite: 4000 ranges then one clear across many nodes', () => {
    both.bulk((put) => {
      for (let i = 0; i < 4000; i++) put(i * 100, i * 100 + 50, i * 100);
    });
    both.clear(319951, 367950);
    expectSameContents();
  });

  test('check_spanning_relatives: a clear that rebalances with a right cousin', () => {
    both.bulk((put) => {
      for (let i = 0; i <= 1000; i++) put(i * 10, i * 10 + 5, i);
    });
    both.clear(9365, 9955);
    expectSameContents();
  });

  test('check_bnode_min_spanning: descending stores, then a clear', () => {
    for (let i = 50; i >= 0; i--) both.store(i * 10, i * 10 + 9, 'bnode');
    both.clear(240, 509);
    expectSameContents();
  });

  test('check_ranges: a 3-child split all the way up, then clears', () => {
    both.bulk((put) => {
      for (let i = 0; i <= 1300; i++) put(i * 10, (i + 1) * 10, i * 10);
    });
    for (let i = 5; i < 215; i += 10) both.clear(11450 + i, 11450 + i + 1);
    for (let i = 5; i < 65; i += 10) both.clear(11770 + i, 11770 + i + 1);
    for (let i = 5; i < 45; i += 10) both.clear(11700 + i, 11700 + i + 1);
    expectSameContents();
    expect(store.stats().height).toBeGreaterThanOrEqual(3);
  });

  test('check_ranges: overlapping inserts and stores', () => {
    both.insert(10, 15, 10);
    both.insert(20, 25, 20);
    expect(codeOf(() => store.insert(17, 22, 17))).toBe('EEXIST');
    both.store(17, 22, 17);
    both.store(9, 1000, 9);
    both.store(100, 200, 100);
    expectSameContents();
  });
});

describe('edges of the key space: 0 and MAX_INDEX', () => {
  test('singletons [0,0] and [MAX,MAX]', () => {
    both.store(0, 0, 'zero');
    both.store(MAX_INDEX, MAX_INDEX, 'max');
    expect(store.load(0)).toBe('zero');
    expect(store.load(MAX_INDEX)).toBe('max');
    expect(store.load(1)).toBeUndefined();
    expect(store.load(MAX_INDEX - 1)).toBeUndefined();
    expect(store.entry(MAX_INDEX)).toEqual({ first: MAX_INDEX, last: MAX_INDEX, value: 'max' });
    expect(store.find(1)).toEqual({ first: MAX_INDEX, last: MAX_INDEX, value: 'max' });
    expect(store.find(1, MAX_INDEX - 1)).toBeUndefined();
    expect(store.find(MAX_INDEX, MAX_INDEX)).toEqual({ first: MAX_INDEX, last: MAX_INDEX, value: 'max' });
    expect(store.findRev(MAX_INDEX - 1)).toEqual({ first: 0, last: 0, value: 'zero' });
    expect(store.findRev(MAX_INDEX - 1, 1)).toBeUndefined();
    expect(store.findRev(0, 0)).toEqual({ first: 0, last: 0, value: 'zero' });
    expect([...store.ranges()].map((r) => r.value)).toEqual(['zero', 'max']);
    expect([...store.rangesRev()].map((r) => r.value)).toEqual(['max', 'zero']);
    expect([...store.ranges(MAX_INDEX, MAX_INDEX)].map((r) => r.value)).toEqual(['max']);
    expect([...store.rangesRev(0, 0)].map((r) => r.value)).toEqual(['zero']);
    expect(store.emptyArea(0, MAX_INDEX, 1)).toBe(1);
    expect(store.emptyAreaRev(0, MAX_INDEX, 1)).toBe(MAX_INDEX - 1);
    expect(store.emptyArea(0, MAX_INDEX, MAX_INDEX - 1)).toBe(1); // exactly [1, MAX − 1]
    expect(store.emptyAreaRev(0, MAX_INDEX, MAX_INDEX - 1)).toBe(1);
    expect(store.emptyArea(0, MAX_INDEX, MAX_INDEX)).toBeUndefined();
    expect(store.count()).toBe(2);
    expectSameContents();
    expect(both.erase(MAX_INDEX)).toBe('max');
    expect(both.erase(0)).toBe('zero');
    expect(store.count()).toBe(0);
    expectSameContents();
  });

  test('one range [0, MAX] covering every index, then split by clears', () => {
    both.store(0, MAX_INDEX, 'all');
    expect(store.entry(123456789)).toEqual({ first: 0, last: MAX_INDEX, value: 'all' });
    expect(store.find(MAX_INDEX)).toEqual({ first: 0, last: MAX_INDEX, value: 'all' });
    expect(store.findRev(0)).toEqual({ first: 0, last: MAX_INDEX, value: 'all' });
    expect(store.emptyArea(0, MAX_INDEX, 1)).toBeUndefined();
    expect(store.emptyAreaRev(0, MAX_INDEX, 1)).toBeUndefined();
    expect(codeOf(() => store.insert(5, 5, 'x'))).toBe('EEXIST');
    both.clear(1, MAX_INDEX - 1);
    expect([...store.ranges()]).toEqual([
      { first: 0, last: 0, value: 'all' },
      { first: MAX_INDEX, last: MAX_INDEX, value: 'all' },
    ]);
    expectSameContents();
    both.store(0, MAX_INDEX, 'again');
    both.clear(0, MAX_INDEX);
    expect(store.count()).toBe(0);
    expectSameContents();
  });

  test('emptyArea reaching MAX_INDEX', () => {
    expect(store.emptyArea(0, MAX_INDEX, MAX_SIZE)).toBe(0); // the whole key space, 2^53 indices
    expect(store.emptyAreaRev(0, MAX_INDEX, MAX_SIZE)).toBe(0);
    expect(store.emptyArea(MAX_INDEX, MAX_INDEX, 1)).toBe(MAX_INDEX);
    expect(store.emptyAreaRev(0, MAX_INDEX, 1)).toBe(MAX_INDEX);
    expect(store.emptyAreaRev(0, MAX_INDEX, MAX_INDEX)).toBe(1);
    both.store(0, 0, 'zero');
    expect(store.emptyArea(0, MAX_INDEX, MAX_SIZE)).toBeUndefined();
    expect(store.emptyArea(0, MAX_INDEX, MAX_INDEX)).toBe(1); // exactly [1, MAX]
    both.store(MAX_INDEX - 1, MAX_INDEX - 1, 'near');
    expect(store.emptyArea(MAX_INDEX - 4, MAX_INDEX, 1)).toBe(MAX_INDEX - 4);
    expect(store.emptyAreaRev(MAX_INDEX - 4, MAX_INDEX, 1)).toBe(MAX_INDEX);
    expect(store.emptyAreaRev(MAX_INDEX - 4, MAX_INDEX, 2)).toBe(MAX_INDEX - 3); // [MAX−3, MAX−2]
    expect(store.emptyArea(MAX_INDEX - 1, MAX_INDEX, 2)).toBeUndefined();
    expect(store.allocRange(1, MAX_INDEX - 1, MAX_INDEX, 'top')).toBe(MAX_INDEX);
    expect(ref.allocRange(1, MAX_INDEX - 1, MAX_INDEX, 'top')).toBe(MAX_INDEX);
    expect(store.emptyAreaRev(0, MAX_INDEX, 3)).toBe(MAX_INDEX - 4);
    expect(store.allocRange(MAX_INDEX - 2, 0, MAX_INDEX, 'middle')).toBe(1); // exactly [1, MAX − 2]
    expect(ref.allocRange(MAX_INDEX - 2, 0, MAX_INDEX, 'middle')).toBe(1);
    expect(codeOf(() => store.allocRange(1, 0, MAX_INDEX, 'none'))).toBe('EBUSY');
    expectSameContents();
  });

  test('emptyAreaRev at 0', () => {
    both.store(1, MAX_INDEX, 'rest');
    expect(store.emptyAreaRev(0, MAX_INDEX, 1)).toBe(0);
    expect(store.emptyAreaRev(0, 0, 1)).toBe(0);
    expect(store.emptyArea(0, MAX_INDEX, 1)).toBe(0);
    expect(store.emptyAreaRev(0, MAX_INDEX, 2)).toBeUndefined();
    expect(store.allocRangeRev(1, 0, MAX_INDEX, 'zero')).toBe(0);
    expect(ref.allocRangeRev(1, 0, MAX_INDEX, 'zero')).toBe(0);
    expect(codeOf(() => store.allocRangeRev(1, 0, MAX_INDEX, 'none'))).toBe('EBUSY');
    both.clear(0, 2);
    expect(store.emptyAreaRev(0, 10, 3)).toBe(0);
    expect(store.emptyAreaRev(0, 10, 4)).toBeUndefined();
    expectSameContents();
  });

  test('edge ranges survive a close and reopen', () => {
    both.store(0, 0, 'zero');
    both.store(MAX_INDEX - 2, MAX_INDEX, { top: true });
    both.store(2 ** 52, 2 ** 52 + 1, 'mid');
    const file = path.join(dir, 'k.maple');
    store.close();
    store = openStore<V>(file, { sync: 'none' });
    expect(store.entry(MAX_INDEX - 1)).toEqual({ first: MAX_INDEX - 2, last: MAX_INDEX, value: { top: true } });
    expect(store.entry(2 ** 52 + 1)).toEqual({ first: 2 ** 52, last: 2 ** 52 + 1, value: 'mid' });
    expectSameContents();
  });
});
