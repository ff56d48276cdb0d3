/**
 * Readers in other processes: a read-only open registers the version it reads as an empty file in
 * `<real path>.readers/`, named `<pid>.<random>.<version>` (the random part ends in `t<start>`, the
 * process's start time, and `b<boot>`, the first 16 hex digits of the boot id, where /proc gives
 * them; a reader in a Worker adds `w<tid>s<thread start>`, its thread), and the writer — in whatever process —
 * keeps every cell that version can reach (storage/io/readerSet.ts; LMDB keeps a reader table in its lock file for the same reason). Names, not contents, carry
 * the version, so a rename changes it atomically and the writer only lists the directory.
 *
 * The race: a reader registers version 0 ("keep everything") before it reads which version is
 * current, and only then renames its file to that version. A commit that lists the directory after
 * the registration keeps everything the reader may read; the one commit that may have listed it
 * before reuses only cells freed by durable commits before it, which the version the reader reads
 * (current when it looked, or newer) does not reach. The next commit sees the reader, at 0 or at
 * that version, and keeps what that commit freed. A reader whose process is gone (killed, crashed) is removed by the writer, as
 * is one whose pid now belongs to a process with another start time, and one registered before a
 * reboot (its boot tag differs: start times restart at each boot, so pid and start alone could
 * match a process of the new boot).
 *
 * The directory exists only while a reader is registered: the last reader to leave removes it.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import * as os from 'node:os';
import { canonicalPath, sharedDirectory, sharedLockDir } from './lockEnv.js';
import { PROC, type ThreadIdentity, processAlive } from './liveness.js';
import { NO_READERS, type ReaderSet } from './readerSet.js';
import { START_CHECK_MS } from '../../src/common/limits.js';

/** The reader directory of the store at `storePath`. */
export function readersDir(storePath: string): string {
  return `${canonicalPath(storePath)}.readers`;
}

/**
 * The reader directory of the store file with this device and inode, whatever its names: a hard
 * link, or the file or a directory above it renamed while a writer has it open, gives the same file
 * another path, and so another `readersDir`. Readers register in both; the writer lists both.
 */
export function inodeReadersDir(id: FileIdentity): string {
  return nodePath.join(os.tmpdir(), 'maple-store-locks', `${id.device}-${id.inode}.readers`);
}

export interface FileIdentity {
  device: bigint;
  inode: bigint;
}

/** One registered reader (a read-only store). */
export class ReaderFile {
  private released = false;

  private constructor(
    /** The directories it is registered in (readersDir, then inodeReadersDir where it could be). */
    private readonly dirs: string[],
    private readonly stem: string,
    /** The version each directory's registration names (a failed rename leaves one behind). */
    private readonly versions: number[],
  ) {}

  /**
   * Registers a reader of the store file at `storePath` (device and inode `id`) that may read any
   * version (0) until setVersion, in its path's and its inode's reader directories. Undefined when
   * neither can be written (a read-only file system, no permission): the reader then reads
   * unregistered, as before this existed, and a writer elsewhere may reuse what it reads (it sees
   * ECORRUPT then, never a wrong value).
   */
  static register(storePath: string, id: FileIdentity): ReaderFile | undefined {
    // A reader in a Worker names its thread too: a Worker ends (terminated, crashed) while its
    // process lives on, and its registration must not pin its version until the process exits.
    const self = isMainThread ? PROC.selfProcess() : PROC.self();
    const start = self.processStart;
    const boot = bootTag(self.bootId);
    const thread = start === undefined || isMainThread || self.threadId === undefined || self.threadStart === undefined ? '' : `w${self.threadId}s${self.threadStart}`;
    const stem = `${process.pid}.${randomBytes(6).toString('hex')}${start === undefined ? '' : `t${start}`}${start === undefined || boot === undefined ? '' : `b${boot}`}${thread}`;
    const dirs: string[] = [];
    // Named once: the path may name another directory a moment later (a rename, a re-pointed link).
    const byPath = readersDir(storePath);
    if (registerIn(byPath, stem, () => undefined)) dirs.push(byPath);
    const byInode = inodeReadersDir(id);
    // Other users' readers register there too (lockEnv.ts, sharedDirectory).
    if (registerIn(byInode, stem, () => (sharedLockDir(), sharedDirectory(byInode)))) dirs.push(byInode);
    return dirs.length === 0 ? undefined : new ReaderFile(dirs, stem, dirs.map(() => 0));
  }

