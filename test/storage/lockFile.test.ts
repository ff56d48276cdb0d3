/**
 * Unit tests of the writer lock (storage/io/lockFile.ts, storage/io/lockRecord.ts, storage/io/liveness.ts):
 * the lock line's strict grammar and checksum; refusal while a live thread holds the lock; takeover
 * of anything else — dead processes and threads, earlier boots, torn, flipped, zeroed and garbage
 * files, for the path lock and the inode lock — reported with the reason; takeover markers and
 * temporary files; the machine without /proc; and every interleaving of two openers taking over
 * the same stale lock (on the simulated machine of recovery/testing/simulatedLocks.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { crc32 } from '../../src/common/checksum.js';
import { type LockEnv, NodeLockEnv } from '../../storage/io/lockEnv.js';
import { WriterLock } from '../../storage/io/lockFile.js';
import { openWith } from '../../src/api/open.js';
import { type LockRecord, decodeLockRecord, describeOwner, encodeLockRecord } from '../../storage/io/lockRecord.js';
import { PROC, ProcProbe, type ThreadIdentity, startOfStat, stateOfStat } from '../../storage/io/liveness.js';
import { Prng } from '../../recovery/testing/simulatedDisk.js';
import { SIM_PID, SimulatedLockDir } from '../../recovery/testing/simulatedLocks.js';
import { expectMapleError } from '../helpers.js';

let dir: string;
let storePath: string;
let lockPath: string;
const held: WriterLock[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-lock-'));
  storePath = path.join(dir, 'store.maple');
  lockPath = `${fs.realpathSync(dir)}/store.maple.lock`;
});

afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

function acquire(p = storePath, env?: LockEnv): WriterLock {
  const lock = WriterLock.acquire(p, env);
  held.push(lock);
  return lock;
}

function refusal(fn: () => unknown): MapleError {
  return expectMapleError(fn, 'ELOCKED');
}

/** The record the lock file holds now (undefined when it is missing or invalid). */
function lockRecord(p = lockPath): LockRecord | undefined {
  return fs.existsSync(p) ? decodeLockRecord(fs.readFileSync(p)) : undefined;
}

/** The pid of a process that has already exited (and been reaped). */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  expect(result.status).toBe(0);
  return result.pid!;
}

/** The main thread of the parent process (a live thread that is not this one), as /proc shows it. */
function parentThread(): ThreadIdentity {
  const pid = process.ppid;
  const start = PROC.processStart(pid);
  const id: ThreadIdentity = { pid };
  if (start === undefined) return id;
  id.processStart = start;
  id.threadId = pid;
  id.threadStart = startOfStat(fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'latin1'));
  const boot = PROC.bootId();
  if (boot !== undefined) id.bootId = boot;
  return id;
}

function recordOf(owner: ThreadIdentity, nonce = '0123456789abcdef'): Uint8Array {
  return encodeLockRecord({ owner, timeMs: 1_700_000_000_000, nonce });
}

/** A line with the right checksum over `body` (for grammar tests: only the grammar is wrong). */
function withCrc(body: string): Uint8Array {
  const bytes = Buffer.from(body, 'latin1');
  return Buffer.from(`${body} ${crc32(bytes, 0, bytes.length).toString(16).padStart(8, '0')}\n`, 'latin1');
}

const hasProc = PROC.self().threadId !== undefined;

