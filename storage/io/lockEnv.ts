/**
 * What the writer lock (storage/io/lockFile.ts) needs from the machine, as one small interface: the
 * names of the lock files, a handful of file operations in their directories, and the probes of who
 * runs. The default is the real file system and /proc (NodeLockEnv); the crash simulator
 * (recovery/testing/simulatedLocks.ts) stands in a simulated lock directory whose files a power loss can
 * drop or tear and a "boot" that changes at every crash. Internal: not part of the public API.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import * as os from 'node:os';
import { type ThreadIdentity, PROC, type ProcProbe } from './liveness.js';
import { MAX_LOCK_BYTES } from './lockRecord.js';

/** A lock file as read through one descriptor: its bytes and which file it was. */
export interface LockFileRead {
  bytes: Uint8Array;
  /** Identifies the file itself (device and inode), not its name. */
  fileId: string;
}

export interface LockEnv {
  /** The calling thread, with the boot id where known. */
  self(): ThreadIdentity;
  /** Why `owner` is known to have stopped running, or undefined when it may still run (boot ids aside). */
  whyGone(owner: ThreadIdentity): string | undefined;
  /** `<the store's path, one spelling per file>.lock`. */
  pathLockFile(storePath: string): string;
  /** The lock named by the (existing) store file's device and inode; undefined where none can be kept. */
  inodeLockFile(storePath: string): string | undefined;
  /** The file's bytes (up to MAX_LOCK_BYTES + 1) and identity; undefined when there is no such file. */
  read(path: string): LockFileRead | undefined;
  /** Creates `path` exclusively (O_EXCL) holding `bytes`; false when it already exists. */
  create(path: string, bytes: Uint8Array): boolean;
  /** Gives the file `existing` the second name `newPath`; false when `newPath` already exists. */
  link(existing: string, newPath: string): boolean;
  /** Removes the name `path`; nothing when it is already gone. */
  remove(path: string): void;
  /** 16 lowercase hex digits, unique (nonces, temporary names). */
  unique(): string;
  nowMs(): number;
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
    // The directory does not resolve either (missing, no permission): the path as given; opening it fails next.
    return abs;
  }
}

/**
 * `<os temp dir>/maple-store-locks/`, where writers meet at device-and-inode locks and readers
 * register by device and inode (storage/io/readerFiles.ts): made if missing, and writable by every
 * user, sticky as the temp directory itself is — the user who happens to make it first must not
 * leave every other user's writers unguarded against hard links. Throws when it cannot be made.
 */
export function sharedLockDir(): string {
  const dir = nodePath.join(os.tmpdir(), 'maple-store-locks');
  sharedDirectory(dir);
  return dir;
}

/**
 * Makes `dir` (its parent exists) if missing, mode 1777 when this user owns it (mkdir's mode is cut
 * by the umask). Throws when `dir` is a symbolic link: in a directory every user writes in, another
 * user may put one there, pointing at a directory of ours, for us to make writable by everyone
 * (and to register readers in).
 */
export function sharedDirectory(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
  // Where these are missing (Windows) there is neither a symbolic link to fear nor a mode to set.
  if (O_DIRECTORY === undefined || O_NOFOLLOW === undefined) return;
  const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o7777) !== 0o1777 && st.uid === process.getuid?.()) fs.fchmodSync(fd, 0o1777);
  } finally {
    fs.closeSync(fd);
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** The real file system and /proc (or a ProcProbe rooted elsewhere, for tests of a machine without /proc). */
export class NodeLockEnv implements LockEnv {
  constructor(private readonly probe: ProcProbe = PROC) {}

  self(): ThreadIdentity {
    return this.probe.self();
  }

  whyGone(owner: ThreadIdentity): string | undefined {
    return this.probe.whyGone(owner);
  }

  pathLockFile(storePath: string): string {
    return `${canonicalPath(storePath)}.lock`;
  }

  /**
   * Hard links are other paths to the same file, each with its own `<path>.lock`: writers also meet
   * at a lock named by the file's device and inode, in `<os temp dir>/maple-store-locks/`. Where that
   * directory cannot be made, undefined (only the path lock guards).
   */
  inodeLockFile(storePath: string): string | undefined {
    try {
      const st = fs.statSync(storePath, { bigint: true });
      return nodePath.join(sharedLockDir(), `${st.dev}-${st.ino}.lock`);
    } catch {
      // The file cannot be stat'ed or the temp dir written: hard links go unguarded (README, Limits).
      return undefined;
    }
  }

  read(path: string): LockFileRead | undefined {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      const buf = Buffer.alloc(MAX_LOCK_BYTES + 1);
      let n = 0;
      while (n < buf.length) {
        const got = fs.readSync(fd, buf, n, buf.length - n, n);
        if (got === 0) break;
        n += got;
      }
      return { bytes: buf.subarray(0, n), fileId: `${st.dev}:${st.ino}` };
    } finally {
      fs.closeSync(fd);
    }
  }

  create(path: string, bytes: Uint8Array): boolean {
    let fd: number;
    try {
      fd = fs.openSync(path, 'wx', 0o644);
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    }
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    } catch (err) {
      fs.closeSync(fd);
      this.remove(path);
      throw err;
    }
    fs.closeSync(fd);
    return true;
  }

  link(existing: string, newPath: string): boolean {
    try {
      fs.linkSync(existing, newPath);
      return true;
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    }
  }

  remove(path: string): void {
    try {
      fs.unlinkSync(path);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
  }

  /**
   * 64 random bits. Unique, not secret: Math.random (each isolate seeds its own from the OS), since
   * crypto.randomBytes measured ~25 µs a call here and a lock takes four.
   */
  unique(): string {
    const word = () => Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
    return word() + word();
  }

  nowMs(): number {
    return Date.now();
  }
}

/** The real machine (stateless). */
export const NODE_LOCK_ENV: LockEnv = new NodeLockEnv();
