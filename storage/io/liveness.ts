/**
 * Who runs: the identity of the calling thread, and whether a thread or process named earlier
 * (by a writer lock or a reader registration) still runs.
 *
 * A pid names one process only while it runs; once it exits the kernel may give the pid to another
 * process, and a tid to another thread. Start times tell them apart: field 22 (starttime, clock
 * ticks since boot) of `/proc/<pid>/stat` for the process and of `/proc/<pid>/task/<tid>/stat` for a
 * thread. Start times restart at every boot, so an identity also carries the boot id
 * (`/proc/sys/kernel/random/boot_id`): a thread named before a reboot is gone whatever runs now.
 *
 * Node's worker_threads run in one process: each Worker is an OS thread of its own with its own tid
 * (`/proc/thread-self` names it), and a Worker that ended (terminated, crashed) has no entry under
 * `/proc/<pid>/task/` any more. A pid alone cannot tell a Worker's lock from the main thread's.
 *
 * Without /proc (not Linux) only the pid is known, and a pid that is alive is taken to be the one
 * that was named (never "gone" unless `kill(pid, 0)` says so).
 */
import * as fs from 'node:fs';

/** One thread of one process on one boot; fields that /proc could not give are undefined. */
export interface ThreadIdentity {
  pid: number;
  /** starttime of the process (decimal clock ticks since boot). */
  processStart?: string;
  /** The thread's kernel id (in the pid namespace of the reader of /proc). */
  threadId?: number;
  /** starttime of the thread. */
  threadStart?: string;
  /** The boot id, 36 characters (8-4-4-4-12 lowercase hex). */
  bootId?: string;
}

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

/** The fields after the command name of a `/proc/.../stat` line (field 3 first), or undefined. */
function fieldsAfterName(stat: string): string[] | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  return stat.slice(close + 2).split(' ');
}

/** Field 22 (starttime) of a `/proc/<pid>/stat` line, as digits, or undefined if malformed. */
export function startOfStat(stat: string): string | undefined {
  const start = fieldsAfterName(stat)?.[19];
  return start !== undefined && /^\d+$/.test(start) ? start : undefined;
}

/** Field 3 (state: R, S, D, Z, X, ...) of a stat line, or undefined if malformed. */
export function stateOfStat(stat: string): string | undefined {
  const state = fieldsAfterName(stat)?.[0];
  return state !== undefined && /^[A-Za-z]$/.test(state) ? state : undefined;
}

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `text` has the form of a boot id. */
export function isBootId(text: string): boolean {
  return BOOT_ID.test(text);
}

/**
 * A /proc file of at most STAT_MAX_BYTES, as latin1: one open, read and close (readFileSync takes
 * a slower path for files that report size 0, as /proc files do: measured 4× the time here).
 */