  /** The version this reader reads (the writer may reuse what only older versions reach). */
  setVersion(version: number): void {
    if (this.released) return;
    this.dirs.forEach((dir, i) => {
      if (this.versions[i] === version) return;
      try {
        fs.renameSync(nodePath.join(dir, `${this.stem}.${this.versions[i]}`), nodePath.join(dir, `${this.stem}.${version}`));
        this.versions[i] = version;
      } catch {
        /* this registration stays at the older version: it pins more than needed, never less */
      }
    });
  }

  /**
   * Removes the registrations. `movedTo`: the store file's path now, when it (or a directory above
   * it) was renamed while open — the path's registration moved with it, and left there it would pin
   * its version for as long as this process runs.
   */
  release(movedTo?: string): void {
    if (this.released) return;
    this.released = true;
    const dirs = [...this.dirs];
    const versions = [...this.versions];
    if (movedTo !== undefined && this.dirs.length > 0) {
      const moved = readersDir(movedTo);
      if (!dirs.includes(moved)) {
        dirs.push(moved);
        versions.push(this.versions[0]!);
      }
    }
    dirs.forEach((dir, i) => {
      try {
        fs.unlinkSync(nodePath.join(dir, `${this.stem}.${versions[i]}`));
      } catch {
        /* a writer took it for a dead process's: nothing to do */
      }
      try {
        fs.rmdirSync(dir);
      } catch {
        /* other readers are registered (ENOTEMPTY), or the directory is gone */
      }
    });
  }
}

/** This process's user and root; empty where there are no uids (every registration counts). */
function trustedUsers(): number[] {
  const uid = process.getuid?.();
  return uid === undefined ? [] : [uid, 0];
}

/** Whether the file at `path` (not followed) belongs to one of `users`; true when `users` is empty (no uids). */
function ownedBy(path: string, users: readonly number[]): boolean {
  if (users.length === 0) return true;
  try {
    return users.includes(fs.lstatSync(path).uid);
  } catch {
    return false; // gone since the listing
  }
}

/** Creates `<dir>/<stem>.0` (making `dir` with `mkdir`); whether it did. */
function registerIn(dir: string, stem: string, mkdir: () => void): boolean {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      mkdir();
      fs.mkdirSync(dir, { recursive: true });
      fs.closeSync(fs.openSync(nodePath.join(dir, `${stem}.0`), 'wx'));
      return true;
    } catch (err) {
      // ENOENT: the last reader removed the directory between our mkdir and create; retry.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
  }
  return false;
}

/**
 * The writer's view of the other processes' readers: one stat per commit when none is registered
 * (the directory exists only while one is), else a listing. Modification times are not trusted to
 * skip a listing: they tick coarsely, and a reader registering within the same tick would be missed.
 */
export class OtherReaders {
  /** This process's start time and boot tag, read once per writer. */
  private readonly ownStart: string | undefined;
  private readonly ownBoot: string | undefined;

  /**
   * `dirs`: the store's reader directories — its path's (readersDir) first, then the shared ones
   * (inodeReadersDir); `self`: this process as the writer lock already probed it (saves reading
   * /proc again).
   */
  constructor(
    private readonly dirs: readonly string[],
    self: ThreadIdentity = PROC.selfProcess(),
    /** The users whose registrations count in a shared directory: this process's and root (tests name others). */
    private readonly trusted: readonly number[] = trustedUsers(),
  ) {
    this.ownStart = self.processStart;
    this.ownBoot = bootTag(self.bootId);
  }

  /** pid + start of readers found alive, and when: /proc is read again after START_CHECK_MS. */
  private checked = new Map<string, number>();

