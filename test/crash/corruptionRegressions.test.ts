/**
 * Damage that once passed for something else: (1) a damaged commit-log entry that a newer record in the
 * ring proves was durable is ECORRUPT at open, not a fallback to a version later commits reused
 * cells of (which a write then turned into wrong answers); (2) a node cell of the wrong kind where
 * the write path and the transaction read path descend is ECORRUPT, not a TypeError.
 */
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/index.js';
import { openWith } from '../../src/api/open.js';
import { Prng, SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { readRing } from '../../recovery/recover.js';
import { decodeEntry } from '../../storage/format/logEntry.js';
import { FLAG_LOGGED } from '../../storage/format/commitRecord.js';

const openOn = (disk: SimulatedDisk, protocol: 'log' | 'one-sync') => openWith<unknown>('/sim/hunt', { commitProtocol: protocol, packValues: false, cacheSize: 256 * 1024 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof MapleError)) throw err;
    return err.code;
  }
}

describe('damage that once passed for something else', () => {
  it('a damaged log entry followed by durable commits is ECORRUPT at open, for every entry of the pass', () => {
    const rng = new Prng(18);
    const disk = new SimulatedDisk();
    const s = openOn(disk, 'log');
    s.transaction((t) => {
      for (let i = 0; i < 300; i++) t.store(i * 33, i * 33 + 5, { id: i, name: `r${i}`.padEnd(28, 'x') });
    });
    s.close();
    const s2 = openOn(disk, 'log');
    for (let k = 0; k < 12; k++) {
      const a = rng.below(10000);
      s2.store(a, a + rng.below(40), { k, pad: 'y'.repeat(30) });
    }
    s2.close(); // a short pass stays in the log
    const image = disk.currentImage();
    const ring = readRing(SimulatedDisk.fromImage(image).fileIO());
    const base = ring.find((r) => (r.rec.flags & FLAG_LOGGED) === 0 && r.rec.log.cell !== 0)!;
    const { cell, cells, salt, start } = base.rec.log;
    const log = image.subarray(cell * 256, (cell + cells) * 256);
    const entries: number[] = [];
    for (let at = start, c = base.rec.commit + 1; ; c++) {
      const e = decodeEntry(log, at, salt, c);
      if (e === undefined) break;
      entries.push(at);
      at += e.length;
    }
    expect(entries.length).toBe(12);
    // Each entry's record is in the ring or was written over by a newer one's: every damage is proven.
    entries.forEach((at) => {
      const damaged = image.slice();
      const byte = cell * 256 + at + 40;
      damaged[byte] = damaged[byte]! ^ 0x10;
      let store;
      try {
        store = openOn(SimulatedDisk.fromImage(damaged), 'log');
      } catch (err) {
        expect(err).toBeInstanceOf(MapleError);
        expect((err as MapleError).code).toBe('ECORRUPT');
        expect((err as MapleError).message).toMatch(/pages? \d/);
        return;
      }
      store.close();
      expect.fail(`opened at version ${store.version} over a damaged entry at byte ${at} of the log`);
    });
  });

  it('a leaf where an internal node belongs is ECORRUPT on the write path and in transactions', () => {
    const disk = new SimulatedDisk();
    const s = openOn(disk, 'one-sync');
    s.transaction((t) => {
      for (let i = 0; i < 2000; i++) t.store(i * 10, i * 10 + 5, i % 100);
    });
    s.store(1e9, 1e9, 1);
    s.close();
    const image = disk.currentImage();
    const rec = readRing(SimulatedDisk.fromImage(image).fileIO())[0]!.rec;
    const u32 = (at: number) => (image[at]! | (image[at + 1]! << 8) | (image[at + 2]! << 16) | (image[at + 3]! << 24)) >>> 0;
    const child = u32(rec.main.cell * 256 + 88);
    const leaf = u32(child * 256 + 88);
    expect(rec.main.height).toBeGreaterThanOrEqual(3);
    image.set(image.slice(leaf * 256, leaf * 256 + 256), child * 256);
    const store = openOn(SimulatedDisk.fromImage(image), 'one-sync');
    const version = store.version;
    expect(codeOf(() => store.store(5, 6, 'x'))).toBe('ECORRUPT');
    expect(codeOf(() => store.erase(5))).toBe('ECORRUPT');
    expect(codeOf(() => store.insert(7, 8, 'x'))).toBe('ECORRUPT');
    expect(codeOf(() => store.transaction((t) => { t.store(1e9 + 5, 1e9 + 5, 1); return t.load(5); }))).toBe('ECORRUPT');
    expect(codeOf(() => store.transaction((t) => { t.store(1e9 + 5, 1e9 + 5, 1); return [...t.ranges(0, 100)]; }))).toBe('ECORRUPT');
    expect(codeOf(() => store.transaction((t) => { t.store(1e9 + 5, 1e9 + 5, 1); return t.emptyArea(0, 100, 1); }))).toBe('ECORRUPT');
    expect(store.version).toBe(version);
    store.close();
  });
});
