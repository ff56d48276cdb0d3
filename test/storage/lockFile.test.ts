/**
 * Unit tests of the writer lock (storage/io/lockFile.ts): one writer per path within this process,
 * refusal while another live process holds the lock, and takeover of a lock left by a dead one.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { WriterLock, ownerAlive, processStart, startOfStat } from '../../storage/io/lockFile.js';
import { expectMapleError } from '../helpers.js';

let dir: string;
let storePath: string;
const held: WriterLock[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-lock-'));
  storePath = path.join(dir, 'store.maple');
});

afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

function acquire(p = storePath): WriterLock {
  const lock = WriterLock.acquire(p);
  held.push(lock);
  return lock;
}

function refusal(fn: () => unknown): MapleError {
  return expectMapleError(fn, 'ELOCKED');
}

function lockOwner(): number {
  return Number.parseInt(fs.readFileSync(`${storePath}.lock`, 'utf8').split(' ')[0]!, 10);
}

/** The pid of a process that has already exited (and been reaped). */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  expect(result.status).toBe(0);
  expect(typeof result.pid).toBe('number');
  return result.pid!;
}

describe('WriterLock', () => {
  it('creates <path>.lock holding "pid timeMs processStart"', () => {
    const lock = acquire();
    expect(lock.lockPath).toBe(`${storePath}.lock`);
    const [pid, started, start, ...rest] = fs.readFileSync(lock.lockPath, 'utf8').trim().split(' ');
    expect(Number(pid)).toBe(process.pid);
    expect(Number.isInteger(Number(started))).toBe(true);
    // The start time where /proc gives it (Linux), else nothing.
    expect(start).toBe(processStart(process.pid));
    expect(rest).toEqual([]);
  });

  it('takes over a lock whose pid now belongs to a process that started later', () => {
    // The parent process is alive; a lock naming it with another start time was left by an
    // earlier process that had the same pid.
    const pid = process.ppid;
    const start = processStart(pid);
    fs.writeFileSync(`${storePath}.lock`, `${pid} ${Date.now() - 60_000} ${start === undefined ? '1' : String(BigInt(start) + 1n)}\n`);
    if (start === undefined) {
      // No /proc: a live pid is all that can be known, so the lock holds.
      refusal(() => acquire());
      return;
    }
    acquire();
    expect(lockOwner()).toBe(process.pid);
  });

  it('refuses a lock whose live pid has the recorded start time', () => {
    const pid = process.ppid;
    fs.writeFileSync(`${storePath}.lock`, `${pid} ${Date.now()} ${processStart(pid) ?? ''}\n`);
    expect(refusal(() => acquire()).message).toContain(`process ${pid}`);
    expect(lockOwner()).toBe(pid);
  });

  it('a second acquire of the same path in this process is ELOCKED', () => {
    acquire();
    expect(refusal(() => acquire()).message).toContain(storePath);
    // The refusal did not disturb the held lock.
    expect(lockOwner()).toBe(process.pid);
  });

  it('recognizes the same store through another spelling of its path', () => {
    fs.writeFileSync(storePath, '');
    acquire();
    const other = path.join(dir, '.', 'sub', '..', 'store.maple');
    fs.mkdirSync(path.join(dir, 'sub'));
    refusal(() => acquire(other));
  });

  it('release then acquire works, and release removes the lock file', () => {
    const lock = acquire();
    lock.release();
    expect(fs.existsSync(`${storePath}.lock`)).toBe(false);
    const again = acquire();
    expect(fs.existsSync(again.lockPath)).toBe(true);
    again.release();
    again.release(); // idempotent
    expect(fs.existsSync(`${storePath}.lock`)).toBe(false);
  });

  it('locks on different paths are independent', () => {
    acquire();
    acquire(path.join(dir, 'other.maple'));
  });

  it('takes over a stale lock whose process is dead', () => {
    const pid = deadPid();
    fs.writeFileSync(`${storePath}.lock`, `${pid} ${Date.now() - 60_000}\n`);
    acquire();
    expect(lockOwner()).toBe(process.pid);
  });

  it('takes over a lock file left by this process without a live WriterLock', () => {
    fs.writeFileSync(`${storePath}.lock`, `${process.pid} ${Date.now()}\n`);
    acquire();
    expect(lockOwner()).toBe(process.pid);
  });

  it('takes over a garbage or empty lock file', () => {
    fs.writeFileSync(`${storePath}.lock`, 'not a pid\n');
    acquire().release();
    fs.writeFileSync(`${storePath}.lock`, '');
    acquire();
    expect(lockOwner()).toBe(process.pid);
  });

  it('refuses a lock held by another live process, naming its pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
      const pid = child.pid!;
      fs.writeFileSync(`${storePath}.lock`, `${pid} ${Date.now()}\n`);
      const err = refusal(() => acquire());
      expect(err.message).toContain(`process ${pid}`);
      // The other process's lock file is left alone.
      expect(lockOwner()).toBe(pid);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // Once that process is gone its lock is stale and is taken over.
    acquire();
    expect(lockOwner()).toBe(process.pid);
  });
});

describe('process start times', () => {
  it('read field 22 of /proc/<pid>/stat, even when the command name holds spaces and parentheses', () => {
    const tail = Array.from({ length: 30 }, (_, i) => String(i + 3)).join(' ');
    // Fields 3.. are 3, 4, …: field 22 is "22".
    expect(startOfStat(`123 (a) b (c)) ${tail}`)).toBe('22');
    expect(startOfStat(`123 (plain) ${tail}`)).toBe('22');
    expect(startOfStat('123 (short) S 1 2')).toBeUndefined();
    expect(startOfStat('garbage')).toBeUndefined();
    const own = processStart(process.pid);
    if (fs.existsSync('/proc/self/stat')) expect(own).toBe(fs.readFileSync('/proc/self/stat', 'utf8').split(' ')[21]);
    else expect(own).toBeUndefined();
    expect(processStart(deadPid())).toBeUndefined();
  });

  it('a live pid is its recorded owner only with the same start (or none recorded)', () => {
    const start = processStart(process.pid);
    expect(ownerAlive(process.pid, undefined)).toBe(true);
    expect(ownerAlive(process.pid, start)).toBe(true);
    expect(ownerAlive(process.pid, '1')).toBe(start === undefined);
    expect(ownerAlive(deadPid(), undefined)).toBe(false);
  });
});
