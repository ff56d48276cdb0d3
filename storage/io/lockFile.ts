/**
 * One writer per file per machine, whatever the process, thread (worker_threads) or copy of this
 * library: the writer holds a lock file `<real path>.lock` naming its thread (storage/io/lockRecord.ts:
 * pid, tid, their start times, the boot id, a nonce and a CRC-32), and — since hard links are other
 * paths to the same file — a second one named by the file's device and inode
 * (storage/io/lockEnv.ts, inodeLockFile).
 *
 * No state in memory decides anything: a copy of the library in the same process, or a Worker, has
 * its own module instance, so only the file and the kernel's view of who runs are shared. A lock is
 * honoured (ELOCKED) when it decodes — exact grammar and checksum — and names a thread that still
 * runs: same boot id, process alive with the same start time, thread alive with the same start time
 * (storage/io/liveness.ts). Anything else is stale and is taken over, and the store reports what it
 * took over and why (RecoveryReport.lockTakenOver). A lock naming the caller's own thread is live
 * too: a store opened earlier on this thread and not closed, maybe through another copy of the
 * library. Where /proc is missing only the pid can be checked: a lock naming a live pid is live,
 * even one left by a Worker that ended — never take over a lock that may be live.
 *
 * Creating: the lock is written whole to a unique temporary file in the same directory
 * (`<lock>.<16 hex>.tmp`), given the lock's name with link() — which fails with EEXIST when a lock
 * exists — and the temporary name removed. An opener can never see a half-written lock of a live
 * writer; only a power loss leaves a torn one (stale by the rules above). A process that dies
 * between the two steps leaves a `.tmp` file, which nothing reads.
 *
 * Durability: nothing here is fsynced, neither the file nor its directory entry. A lock matters only
 * while its writer runs; after a power loss its writer does not, and a lock that did not reach the
 * disk is simply absent (as if released), one that did is from a previous boot (stale), one that
 * reached it in part is torn (stale).
 *
 * Taking over a stale lock S at path P, race-safe between any number of openers:
 *
 *   1. Take the takeover marker `P.break`, created like a lock (temporary file + link) and naming
 *      the taker's thread. A live marker means another opener is taking the lock over right now:
 *      ELOCKED. A stale marker (its taker died mid-takeover, or it is torn) is itself taken over by
 *      this same procedure one level down (`P.break.break`, at most MAX_MARKER_DEPTH levels).
 *   2. Holding the marker, read P again. Only if it is still S — the same file (device and inode)
 *      with the same bytes — remove P. Release the marker (remove it if it still holds our bytes).
 *   3. Start over: link our lock to P (another opener may win that race; then we judge its lock).
 *
 *   A taker that dies between steps 2 and 3 leaves P.break behind: stale, it is taken over by the
 *   next takeover that meets it (an opener that finds P free never looks at it).
 *
 *   Why this is safe: a name P is removed only (a) by the live writer whose lock it holds, on release,
 *   or (b) in step 2 by the holder of P.break. So while we hold P.break and P holds S, whose writer
 *   is gone (stale is permanent: a dead thread never runs again, a boot never comes back, and torn
 *   bytes are not a writer), nobody but us can remove S; a newer lock cannot replace it either, since
 *   link never replaces an existing name. So the S we re-read in step 2 is still there when we remove
 *   it, and we never remove a live lock. The re-read is needed: between our first look and taking the
 *   marker, another taker may have removed S and a new writer linked a live lock L; we then see L
 *   (not S: every valid lock has its own nonce, and an inode is checked too) and leave it alone.
 *   Two takers never hold P.break at once (link again), unless one judged the other's marker stale,
 *   which needs that taker to have ended. The rename-and-check alternative (move P aside, look at
 *   what was moved, put it back if it was a live lock) is not enough by itself: while P is moved
 *   aside a third opener can link a fresh lock to P, the put-back then fails, and two writers each
 *   believe they hold the lock.
 *
 * Not guarded: processes in different PID namespaces (containers sharing the volume) cannot see each
 * other's pids; a file system without hard links (link fails) cannot hold the lock at all (EIO).
 * Node has no flock to lock the store file itself.
 */
import { MapleError, locked, ioFailed } from '../../src/common/errors.js';
import { type LockEnv, type LockFileRead, NODE_LOCK_ENV } from './lockEnv.js';
import { type ThreadIdentity } from './liveness.js';
import { describeOwner, decodeLockRecord, encodeLockRecord } from './lockRecord.js';

/** Tries to take one lock (each try after a stale lock was removed, or the lock changed under us). */
const MAX_ATTEMPTS = 8;
/** Takeover markers of takeover markers: P.break, P.break.break, P.break.break.break. */
const MAX_MARKER_DEPTH = 3;

type Verdict = { live: true; owner: ThreadIdentity } | { live: false; why: string };

export class WriterLock {
  private readonly held: { path: string; bytes: Uint8Array }[] = [];
  private released = false;
  /** What this lock took over, and why each was stale ("<lock file>: <reason>"). */
  readonly takenOver: string[] = [];
  /** The calling thread, probed once per acquisition. */
  readonly self: ThreadIdentity;

  private constructor(
    private readonly env: LockEnv,
    private readonly storePath: string,
    readonly lockPath: string,
  ) {
    this.self = env.self();
  }

  /** Takes `<path>.lock` for the store at `storePath`; ELOCKED when a live writer holds it. */
  static acquire(storePath: string, env: LockEnv = NODE_LOCK_ENV): WriterLock {
    const lock = new WriterLock(env, storePath, env.pathLockFile(storePath));
    lock.take(lock.lockPath);
    return lock;
  }

