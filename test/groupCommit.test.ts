/**
 * Asynchronous writes with group commit (src/api/writeQueue.ts, writeGroup.ts,
 * storage/commit/writeAsync.ts): grouping, failure isolation on savepoints, durability before a
 * promise resolves, publication, ordering with synchronous calls, close(), backpressure, failed
 * I/O, and a model-based run of random groups against test/reference.ts.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MapleError, open as openStore, openShared, type MapleStore, type OpenOptions } from '../src/index.js';
import { FaultyIO, SimulatedDisk, openOnDisk, openOnFile, type FileIO } from '../recovery/testing/index.js';
import { Reference, RefError, type WriteOp } from './reference.js';
import { ForwardingIO, tempDir } from './helpers.js';
import { openWith } from '../src/api/open.js';

/**
 * These tests are about a group's fdatasync running off the main thread (held, failed, taken over):
 * commits of the one-sync protocol. Logged groups (the default, commitProtocol 'log') have no sync
 * in flight but at a pass start; test/crash/asyncCrash.test.ts and commitLog.test.ts run them.
 */
const ONE_SYNC: OpenOptions = { commitProtocol: 'one-sync' };

function open<T>(path: string, options: OpenOptions = {}): MapleStore<T> {
  return openStore<T>(path, { commitProtocol: 'one-sync', ...options });
}

type V = unknown;

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('maple-group-');
});
afterEach(() => {
  dir.cleanup();
});

/** The code of a rejection (or 'resolved'). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof MapleError ? err.code : err instanceof Error ? err.message : String(err);
  }
}

function contents(s: MapleStore<V>): Array<[number, number, unknown]> {
  return [...s.ranges()].map((r) => [r.first, r.last, r.value]);
}

/**
 * A FileIO whose asynchronous syncs wait until the test lets them go: `release()` completes every
 * sync asked for so far, `held` lists what waits. `syncs` counts synchronous ones.
 */
class HeldIO extends ForwardingIO {
  readonly held: Array<{ go: () => void }> = [];
  syncs = 0;
  /** Every sync from now on fails with EIO. */
  failSyncs = false;
  constructor(inner: FileIO) {
    super(inner, false);
  }
  override sync(): void {
    this.syncs++;
    if (this.failSyncs) throw HeldIO.eio();
    this.inner.sync();
  }
  private static eio(): Error {
    return Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  }
  syncAsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.held.push({ go: () => (this.failSyncs ? reject(HeldIO.eio()) : (this.inner.sync(), resolve())) });
    });
  }
  release(): void {
    for (const op of this.held.splice(0)) op.go();
  }
}

