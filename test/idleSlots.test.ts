/**
 * The shared reader table fills only with versions held: slots that readers keep idle for their
 * next versions (src/read/sharedPins.ts) are taken by a reader that finds the table otherwise full,
 * and their owners claim other slots when they need one again.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { type MapleStore, open, openShared, type SharedHandle, type SharedStore } from '../src/index.js';
import { SHARED_READER_SLOTS } from '../src/common/limits.js';
import { tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A new store holding [1, 1] = 'v0', and its handle for worker readers; closed after the test. */
function sharingStore(): { s: MapleStore<string>; h: SharedHandle } {
  const dir = tempDir('maple-idle-slots-');
  cleanups.push(dir.cleanup);
  const s = open<string>(dir.file(), { sync: 'none' });
  cleanups.push(() => s.close());
  s.store(1, 1, 'v0');
  return { s, h: s.share() };
}

describe('idle reader slots', () => {
  test('readers that hold nothing do not make the table full; each still reads its own versions', () => {
    const { s, h } = sharingStore();
    const readers: SharedStore<string>[] = [];
    // Each reader held two versions at once, then closed both: two idle slots each fill the table.
    for (let i = 0; i < SHARED_READER_SLOTS / 2; i++) {
      const r = openShared<string>(h);
      cleanups.push(() => r.close());
      const a = r.snapshot();
      s.store(1, 1, `v${i + 1}`);
      const b = r.snapshot();
      a.close();
      b.close();
      readers.push(r);
    }
    expect(s.stats().sharedReaders).toBe(0);
    // A new reader takes idle slots; the readers that kept them claim others (some are free again).
    const late = openShared<string>(h);
    cleanups.push(() => late.close());
    const lateSnap = late.snapshot();
    expect(lateSnap.load(1)).toBe(`v${SHARED_READER_SLOTS / 2}`);
    const held = readers.map((r) => r.snapshot());
    s.store(1, 1, 'after');
    for (const snap of held) expect(snap.load(1)).toBe(`v${SHARED_READER_SLOTS / 2}`);
    expect(lateSnap.load(1)).toBe(`v${SHARED_READER_SLOTS / 2}`);
    // Every held version is listed: what they reach is kept while the writer overwrites it.
    expect(s.stats().sharedReaders).toBe(held.length + 1);
    for (let i = 0; i < 20; i++) s.store(1, 1, 'x'.repeat(100 + i));
    for (const snap of held) expect(snap.load(1)).toBe(`v${SHARED_READER_SLOTS / 2}`);
    for (const snap of held) snap.close();
    lateSnap.close();
    expect(s.stats().sharedReaders).toBe(0);
  });

  test('the table is full (EBUSY) when its slots pin versions', () => {
    const { s, h } = sharingStore();
    const r = openShared<string>(h);
    cleanups.push(() => r.close());
    const snaps = [];
    for (let i = 0; i < SHARED_READER_SLOTS; i++) {
      snaps.push(r.snapshot());
      s.store(1, 1, `v${i + 1}`);
    }
    const other = openShared<string>(h);
    cleanups.push(() => other.close());
    expect(() => other.snapshot()).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    snaps.pop()!.close();
    expect(other.snapshot().load(1)).toBe(`v${SHARED_READER_SLOTS}`);
    for (const snap of snaps) snap.close();
  });
});
