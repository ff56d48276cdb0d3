/**
 * `sync: 'none'` under power loss: writes after the last sync reach the disk in any subset and
 * order, so the newest commit record can land without the cells of the commits before it. Such a
 * record validates (its own cells are there) while the tree it names reaches cells that hold older
 * data — a wrong answer. Records written without a sync are trusted only on the boot that wrote
 * them; after a reboot the store opens at its last checkpoint, whose cells no later commit reused.
 */
import { describe, expect, it } from 'vitest';
import { CRASH_MODES, type CrashChoice, SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { FaultyIO } from '../../recovery/testing/faultyIO.js';
import type { SimulatedLockState } from '../../recovery/testing/simulatedLocks.js';
import { openWith } from '../../src/api/open.js';
import type { MapleStore } from '../../src/api/store.js';
import { readAll, stream } from './crashRunner.js';

const PATH = '/simulated/sync-none';
const RANGES = 300;

function openNone(disk: SimulatedDisk, sync: 'none' | 'full' = 'none'): MapleStore<unknown> {
  return openWith<unknown>(PATH, { sync, cacheSize: 512 * 1024 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
}

interface Crash {
  image: Uint8Array;
  locks: SimulatedLockState;
  /** stats().durableVersion when the power went. */
  durable: number;
  choice: CrashChoice;
  event: number;
}

/** A disk holding RANGES ranges, loaded and closed durably; `states` gets that version's contents. */
function loadedDisk(states: Map<number, string>): SimulatedDisk {
  const disk = new SimulatedDisk();
  const first = openNone(disk, 'full');
  first.transaction((t) => {
    for (let i = 0; i < RANGES; i++) t.store(i * 10, i * 10 + 5, `v${i}`);
  });
  states.set(first.version, JSON.stringify(readAll(first)));
  first.close();
  return disk;
}

/**
 * A store loaded durably, then reopened with `sync: 'none'` for `commits` single-store commits;
 * power-loss images taken at sampled disk events throughout. Returns the images and the contents
 * of every version.
 */
function run(seed: number, commits: number, every: number): { crashes: Crash[]; states: Map<number, string> } {
  const next = stream(seed);
  const states = new Map<number, string>();
  const disk = loadedDisk(states);
  const store = openNone(disk);
  const crashes: Crash[] = [];
  const off = disk.onEvent((event, d) => {
    if (event.seq % every !== 0) return;
    const choice = { mode: CRASH_MODES[Math.floor(next() * CRASH_MODES.length)]!, seed: Math.floor(next() * 1e9) };
    crashes.push({ image: d.crashImage(choice), locks: d.crashLockFiles(choice), durable: store.stats().durableVersion, choice, event: event.seq });
  });
  try {
    for (let c = 0; c < commits; c++) {
      const i = Math.floor(next() * RANGES);
      if (next() < 0.2) store.erase(i * 10);
      else store.store(i * 10, i * 10 + 5 + Math.floor(next() * 4), `w${c}-${'x'.repeat(Math.floor(next() * 40))}`);
      states.set(store.version, JSON.stringify(readAll(store)));
    }
  } finally {
    off();
  }
  store.close();
  return { crashes, states };
}

describe("sync: 'none' and power loss", () => {
  it('opens at a version no older than the last checkpoint, with exactly its contents — never a wrong answer', () => {
    let checked = 0;
    for (const seed of [1, 2, 3]) {
      const { crashes, states } = run(seed, 400, 37);
      for (const crash of crashes) {
        const where = `seed ${seed} event ${crash.event} mode ${crash.choice.mode}/${crash.choice.seed}`;
        // The machine that boots after the power loss: a new boot.
        const disk = SimulatedDisk.fromImage(crash.image, crash.locks);
        const store = openNone(disk);
        try {
          expect(store.version, where).toBeGreaterThanOrEqual(crash.durable);
          expect(JSON.stringify(readAll(store)), where).toBe(states.get(store.version));
          store.check();
          // And it goes on: a commit, then the same contents plus it.
          store.store(5_000_000, 5_000_000, 'after');
          expect(store.load(5_000_000), where).toBe('after');
          checked++;
        } finally {
          store.close();
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('at every disk event of 150 commits, a snapshot held through most of them', () => {
    // Every event (modes in turn), each image opened on a new boot at once: the last durable
    // version is then one of several readers (the snapshot's version is older), so what it pins
    // goes through the reader bands (storage/io/readerSet.ts) and the release scan's skip.
    const next = stream(4);
    const states = new Map<number, string>();
    const disk = loadedDisk(states);
    const store = openNone(disk);
    let checked = 0;
    const failures: string[] = [];
    const off = disk.onEvent((event, d) => {
      const choice = { mode: CRASH_MODES[event.seq % CRASH_MODES.length]!, seed: event.seq };
      const durable = store.stats().durableVersion;
      const reopened = openNone(SimulatedDisk.fromImage(d.crashImage(choice), d.crashLockFiles(choice)));
      try {
        const contents = JSON.stringify(readAll(reopened));
        if (reopened.version < durable || contents !== states.get(reopened.version)) failures.push(`event ${event.seq} (${choice.mode}): version ${reopened.version}, durable ${durable}`);
        reopened.check();
        checked++;
      } finally {
        reopened.close();
      }
    });
    let snap: { close(): void } | undefined;
    try {
      for (let c = 0; c < 150; c++) {
        if (c === 20) snap = store.snapshot();
        if (c === 130) snap?.close();
        const i = Math.floor(next() * RANGES);
        if (next() < 0.2) store.erase(i * 10);
        else store.store(i * 10, i * 10 + 5 + Math.floor(next() * 4), `h${c}-${'z'.repeat(Math.floor(next() * 40))}`);
        states.set(store.version, JSON.stringify(readAll(store)));
        if (c % 50 === 49) store.flush();
      }
    } finally {
      off();
    }
    store.check();
    store.close();
    expect(failures).toEqual([]);
    // 741 events (856 before the reader bands' pinned entries were carried: fewer chunk writes).
    expect(checked).toBeGreaterThan(700);
  });

  it('a store created with sync: \'none\' is durable from its creation: a power loss at any event after opens it', () => {
    // Creation is commit 0, the first checkpoint: a crash image must never be ENOTSTORE.
    const disk = new SimulatedDisk();
    const states = new Map<number, string>();
    let store: MapleStore<unknown> | undefined;
    let checked = 0;
    const failures: string[] = [];
    const off = disk.onEvent((event, d) => {
      const choice = { mode: CRASH_MODES[event.seq % CRASH_MODES.length]!, seed: event.seq };
      const durable = store?.stats().durableVersion ?? -1;
      const image = d.crashImage(choice);
      // Before the header landed the medium is blank: open() formats it anew, as a creation.
      let reopened: MapleStore<unknown>;
      try {
        reopened = openNone(SimulatedDisk.fromImage(image, d.crashLockFiles(choice)));
      } catch (err) {
        failures.push(`event ${event.seq} (${choice.mode}): ${(err as Error).message}`);
        return;
      }
      try {
        const contents = JSON.stringify(readAll(reopened));
        if (reopened.version < durable || (reopened.version > 0 && contents !== states.get(reopened.version))) failures.push(`event ${event.seq} (${choice.mode}): version ${reopened.version}, durable ${durable}`);
        checked++;
      } finally {
        reopened.close();
      }
    });
    try {
      store = openNone(disk);
      states.set(store.version, JSON.stringify(readAll(store)));
      for (let c = 0; c < 30; c++) {
        store.store(c * 10, c * 10 + 5, `c${c}`);
        states.set(store.version, JSON.stringify(readAll(store)));
      }
    } finally {
      off();
    }
    store.close();
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('asynchronous writes (write groups) too', async () => {
    const next = stream(5);
    const disk = new SimulatedDisk();
    const states = new Map<number, string>();
    const created = openNone(disk);
    states.set(created.version, JSON.stringify(readAll(created)));
    created.close();
    const store = openNone(disk);
    await store.write((t) => {
      for (let i = 0; i < RANGES; i++) t.store(i * 10, i * 10 + 5, `v${i}`);
    });
    states.set(store.version, JSON.stringify(readAll(store)));
    const crashes: Crash[] = [];
    const off = disk.onEvent((event, d) => {
      if (event.seq % 11 !== 0) return;
      const choice = { mode: CRASH_MODES[Math.floor(next() * CRASH_MODES.length)]!, seed: Math.floor(next() * 1e9) };
      crashes.push({ image: d.crashImage(choice), locks: d.crashLockFiles(choice), durable: store.stats().durableVersion, choice, event: event.seq });
    });
    for (let round = 0; round < 60; round++) {
      // A few writers at once: their writes commit as one group, or as a group and one ahead of it.
      const writes: Promise<unknown>[] = [];
      for (let w = 0; w < 1 + Math.floor(next() * 6); w++) {
        const i = Math.floor(next() * RANGES);
        writes.push(store.storeAsync(i * 10, i * 10 + 5, `a${round}-${w}-${'y'.repeat(Math.floor(next() * 30))}`));
      }
      await Promise.all(writes);
      states.set(store.version, JSON.stringify(readAll(store)));
      // Now and then a checkpoint by hand (flush()), besides those the cells written call for.
      if (round % 15 === 14) store.flush();
    }
    off();
    await store.closeAsync();
    let checked = 0;
    for (const crash of crashes) {
      const where = `event ${crash.event} mode ${crash.choice.mode}/${crash.choice.seed}`;
      const reopened = openNone(SimulatedDisk.fromImage(crash.image, crash.locks));
      try {
        expect(reopened.version, where).toBeGreaterThanOrEqual(crash.durable);
        const contents = states.get(reopened.version);
        // Versions between two awaited rounds were never read whole: only a round's end is known.
        if (contents !== undefined) {
          expect(JSON.stringify(readAll(reopened)), where).toBe(contents);
          checked++;
        }
        reopened.check();
      } finally {
        reopened.close();
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('a killed process loses nothing: on the same boot the newest commit opens', () => {
    const disk = new SimulatedDisk();
    const store = openNone(disk);
    for (let i = 0; i < 50; i++) store.store(i * 10, i * 10 + 3, `k${i}`);
    const contents = JSON.stringify(readAll(store));
    const version = store.version;
    // The process dies without close(): every write is in the page cache, nothing more was synced.
    const same = SimulatedDisk.fromImage(disk.crashImage({ mode: 'keep-all', seed: 1 }));
    const again = openNone(same);
    expect(again.version).toBe(version);
    expect(JSON.stringify(readAll(again))).toBe(contents);
    // Reopened, the newest commit was made a durable base: a power loss now keeps it.
    expect(again.stats().durableVersion).toBe(version);
    const image = same.crashImage({ mode: 'drop-all', seed: 2 });
    const locks = same.crashLockFiles({ mode: 'drop-all', seed: 2 });
    again.close();
    const rebooted = openNone(SimulatedDisk.fromImage(image, locks));
    expect(rebooted.version).toBe(version);
    expect(JSON.stringify(readAll(rebooted))).toBe(contents);
    rebooted.close();
  });

  it('close() leaves the last version durable', () => {
    const disk = new SimulatedDisk();
    const store = openNone(disk);
    for (let i = 0; i < 20; i++) store.store(i * 10, i * 10 + 3, `c${i}`);
    const version = store.version;
    expect(store.stats().durableVersion).toBeLessThan(version);
    store.close();
    expect(disk.pendingCount).toBe(0);
    const rebooted = openNone(SimulatedDisk.fromImage(disk.crashImage({ mode: 'drop-all', seed: 3 }), disk.crashLockFiles({ mode: 'drop-all', seed: 3 })));
    expect(rebooted.version).toBe(version);
    rebooted.close();
  });

  it('flush() refuses where it cannot write, and is a no-op with nothing to make durable', () => {
    const disk = new SimulatedDisk();
    const store = openNone(disk);
    store.store(1, 2, 'a');
    expect(() => store.transaction(() => store.flush())).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const syncs = store.stats().syncs;
    store.flush();
    expect(store.stats().syncs).toBe(syncs + 2);
    expect(store.stats().durableVersion).toBe(store.version);
    store.flush();
    expect(store.stats().syncs).toBe(syncs + 2);
    store.close();
    expect(() => store.flush()).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
    const reader = openWith<unknown>(PATH, { readOnly: true }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
    expect(() => reader.flush()).toThrow(expect.objectContaining({ code: 'EREADONLY' }));
    reader.close();
  });

  it('a failed checkpoint refuses further writes and keeps what was committed', () => {
    const disk = new SimulatedDisk();
    openNone(disk, 'full').close();
    const io = new FaultyIO(disk.fileIO(), undefined);
    const store = openWith<unknown>(PATH, { sync: 'none' }, { fileIO: io, lockEnv: disk.lockEnv() });
    store.store(1, 2, 'kept');
    io.arm({ kind: 'EIO', at: io.calls + 1, counting: 'mutations' });
    expect(() => store.flush()).toThrow(expect.objectContaining({ code: 'EIO', message: expect.stringMatching(/checkpoint of version 1 .*committed, not durable/) }));
    expect(() => store.store(3, 4, 'refused')).toThrow(expect.objectContaining({ code: 'EIO' }));
    store.close();
    // The same boot: the page cache holds the commit.
    const again = openNone(disk);
    expect(again.load(1)).toBe('kept');
    expect(again.load(3)).toBeUndefined();
    again.close();
  });

  it('a checkpoint at close() that fails is EIO once the store is closed, not a silent close', () => {
    const disk = new SimulatedDisk();
    openNone(disk, 'full').close();
    const io = new FaultyIO(disk.fileIO(), undefined);
    const store = openWith<unknown>(PATH, { sync: 'none' }, { fileIO: io, lockEnv: disk.lockEnv() });
    store.store(1, 2, 'committed');
    expect(store.stats().durableVersion).toBe(0);
    // close() clears the open mark, the checkpoint sets it again, then syncs: that sync fails.
    io.arm({ kind: 'EIO', at: io.calls + 3, counting: 'mutations' });
    expect(() => store.close()).toThrow(expect.objectContaining({ code: 'EIO', message: expect.stringMatching(/^EIO: the store is closed, but not every version is durable: the checkpoint of version 1 .*versions after 0 are committed, not durable/) }));
    expect(io.fired.map((f) => f.op)).toEqual(['sync']);
    expect(() => store.load(1)).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
    store.close(); // closed already: nothing more to say
    // Closed for real: the lock is free, and on the same boot the page cache holds the commit.
    const again = openNone(disk);
    expect(again.load(1)).toBe('committed');
    again.close();
  });

  it('checkpoints bound the file: the cells the last durable version reaches are reused after the next one', () => {
    const disk = new SimulatedDisk();
    const store = openNone(disk);
    store.transaction((t) => {
      for (let i = 0; i < 2000; i++) t.store(i * 10, i * 10 + 5, `v${i}`);
    });
    const next = stream(9);
    let durableMoves = 0;
    let durable = store.stats().durableVersion;
    for (let c = 0; c < 3000; c++) {
      const i = Math.floor(next() * 2000);
      store.store(i * 10, i * 10 + 5, `w${c}`);
      const now = store.stats().durableVersion;
      if (now !== durable) durableMoves++;
      durable = now;
    }
    expect(durableMoves).toBeGreaterThan(3);
    const stats = store.stats();
    // Live data is about 2,000 ranges; what the file holds beyond it stays within the checkpoint bound.
    expect(stats.fileBytes).toBeLessThan(2_000_000);
    store.close();
  });
});