/** Lets setImmediate callbacks and the promise jobs they start run (a few turns of the loop). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('group commit', () => {
  it('writes called together commit as one group: one commit, one fdatasync', async () => {
    const s = open<V>(dir.file());
    const before = s.stats();
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => s.storeAsync(i * 10, i * 10 + 4, { i })));
    expect(results).toEqual(Array(64).fill(undefined));
    const after = s.stats();
    expect(after.commits - before.commits).toBe(1);
    expect(after.syncs - before.syncs).toBe(1);
    expect(s.count()).toBe(64);
    s.check();
    s.close();
    const again = open<V>(dir.file());
    expect(again.count()).toBe(64);
    expect(again.load(630)).toEqual({ i: 63 });
    again.close();
  });

  it('writes arriving while a commit is in flight run ahead of it, and commit once it is durable', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const s = openOnFile<V>(io, '/held/next-group', ONE_SYNC);
    const first = s.storeAsync(1, 1, 'a');
    await turns();
    expect(io.held.length).toBe(1); // group 1's sync is in flight
    const settled: string[] = [];
    const rest = [s.storeAsync(2, 2, 'b'), s.storeAsync(3, 3, 'c'), s.write((t) => (t.store(4, 4, 'd'), t.load(1)))];
    for (const p of [first, ...rest]) void p.then((v) => settled.push(String(v)));
    const writesBefore = disk.counts.writes;
    await turns();
    // Run over group 1's version (the last function read 'a'), planned, and nothing of it
    // written or published: no second sync, nothing settled, readers still see the empty store.
    expect(s.stats().writesQueued).toBe(0);
    expect(s.stats().groupsAhead).toBe(1);
    expect(io.held.length).toBe(1);
    expect(disk.counts.writes).toBe(writesBefore);
    expect(settled).toEqual([]);
    expect(s.count()).toBe(0);
    io.release();
    await turns();
    // Group 1 is published and settled; group 2's I/O started only now.
    expect(settled).toEqual(['undefined']);
    expect(s.count()).toBe(1);
    expect(io.held.length).toBe(1);
    expect(disk.counts.writes).toBeGreaterThan(writesBefore);
    io.release();
    expect(await Promise.all(rest)).toEqual([undefined, undefined, 'a']);
    expect(settled).toHaveLength(4);
    expect(s.stats().commits).toBe(2);
    expect(contents(s)).toEqual([
      [1, 1, 'a'],
      [2, 2, 'b'],
      [3, 3, 'c'],
      [4, 4, 'd'],
    ]);
    s.check();
    s.close();
  });

  it('a group run ahead reuses no cell of the published version: a reader opened before the flight lands reads it whole', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const s = openOnFile<V>(io, '/held/ahead-readers', ONE_SYNC);
    const settle = async (p: Promise<unknown>): Promise<void> => {
      for (let i = 0; i < 50 && io.held.length === 0; i++) await turns(1);
      io.release();
      await p;
    };
    const expected = new Map<number, string>();
    for (let round = 0; round < 8; round++) {
      // A version, durable and published.
      await settle(Promise.all(Array.from({ length: 40 }, (_, i) => s.storeAsync(i * 10, i * 10 + 5, `v${round}-${i}-${'x'.repeat(i % 7 * 9)}`))));
      for (let i = 0; i < 40; i++) expected.set(i * 10, `v${round}-${i}-${'x'.repeat(i % 7 * 9)}`);
      // Its successor in flight (it frees the version's cells), and a group run ahead of it.
      const flight = Promise.all(Array.from({ length: 40 }, (_, i) => s.storeAsync(i * 10, i * 10 + 5, `f${round}-${i}`)));
      await turns();
      expect(io.held.length).toBe(1);
      const ahead = Promise.all(Array.from({ length: 40 }, (_, i) => s.storeAsync(i * 10 + 1, i * 10 + 3, `a${round}-${i}`)));
      await turns();
      // A reader opened now reads the published version, after the group ahead was planned.
      const snap = s.snapshot();
      io.release();
      await flight;
      await settle(ahead);
      for (const [first, value] of expected) expect(snap.load(first + 4)).toBe(value);
      snap.close();
      s.check();
    }
    s.close();
  });

  it('a group run ahead is refused with its flight when the flight fails, and nothing of it lands', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const s = openOnFile<V>(io, '/held/ahead-fails', ONE_SYNC);
    const durable = s.storeAsync(1, 1, 'a');
    await turns();
    io.release();
    await durable;
    const flight = s.storeAsync(2, 2, 'b');
    await turns();
    expect(io.held.length).toBe(1);
    const ahead = s.storeAsync(3, 3, 'c');
    await turns();
    expect(io.held.length).toBe(1); // the group ahead waits for the flight
    io.failSyncs = true;
    io.release();
    expect(await outcome(flight)).toBe('EIO');
    expect(await outcome(ahead)).toBe('EIO');
    expect(await outcome(s.storeAsync(4, 4, 'd'))).toBe('EIO');
    s.close();
    const again = openOnDisk<V>(disk, '/held/ahead-fails', ONE_SYNC);
    expect(contents(again).filter(([first]) => first >= 3)).toEqual([]);
    again.check();
    again.close();
  });

  it('resolves with the function’s return value; write() runs read-write functions in call order', async () => {
    const s = open<number>(dir.file());
    const got = await Promise.all([
      s.write((t) => (t.store(5, 5, 1), t.load(5))),
      s.write((t) => (t.store(5, 5, t.load(5)! + 1), t.load(5))),
      s.eraseAsync(5),
      s.allocRangeAsync(10, 0, 100, 7),
      s.allocRangeRevAsync(10, 0, 100, 8),
      s.write((t) => t.count()),
    ]);
    expect(got).toEqual([1, 2, 2, 0, 91, 2]);
    s.close();
  });

  it('a throwing function rejects only its own promise; EEXIST and EBUSY likewise; nothing of theirs is committed', async () => {
    const s = open<V>(dir.file());
    s.store(100, 199, 'taken');
    const boom = new Error('boom');
    const calls = [
      s.storeAsync(1, 1, 'one'),
      s.write((t) => {
        t.store(2, 2, 'never');
        t.erase(100);
        throw boom;
      }),
      s.insertAsync(150, 150, 'clash'),
      s.storeAsync(3, 3, 'three'),
      s.allocRangeAsync(1000, 100, 199, 'nowhere'),
      s.write(() => Promise.resolve(1) as never),
      s.clearAsync(1, 1),
      s.storeAsync(-1, 2, 'bad index'),
    ];
    expect(await Promise.all(calls.map(outcome))).toEqual(['resolved', 'boom', 'EEXIST', 'resolved', 'EBUSY', 'EINVAL', 'resolved', 'EINVAL']);
    expect(contents(s)).toEqual([
      [3, 3, 'three'],
      [100, 199, 'taken'],
    ]);
    s.check();
    s.close();
  });

  it('a function that throws after changing what earlier functions of its group built leaves their writes intact', async () => {
    // Appends share the rightmost leaf (changed in place within one transaction): the savepoint
    // must copy the earlier functions' nodes instead.
    const s = open<V>(dir.file(), { maxGroupWrites: 10_000 });
    const ref = new Reference<V>();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const base = i * 100;
      if (i % 3 === 2) {
        calls.push(
          s.write((t) => {
            for (let k = 0; k < 20; k++) t.store(base + k, base + k, `doomed ${k}`);
            t.clear(base - 250, base - 150);
            throw new Error('rollback');
          }).catch(() => 'rolled back'),
        );
      } else {
        calls.push(
          s.write((t) => {
            for (let k = 0; k < 20; k++) t.store(base + k, base + k, k % 2 ? k : 'x'.repeat(40 + k));
          }),
        );
        for (let k = 0; k < 20; k++) ref.store(base + k, base + k, k % 2 ? k : 'x'.repeat(40 + k));
      }
    }
    await Promise.all(calls);
    expect(s.stats().commits).toBe(1);
    expect(contents(s)).toEqual(ref.all().map((r) => [r.first, r.last, r.value]));
    s.check();
    s.close();
  });

  it('a group larger than the commit buffer (its cells encoded window by window) with dropped savepoints: the survivors\' values, whole, and after reopening', async () => {
    const file = dir.file();
    const s = open<V>(file, { maxGroupWrites: 10_000, maxGroupBytes: 64 << 20 });
    const ref = new Reference<V>();
    const valueOf = (i: number): V => (i % 3 === 0 ? { i, path: `/usr/lib/${'x'.repeat(i % 150)}`, list: [i, 'r-x'] } : i % 3 === 1 ? 's'.repeat(8 + (i % 400)) : { i, big: 'b'.repeat(600 + (i % 50)) });
    const calls: Promise<unknown>[] = [];
    for (let f = 0; f < 60; f++) {
      const base = f * 1000;
      const doomed = f % 7 === 3;
      calls.push(
        s
          .write((t) => {
            for (let k = 0; k < 400; k++) t.store(base + k, base + k, doomed ? `doomed ${'d'.repeat(100)}` : valueOf(base + k));
            if (doomed) throw new Error('rollback');
          })
          .catch(() => 'rolled back'),
      );
      if (!doomed) for (let k = 0; k < 400; k++) ref.store(base + k, base + k, valueOf(base + k));
    }
    await Promise.all(calls);
    expect(s.stats().commits).toBe(1);
    expect(s.stats().cellsWritten * 256, 'the group wrote more than the 2 MB commit buffer').toBeGreaterThan(2 * 1024 * 1024);
    const want = ref.all().map((r) => [r.first, r.last, r.value]);
    expect(contents(s)).toEqual(want);
    s.check();
    s.close();
    const again = open<V>(file);
    expect(contents(again)).toEqual(want);
    again.check();
    again.close();
  });

  it('a promise resolves only once its group is durable; readers see the group when it is published', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const s = openOnFile<V>(io, '/held/durable', ONE_SYNC);
    s.store(1, 1, 'old');
    let resolved = false;
    const p = s.storeAsync(1, 1, 'new').then(() => {
      resolved = true;
    });
    const snapBefore = s.snapshot();
    await turns();
    // The group's fdatasync is asked for and has not completed: not resolved, not visible, not durable.
    expect(io.held.length).toBe(1);
    expect(resolved).toBe(false);
    expect(s.load(1)).toBe('old');
    const durable = openOnDisk<V>(SimulatedDisk.fromImage(disk.durableImage()), '/held/durable-check');
    expect(durable.load(1)).toBe('old');
    durable.close();
    io.release();
    await p;
    expect(resolved).toBe(true);
    expect(s.load(1)).toBe('new');
    expect(snapBefore.load(1)).toBe('old');
    snapBefore.close();
    const reopened = openOnDisk<V>(SimulatedDisk.fromImage(disk.durableImage()), '/held/durable-after');
    expect(reopened.load(1)).toBe('new');
    reopened.close();
    s.close();
  });

  it('readers of the published version may read any page while a group is in flight', async () => {
    // Free cells scattered among live ones, so the group's new cells share pages with old ones.
    const disk = new SimulatedDisk();
    let s = openOnDisk<V>(disk, '/held/refresh', { packValues: false });
    s.transaction((t) => {
      for (let i = 0; i < 600; i++) t.store(i * 10, i * 10 + 5, `v${i}`.repeat(12));
    });
    for (let i = 0; i < 600; i += 3) s.store(i * 10, i * 10 + 5, `w${i}`.repeat(12));
    s.close();
    // A pool of 16 pages: the reader below evicts and re-reads them from the file.
    const io = new HeldIO(disk.fileIO());
    s = openOnFile<V>(io, '/held/refresh', { packValues: false, cacheSize: 64 * 1024 });
    const p = s.write((t) => {
      for (let i = 1; i < 600; i += 3) t.store(i * 10, i * 10 + 5, `x${i}`.repeat(12));
    });
    await turns();
    expect(io.held.length).toBeGreaterThan(0);
    // Meanwhile a reader of the published version reads every page (before the writes land).
    expect([...s.ranges()].length).toBe(600);
    for (let i = 0; i < 10 && io.held.length > 0; i++) {
      io.release();
      await turns();
    }
    await p;
    for (let i = 0; i < 600; i++) expect(s.load(i * 10)).toBe(i % 3 === 1 ? `x${i}`.repeat(12) : i % 3 === 0 ? `w${i}`.repeat(12) : `v${i}`.repeat(12));
    s.check();
    s.close();
  });

  it('a synchronous write with asynchronous ones pending commits them first, in order', async () => {
    const s = open<V>(dir.file());
    const order: string[] = [];
    const a = s.storeAsync(1, 1, 'async a').then(() => order.push('a'));
    const b = s.write((t) => t.store(1, 1, `${String(t.load(1))} then b`)).then(() => order.push('b'));
    s.transaction((t) => t.store(1, 1, `${String(t.load(1))} then sync`));
    expect(s.load(1)).toBe('async a then b then sync');
    expect(s.stats().writesQueued).toBe(0);
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    s.close();
    const again = open<V>(dir.file());
    expect(again.load(1)).toBe('async a then b then sync');
    again.close();
  });

  it('a synchronous write during a group’s fdatasync takes the group over: it is durable, published and resolved first', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const s = openOnFile<V>(io, '/held/takeover', ONE_SYNC);
    const order: string[] = [];
    const p = s.storeAsync(1, 1, 'group').then(() => order.push('group resolved'));
    await turns();
    const queued = s.storeAsync(2, 2, 'queued').then(() => order.push('queued resolved'));
    expect(io.held.length).toBe(1); // the group's sync is in flight; the second write is queued
    expect(s.stats().writesQueued).toBe(1);
    io.syncs = 0;
    s.transaction((t) => t.store(3, 3, `${String(t.load(1))} ${String(t.load(2))} then sync`));
    order.push('sync returned');
    // The takeover synced the group itself, then committed the queued write, then this one.
    expect(io.syncs).toBe(3);
    const durable = openOnDisk<V>(SimulatedDisk.fromImage(disk.durableImage()), '/held/takeover-check');
    expect(contents(durable)).toEqual([
      [1, 1, 'group'],
      [2, 2, 'queued'],
      [3, 3, 'group queued then sync'],
    ]);
    durable.close();
    await Promise.all([p, queued]);
    expect(order).toEqual(['sync returned', 'group resolved', 'queued resolved']);
    io.release(); // the late fdatasync changes nothing
    await turns();
    s.store(4, 4, 'after');
    s.check();
    s.close();
  });

  it('a synchronous write between a group’s functions and its commit commits the group first', async () => {
    const s = open<V>(dir.file());
    let ran = false;
    const p = s.write((t) => {
      ran = true;
      t.store(1, 1, 'group');
    });
    // One turn: the group's functions run; its commit is prepared at the next turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(ran).toBe(true);
    expect(s.load(1)).toBe(undefined);
    s.transaction((t) => t.store(2, 2, `after ${String(t.load(1))}`));
    expect(contents(s)).toEqual([
      [1, 1, 'group'],
      [2, 2, 'after group'],
    ]);
    await p;
    await turns();
    expect(s.stats().commits).toBe(2);
    s.close();
  });

  it('readers in other threads (share()/openShared) see each group once it is published, never a stale page', async () => {
    // The reader's own buffer pool caches pages that later groups rewrite: they must be noted in
    // the shared page log like a synchronous commit's.
    const s = open<{ i: number; gen: number; pad: string }>(dir.file());
    const n = 300;
    s.transaction((t) => {
      for (let i = 0; i < n; i++) t.store(i * 10, i * 10 + 4, { i, gen: 0, pad: 'p'.repeat(40) });
    });
    const r = openShared<{ i: number; gen: number; pad: string }>(s.share());
    try {
      const gens = (): number[] => [...new Set([...r.ranges()].map((x) => x.value.gen))];
      expect(gens()).toEqual([0]);
      for (let gen = 1; gen <= 6; gen++) {
        const writes = Array.from({ length: n }, (_, i) => s.storeAsync(i * 10, i * 10 + 4, { i, gen, pad: 'p'.repeat(40) }));
        await turns(1);
        expect(gens()).toEqual([gen - 1]); // nothing of the groups in flight
        await Promise.all(writes);
        expect(gens()).toEqual([gen]);
        expect(r.count()).toBe(n);
      }
    } finally {
      r.close();
      s.close();
    }
  });

  it('close() commits what is queued and settles its promises; later writes are ECLOSED', async () => {
    const s = open<V>(dir.file());
    const calls = [s.storeAsync(1, 1, 'a'), s.insertAsync(1, 1, 'clash'), s.storeAsync(2, 2, 'b')];
    s.close();
    expect(await Promise.all(calls.map(outcome))).toEqual(['resolved', 'EEXIST', 'resolved']);
    expect(await outcome(s.storeAsync(3, 3, 'c'))).toBe('ECLOSED');
    const again = open<V>(dir.file());
    expect(contents(again)).toEqual([
      [1, 1, 'a'],
      [2, 2, 'b'],
    ]);
    again.close();
  });

  it('close() while a group is in flight finishes it and commits what is queued behind it', async () => {
    const disk = new SimulatedDisk();
    const io = new HeldIO(disk.fileIO());
    const path = '/held/close';
    const s = openWith<V>(path, { packValues: false, commitProtocol: 'one-sync' }, { fileIO: io, lockEnv: disk.lockEnv() });
    const p = s.storeAsync(1, 1, 'x'.repeat(1000));
    await turns();
    const q = s.storeAsync(2, 2, 'queued behind');
    expect(io.held.length).toBe(1);
    s.close();
    expect(await outcome(p)).toBe('resolved');
    expect(await outcome(q)).toBe('resolved');
    const next = openWith<V>(path, { commitProtocol: 'one-sync' }, { fileIO: SimulatedDisk.fromImage(disk.durableImage()).fileIO(), lockEnv: disk.lockEnv() });
    expect(next.load(1)).toBe('x'.repeat(1000));
    expect(next.load(2)).toBe('queued behind');
    next.close();
    io.release();
    await turns();
  });

  it('closeAsync() waits for queued writes without committing them synchronously; writes called meanwhile are refused', async () => {
    const s = open<V>(dir.file());
    const p = s.storeAsync(1, 1, 'a');
    const closing = s.closeAsync();
    expect(await outcome(s.storeAsync(2, 2, 'b'))).toBe('ECLOSED');
    expect(() => s.store(3, 3, 'c')).toThrow(MapleError);
    await closing;
    expect(await outcome(p)).toBe('resolved');
    const again = open<V>(dir.file()); // the lock was released
    expect(contents(again)).toEqual([[1, 1, 'a']]);
    await again[Symbol.asyncDispose]();
  });

  it('groups are capped by maxGroupWrites and maxGroupBytes', async () => {
    const s = open<V>(dir.file(), { maxGroupWrites: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => s.storeAsync(i, i, i)));
    expect(s.stats().commits).toBe(3);
    s.close();
    const t = open<V>(dir.file('bytes.maple'), { maxGroupBytes: 1000 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => t.storeAsync(i, i, 'y'.repeat(400))));
    // 400-byte values: a group stops after the third (1,200 bytes ≥ 1,000).
    expect(t.stats().commits).toBe(4);
    t.close();
  });

  it('backpressure: past maxQueuedWrites, calls wait for room and still commit in call order', async () => {
    const s = open<number>(dir.file(), { maxQueuedWrites: 3, maxGroupWrites: 2 });
    const order: number[] = [];
    const calls = Array.from({ length: 12 }, (_, i) => s.write((t) => (t.store(0, 0, i), order.push(i))));
    expect(s.stats().writesQueued).toBe(12);
    await Promise.all(calls);
    expect(order).toEqual([...Array(12).keys()]);
    expect(s.load(0)).toBe(11);
    s.close();
  });

  it('a failed commit rejects its group and everything queued behind it; the file reopens at the last durable version', async () => {
    const disk = new SimulatedDisk();
    const faulty = new FaultyIO(disk.fileIO());
    const s = openOnFile<V>(faulty, '/faulty/group');
    s.store(1, 1, 'kept');
    faulty.arm({ kind: 'EIO', at: faulty.calls + 1, counting: 'mutations' });
    const group = [s.storeAsync(2, 2, 'lost'), s.insertAsync(1, 1, 'clash')];
    const r = await Promise.all(group.map(outcome));
    expect(r).toEqual(['EIO', 'EEXIST']);
    expect(await outcome(s.storeAsync(3, 3, 'after'))).toBe('EIO');
    expect(() => s.store(3, 3, 'after')).toThrow(/failed write/);
    s.close();
    const reopened = openOnDisk<V>(SimulatedDisk.fromImage(disk.durableImage()), '/faulty/group-check');
    expect(contents(reopened)).toEqual([[1, 1, 'kept']]);
    reopened.check();
    reopened.close();
  });

  it('a synchronous write taking over a group whose commit fails: the writes queued behind it are rejected too, and closeAsync settles', async () => {
    for (const commitProtocol of ['log', 'one-sync', 'two-sync'] as const) {
      for (const kind of ['EIO', 'ENOSPC'] as const) {
        for (const wait of [1, 2]) {
          const what = `${commitProtocol}, ${kind}, group taken over after ${wait} turn(s)`;
          const disk = new SimulatedDisk();
          const faulty = new FaultyIO(disk.fileIO());
          const s = openOnFile<V>(faulty, '/faulty/takeover', { commitProtocol });
          s.store(1, 1, 'kept');
          const first = outcome(s.storeAsync(10, 10, 'a'));
          await turns(wait); // its functions have run; its commit is prepared, or not yet
          const behind = [outcome(s.storeAsync(20, 20, 'b')), outcome(s.storeAsync(30, 30, 'c'))];
          faulty.arm({ kind, at: faulty.calls + 1, counting: 'mutations' });
          expect(() => s.store(40, 40, 'd'), what).toThrow(expect.objectContaining({ code: 'EIO' }));
          await turns(3);
          expect(s.stats().writesQueued, what).toBe(0);
          expect(await Promise.all(behind), what).toEqual(['EIO', 'EIO']);
          expect(['EIO', 'resolved'], what).toContain(await first);
          expect(await outcome(s.storeAsync(50, 50, 'e')), what).toBe('EIO');
          await s.closeAsync();
          const reopened = openOnDisk<V>(SimulatedDisk.fromImage(disk.durableImage()), '/faulty/takeover-check');
          expect(reopened.load(1), what).toBe('kept');
          expect(reopened.load(40), what).toBeUndefined();
          reopened.check();
          reopened.close();
        }
      }
    }
  });

  it('refusals: async functions, read-only stores, nesting, closing inside a function', async () => {
    const s = open<V>(dir.file());
    expect(await outcome(s.write((async () => 1) as never))).toBe('EINVAL');
    expect(await outcome(s.write(42 as never))).toBe('EINVAL');
    expect(await outcome(s.write(() => s.store(1, 1, 'nested')))).toBe('EINVAL');
    expect(await outcome(s.write(() => s.close()))).toBe('EINVAL');
    expect(await outcome(s.write((t) => t.store(1, 1, 'fine')))).toBe('resolved');
    // A write queued from inside a function runs in a later group.
    let inner: Promise<void> | undefined;
    await s.write(() => {
      inner = s.storeAsync(2, 2, 'inner');
    });
    await inner;
    expect(s.load(2)).toBe('inner');
    s.close();
    const ro = open<V>(dir.file(), { readOnly: true });
    expect(await outcome(ro.storeAsync(1, 1, 'x'))).toBe('EREADONLY');
    ro.close();
    expect(() => open(dir.file(), { maxGroupWrites: 0 })).toThrow(/maxGroupWrites/);
    expect(() => open(dir.file(), { maxQueuedWrites: 1.5 } as OpenOptions)).toThrow(/maxQueuedWrites/);
  });

  it('a transaction function’s handle ends with it', async () => {
    const s = open<V>(dir.file());
    let kept: { load(i: number): unknown } | undefined;
    await s.write((t) => {
      kept = t;
      t.store(1, 1, 'x');
    });
    expect(() => kept!.load(1)).toThrow(/ended/);
    s.close();
  });
});

// ── Random groups against the reference ───────────────────────────────────────────────────────

type Op = WriteOp<V>;

interface Fn {
  ops: Op[];
  /** Throw after the ops (a rollback of everything the function did). */
  fail: boolean;
}