  /** Also takes the device-and-inode lock, once the store file exists (skipped where it cannot be kept). */
  lockInode(storePath: string): void {
    const path = this.env.inodeLockFile(storePath);
    if (path === undefined) return;
    try {
      this.take(path);
    } catch (err) {
      if (err instanceof MapleError && err.code === 'ELOCKED') throw err;
      // The shared directory is not ours to write in (or cannot hold links): only the path lock guards.
    }
  }

  /**
   * Removes the lock files this holds, newest first. Best effort: a lock left behind is stale once
   * we are gone. `movedTo`: the store file's path now, when it (or a directory above it) was renamed
   * while open — the path lock moved with it, and left there it would refuse this very thread.
   */
  release(movedTo?: string): void {
    if (this.released) return;
    this.released = true;
    for (const { path, bytes } of this.held.splice(0).reverse()) {
      try {
        removeIfMine(this.env, path, bytes);
        if (path === this.lockPath && movedTo !== undefined) {
          const moved = this.env.pathLockFile(movedTo);
          if (moved !== path) removeIfMine(this.env, moved, bytes);
        }
      } catch {
        /* left behind: stale once this thread ends */
      }
    }
  }

  private newRecord(): Uint8Array {
    return encodeLockRecord({ owner: this.self, timeMs: this.env.nowMs(), nonce: this.env.unique() });
  }

  private take(path: string): void {
    const mine = this.newRecord();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (place(this.env, path, mine)) {
        this.held.push({ path, bytes: mine });
        return;
      }
      const seen = this.env.read(path);
      if (seen === undefined) continue; // released between our link and our read
      const verdict = this.judge(seen.bytes);
      if (verdict.live) throw this.refusal(verdict.owner, path);
      if (this.removeStale(path, seen, 1)) this.takenOver.push(`${path}: ${verdict.why}`);
    }
    throw locked(`${this.storePath}: could not take the writer lock ${path}: it changed ${MAX_ATTEMPTS} times while other openers took it`);
  }

  /** Whether `bytes` are a lock naming a thread that may still run. */
  private judge(bytes: Uint8Array): Verdict {
    const rec = decodeLockRecord(bytes);
    if (rec === undefined) return { live: false, why: `not a valid lock (${bytes.length} bytes: torn, damaged or not written by maple-store)` };
    const { owner } = rec;
    const boot = this.self.bootId;
    if (owner.bootId !== undefined && boot !== undefined && owner.bootId !== boot) {
      return { live: false, why: `${describeOwner(owner)} held it before a reboot (boot id ${owner.bootId}, now ${boot})` };
    }
    const gone = this.env.whyGone(owner);
    return gone === undefined ? { live: true, owner } : { live: false, why: gone };
  }

  private refusal(owner: ThreadIdentity, path: string): MapleError {
    const self = this.self;
    const who =
      owner.pid !== self.pid
        ? describeOwner(owner)
        : owner.threadId !== undefined && owner.threadId === self.threadId
          ? `this thread (${describeOwner(owner)}: a store opened earlier and not closed, perhaps through another copy of maple-store)`
          : `${describeOwner(owner)} (this process${owner.threadId === undefined ? '' : ', another thread'})`;
    return locked(`${this.storePath} is open for writing by ${who} (lock file ${path})`);
  }

  /**
   * Removes the stale `seen` from `path` under the takeover marker `<path>.break` (the argument at
   * the top of this file). True when we removed it; false when it was already gone or replaced.
   */
  private removeStale(path: string, seen: LockFileRead, depth: number): boolean {
    const marker = `${path}.break`;
    if (depth > MAX_MARKER_DEPTH) {
      throw locked(`${this.storePath}: the writer lock ${path} is stale, but so are ${MAX_MARKER_DEPTH} nested takeover markers; remove ${marker} by hand`);
    }
    const mine = this.newRecord();
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw locked(`${this.storePath}: could not take the takeover marker ${marker}: other openers keep taking it`);
      if (place(this.env, marker, mine)) break;
      const other = this.env.read(marker);
      if (other === undefined) continue;
      const verdict = this.judge(other.bytes);
      if (verdict.live) {
        throw locked(`${this.storePath}: the writer lock ${path} is being taken over by ${describeOwner(verdict.owner)} right now (marker ${marker})`);
      }
      this.removeStale(marker, other, depth + 1);
    }
    try {
      const now = this.env.read(path);
      if (now === undefined || now.fileId !== seen.fileId || !sameBytes(now.bytes, seen.bytes)) return false;
      this.env.remove(path);
      return true;
    } finally {
      removeIfMine(this.env, marker, mine);
    }
  }
}

/** Creates `path` holding `bytes`, atomically (temporary file + link); false when `path` exists. */
function place(env: LockEnv, path: string, bytes: Uint8Array): boolean {
  const tmp = `${path}.${env.unique()}.tmp`;
  let created: boolean;
  try {
    created = env.create(tmp, bytes);
  } catch (err) {
    // A system error (a full disk, a quota, no permission) is named as the lock's; anything else passes as it is.
    if (err instanceof MapleError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
    throw ioFailed(`cannot create the lock file ${path} (writing ${tmp}): ${String(err)}`, err);
  }
  if (!created) throw ioFailed(`temporary lock file ${tmp} already exists`);
  try {
    return env.link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw ioFailed(`cannot create the lock file ${path}${code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' ? ' (the file system does not support hard links, which the writer lock needs)' : ''}: ${String(err)}`, err);
  } finally {
    env.remove(tmp);
  }
}

/** Removes `path` if it still holds `bytes` (a lock we placed and nobody can have replaced while we live). */
function removeIfMine(env: LockEnv, path: string, bytes: Uint8Array): void {
  const now = env.read(path);
  if (now !== undefined && sameBytes(now.bytes, bytes)) env.remove(path);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