describe('lock record', () => {
  const full: ThreadIdentity = { pid: 1234, processStart: '5678', threadId: 1240, threadStart: '5690', bootId: 'ad1dcd7d-e4eb-4ad8-8d64-eaf4294e5316' };
  const shapes: ThreadIdentity[] = [full, { pid: 1234, processStart: '5678', bootId: full.bootId }, { pid: 1234, processStart: '0' }, { pid: 99 }];

  it('encodes one checksummed line that decodes back, pid first and process start third', () => {
    for (const owner of shapes) {
      const bytes = recordOf(owner);
      const text = Buffer.from(bytes).toString('latin1');
      expect(text.endsWith('\n')).toBe(true);
      expect(text.split(' ')[0]).toBe(String(owner.pid));
      expect(text.split(' ')[2]).toBe(owner.processStart ?? '-');
      expect(decodeLockRecord(bytes)).toEqual({ owner, timeMs: 1_700_000_000_000, nonce: '0123456789abcdef' });
      expect(encodeLockRecord(decodeLockRecord(bytes)!)).toEqual(bytes);
    }
    expect(Buffer.from(recordOf(full)).toString()).toMatch(/^1234 1700000000000 5678 1240 5690 ad1dcd7d-e4eb-4ad8-8d64-eaf4294e5316 0123456789abcdef [0-9a-f]{8}\n$/);
    expect(describeOwner(full)).toBe('thread 1240 of process 1234');
    expect(describeOwner({ pid: 7 })).toBe('process 7');
  });

  it('a torn record (every shorter length) and a record with any one byte changed decode to nothing', () => {
    for (const owner of shapes) {
      const bytes = recordOf(owner);
      for (let n = 0; n < bytes.length; n++) expect(decodeLockRecord(bytes.subarray(0, n)), `torn to ${n} bytes`).toBeUndefined();
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0x10, 0x80, 0xff]) {
          const flipped = Uint8Array.from(bytes);
          flipped[i]! ^= mask;
          expect(decodeLockRecord(flipped), `byte ${i} ^ ${mask}`).toBeUndefined();
        }
      }
      // Anything after the line, or a line twice.
      expect(decodeLockRecord(Buffer.concat([bytes, Buffer.from('x')]))).toBeUndefined();
      expect(decodeLockRecord(Buffer.concat([bytes, bytes]))).toBeUndefined();
    }
  });

  it('a line with a valid checksum but not the exact grammar decodes to nothing', () => {
    const boot = full.bootId!;
    const good = `1234 1700 5678 1240 5690 ${boot} 0123456789abcdef`;
    expect(decodeLockRecord(withCrc(good))).toBeDefined();
    const bad = [
      `01234 1700 5678 1240 5690 ${boot} 0123456789abcdef`, // leading zero
      `0 1700 5678 1240 5690 ${boot} 0123456789abcdef`, // pid 0
      `1234 1700 5678 - 5690 ${boot} 0123456789abcdef`, // a thread start without a thread
      `1234 1700 - 1240 5690 ${boot} 0123456789abcdef`, // a thread without a process start
      `1234 1700 5678 1240 - ${boot} 0123456789abcdef`,
      `1234 1700 5678 1240 5690 ${boot.toUpperCase()} 0123456789abcdef`,
      `1234 1700 5678 1240 5690 not-a-boot-id 0123456789abcdef`,
      `1234 1700 5678 1240 5690 ${boot} 0123456789ABCDEF`,
      `1234 1700 5678 1240 5690 ${boot} 0123456789abcde`,
      `1234 1700 5678 1240 5690 ${boot}  0123456789abcdef`,
      `1234 1700 5678 1240 5690 0123456789abcdef`,
      `1234 1700 5678 1240 5690 ${boot} 0123456789abcdef extra`,
      `99999999999 1700 5678 1240 5690 ${boot} 0123456789abcdef`,
      `-1 1700 5678 1240 5690 ${boot} 0123456789abcdef`,
    ];
    for (const body of bad) expect(decodeLockRecord(withCrc(body)), body).toBeUndefined();
    // CRLF, and the legacy "pid timeMs start" line of maple-store 0.1 (no checksum).
    expect(decodeLockRecord(Buffer.from(`${Buffer.from(withCrc(good)).toString().trimEnd()}\r\n`))).toBeUndefined();
    expect(decodeLockRecord(Buffer.from(`${process.pid} ${Date.now()} 5678\n`))).toBeUndefined();
  });

  it('random bytes, zeros and text decode to nothing', () => {
    const rng = new Prng(7);
    for (let n = 0; n < 300; n++) {
      const junk = new Uint8Array(rng.below(260));
      rng.fill(junk);
      expect(decodeLockRecord(junk)).toBeUndefined();
      expect(decodeLockRecord(new Uint8Array(n))).toBeUndefined();
    }
    for (const text of ['', '\n', '1\n', '2 garbage', `${process.pid}\n`]) expect(decodeLockRecord(Buffer.from(text))).toBeUndefined();
  });
});

