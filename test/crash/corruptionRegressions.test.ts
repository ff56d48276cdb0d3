/**
 * Damage that once passed for something else: (1) a damaged commit-log entry that a newer record in the
 * ring proves was durable is ECORRUPT at open, not a fallback to a version later commits reused
 * cells of (which a write then turned into wrong answers); (2) a node cell of the wrong kind where
 * the write path and the transaction read path descend is ECORRUPT, not a TypeError; (3) a valid
 * node, record or page copied over another cell (a misdirected write) is ECORRUPT wherever it is
 * read, not a valid cell answering for the one it replaced (checksums start from the address).
 */
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/index.js';
import { openWith } from '../../src/api/open.js';
import { Prng, SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { readRing } from '../../recovery/recover.js';
import { decodeEntry } from '../../storage/format/logEntry.js';
import { FLAG_LOGGED } from '../../storage/format/commitRecord.js';
import { NODE_INTERNAL, NODE_LEAF } from '../../storage/format/node.js';
import { RECORD_TYPE } from '../../storage/format/valueRecord.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';

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

  it('a node, record or page copied over another cell is ECORRUPT wherever it is read', () => {
    const disk = new SimulatedDisk();
    const s = openOn(disk, 'one-sync');
    // Records (values over 512 bytes) and enough ranges for a tree of three levels.
    s.transaction((t) => {
      for (let i = 0; i < 3000; i++) t.store(i * 10, i * 10 + 5, i % 50 === 0 ? { i, text: 'r'.repeat(600) } : i);
    });
    s.close();
    const image = disk.currentImage();
    const probe = openOn(SimulatedDisk.fromImage(image), 'one-sync');
    probe.check();
    const ranges = [...probe.ranges()];
    const version = probe.version;
    probe.close();
    const kinds = new Map<number, 'node' | 'record'>();
    for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= image.length; c++) {
      const type = image[c * CELL_BYTES];
      if (type === NODE_LEAF || type === NODE_INTERNAL) kinds.set(c, 'node');
      else if (type === RECORD_TYPE) kinds.set(c, 'record');
    }
    const rng = new Prng(31);
    const nodes = [...kinds].filter(([, k]) => k === 'node').map(([c]) => c);
    const records = [...kinds].filter(([, k]) => k === 'record').map(([c]) => c);
    expect(nodes.length).toBeGreaterThan(20);
    expect(records.length).toBeGreaterThan(20);
    const copies: Array<[string, number, number, number]> = [];
    for (let k = 0; k < 40; k++) {
      copies.push(['node', nodes[rng.below(nodes.length)]!, nodes[rng.below(nodes.length)]!, CELL_BYTES]);
      copies.push(['record', records[rng.below(records.length)]!, records[rng.below(records.length)]!, CELL_BYTES]);
    }
    const pages = Math.floor(image.length / PAGE_BYTES);
    const firstPage = Math.ceil((CELL_BASE * CELL_BYTES) / PAGE_BYTES);
    for (let k = 0; k < 40; k++) copies.push(['page', firstPage + rng.below(pages - firstPage), firstPage + rng.below(pages - firstPage), PAGE_BYTES]);
    let caught = 0;
    for (const [kind, from, to, bytes] of copies) {
      if (from === to) continue;
      const unit = bytes === PAGE_BYTES ? PAGE_BYTES : CELL_BYTES;
      const damaged = image.slice();
      damaged.set(image.subarray(from * unit, from * unit + bytes), to * unit);
      if (damaged.subarray(to * unit, to * unit + bytes).every((b, i) => b === image[to * unit + i])) continue;
      const what = `${kind} ${from} copied over ${to}`;
      let store;
      try {
        store = openOn(SimulatedDisk.fromImage(damaged), 'one-sync');
      } catch (err) {
        expect(err, what).toBeInstanceOf(MapleError);
        caught++;
        continue;
      }
      try {
        // A copy over a cell the newest commit wrote fails open's validation of it: open falls back
        // to the commit before (empty here) and says so, as after a torn commit.
        if (store.stats().recovery.fellBack) {
          expect(store.version, what).toBeLessThan(version);
          caught++;
          continue;
        }
        expect(store.version, what).toBe(version);
        // Every range, and every value, reads back as written or the read is ECORRUPT.
        let all: unknown[] | undefined;
        const code = codeOf(() => {
          all = [...store.ranges()].map((r) => [r.first, r.last, JSON.stringify(r.value)]);
        });
        if (code === 'ok') expect(all, what).toEqual(ranges.map((r) => [r.first, r.last, JSON.stringify(r.value)]));
        else {
          expect(code, what).toBe('ECORRUPT');
          caught++;
        }
        for (const r of ranges) {
          const c = codeOf(() => {
            const v = store.load(r.first);
            if (JSON.stringify(v) !== JSON.stringify(r.value)) throw new Error(`${what}: load(${r.first}) gave ${JSON.stringify(v)}`);
          });
          expect(['ok', 'ECORRUPT'], what).toContain(c);
        }
      } finally {
        store.close();
      }
    }
    // Most copies land on a cell the newest version reads.
    expect(caught).toBeGreaterThan(copies.length / 3);
  });
});
