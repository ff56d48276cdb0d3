/**
 * The simulated machine a simulated disk's writer lock lives on (storage/io/lockEnv.ts's LockEnv):
 * lock files in memory, one process (pid SIM_PID) with threads, and a boot number.
 *
 * Lock files are never synced (storage/io/lockFile.ts: a lock need not be durable), so a power loss
 * may leave each of them in any state: `crashState` keeps, per name that held bytes since boot,
 * one of — absent, as it was at boot, its last bytes, a torn prefix of them, zeros, or garbage —
 * chosen from a seed ('drop-all' keeps the files as they were at boot, 'keep-all' as they are now).
 * The machine made from a crash state has the next boot number, so every lock written before the
 * crash is from a previous boot; its process runs no thread of the crashed one.
 *
 * Threads: the machine starts with the main thread (tid SIM_PID) running; `thread(tid)` gives the
 * same machine as seen from another thread (for tests of two writers racing), `endThread` ends one.
 */
import type { LockEnv, LockFileRead } from '../../storage/io/lockEnv.js';
import type { ThreadIdentity } from '../../storage/io/liveness.js';
import type { CrashMode, Prng } from './simulatedDisk.js';

/** The one process of a simulated machine. */
export const SIM_PID = 4242;
/** Start time (ticks) of the process; thread t started at SIM_START + (t - SIM_PID). */
const SIM_START = 100;

/** What a power loss left of the lock files, and on which boot they were written. */
export interface SimulatedLockState {
  boot: number;
  files: Map<string, Uint8Array>;
}

interface SimFile {
  bytes: Uint8Array;
  /** Shared by every name of the file (link). */
  ino: number;
}

class Machine {
  readonly files = new Map<string, SimFile>();
  /** Every name that held bytes since boot, with the last bytes it held. */
  readonly seen = new Map<string, Uint8Array>();
  readonly running = new Set<number>([SIM_PID]);
  nextIno = 1;
  counter = 0;

  constructor(
    readonly boot: number,
    readonly atBoot: Map<string, Uint8Array>,
    readonly checkAlive: () => void,
  ) {
    for (const [name, bytes] of atBoot) {
      this.files.set(name, { bytes: bytes.slice(), ino: this.nextIno++ });
      this.seen.set(name, bytes.slice());
    }
  }
}

/** A boot id of the proper form for boot number `boot`. */
export function simulatedBootId(boot: number): string {
  return `00000000-0000-4000-8000-${boot.toString(16).padStart(12, '0')}`;
}

export class SimulatedLockDir implements LockEnv {
  private constructor(
    private readonly machine: Machine,
    readonly tid: number,
  ) {}

  /**
   * Starts a machine: with no lock files (boot 1), or with what a crash left (`state`), on the boot
   * after the one they were written on. `checkAlive` throws once the machine has lost power.
   */
  static start(state: SimulatedLockState | undefined, checkAlive: () => void = () => undefined): SimulatedLockDir {
    return new SimulatedLockDir(new Machine((state?.boot ?? 0) + 1, state?.files ?? new Map(), checkAlive), SIM_PID);
  }

  get boot(): number {
    return this.machine.boot;
  }

  /** This machine as seen from thread `tid`, which now runs. */
  thread(tid: number): SimulatedLockDir {
    this.machine.running.add(tid);
    return new SimulatedLockDir(this.machine, tid);
  }

  endThread(tid: number): void {
    this.machine.running.delete(tid);
  }

  /** The current bytes of `path`, or undefined (for tests). */
  fileBytes(path: string): Uint8Array | undefined {
    return this.machine.files.get(path)?.bytes.slice();
  }

  /** Every name present now, sorted (for tests). */
  names(): string[] {
    return [...this.machine.files.keys()].sort();
  }

