/**
 * A store reopened on the boot that wrote it reads its ring through the page cache, so the record
 * it opens at may not be durable: a writer killed between a commit's record and its fdatasync
 * leaves it there. The open mark (storage/format/pageFile.ts) tells a writable open when a writer
 * of this boot did not close cleanly; the open then syncs before its first commit
 * (MapleStore.settleOpen). Without that sync, the next commits reused cells only the version
 * before it reaches, or appended to a log pass whose first record never reached the disk, and a
 * power loss lost acknowledged commits. After a clean close the open does not sync.
 */
import { describe, expect, it } from 'vitest';
import { type OpenOptions } from '../../src/index.js';
import { openWith } from '../../src/api/open.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import type { SimulatedLockDir } from '../../recovery/testing/simulatedLocks.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import { ForwardingIO } from '../helpers.js';

const RING_END = 5 * 4096;

/**
 * The file as a process sees it that is killed at its first sync after writing a commit record,
 * once `armed`: that sync and every call after it throw, and nothing more reaches the file.
 */
class KilledIO extends ForwardingIO {
  armed = false;
  dead = false;
  private recordWritten = false;
  constructor(
    inner: FileIO,
    private readonly onDeath: () => void,
  ) {
    super(inner, false);
  }
  private check(): void {
    if (this.dead) throw new Error('the process was killed');
  }
  override read(buf: Uint8Array, positionBytes: number): number {
    this.check();
    return super.read(buf, positionBytes);
  }
  override write(buf: Uint8Array, positionBytes: number): void {
    this.check();
    if (this.armed && positionBytes >= 4096 && positionBytes < RING_END) this.recordWritten = true;
    super.write(buf, positionBytes);
  }
  override sync(): void {
    this.check();
    if (this.armed && this.recordWritten) {
      this.dead = true;
      this.onDeath();
      this.check();
    }
    super.sync();
  }
  override truncate(sizeBytes: number): void {
    this.check();
    super.truncate(sizeBytes);
  }
}

/** The simulated disk's file, counting syncs. */
class CountingIO extends ForwardingIO {
  syncs = 0;
  constructor(inner: FileIO) {
    super(inner, false);
  }
  override sync(): void {
    this.syncs++;
    super.sync();
  }
}

const value = (v: number, i: number): unknown => ({ v, i, pad: 'p'.repeat(30) });

describe('a writable open on the boot that wrote the store', () => {
  for (const commitProtocol of ['one-sync', 'two-sync', 'log'] as const) {
    it(`${commitProtocol}: after a writer killed before a commit's sync, it syncs first, and a power loss later keeps what was acknowledged`, () => {
      const opts: OpenOptions = { commitProtocol };
      const disk = new SimulatedDisk();
      const locks = disk.lockEnv() as SimulatedLockDir;
      // The first writer runs on thread 77 of the simulated machine, which dies with it.
      const killed = new KilledIO(disk.fileIO(), () => locks.endThread(77));
      const s = openWith<unknown>('/same-boot', opts, { fileIO: killed, lockEnv: locks.thread(77) });
      s.transaction((t) => {
        for (let i = 0; i < 1000; i++) t.store(i * 10, i * 10 + 5, value(1, i));
      });
      // A commit of more than the log takes, so that with the log too it ends with a record and a sync.
      s.transaction((t) => {
        for (let i = 0; i < 1000; i++) t.store(i * 10, i * 10 + 5, value(2, i));
      });
      const acknowledged = s.version;
      killed.armed = true;
      expect(() =>
        s.transaction((t) => {
          for (let i = 0; i < 600; i++) t.store(i * 10, i * 10 + 5, value(3, i));
        }),
      ).toThrow();
      expect(killed.dead).toBe(true);

      // The same boot: the page cache holds the record of the commit that was killed.
      const io = new CountingIO(disk.fileIO());
      const t = openWith<unknown>('/same-boot', opts, { fileIO: io, lockEnv: locks });
      expect(t.stats().recovery.lockTakenOver).not.toBeNull();
      expect(io.syncs).toBe(1);
      const opened = t.version;
      expect(opened).toBeGreaterThanOrEqual(acknowledged);
      // Its next commit reuses cells; a power loss at any of its disk events keeps at least the
      // version it opened at.
      const bad: string[] = [];
      const off = disk.onEvent((e, d) => {
        for (const mode of ['drop-all', 'random-subset', 'reorder', 'tear-512'] as const) {
          const choice = { mode, seed: e.seq };
          const r = SimulatedDisk.fromImage(d.crashImage(choice), d.crashLockFiles(choice));
          try {
            const u = openWith<unknown>('/same-boot-after', opts, { fileIO: r.fileIO(), lockEnv: r.lockEnv() });
            if (u.version < opened) bad.push(`${mode} at event ${e.seq}: opened at version ${u.version} < ${opened}`);
            u.check();
            u.close();
          } catch (err) {
            bad.push(`${mode} at event ${e.seq}: ${String(err)}`);
          }
        }
      });
      t.transaction((tx) => {
        for (let i = 500; i < 1000; i++) tx.store(i * 10, i * 10 + 5, value(4, i));
      });
      off();
      expect(bad.slice(0, 3)).toEqual([]);
      t.close();
    });
  }

  it('after a clean close it does not sync before its first commit', () => {
    for (const commitProtocol of ['log', 'one-sync', 'two-sync'] as const) {
      const disk = new SimulatedDisk();
      const s = openWith<unknown>('/clean', { commitProtocol }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
      s.store(1, 2, 'a');
      s.close();
      for (let k = 0; k < 2; k++) {
        const io = new CountingIO(disk.fileIO());
        const t = openWith<unknown>('/clean', { commitProtocol }, { fileIO: io, lockEnv: disk.lockEnv() });
        expect(io.syncs, commitProtocol).toBe(0);
        t.store(3 + k, 3 + k, 'b');
        t.close();
      }
    }
  });
});
