/**
 * The crash harness must be right before it can judge the store: these tests pin down what the
 * simulated disk may and may not leave after a power loss, and what the fault injector does.
 */
import { describe, expect, it } from 'vitest';
import { CRASH_MODES, Prng, SimulatedCrash, SimulatedDisk, isSimulatedCrash, type DiskEvent } from '../../recovery/testing/simulatedDisk.js';
import { FaultyIO } from '../../recovery/testing/faultyIO.js';
import { SIM_PID } from '../../recovery/testing/simulatedLocks.js';
import { open as openStore } from '../../src/index.js';
import { decodeLockRecord, encodeLockRecord } from '../../storage/io/lockRecord.js';
import { expectMapleError } from '../helpers.js';
import { openWith } from '../../src/api/open.js';

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

function readAll(disk: SimulatedDisk): Uint8Array {
  const io = disk.fileIO();
  const out = new Uint8Array(io.size());
  io.read(out, 0);
  return out;
}

describe('SimulatedDisk: page cache and durability', () => {
  it('reads see unsynced writes; the durable image only synced ones', () => {
    const disk = new SimulatedDisk();
    const io = disk.fileIO();
    io.write(bytes(100, 1), 0);
    io.sync();
    io.write(bytes(50, 2), 200);
    expect(io.size()).toBe(250);
    const buf = new Uint8Array(300);
    expect(io.read(buf, 0)).toBe(250);
    expect(buf[0]).toBe(1);
    expect(buf[150]).toBe(0); // the hole reads as zeros
    expect(buf[249]).toBe(2);
    expect(disk.durableImage()).toEqual(bytes(100, 1));
    expect(disk.pendingCount).toBe(1);
    io.sync();
    expect(disk.durableImage().length).toBe(250);
    expect(disk.pendingCount).toBe(0);
  });

  it('reads past the end are short; a read at the end returns 0', () => {
    const disk = new SimulatedDisk(bytes(10, 7));
    const io = disk.fileIO();
    const buf = new Uint8Array(8);
    expect(io.read(buf, 6)).toBe(4);
    expect(io.read(buf, 10)).toBe(0);
  });

  it('truncate shrinks and regrows with zeros, and is durable only after sync', () => {
    const disk = new SimulatedDisk(bytes(8192, 9));
    const io = disk.fileIO();
    io.truncate(100);
    io.truncate(200);
    const buf = new Uint8Array(200);
    io.read(buf, 0);
    expect(buf[99]).toBe(9);
    expect(buf[100]).toBe(0);
    expect(disk.durableImage().length).toBe(8192);
    expect(disk.crashImage({ seed: 1, mode: 'drop-all' }).length).toBe(8192);
    expect(disk.crashImage({ seed: 1, mode: 'keep-all' })).toEqual(disk.currentImage());
    io.sync();
    expect(disk.durableImage().length).toBe(200);
  });

  it('a disk made from an image holds it durably', () => {
    const image = bytes(5000, 3);
    const disk = SimulatedDisk.fromImage(image);
    expect(disk.durableImage()).toEqual(image);
    expect(readAll(disk)).toEqual(image);
    image[0] = 99; // the disk owns a copy
    expect(readAll(disk)[0]).toBe(3);
  });

  it('a closed handle refuses calls; another handle still works', () => {
    const disk = new SimulatedDisk();
    const a = disk.fileIO();
    a.close();
    expect(() => a.write(bytes(1, 1), 0)).toThrow(/EBADF/);
    disk.fileIO().write(bytes(1, 1), 0);
    expect(disk.currentImage()).toEqual(bytes(1, 1));
  });
});