function readSmall(path: string): string {
  const buf = Buffer.allocUnsafe(STAT_MAX_BYTES);
  const fd = fs.openSync(path, 'r');
  try {
    let n = 0;
    while (n < buf.length) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return buf.toString('latin1', 0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** A stat line is ~300 bytes (52 fields, a command name of at most 64); boot_id is 37. */
const STAT_MAX_BYTES = 1024;

/** What reading a stat file gave: its text, or why not (ENOENT: no such task). */
type StatRead = { text: string } | { missing: boolean };

/** Reads /proc, rooted at `root` (tests point it at a directory that does not exist: "no /proc"). */
export class ProcProbe {
  constructor(readonly root = '/proc') {}

  private stat(path: string): StatRead {
    try {
      return { text: readSmall(`${this.root}/${path}`) };
    } catch (err) {
      return { missing: (err as NodeJS.ErrnoException).code === 'ENOENT' };
    }
  }

  /** When process `pid` started, as digits; undefined where /proc does not show it. */
  processStart(pid: number): string | undefined {
    const read = this.stat(`${pid}/stat`);
    return 'text' in read ? startOfStat(read.text) : undefined;
  }

  /** The boot read once per probe: a process never outlives its boot. */
  private boot: { id: string | undefined } | undefined;

  bootId(): string | undefined {
    if (this.boot !== undefined) return this.boot.id;
    let id: string | undefined;
    try {
      const text = readSmall(`${this.root}/sys/kernel/random/boot_id`).trim();
      id = isBootId(text) ? text : undefined;
    } catch {
      // No such file (not Linux, no /proc mounted, no permission): the boot is unknown.
      id = undefined;
    }
    this.boot = { id };
    return id;
  }

  /**
   * This process without its thread: pid, start time and boot id (three small reads). A /proc of
   * another PID namespace (its `self` is not our pid) is no /proc at all: its pids name other processes.
   */
  selfProcess(): ThreadIdentity {
    if (this.ownProcess !== undefined) return { ...this.ownProcess };
    const id = this.readSelfProcess();
    // Only a whole answer is kept: one cut short by a read that failed for a passing reason (EMFILE,
    // ENOMEM) is read again next time, not kept for as long as the thread runs.
    if (id.processStart !== undefined) this.ownProcess = id;
    return { ...id };
  }

  /**
   * What selfProcess() and self() read, once per probe: a process's and a thread's identity never
   * change while they run, and a probe lives in one thread. Where /proc cannot name them (none, or
   * a read failed), they are read again at every call.
   */
  private ownProcess: ThreadIdentity | undefined;
  private ownThread: ThreadIdentity | undefined;

  private readSelfProcess(): ThreadIdentity {
    const id: ThreadIdentity = { pid: process.pid };
    try {
      if (fs.readlinkSync(`${this.root}/self`) !== String(process.pid)) return id;
    } catch {
      // No /proc/self (not Linux, not mounted): only the pid is known.
      return id;
    }
    const processStart = this.processStart(process.pid);
    if (processStart === undefined) return id;
    id.processStart = processStart;
    const bootId = this.bootId();
    if (bootId !== undefined) id.bootId = bootId;
    return id;
  }

  /**
   * The calling thread: `/proc/thread-self` links to `<pid>/task/<tid>` (Linux 3.17+), in a Worker
   * to the Worker's own thread. On the main thread (tid = pid) the thread's start is the process's
   * start: a readlink and two small reads (a Worker: three). Where thread-self is missing, the
   * process alone (selfProcess).
   */
  self(): ThreadIdentity {
    if (this.ownThread !== undefined) return { ...this.ownThread };
    const id = this.readSelf();
    if (id.threadStart !== undefined) this.ownThread = id;
    return { ...id };
  }

  private readSelf(): ThreadIdentity {
    let link: string;
    try {
      link = fs.readlinkSync(`${this.root}/thread-self`);
    } catch {
      // No /proc/thread-self (older kernels, no /proc): the thread is unknown, the process may not be.
      return this.selfProcess();
    }
    const m = /^(\d+)\/task\/(\d+)$/.exec(link);
    // Another PID namespace's /proc: its pids name other processes.
    if (!m || Number(m[1]) !== process.pid) return { pid: process.pid };
    const tid = Number(m[2]);
    const read = this.stat(`${process.pid}/task/${tid}/stat`);
    const threadStart = 'text' in read ? startOfStat(read.text) : undefined;
    if (threadStart === undefined) return this.selfProcess();
    const processStart = tid === process.pid ? threadStart : this.processStart(process.pid);
    if (processStart === undefined) return { pid: process.pid };
    const id: ThreadIdentity = { pid: process.pid, processStart, threadId: tid, threadStart };
    const bootId = this.bootId();
    if (bootId !== undefined) id.bootId = bootId;
    return id;
  }

  /**
   * Why the process (and thread, where named) of `owner` is known to have ended, or undefined when
   * it may still run. Boot ids are compared by the caller. Conservative: "gone" only on evidence —
   * the pid is free, or /proc shows the pid with another start time or as a zombie, or shows the
   * process but not the thread (or the tid with another start time); anything unreadable is
   * "may still run".
   */
  whyGone(owner: ThreadIdentity): string | undefined {
    const { pid } = owner;
    if (!processAlive(pid)) return `process ${pid} has exited`;
    const read = this.stat(`${pid}/stat`);
    if (!('text' in read)) return undefined; // no /proc, or it hides the process: the pid is all we know
    const start = startOfStat(read.text);
    if (owner.processStart !== undefined && start !== undefined && start !== owner.processStart) {
      return `process ${pid} has exited (pid ${pid} now names a process started at tick ${start}, not ${owner.processStart})`;
    }
    if (stateOfStat(read.text) === 'Z') return `process ${pid} has exited (a zombie not yet reaped)`;
    if (owner.threadId === undefined || owner.threadStart === undefined || start === undefined) return undefined;
    const tid = owner.threadId;
    const task = this.stat(`${pid}/task/${tid}/stat`);
    if (!('text' in task)) return task.missing ? `thread ${tid} of process ${pid} has ended` : undefined;
    const threadStart = startOfStat(task.text);
    if (threadStart !== undefined && threadStart !== owner.threadStart) {
      return `thread ${tid} of process ${pid} has ended (tid ${tid} now names a thread started at tick ${threadStart}, not ${owner.threadStart})`;
    }
    if (stateOfStat(task.text) === 'Z') return `thread ${tid} of process ${pid} has ended`;
    return undefined;
  }
}

/** The real /proc. */
export const PROC = new ProcProbe();