  /** Writes `bytes` at `path` as an outside program would (for tests). */
  plant(path: string, bytes: Uint8Array): void {
    const m = this.machine;
    m.files.set(path, { bytes: bytes.slice(), ino: m.nextIno++ });
    m.seen.set(path, bytes.slice());
  }

  /** What a power loss now could leave of the lock files (see the top of this file). */
  crashState(mode: CrashMode, rng: Prng): SimulatedLockState {
    const m = this.machine;
    const files = new Map<string, Uint8Array>();
    if (mode === 'drop-all') {
      for (const [name, bytes] of m.atBoot) files.set(name, bytes.slice());
    } else if (mode === 'keep-all') {
      for (const [name, f] of m.files) files.set(name, f.bytes.slice());
    } else {
      const names = [...new Set([...m.seen.keys(), ...m.atBoot.keys()])].sort();
      for (const name of names) {
        const last = m.seen.get(name) ?? new Uint8Array(0);
        const kind = rng.below(6);
        if (kind === 1) {
          const old = m.atBoot.get(name);
          if (old) files.set(name, old.slice());
        } else if (kind === 2) {
          files.set(name, last.slice());
        } else if (kind === 3) {
          files.set(name, last.slice(0, rng.below(Math.max(1, last.length))));
        } else if (kind === 4) {
          files.set(name, new Uint8Array(last.length > 0 ? last.length : 1 + rng.below(64)));
        } else if (kind === 5) {
          const junk = new Uint8Array(1 + rng.below(200));
          rng.fill(junk);
          files.set(name, junk);
        }
        // kind 0: the name never reached the disk, or its removal did.
      }
    }
    return { boot: m.boot, files };
  }

  // --- LockEnv

  self(): ThreadIdentity {
    return { pid: SIM_PID, processStart: String(SIM_START), threadId: this.tid, threadStart: String(SIM_START + this.tid - SIM_PID), bootId: simulatedBootId(this.machine.boot) };
  }

  whyGone(owner: ThreadIdentity): string | undefined {
    if (owner.pid !== SIM_PID || (owner.processStart !== undefined && owner.processStart !== String(SIM_START))) return `process ${owner.pid} has exited`;
    if (owner.threadId === undefined) return undefined;
    if (!this.machine.running.has(owner.threadId) || owner.threadStart !== String(SIM_START + owner.threadId - SIM_PID)) {
      return `thread ${owner.threadId} of process ${owner.pid} has ended`;
    }
    return undefined;
  }

  pathLockFile(storePath: string): string {
    return `${storePath}.lock`;
  }

  inodeLockFile(): string | undefined {
    // One simulated disk is one file: one device-and-inode lock.
    return '/simulated-tmp/maple-store-locks/1-1.lock';
  }

  read(path: string): LockFileRead | undefined {
    this.machine.checkAlive();
    const f = this.machine.files.get(path);
    return f && { bytes: f.bytes.slice(), fileId: `sim:${f.ino}` };
  }

  create(path: string, bytes: Uint8Array): boolean {
    const m = this.machine;
    m.checkAlive();
    if (m.files.has(path)) return false;
    m.files.set(path, { bytes: bytes.slice(), ino: m.nextIno++ });
    m.seen.set(path, bytes.slice());
    return true;
  }

  link(existing: string, newPath: string): boolean {
    const m = this.machine;
    m.checkAlive();
    const f = m.files.get(existing);
    if (!f) throw Object.assign(new Error(`ENOENT: no such file, link '${existing}'`), { code: 'ENOENT' });
    if (m.files.has(newPath)) return false;
    m.files.set(newPath, f);
    m.seen.set(newPath, f.bytes.slice());
    return true;
  }

  remove(path: string): void {
    this.machine.checkAlive();
    this.machine.files.delete(path);
  }

  unique(): string {
    const m = this.machine;
    return (m.boot * 0x100000 + ++m.counter).toString(16).padStart(16, '0');
  }

  nowMs(): number {
    return 1_700_000_000_000 + this.machine.counter;
  }
}