describe('SimulatedDisk: events and crash points', () => {
  it('numbers every write, truncate and sync, calling hooks with the operation issued', () => {
    const disk = new SimulatedDisk();
    const io = disk.fileIO();
    const seen: DiskEvent[] = [];
    const pendingAtHook: number[] = [];
    const off = disk.onEvent((e, d) => {
      seen.push(e);
      pendingAtHook.push(d.pendingCount);
    });
    io.write(bytes(10, 1), 0);
    io.truncate(4096);
    io.sync();
    off();
    io.write(bytes(10, 1), 0);
    expect(seen.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'write'],
      [2, 'truncate'],
      [3, 'sync'],
    ]);
    // The hook sees the write pending, and the sync before it completes.
    expect(pendingAtHook).toEqual([1, 2, 2]);
    expect(disk.events).toBe(4);
  });

  it('crashAt stops the workload exactly there and kills the disk', () => {
    const disk = new SimulatedDisk();
    disk.crashAt = 3;
    const io = disk.fileIO();
    io.write(bytes(512, 1), 0);
    io.sync();
    expect(() => io.write(bytes(512, 2), 512)).toThrow(SimulatedCrash);
    expect(disk.crashedAt).toBe(3);
    expect(() => io.read(new Uint8Array(1), 0)).toThrow(SimulatedCrash);
    expect(() => io.sync()).toThrow(SimulatedCrash);
    expect(() => io.size()).toThrow(SimulatedCrash);
    // The interrupted write may or may not have landed.
    expect(disk.crashImage({ seed: 0, mode: 'drop-all' })).toEqual(bytes(512, 1));
    const kept = disk.crashImage({ seed: 0, mode: 'keep-all' });
    expect(kept.length).toBe(1024);
    expect(kept[600]).toBe(2);
  });

  it('a crash during sync leaves the writes pending', () => {
    const disk = new SimulatedDisk();
    disk.crashAt = 2;
    const io = disk.fileIO();
    io.write(bytes(512, 1), 0);
    expect(() => io.sync()).toThrow(SimulatedCrash);
    expect(disk.crashImage({ seed: 0, mode: 'drop-all' }).length).toBe(0);
    expect(disk.crashImage({ seed: 0, mode: 'keep-all' })).toEqual(bytes(512, 1));
  });

  it('isSimulatedCrash sees through error causes', () => {
    const crash = new SimulatedCrash(4);
    expect(isSimulatedCrash(crash)).toBe(true);
    expect(isSimulatedCrash(new Error('wrapped', { cause: crash }))).toBe(true);
    expect(isSimulatedCrash(new Error('plain'))).toBe(false);
    expect(isSimulatedCrash(undefined)).toBe(false);
  });
});

describe('SimulatedDisk: crash images', () => {
  /** Eight 4 KiB writes of distinct fill bytes over a synced base of 0xEE. */
  function loaded(): SimulatedDisk {
    const disk = new SimulatedDisk(bytes(8 * 4096, 0xee));
    const io = disk.fileIO();
    for (let i = 0; i < 8; i++) io.write(bytes(4096, i + 1), i * 4096);
    return disk;
  }

  /** Per 512-byte sector of the image: the byte it holds if uniform, or -1. */
  function sectors(image: Uint8Array): number[] {
    const out: number[] = [];
    for (let s = 0; s < image.length; s += 512) {
      const part = image.subarray(s, s + 512);
      out.push(part.every((b) => b === part[0]) ? (part[0] as number) : -1);
    }
    return out;
  }

  it('is deterministic in the seed and differs across seeds', () => {
    const disk = loaded();
    for (const mode of CRASH_MODES) {
      expect(disk.crashImage({ seed: 42, mode })).toEqual(disk.crashImage({ seed: 42, mode }));
    }
    const distinct = new Set<string>();
    for (let seed = 0; seed < 20; seed++) distinct.add(sectors(disk.crashImage({ seed, mode: 'random-subset' })).join());
    expect(distinct.size).toBeGreaterThan(5);
  });

  it('random-subset keeps each write whole or not at all', () => {
    const disk = loaded();
    for (let seed = 0; seed < 50; seed++) {
      const image = disk.crashImage({ seed, mode: 'random-subset' });
      for (let i = 0; i < 8; i++) {
        const block = sectors(image.subarray(i * 4096, (i + 1) * 4096));
        expect(block.every((b) => b === block[0])).toBe(true);
        expect([0xee, i + 1]).toContain(block[0]);
      }
    }
  });

  it('reorder applies overlapping writes in shuffled orders', () => {
    const disk = new SimulatedDisk(bytes(512, 0));
    const io = disk.fileIO();
    for (let i = 1; i <= 4; i++) io.write(bytes(512, i), 0);
    const finals = new Set<number>();
    for (let seed = 0; seed < 60; seed++) finals.add(disk.crashImage({ seed, mode: 'reorder' })[0] as number);
    // With in-order application only the last kept write could win; reordering lets any win.
    for (const fill of [1, 2, 3, 4]) expect(finals.has(fill)).toBe(true);
  });

  it('tear-512 tears along 512-byte sectors, tear-4k along 4 KiB blocks', () => {
    const disk = loaded();
    let tornWithin4k = 0;
    for (let seed = 0; seed < 40; seed++) {
      const image = disk.crashImage({ seed, mode: 'tear-512' });
      for (let i = 0; i < 8; i++) {
        const block = sectors(image.subarray(i * 4096, (i + 1) * 4096));
        const landed = block.filter((b) => b === i + 1).length;
        if (landed > 0 && landed < 8) tornWithin4k++;
      }
    }
    expect(tornWithin4k).toBeGreaterThan(0);
    for (let seed = 0; seed < 40; seed++) {
      const image = disk.crashImage({ seed, mode: 'tear-4k' });
      for (let i = 0; i < 8; i++) {
        // Aligned 4 KiB writes torn at 4 KiB are all-or-nothing per block, but the torn block
        // may hold old bytes, zeros or garbage.
        const block = sectors(image.subarray(i * 4096, (i + 1) * 4096));
        const landed = block.filter((b) => b === i + 1).length;
        expect(landed === 0 || landed === 8).toBe(true);
      }
    }
  });

  it('torn parts hold old bytes, zeros or garbage, and never touch bytes outside the write', () => {
    const disk = new SimulatedDisk(bytes(4096, 0xee));
    const io = disk.fileIO();
    io.write(bytes(1000, 0x11), 100); // covers sectors 0 and 1 partly, and 2 partly
    const kinds = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const image = disk.crashImage({ seed, mode: 'tear-512' });
      expect(image.subarray(0, 100).every((b) => b === 0xee)).toBe(true);
      expect(image.subarray(1100).every((b) => b === 0xee)).toBe(true);
      const torn = image.subarray(100, 1100);
      if (torn.every((b) => b === 0x11)) kinds.add('whole');
      else if (torn.every((b) => b === 0xee)) kinds.add('dropped-or-old');
      for (const [from, to] of [
        [0, 412],
        [412, 924],
        [924, 1000],
      ] as const) {
        const piece = torn.subarray(from, to);
        if (piece.every((b) => b === 0)) kinds.add('zeros');
        else if (!piece.every((b) => b === piece[0])) kinds.add('garbage');
      }
    }
    expect([...kinds].sort()).toEqual(['dropped-or-old', 'garbage', 'whole', 'zeros']);
  });

  it('a file grown by lost writes may keep its size, holding zeros', () => {
    const disk = new SimulatedDisk(bytes(512, 5));
    disk.fileIO().write(bytes(512, 6), 4096);
    const lengths = new Set<number>();
    for (let seed = 0; seed < 100; seed++) {
      const image = disk.crashImage({ seed, mode: 'random-subset' });
      lengths.add(image.length);
      if (image.length === 4608 && image[4096] !== 6) expect(image.subarray(512).every((b) => b === 0)).toBe(true);
    }
    expect([...lengths].sort((a, b) => a - b)).toEqual([512, 4608]);
  });

  it('keep-all equals the page cache; drop-all equals the durable image', () => {
    const disk = loaded();
    expect(disk.crashImage({ seed: 9, mode: 'keep-all' })).toEqual(disk.currentImage());
    expect(disk.crashImage({ seed: 9, mode: 'drop-all' })).toEqual(disk.durableImage());
  });
});