describe('liveness probes', () => {
  it('read fields 3 and 22 of /proc stat lines, even when the command name holds spaces and parentheses', () => {
    const tail = Array.from({ length: 30 }, (_, i) => String(i + 3)).join(' ');
    // Fields 3.. are 3, 4, …: field 22 is "22".
    expect(startOfStat(`123 (a) b (c)) ${tail}`)).toBe('22');
    expect(startOfStat(`123 (plain) ${tail}`)).toBe('22');
    expect(startOfStat('123 (short) S 1 2')).toBeUndefined();
    expect(startOfStat('garbage')).toBeUndefined();
    expect(stateOfStat('123 (x) y) Z 1 2')).toBe('Z');
    const own = PROC.processStart(process.pid);
    if (fs.existsSync('/proc/self/stat')) expect(own).toBe(fs.readFileSync('/proc/self/stat', 'utf8').split(' ')[21]);
    else expect(own).toBeUndefined();
    expect(PROC.processStart(deadPid())).toBeUndefined();
  });

  it('name this thread, and judge a thread gone only on evidence', () => {
    const self = PROC.self();
    expect(self.pid).toBe(process.pid);
    expect(PROC.whyGone(self)).toBeUndefined();
    expect(PROC.whyGone({ pid: process.pid })).toBeUndefined();
    expect(PROC.whyGone({ pid: deadPid() })).toMatch(/has exited/);
    if (!hasProc) return;
    expect(self.threadId).toBe(Number(fs.readlinkSync('/proc/thread-self').split('/')[2]));
    expect(self.bootId).toBe(fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(PROC.whyGone({ ...self, processStart: String(BigInt(self.processStart!) + 1n) })).toMatch(/has exited \(pid \d+ now names a process started/);
    expect(PROC.whyGone({ ...self, threadStart: String(BigInt(self.threadStart!) + 1n) })).toMatch(/thread \d+ of process \d+ has ended \(tid/);
    // A tid that is not a thread of this process (pid 1's, say) is an ended thread of ours.
    expect(PROC.whyGone({ ...self, threadId: 1, threadStart: '0' })).toBe(`thread 1 of process ${process.pid} has ended`);
    // Without /proc only kill(pid, 0) can be asked.
    const blind = new ProcProbe(path.join(dir, 'no-proc'));
    expect(blind.self()).toEqual({ pid: process.pid });
    expect(blind.whyGone({ ...self, threadId: 1, threadStart: '0' })).toBeUndefined();
  });
});

describe('WriterLock on this machine', () => {
  it('makes the shared device-and-inode lock directory writable by every user (sticky, as /tmp)', () => {
    // The first user to make it must not leave every other user's writers unguarded against hard
    // links (their inode lock silently skipped): two writers on one file.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-tmpdir-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const oldMask = process.umask(0o022);
    try {
      fs.writeFileSync(storePath, '');
      const lock = acquire();
      lock.lockInode(storePath);
      const shared = path.join(tmp, 'maple-store-locks');
      expect(fs.readdirSync(shared)).toHaveLength(1);
      expect(fs.statSync(shared).mode & 0o7777).toBe(0o1777);
      lock.release();
    } finally {
      process.umask(oldMask);
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('creates <path>.lock holding a checksummed record naming this thread, and nothing else', () => {
    const lock = acquire();
    expect(lock.lockPath).toBe(lockPath);
    const rec = lockRecord()!;
    expect(rec).toBeDefined();
    expect(rec.owner).toEqual(PROC.self());
    expect(lock.takenOver).toEqual([]);
    // No temporary file or marker is left beside it.
    expect(fs.readdirSync(dir).sort()).toEqual(['store.maple.lock']);
  });

  it('a second acquire on the same thread is ELOCKED and leaves the held lock alone', () => {
    acquire();
    const before = fs.readFileSync(lockPath);
    const err = refusal(() => acquire());
    expect(err.message).toContain(storePath);
    if (hasProc) expect(err.message).toContain('this thread');
    expect(fs.readFileSync(lockPath)).toEqual(before);
  });

  it('recognizes the same store through another spelling of its path', () => {
    fs.writeFileSync(storePath, '');
    acquire();
    fs.mkdirSync(path.join(dir, 'sub'));
    refusal(() => acquire(path.join(dir, '.', 'sub', '..', 'store.maple')));
  });

  it('release then acquire works, and release removes the lock file', () => {
    const lock = acquire();
    lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
    const again = acquire();
    expect(fs.existsSync(again.lockPath)).toBe(true);
    again.release();
    again.release(); // idempotent
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('release leaves a lock file that is not its own', () => {
    const lock = acquire();
    const other = recordOf(parentThread());
    fs.writeFileSync(lockPath, other);
    lock.release();
    expect(fs.readFileSync(lockPath)).toEqual(Buffer.from(other));
  });

  it('locks on different paths are independent', () => {
    acquire();
    acquire(path.join(dir, 'other.maple'));
  });

  it('refuses a valid lock of a live thread of another process, naming it, and leaves it alone', () => {
    const owner = parentThread();
    const bytes = recordOf(owner);
    fs.writeFileSync(lockPath, bytes);
    const err = refusal(() => acquire());
    expect(err.message).toContain(`process ${owner.pid}`);
    expect(err.message).toContain(lockPath);
    expect(fs.readFileSync(lockPath)).toEqual(Buffer.from(bytes));
    expect(fs.readdirSync(dir)).toEqual(['store.maple.lock']);
  });

  it('takes over a lock of a process that exited, and says why', () => {
    const pid = deadPid();
    fs.writeFileSync(lockPath, recordOf({ ...parentThread(), pid, threadId: hasProc ? pid : undefined }));
    const lock = acquire();
    expect(lockRecord()!.owner).toEqual(PROC.self());
    expect(lock.takenOver).toEqual([`${lockPath}: process ${pid} has exited`]);
  });

  it.runIf(hasProc)('takes over a lock whose pid now belongs to a process that started later', () => {
    const owner = parentThread();
    fs.writeFileSync(lockPath, recordOf({ ...owner, processStart: String(BigInt(owner.processStart!) + 1n) }));
    const lock = acquire();
    expect(lock.takenOver[0]).toMatch(/has exited \(pid \d+ now names a process started at tick/);
  });

  it.runIf(hasProc)('takes over a lock of a live process written on another boot, and refuses it on this boot', () => {
    const owner = parentThread();
    const boot = owner.bootId!;
    const otherBoot = `${boot[0] === '0' ? '1' : '0'}${boot.slice(1)}`;
    fs.writeFileSync(lockPath, recordOf({ ...owner, bootId: otherBoot }));
    const lock = acquire();
    expect(lock.takenOver).toEqual([`${lockPath}: thread ${owner.threadId} of process ${owner.pid} held it before a reboot (boot id ${otherBoot}, now ${boot})`]);
    lock.release();
    fs.writeFileSync(lockPath, recordOf(owner));
    refusal(() => acquire());
  });

  it.runIf(hasProc)('takes over a lock of an ended thread of this process', () => {
    const self = PROC.self();
    // tid 1 is no thread of this process (it is init's): an ended thread of ours.
    fs.writeFileSync(lockPath, recordOf({ ...self, threadId: 1 }));
    const lock = acquire();
    expect(lock.takenOver).toEqual([`${lockPath}: thread 1 of process ${process.pid} has ended`]);
  });

  it('takes over a valid lock of a live thread torn at every byte length, and reports it', () => {
    const bytes = recordOf(parentThread());
    for (let n = 0; n < bytes.length; n++) {
      fs.writeFileSync(lockPath, bytes.subarray(0, n));
      const lock = WriterLock.acquire(storePath);
      expect(lock.takenOver, `torn to ${n} bytes`).toEqual([`${lockPath}: not a valid lock (${n} bytes: torn, damaged or not written by maple-store)`]);
      expect(lockRecord()!.owner).toEqual(PROC.self());
      lock.release();
    }
  });

  it('takes over a valid lock of a live thread with any one byte changed', () => {
    const bytes = recordOf(parentThread());
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Uint8Array.from(bytes);
      flipped[i]! ^= 1 << i % 8;
      fs.writeFileSync(lockPath, flipped);
      const lock = WriterLock.acquire(storePath);
      expect(lock.takenOver.length, `byte ${i}`).toBe(1);
      lock.release();
    }
  });

  it('takes over random bytes, zeros, an empty file, and text that starts with a live pid', () => {
    const rng = new Prng(11);
    const contents: Uint8Array[] = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(4096), Buffer.from('1\n'), Buffer.from(`${process.pid}\n`), Buffer.from('not a pid\n')];
    contents.push(Buffer.from(`${process.ppid} ${Date.now()} ${PROC.processStart(process.ppid) ?? ''}\n`)); // the 0.1 format: no checksum
    const twoGarbage = new Uint8Array(40);
    rng.fill(twoGarbage);
    twoGarbage[0] = 0x32; // '2': pid 2 (kthreadd) is alive on Linux
    contents.push(twoGarbage);
    for (let i = 0; i < 20; i++) {
      const junk = new Uint8Array(1 + rng.below(300));
      rng.fill(junk);
      contents.push(junk);
    }
    for (const content of contents) {
      fs.writeFileSync(lockPath, content);
      const lock = WriterLock.acquire(storePath);
      expect(lock.takenOver[0]).toMatch(/not a valid lock/);
      lock.release();
      expect(fs.existsSync(lockPath)).toBe(false);
    }
  });

  it('the device-and-inode lock: refused when live, taken over when torn, garbage or dead', () => {
    fs.writeFileSync(storePath, '');
    const st = fs.statSync(storePath, { bigint: true });
    const inodeLock = path.join(os.tmpdir(), 'maple-store-locks', `${st.dev}-${st.ino}.lock`);
    fs.mkdirSync(path.dirname(inodeLock), { recursive: true });
    const live = recordOf(parentThread());
    try {
      fs.writeFileSync(inodeLock, live);
      const lock = acquire();
      refusal(() => lock.lockInode(storePath));
      expect(fs.readFileSync(inodeLock)).toEqual(Buffer.from(live));
      lock.release();
      for (const content of [live.subarray(0, 7), new Uint8Array(64), Buffer.from('1\n'), recordOf({ pid: deadPid() })]) {
        fs.writeFileSync(inodeLock, content);
        const again = WriterLock.acquire(storePath);
        again.lockInode(storePath);
        expect(again.takenOver).toHaveLength(1);
        expect(again.takenOver[0]!.startsWith(`${inodeLock}: `)).toBe(true);
        expect(decodeLockRecord(fs.readFileSync(inodeLock))!.owner).toEqual(PROC.self());
        again.release();
        expect(fs.existsSync(inodeLock)).toBe(false);
      }
    } finally {
      fs.rmSync(inodeLock, { force: true });
    }
  });

  it('a lock file that cannot be written (a full disk) is EIO naming the lock, with the system error as cause, and leaves no file', () => {
    const noSpace = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    class FullDisk extends NodeLockEnv {
      override create(): boolean {
        throw noSpace;
      }
    }
    const err = expectMapleError(() => openWith(storePath, {}, { lockEnv: new FullDisk() }), 'EIO', /cannot create the lock file .*store\.maple\.lock.*no space left on device/);
    expect(err.cause).toBe(noSpace);
    expect(fs.readdirSync(dir)).toEqual([]);
    // Space again: nothing left behind stands in the way.
    const db = openWith(storePath, {}, {});
    db.close();
    expect(fs.readdirSync(dir)).toEqual(['store.maple']);
  });

  it('leftover temporary files are never taken for the lock and are left alone', () => {
    const tmpLive = `${lockPath}.0123456789abcdef.tmp`;
    const tmpJunk = `${lockPath}.fedcba9876543210.tmp`;
    fs.writeFileSync(tmpLive, recordOf(parentThread()));
    fs.writeFileSync(tmpJunk, 'x');
    const lock = acquire();
    expect(lock.takenOver).toEqual([]);
    lock.release();
    // With a stale lock too: the takeover is of the lock only.
    fs.writeFileSync(lockPath, '');
    const again = acquire();
    expect(again.takenOver).toHaveLength(1);
    again.release();
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(tmpLive), path.basename(tmpJunk)].sort());
  });

  it('a stale takeover marker (its taker died mid-takeover) is taken over too; a live one means ELOCKED', () => {
    const marker = `${lockPath}.break`;
    for (const content of [recordOf({ pid: deadPid() }), Buffer.from('torn'), new Uint8Array(0)]) {
      fs.writeFileSync(lockPath, '2');
      fs.writeFileSync(marker, content);
      const lock = WriterLock.acquire(storePath);
      expect(lock.takenOver).toHaveLength(1);
      expect(fs.existsSync(marker)).toBe(false);
      lock.release();
    }
    // Two levels of dead takers.
    fs.writeFileSync(lockPath, '2');
    fs.writeFileSync(marker, 'x');
    fs.writeFileSync(`${marker}.break`, 'y');
    acquire().release();
    expect(fs.readdirSync(dir)).toEqual([]);
    // A live taker at work: refused, and its marker and the lock are left to it.
    fs.writeFileSync(lockPath, '2');
    fs.writeFileSync(marker, recordOf(parentThread()));
    expect(refusal(() => acquire()).message).toContain('being taken over');
    expect(fs.readFileSync(lockPath, 'latin1')).toBe('2');
    expect(fs.existsSync(marker)).toBe(true);
  });
});

describe('WriterLock on a machine without /proc', () => {
  const blind = () => new NodeLockEnv(new ProcProbe(path.join(dir, 'no-proc')));

  it('names only the pid, and a lock naming a live pid is honoured whatever thread took it', () => {
    const lock = acquire(storePath, blind());
    expect(lockRecord()!.owner).toEqual({ pid: process.pid });
    // This thread, another copy, another thread of this process: all the same pid, all refused.
    refusal(() => acquire(storePath, blind()));
    lock.release();
    // A lock a Worker of this process took, then ended: the pid is alive, so it is kept (the documented limit).
    fs.writeFileSync(lockPath, recordOf({ pid: process.pid }));
    refusal(() => acquire(storePath, blind()));
    // A dead pid's lock, and a torn one, are taken over.
    fs.writeFileSync(lockPath, recordOf({ pid: deadPid() }));
    acquire(storePath, blind()).release();
    fs.writeFileSync(lockPath, '1\n');
    acquire(storePath, blind()).release();
  });

  it('a lock written with /proc is judged by its pid alone', () => {
    fs.writeFileSync(lockPath, recordOf({ ...parentThread(), processStart: '1', threadStart: '1' }));
    refusal(() => acquire(storePath, blind()));
  });
});

describe('openers taking over the same stale lock, at every interleaving', () => {
  const STORE = '/simulated/race.maple';
  const FILE_OPS = new Set(['read', 'create', 'link', 'remove']);
  const A = SIM_PID + 1;
  const B = SIM_PID + 2;
  const C = SIM_PID + 3;
  const ENDED = SIM_PID + 90;
  class Killed extends Error {}

  /** `env` that calls `before(n)` before its n-th file operation (n from 0); `before` may throw. */
  function instrument(env: LockEnv, before: (op: number) => void): LockEnv {
    let count = 0;
    return new Proxy(env, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (FILE_OPS.has(String(prop))) before(count++);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  type Outcome = { lock?: WriterLock; error?: unknown };
  function tryAcquire(env: LockEnv): Outcome {
    try {
      return { lock: WriterLock.acquire(STORE, env) };
    } catch (error) {
      return { error };
    }
  }

  /** A machine whose lock file holds a stale lock; thread A runs. */
  function machineWith(make: (m: SimulatedLockDir) => Uint8Array): { machine: SimulatedLockDir; lockFile: string } {
    const machine = SimulatedLockDir.start(undefined);
    const lockFile = machine.pathLockFile(STORE);
    machine.plant(lockFile, make(machine));
    machine.endThread(ENDED);
    return { machine, lockFile };
  }

  function holderOf(machine: SimulatedLockDir, lockFile: string): number | undefined {
    const bytes = machine.fileBytes(lockFile);
    return bytes === undefined ? undefined : decodeLockRecord(bytes)!.owner.threadId;
  }

  function expectRefusedOrHeld(outcomes: Outcome[]): void {
    for (const o of outcomes) if (o.error !== undefined) expect((o.error as MapleError).code, String(o.error)).toBe('ELOCKED');
  }

  const stale: Array<[string, (m: SimulatedLockDir) => Uint8Array]> = [
    ['garbage', () => Buffer.from('2\0\0\0')],
    ['a lock of an ended thread', (m) => encodeLockRecord({ owner: m.thread(ENDED).self(), timeMs: 1, nonce: 'aaaaaaaaaaaaaaaa' })],
  ];

  for (const [what, make] of stale) {
    it(`B opens at any point of A's takeover of ${what}: exactly one holds the lock`, () => {
      let points = 0;
      for (let k = 0; k < 200; k++) {
        const { machine, lockFile } = machineWith(make);
        const b = machine.thread(B);
        let bOutcome: Outcome | undefined;
        const aOutcome = tryAcquire(instrument(machine.thread(A), (op) => op === k && (bOutcome = tryAcquire(b))));
        if (bOutcome === undefined) break; // A needed fewer than k + 1 operations
        points++;
        expectRefusedOrHeld([aOutcome, bOutcome]);
        const holders = [aOutcome, bOutcome].filter((o) => o.lock !== undefined);
        expect(holders.length, `interleaving ${k}`).toBe(1);
        expect(holderOf(machine, lockFile)).toBe(holders[0] === aOutcome ? A : B);
        // Nothing but the lock is left behind.
        expect(machine.names()).toEqual([lockFile]);
      }
      expect(points).toBeGreaterThan(8);
    });

    it(`B opens, then closes and C opens, at any points of A's takeover of ${what}: never two holders`, () => {
      let points = 0;
      for (let k = 0; k < 200; k++) {
        let aFinishedFirst = false;
        for (let j = k + 1; j < k + 8; j++) {
          const { machine, lockFile } = machineWith(make);
          const b = machine.thread(B);
          const c = machine.thread(C);
          let bOutcome: Outcome | undefined;
          let cOutcome: Outcome | undefined;
          const aOutcome = tryAcquire(
            instrument(machine.thread(A), (op) => {
              if (op === k) bOutcome = tryAcquire(b);
              if (op === j) {
                bOutcome?.lock?.release();
                cOutcome = tryAcquire(c);
              }
            }),
          );
          if (bOutcome === undefined) aFinishedFirst = true;
          if (cOutcome === undefined) break;
          points++;
          expectRefusedOrHeld([aOutcome, bOutcome!, cOutcome]);
          const holders = [aOutcome, cOutcome].filter((o) => o.lock !== undefined);
          expect(holders.length, `interleaving ${k}/${j}`).toBe(1);
          expect(holderOf(machine, lockFile), `interleaving ${k}/${j}`).toBe(holders[0] === aOutcome ? A : C);
        }
        if (aFinishedFirst) break;
      }
      expect(points).toBeGreaterThan(20);
    });

    it(`A dies at any point of its takeover of ${what}: the next opener takes over what it left`, () => {
      let points = 0;
      for (let k = 0; k < 200; k++) {
        const { machine, lockFile } = machineWith(make);
        let died = false;
        // A dead thread does nothing more: every later operation of A fails too (no finally runs for real).
        const aOutcome = tryAcquire(
          instrument(machine.thread(A), (op) => {
            if (op < k) return;
            died = true;
            throw new Killed();
          }),
        );
        if (!died) {
          expect(aOutcome.lock).toBeDefined();
          break;
        }
        points++;
        expect(aOutcome.error).toBeInstanceOf(Killed);
        machine.endThread(A);
        const b = WriterLock.acquire(STORE, machine.thread(B));
        expect(holderOf(machine, lockFile)).toBe(B);
        // What A left is gone, but for temporary files (never read) and its takeover marker when it
        // died after removing the stale lock (no takeover has met that marker yet; when one does, it
        // is stale: A has ended).
        const left = () => machine.names().filter((n) => !n.endsWith('.tmp') && n !== `${lockFile}.break`);
        expect(left()).toEqual([lockFile]);
        b.release();
        expect(left()).toEqual([]);
        // And a later takeover meets whatever A left, and goes through.
        machine.plant(lockFile, Buffer.from('torn'));
        const c = WriterLock.acquire(STORE, machine.thread(C));
        expect(c.takenOver).toHaveLength(1);
        expect(machine.names().filter((n) => !n.endsWith('.tmp'))).toEqual([lockFile]);
        c.release();
      }
      expect(points).toBeGreaterThan(8);
    });
  }
});