type Batch = { kind: 'async'; fns: Fn[] } | { kind: 'sync'; fn: Fn } | { kind: 'snapshot' } | { kind: 'reopen' };

const KEYS = 400;
// Values of every placement: inline, a leaf's value area (up to AREA_VALUE_MAX_BYTES), a record of its own, nested shapes.
const valueArb = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.string({ maxLength: 5 }),
  fc.string({ minLength: 30, maxLength: 300 }),
  fc.string({ minLength: 520, maxLength: 900 }),
  fc.record({ k: fc.integer(), s: fc.string({ maxLength: 12 }) }),
  fc.record({ a: fc.array(fc.integer(), { maxLength: 8 }), n: fc.record({ s: fc.string({ maxLength: 40 }) }) }),
);
const spanArb = fc.tuple(fc.integer({ min: 0, max: KEYS }), fc.integer({ min: 0, max: 20 })).map(([first, len]) => ({ first, last: first + len }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.tuple(spanArb, valueArb).map(([s, value]) => ({ op: 'store' as const, ...s, value })),
  fc.tuple(spanArb, valueArb).map(([s, value]) => ({ op: 'insert' as const, ...s, value })),
  spanArb.map((s) => ({ op: 'clear' as const, ...s })),
  fc.integer({ min: 0, max: KEYS }).map((index) => ({ op: 'erase' as const, index })),
  fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: KEYS }), valueArb, fc.boolean()).map(([size, min, value, rev]) => ({ op: rev ? ('allocRangeRev' as const) : ('allocRange' as const), size, min, max: min + 60, value })),
);
const fnArb: fc.Arbitrary<Fn> = fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 8 }), fail: fc.integer({ min: 0, max: 3 }).map((n) => n === 0) });
const batchArb: fc.Arbitrary<Batch> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fnArb, { minLength: 1, maxLength: 12 }).map((fns) => ({ kind: 'async' as const, fns })) },
  { weight: 1, arbitrary: fnArb.map((fn) => ({ kind: 'sync' as const, fn })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

/** Applies `fn` to a writer (a transaction or the reference): throws what the first refused op throws. */
function apply(w: Record<string, (...args: never[]) => unknown>, fn: Fn): void {
  for (const o of fn.ops) {
    switch (o.op) {
      case 'store':
      case 'insert':
        (w[o.op] as (a: number, b: number, v: V) => void)(o.first, o.last, o.value);
        break;
      case 'clear':
        (w.clear as (a: number, b: number) => void)(o.first, o.last);
        break;
      case 'erase':
        (w.erase as (i: number) => void)(o.index);
        break;
      case 'allocRange':
      case 'allocRangeRev':
        (w[o.op] as (s: number, a: number, b: number, v: V) => void)(o.size, o.min, o.max, o.value);
    }
  }
  if (fn.fail) throw new Error('rollback');
}

/** The reference after `fn` (unchanged when it is refused or fails) and the outcome the store must give. */
function refApply(ref: Reference<V>, fn: Fn): { ref: Reference<V>; outcome: string } {
  const next = ref.clone();
  try {
    apply(next as unknown as Record<string, (...args: never[]) => unknown>, fn);
    return { ref: next, outcome: 'resolved' };
  } catch (err) {
    return { ref, outcome: err instanceof RefError ? err.code : (err as Error).message };
  }
}

describe('random groups against the reference', () => {
  it('every group commits exactly the functions that returned, in call order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 14 }), fc.integer({ min: 1, max: 6 }), async (batches, groupWrites) => {
        const file = dir.file(`model-${run++}.maple`);
        fs.rmSync(file, { force: true });
        const opts: OpenOptions = { maxGroupWrites: groupWrites };
        let s = open<V>(file, opts);
        let ref = new Reference<V>();
        const snaps: Array<{ snap: ReturnType<MapleStore<V>['snapshot']>; want: Array<[number, number, unknown]> }> = [];
        try {
          for (const b of batches) {
            if (b.kind === 'async') {
              const want: string[] = [];
              for (const fn of b.fns) {
                const r = refApply(ref, fn);
                ref = r.ref;
                want.push(r.outcome);
              }
              const got = await Promise.all(b.fns.map((fn) => outcome(s.write((t) => apply(t as unknown as Record<string, (...args: never[]) => unknown>, fn)))));
              expect(got).toEqual(want);
            } else if (b.kind === 'sync') {
              const r = refApply(ref, b.fn);
              ref = r.ref;
              // An async write queued just before must commit first.
              const before = s.write((t) => t.count());
              let got = 'resolved';
              try {
                s.transaction((t) => apply(t as unknown as Record<string, (...args: never[]) => unknown>, b.fn));
              } catch (err) {
                got = err instanceof MapleError ? err.code : (err as Error).message;
              }
              expect(got).toBe(r.outcome);
              await before;
            } else if (b.kind === 'snapshot') {
              snaps.push({ snap: s.snapshot(), want: ref.all().map((r) => [r.first, r.last, r.value]) });
            } else {
              for (const x of snaps.splice(0)) x.snap.close();
              s.close();
              s = open<V>(file, opts);
            }
            expect(contents(s)).toEqual(ref.all().map((r) => [r.first, r.last, r.value]));
            for (const x of snaps) expect([...x.snap.ranges()].map((r) => [r.first, r.last, r.value])).toEqual(x.want);
            s.check();
          }
        } finally {
          for (const x of snaps) x.snap.close();
          s.close();
        }
      }),
      { numRuns: 60, seed: 20260301 },
    );
  });
});