describe('Prng', () => {
  it('is reproducible and roughly uniform', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const x = a.below(4);
      expect(b.below(4)).toBe(x);
      counts[x] = (counts[x] as number) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('FaultyIO', () => {
  function workload(io: FaultyIO): void {
    const buf = new Uint8Array(16);
    io.write(bytes(1000, 1), 0); // 1
    io.read(buf, 0); // 2
    io.sync(); // 3
    io.write(bytes(1000, 2), 1000); // 4
    io.truncate(4096); // 5
    io.sync(); // 6
  }

  it('counts calls and injects nothing without a plan', () => {
    const io = new FaultyIO(new SimulatedDisk().fileIO());
    workload(io);
    expect(io.calls).toBe(6);
    expect(io.fired).toEqual([]);
  });

  it('throws a Node-style EIO on the Nth call, once', () => {
    for (let n = 1; n <= 6; n++) {
      const disk = new SimulatedDisk();
      const io = new FaultyIO(disk.fileIO(), { kind: 'EIO', at: n });
      let err: unknown;
      try {
        workload(io);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('EIO');
      expect((err as Error).message).toMatch(/^EIO: i\/o error/);
      expect(io.fired).toHaveLength(1);
      expect(io.fired[0]?.call).toBe(n);
      // One-shot: the same calls now succeed.
      workload(io);
    }
  });

  it('ENOSPC skips reads; mutations counting ignores reads', () => {
    const io = new FaultyIO(new SimulatedDisk().fileIO(), { kind: 'ENOSPC', at: 2 });
    expect(() => workload(io)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(io.fired[0]).toMatchObject({ op: 'sync', call: 3 });
    const m = new FaultyIO(new SimulatedDisk().fileIO(), { kind: 'EIO', at: 2, counting: 'mutations' });
    expect(() => workload(m)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(m.fired[0]).toMatchObject({ op: 'sync', call: 2 });
  });

  it('a short write lands half the bytes, then throws', () => {
    const disk = new SimulatedDisk();
    const io = new FaultyIO(disk.fileIO(), { kind: 'short-write', at: 4 });
    expect(() => workload(io)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(io.fired[0]).toMatchObject({ op: 'write', call: 4 });
    const image = disk.currentImage();
    expect(image.length).toBe(1500);
    expect(image[1499]).toBe(2);
  });

  it('persistent faults keep failing; arm() replaces the plan', () => {
    const io = new FaultyIO(new SimulatedDisk().fileIO(), { kind: 'EIO', at: 1, persistent: true });
    expect(() => io.sync()).toThrow();
    expect(() => io.sync()).toThrow();
    io.arm(undefined);
    io.sync();
    io.arm({ kind: 'EIO', at: io.calls + 1 });
    expect(() => io.sync()).toThrow();
    io.sync();
    expect(io.fired).toHaveLength(3);
  });
});

describe('SimulatedDisk: the writer lock on the simulated machine', () => {
  const STORE = '/simulated/locked.maple';
  const LOCK = `${STORE}.lock`;
  const open = (disk: SimulatedDisk) => openWith<unknown>(STORE, { sync: 'full', cacheSize: 1 << 20 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });

  it('a store holds its lock files on the disk\'s machine: a second writer is ELOCKED until close', () => {
    const disk = new SimulatedDisk();
    const store = open(disk);
    expect(disk.locks.names()).toEqual([disk.locks.inodeLockFile(), LOCK].sort());
    expect(decodeLockRecord(disk.locks.fileBytes(LOCK)!)!.owner).toEqual(disk.locks.self());
    expectMapleError(() => open(disk), 'ELOCKED');
    store.store(1, 1, 'one');
    store.close();
    expect(disk.locks.names()).toEqual([]);
    const again = open(disk);
    expect(again.load(1)).toBe('one');
    expect(again.stats().recovery.lockTakenOver).toBeNull();
    again.close();
  });

  it('a crash leaves the lock files missing, torn, zeroed, garbage or intact, on the next boot; the reopen takes them over', () => {
    const disk = new SimulatedDisk();
    const store = open(disk);
    store.store(1, 1, 'one');
    const intact = disk.locks.fileBytes(LOCK)!;
    expect(CRASH_MODES.map((mode) => disk.crashLockFiles({ mode, seed: 1 }).boot)).toEqual(CRASH_MODES.map(() => disk.locks.boot));
    // Nothing was on the machine at boot; keep-all keeps the files as they are.
    expect(disk.crashLockFiles({ mode: 'drop-all', seed: 1 }).files.size).toBe(0);
    expect(disk.crashLockFiles({ mode: 'keep-all', seed: 1 }).files.get(LOCK)).toEqual(intact);
    const kinds = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const choice = { mode: 'tear-512' as const, seed };
      const image = disk.crashImage(choice);
      const locks = disk.crashLockFiles(choice);
      // Its own random stream: the file image is the same whether the lock files are taken or not.
      expect(disk.crashImage(choice)).toEqual(image);
      expect(disk.crashLockFiles(choice)).toEqual(locks);
      const left = locks.files.get(LOCK);
      const kind = left === undefined ? 'missing' : Buffer.from(left).equals(intact) ? 'intact' : left.every((b) => b === 0) ? 'zeros' : Buffer.from(intact).subarray(0, left.length).equals(left) ? 'torn' : 'garbage';
      kinds.add(kind);
      const after = SimulatedDisk.fromImage(image, locks);
      expect(after.locks.boot).toBe(disk.locks.boot + 1);
      const reopened = open(after);
      const taken = reopened.stats().recovery.lockTakenOver;
      if (kind === 'missing') expect(taken ?? '').not.toContain(`${LOCK}: `);
      else expect(taken).toContain(`${LOCK}: ${kind === 'intact' ? `thread ${SIM_PID} of process ${SIM_PID} held it before a reboot` : 'not a valid lock'}`);
      expect(reopened.load(1)).toBe('one');
      reopened.close();
    }
    expect([...kinds].sort()).toEqual(['garbage', 'intact', 'missing', 'torn', 'zeros']);
    store.close();
  });

  it('the machine after a crash runs none of the crashed one\'s threads, and a lock of this boot is honoured', () => {
    const disk = new SimulatedDisk();
    open(disk);
    const after = SimulatedDisk.fromImage(disk.crashImage({ mode: 'keep-all', seed: 0 }), disk.crashLockFiles({ mode: 'keep-all', seed: 0 }));
    const old = decodeLockRecord(after.locks.fileBytes(LOCK)!)!.owner;
    expect(old.bootId).not.toBe(after.locks.self().bootId);
    // The same thread on this boot is another thread: a lock naming it is live.
    after.locks.plant(LOCK, encodeLockRecord({ owner: after.locks.self(), timeMs: 0, nonce: 'bbbbbbbbbbbbbbbb' }));
    expectMapleError(() => open(after), 'ELOCKED', /this thread/);
  });
});
