/**
 * One writer per file across processes: an exclusive lock file `<real path>.lock` (symlinks and
 * relative spellings resolved, so every spelling of one file meets the same lock) created with
 * O_EXCL holding "pid timeMs processStart" (the last where /proc tells it). A lock whose process is
 * gone is taken over — also when its pid now belongs to a process that started later. Hard links get
 * around a path, so the writer also takes a lock named by the file's device and inode (lockInode).
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import * as os from 'node:os';
import { MapleError, locked } from '../../src/common/errors.js';

/** Paths this process holds open for writing (a second open in the same process is refused too). */
const heldHere = new Set<string>();

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`), as
 * digits; undefined where there is no such file (no /proc, not Linux, no such process). A pid
 * names one process only while it runs: once it exits the kernel may give the pid to another,
 * and only the start time tells them apart.
 */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return startOfStat(stat);
}

/** Field 22 (starttime) of a `/proc/<pid>/stat` line, as digits, or undefined if malformed. */
export function startOfStat(stat: string): string | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const start = stat.slice(close + 2).split(' ')[19];
  return start !== undefined && /^\d+$/.test(start) ? start : undefined;
}

let selfStart: string | null | undefined;

/** This process's processStart, read once; undefined where it cannot be known. */
export function ownStart(): string | undefined {
  if (selfStart === undefined) selfStart = processStart(process.pid) ?? null;
  return selfStart ?? undefined;
}

/**
 * Whether the process that recorded (`pid`, `start`) still runs: its pid is alive and, when the
 * start was recorded and the pid's start can be read, that start is the same (a different start
 * is another process that was given the same pid after the first one exited).
 */
export function ownerAlive(pid: number, start: string | undefined): boolean {
  if (!processAlive(pid)) return false;
  if (start === undefined) return true;
  const now = processStart(pid);
  return now === undefined || now === start;
}

/** One spelling per file: the real path of its directory plus its name. */
export function canonicalPath(storePath: string): string {
  const abs = nodePath.resolve(storePath);
  try {
    if (fs.existsSync(abs)) return fs.realpathSync(abs);
  } catch {
    /* fall through to the directory's real path */
  }
  try {
    return nodePath.join(fs.realpathSync(nodePath.dirname(abs)), nodePath.basename(abs));
  } catch {
    return abs;
  }
}

export class WriterLock {
  private released = false;
  private inode: { path: string; key: string } | undefined;
  private constructor(readonly lockPath: string, private readonly key: string) {}

  static acquire(storePath: string): WriterLock {
    const key = canonicalPath(storePath);
    const lockPath = `${key}.lock`;
    take(lockPath, key, storePath);
    return new WriterLock(lockPath, key);
  }

  /**
   * Hard links are other paths to the same file, each with its own `<path>.lock`: writers also meet
   * at a lock named by the file's device and inode, in `<os temp dir>/maple-store-locks/`, taken
   * once the file exists. Where that directory cannot be written, only the path lock guards.
   */
  lockInode(storePath: string): void {
    let st: fs.BigIntStats;
    let dir: string;
    try {
      st = fs.statSync(storePath, { bigint: true });
      dir = nodePath.join(os.tmpdir(), 'maple-store-locks');
      fs.mkdirSync(dir, { recursive: true });
    } catch {
      return;
    }
    const key = `inode ${st.dev}:${st.ino}`;
    const lockPath = nodePath.join(dir, `${st.dev}-${st.ino}.lock`);
    try {
      take(lockPath, key, storePath);
    } catch (err) {
      if (err instanceof MapleError) throw err;
      return; // the directory is not ours to write in
    }
    this.inode = { path: lockPath, key };
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const { path, key } of this.inode ? [{ path: this.lockPath, key: this.key }, this.inode] : [{ path: this.lockPath, key: this.key }]) {
      heldHere.delete(key);
      try {
        fs.unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
  }
}

/** Creates `lockPath` exclusively with "pid timeMs processStart", taking over a lock whose process is gone. */
function take(lockPath: string, key: string, storePath: string): void {
  if (heldHere.has(key)) throw locked(`${storePath} is already open for writing in this process`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      const start = ownStart();
      fs.writeSync(fd, start === undefined ? `${process.pid} ${Date.now()}\n` : `${process.pid} ${Date.now()} ${start}\n`);
      fs.closeSync(fd);
      heldHere.add(key);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    let ownerStart: string | undefined;
    try {
      const fields = fs.readFileSync(lockPath, 'utf8').trim().split(' ');
      owner = Number.parseInt(fields[0] ?? '', 10);
      ownerStart = fields[2] !== undefined && /^\d+$/.test(fields[2]) ? fields[2] : undefined;
    } catch {
      continue; // the lock vanished between our open and read: try again
    }
    if (ownerAlive(owner, ownerStart) && (owner !== process.pid || heldHere.has(key))) {
      throw locked(`${storePath} is open for writing by process ${owner} (lock file ${lockPath})`);
    }
    // The owner is gone (or is us, from a store never closed): take the lock over.
    try {
      fs.unlinkSync(lockPath);
    } catch {
      /* raced with another taker; retry */
    }
  }
  throw locked(`could not take the writer lock ${lockPath}`);
}