  /**
   * Whether a reader's process runs, reading its /proc start time at most every START_CHECK_MS (a commit may
   * list the directory thousands of times a second). A pid cannot change its start while it runs,
   * so within that time a cached answer errs only by keeping a reader that just exited — pinning
   * more, never less; `kill(pid, 0)` still runs every time.
   */
  private alive(pid: number, start: string | undefined, thread: { id: number; start: string } | undefined): boolean {
    if (start === undefined) return processAlive(pid);
    const key = thread === undefined ? `${pid}t${start}` : `${pid}t${start}w${thread.id}s${thread.start}`;
    const at = this.checked.get(key);
    const now = Date.now();
    if (at !== undefined && now - at < START_CHECK_MS) return processAlive(pid);
    const owner: ThreadIdentity = thread === undefined ? { pid, processStart: start } : { pid, processStart: start, threadId: thread.id, threadStart: thread.start };
    const alive = PROC.whyGone(owner) === undefined;
    if (alive) this.checked.set(key, now);
    else this.checked.delete(key);
    if (this.checked.size > 1024) this.checked.clear();
    return alive;
  }

  /** Live registered readers at the last look. */
  count = 0;

  /** The oldest version a live reader in any process reads, or undefined if none is registered. */
  oldest(): number | undefined {
    const set = this.list();
    return set.any ? 0 : set.versions[0];
  }

  /**
   * The versions live readers in any process read (distinct, ascending); `any` when one is still
   * registered as version 0 (it may read any version up to the current one).
   */
  list(): ReaderSet {
    this.count = 0;
    const versions: number[] = [];
    let any = false;
    // A reader registers in each of the directories: counted once.
    const seen = new Set<string>();
    this.dirs.forEach((dir, i) => {
      any = this.listDir(dir, versions, seen, i > 0) || any;
    });
    this.count = seen.size;
    if (versions.length > 1) versions.sort((a, b) => a - b);
    return versions.length === 0 && !any ? NO_READERS : { versions, any };
  }

  /** Adds the versions of `dir`'s live readers to `versions` and their stems to `seen`; whether one is at version 0. */
  private listDir(dir: string, versions: number[], seen: Set<string>, shared: boolean): boolean {
    try {
      if (fs.statSync(dir, { throwIfNoEntry: false }) === undefined) return false;
    } catch {
      // Not to be searched (EACCES: the shared lock directory made private by another user; ENOTDIR):
      // the readers there go unseen, as readers that could not register — never a failed commit.
      return false;
    }
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return false; // the last reader removed it between the stat and the listing
    }
    let any = false;
    let left = names.length;
    for (const name of names) {
      const parts = name.split('.');
      if (parts.length !== 3) continue;
      const pid = Number(parts[0]);
      const version = Number(parts[2]);
      if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(version) || version < 0) continue;
      const tags = /^[0-9a-f]+(?:t(\d+)(?:b([0-9a-f]{16}))?(?:w(\d+)s(\d+))?)?$/.exec(parts[1]!);
      const start = tags?.[1];
      const boot = tags?.[2];
      // A reader in a Worker: its thread may end while its process runs.
      const thread = tags?.[3] === undefined ? undefined : { id: Number(tags[3]), start: tags[4]! };
      // Registered before a reboot: gone, whatever runs under that pid now.
      const earlierBoot = boot !== undefined && this.ownBoot !== undefined && boot !== this.ownBoot;
      // This process's own readers are alive — unless the start says an earlier process with the
      // same pid left it, or the Worker that registered has ended.
      const alive =
        !earlierBoot &&
        (pid === process.pid
          ? (start === undefined || this.ownStart === undefined || start === this.ownStart) && (thread === undefined || this.alive(pid, start, thread))
          : this.alive(pid, start, thread));
      if (!alive) {
        try {
          fs.unlinkSync(nodePath.join(dir, name));
          left--;
        } catch {
          /* already gone */
        }
        continue;
      }
      // In the shared directory (mode 1777) any user can make a file: only this user's and root's
      // count, or anyone could pin the store's space for ever. Another user's reader is still seen
      // through the store's own directory, which it registers in too.
      if (shared && !ownedBy(nodePath.join(dir, name), this.trusted)) continue;
      if (version === 0) any = true;
      else if (!versions.includes(version)) versions.push(version);
      seen.add(`${parts[0]}.${parts[1]}`);
    }
    if (left === 0) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* a reader has just registered (ENOTEMPTY), or it is gone */
      }
    }
    return any;
  }
}

/** The first 16 hex digits of a boot id (enough to tell boots apart), or undefined. */
function bootTag(bootId: string | undefined): string | undefined {
  return bootId?.replace(/-/g, '').slice(0, 16);
}
