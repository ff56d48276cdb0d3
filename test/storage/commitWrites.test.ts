/**
 * How a commit writes its cells (storage/commit/commit.ts): every new cell is encoded into one buffer
 * shared between commits, cut into one write per contiguous run of cells, and small commits take
 * their cells as contiguously as the free list allows.
 */
import { describe, expect, it } from 'vitest';
import { open, type MapleStore } from '../../src/index.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { prng } from '../helpers.js';
import { PAGE_BYTES, RING_SLOTS, SCRATCH_MAX_BYTES } from '../../src/common/limits.js';
import { openWith } from '../../src/api/open.js';

type Model = Map<number, number>;

const RING_END = (1 + RING_SLOTS) * PAGE_BYTES;

function openDisk(disk: SimulatedDisk, sync: 'full' | 'none' = 'full'): MapleStore<number> {
  // The one-sync protocol's writes (a logged commit also appends its cells to the commit log).
  return openWith<number>(`/simulated/${Math.random()}`, { sync, cacheSize: 4 << 20, commitProtocol: 'one-sync' }, { fileIO: disk.fileIO() });
}

/** Stores key i → value i·10+1 for single-index ranges, the model alongside. */
function put(store: MapleStore<number>, model: Model, key: number, value: number): void {
  store.store(key, key, value);
  model.set(key, value);
}

function expectContents(store: MapleStore<number>, model: Model, what: string): void {
  const got = [...store.ranges()].map((r) => [r.first, r.last, r.value]);
  const want = [...model].sort((a, b) => a[0]! - b[0]!).map(([k, v]) => [k, k, v]);
  expect(got, what).toEqual(want);
}

describe('commit writes', () => {
  it('a commit issued from inside another commit\'s write (a disk hook) leaves both intact', () => {
    const diskA = new SimulatedDisk();
    const diskB = new SimulatedDisk();
    const a = openDisk(diskA);
    const b = openDisk(diskB);
    const modelA: Model = new Map();
    const modelB: Model = new Map();
    const rand = prng(5);
    a.transaction((tx) => {
      for (let i = 0; i < 3000; i++) {
        tx.store(i * 10, i * 10, 1_000_000 + i);
        modelA.set(i * 10, 1_000_000 + i);
      }
    });
    // Scatter the free list so that the next commits write several separate runs.
    for (let i = 0; i < 60; i++) put(a, modelA, Math.floor(rand() * 3000) * 10, 2_000_000 + i);
    for (let i = 0; i < 200; i++) put(b, modelB, i * 3, 3_000_000 + i);

    let nested = 0;
    let writesInCommit = 0;
    let armed = false;
    diskA.onEvent((e) => {
      if (!armed || e.kind !== 'write') return;
      writesInCommit++;
      if (e.positionBytes >= RING_END && nested < 3) {
        // Mid-commit on A, between two of its cell writes: a whole commit on B.
        nested++;
        put(b, modelB, 7 + nested * 3, 4_000_000 + nested);
      }
    });
    for (let round = 0; round < 5; round++) {
      armed = true;
      writesInCommit = 0;
      a.transaction((tx) => {
        for (let k = 0; k < 40; k++) {
          const key = Math.floor(rand() * 3000) * 10;
          tx.store(key, key, 5_000_000 + round * 100 + k);
          modelA.set(key, 5_000_000 + round * 100 + k);
        }
      });
      armed = false;
      expect(writesInCommit, 'the commit wrote several runs, so the hook ran between them').toBeGreaterThan(3);
      expectContents(a, modelA, `A after round ${round}`);
      expectContents(b, modelB, `B after round ${round}`);
    }
    expect(nested).toBe(3);
    a.check();
    b.check();
    a.close();
    b.close();
    // And what reached the disks reads back the same after a reopen.
    const a2 = openDisk(SimulatedDisk.fromImage(diskA.durableImage()));
    const b2 = openDisk(SimulatedDisk.fromImage(diskB.durableImage()));
    expectContents(a2, modelA, 'A reopened');
    expectContents(b2, modelB, 'B reopened');
    a2.close();
    b2.close();
  });

  it('small commits on one path reuse their cells in few contiguous writes, without growing the file', () => {
    const disk = new SimulatedDisk();
    // Every commit durable (free on the simulated disk): with sync 'none' the cells the last
    // durable version reaches wait for the next checkpoint (test/crash/syncNone.test.ts).
    const s = openDisk(disk, 'full');
    const model: Model = new Map();
    s.transaction((tx) => {
      for (let i = 0; i < 5000; i++) {
        tx.store(i * 10, i * 10, 1_000_000 + i);
        model.set(i * 10, 1_000_000 + i);
      }
    });
    const rand = prng(9);
    // Single-store commits around one place, as a process's mappings change (VMA traces).
    const step = (i: number) => put(s, model, 20_000 + Math.floor(rand() * 50) * 10, 2_000_000 + i);
    for (let i = 0; i < 300; i++) step(i);
    const sizeBefore = s.stats().fileBytes;
    let cellWrites = 0;
    let commits = 0;
    disk.onEvent((e) => {
      if (e.kind !== 'write') return;
      if (e.positionBytes >= RING_END) cellWrites++;
      else if (e.positionBytes >= PAGE_BYTES) commits++;
    });
    for (let i = 300; i < 800; i++) step(i);
    expect(commits).toBe(500);
    // Each commit writes a leaf, its parents, a pending-tree node and a pending-list chunk: taken
    // cell by cell they interleave with the previous commit's and cost a write call each.
    expect(cellWrites / commits).toBeLessThanOrEqual(2);
    expect(s.stats().fileBytes - sizeBefore).toBeLessThanOrEqual(16 * 1024);
    expectContents(s, model, 'after the small commits');
    s.check();
    s.close();
  });
  it('a commit larger than the reused buffer is encoded and written window by window: contents, snapshots, a failed write and reopen', () => {
    const disk = new SimulatedDisk();
    const s = openWith<unknown>(`/simulated/${Math.random()}`, { sync: 'full', cacheSize: 4 << 20 }, { fileIO: disk.fileIO() });
    const valueOf = (i: number, round: number): unknown => ({ id: i, round, name: `mapping-${i}`.padEnd(90, 'x'), prot: 'r-x' });
    const big = 'B'.repeat(SCRATCH_MAX_BYTES + 100_000); // one value record longer than the whole buffer
    const RANGES = 30_000;
    const load = (round: number): void =>
      s.transaction((tx) => {
        for (let i = 0; i < RANGES; i++) tx.store(i * 4, i * 4 + 1, valueOf(i, round));
        tx.store(RANGES * 4 + 10, RANGES * 4 + 10, round === 0 ? big : `small-${round}`);
      });
    let cellBytes = 0;
    let maxWriteBytes = 0;
    const off = disk.onEvent((e) => {
      if (e.kind !== 'write' || e.positionBytes < RING_END) return;
      cellBytes += e.lengthBytes!;
      if (e.lengthBytes! < SCRATCH_MAX_BYTES + 100_000) maxWriteBytes = Math.max(maxWriteBytes, e.lengthBytes!);
    });
    load(0);
    off();
    expect(cellBytes, 'the commit wrote more than one buffer of cells').toBeGreaterThan(3 * SCRATCH_MAX_BYTES);
    expect(maxWriteBytes, 'no write but the long record exceeds the buffer').toBeLessThanOrEqual(SCRATCH_MAX_BYTES);
    const expectRound = (st: { load(i: number): unknown }, round: number, what: string): void => {
      for (let i = 0; i < RANGES; i += 997) expect(st.load(i * 4 + 1), `${what} ${i}`).toEqual(valueOf(i, round));
      const last = st.load(RANGES * 4 + 10);
      expect(last === (round === 0 ? big : `small-${round}`), `${what}: the last value (${JSON.stringify(last).slice(0, 60)})`).toBe(true);
    };
    expectRound(s, 0, 'after the load');
    const snap = s.snapshot();
    load(1);
    expectRound(s, 1, 'after the second load');
    expectRound(snap, 0, 'the snapshot taken before it');
    snap.close();
    s.check();
    // A write failing halfway through the windows: the commit throws, and the file reopens as it was.
    let cellWrites = 0;
    disk.onEvent((e) => {
      if (e.kind === 'write' && e.positionBytes >= RING_END && ++cellWrites === 2) throw new Error('injected: the device went away');
    });
    expect(() => load(2)).toThrow();
    const again = openWith<unknown>(`/simulated/${Math.random()}`, { sync: 'full', cacheSize: 4 << 20 }, { fileIO: SimulatedDisk.fromImage(disk.durableImage()).fileIO() });
    expectRound(again, 1, 'reopened after the failed commit');
    again.check();
    again.close();
  });
});
