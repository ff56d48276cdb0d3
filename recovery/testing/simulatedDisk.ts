/**
 * A simulated disk for proving crash safety (SQLite's crash VFS and CrashMonkey, in miniature).
 *
 * It keeps two views of one file:
 *   - the durable image: what survives a power loss for certain (every write before the last sync);
 *   - the page cache: every write so far, synced or not. Reads see this, as they do on a real file.
 * Writes and truncates since the last sync are kept, in issue order, as the pending list.
 *
 * Every write, truncate and sync is an event, numbered from 1. At any event a test can ask for
 * `crashImage(choice)`: a file a power loss at that moment could leave behind — the durable image
 * plus some subset of the pending operations, applied in some order, some writes torn at 512-byte
 * or 4 KiB granularity (the torn part holds old bytes, zeros or garbage). Choices are seeded so a
 * failing image is rebuilt exactly from (event, mode, seed).
 *
 * Two ways to stop at a crash point:
 *   - `onEvent(cb)`: called at every event, with the operation issued but not yet completed, so the
 *     callback can take crash images and let the workload run on (one run visits every point);
 *   - `crashAt = k`: event k throws SimulatedCrash and the disk is dead afterwards (every call
 *     throws), so the workload stops exactly there; then take images and reopen from one.
 *
 * Tearing is confined to the bytes a write covers: a sector the write touches only partly keeps
 * its untouched bytes (the "powersafe overwrite" property of modern drives and SQLite's default).
 *
 * The disk's machine also holds the store's writer lock files (recovery/testing/simulatedLocks.ts,
 * `lockEnv()`): `crashLockFiles(choice)` is what the same power loss leaves of them, and a disk made
 * from a crash image and those files (`fromImage(image, locks)`) runs on the next boot.
 */
import type { FileIO } from '../../storage/io/fileIO.js';
import type { LockEnv } from '../../storage/io/lockEnv.js';
import { SimulatedLockDir, type SimulatedLockState } from './simulatedLocks.js';

export type CrashMode = 'drop-all' | 'keep-all' | 'random-subset' | 'reorder' | 'tear-512' | 'tear-4k';

export const CRASH_MODES: readonly CrashMode[] = ['drop-all', 'keep-all', 'random-subset', 'reorder', 'tear-512', 'tear-4k'];

export interface CrashChoice {
  seed: number;
  mode: CrashMode;
}

export type DiskEventKind = 'write' | 'truncate' | 'sync';

export interface DiskEvent {
  /** 1-based event number. */
  seq: number;
  kind: DiskEventKind;
  positionBytes: number;
  lengthBytes: number;
}

/** Thrown by every call on a disk that has crashed (crashAt reached). */
export class SimulatedCrash extends Error {
  readonly code = 'ESIMCRASH';
  constructor(readonly event: number) {
    super(`simulated power loss at disk event ${event}`);
    this.name = 'SimulatedCrash';
  }
}

/** True when `err` is, or wraps (through `cause`), a SimulatedCrash. */
export function isSimulatedCrash(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof SimulatedCrash) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

interface PendingWrite {
  kind: 'write';
  seq: number;
  positionBytes: number;
  bytes: Uint8Array;
}

interface PendingTruncate {
  kind: 'truncate';
  seq: number;
  sizeBytes: number;
}

type PendingOp = PendingWrite | PendingTruncate;

/** Tear granularities in bytes. */
const SECTOR_BYTES = 512;
const BLOCK_BYTES = 4096;

/** A growable byte image with a logical size. */
class Image {
  bytes: Uint8Array;
  sizeBytes: number;

  constructor(initial: Uint8Array) {
    this.bytes = new Uint8Array(Math.max(initial.length, 4096));
    this.bytes.set(initial);
    this.sizeBytes = initial.length;
  }

  private reserve(sizeBytes: number): void {
    if (sizeBytes <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(sizeBytes, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.sizeBytes));
    this.bytes = grown;
  }

  write(positionBytes: number, data: Uint8Array): void {
    const end = positionBytes + data.length;
    this.reserve(end);
    // A hole between the old end and the write reads as zeros; stale bytes may sit there after a
    // shrinking truncate, so clear them.
    if (positionBytes > this.sizeBytes) this.bytes.fill(0, this.sizeBytes, positionBytes);
    this.bytes.set(data, positionBytes);
    if (end > this.sizeBytes) this.sizeBytes = end;
  }

  truncate(sizeBytes: number): void {
    this.reserve(sizeBytes);
    if (sizeBytes > this.sizeBytes) this.bytes.fill(0, this.sizeBytes, sizeBytes);
    this.sizeBytes = sizeBytes;
  }

  /** Bytes [start, end) as they read now (zeros past the end). */
  slice(start: number, end: number): Uint8Array {
    const out = new Uint8Array(end - start);
    const avail = Math.min(end, this.sizeBytes);
    if (avail > start) out.set(this.bytes.subarray(start, avail));
    return out;
  }

  read(buf: Uint8Array, positionBytes: number): number {
    if (positionBytes >= this.sizeBytes) return 0;
    const n = Math.min(buf.length, this.sizeBytes - positionBytes);
    buf.set(this.bytes.subarray(positionBytes, positionBytes + n));
    return n;
  }

  snapshot(): Uint8Array {
    return this.bytes.slice(0, this.sizeBytes);
  }
}

export class SimulatedDisk {
  private durable: Image;
  private cache: Image;
  private pending: PendingOp[] = [];
  private hooks: Array<(event: DiskEvent, disk: SimulatedDisk) => void> = [];
  /** Events so far (writes + truncates + syncs). */
  events = 0;
  /** When set, event number `crashAt` throws SimulatedCrash and the disk is dead from then on. */
  crashAt: number | undefined;
  /** The event at which the disk crashed, if it has. */
  crashedAt: number | undefined;
  readonly counts = { reads: 0, writes: 0, durableWrites: 0, truncates: 0, syncs: 0, bytesWritten: 0 };
  /** The lock files of the machine this disk is in, and its boot. */
  readonly locks: SimulatedLockDir;
  /** Turns of the event loop an asynchronous sync (FileIO.syncAsync) takes before it happens: a slow disk when more than 1. */
  syncAsyncTurns = 1;

  /**
   * A disk holding `image` durably (a fresh, empty file when omitted), on a machine holding the
   * lock files `locks` left by a crash (none when omitted), booted after that crash.
   */
  constructor(image: Uint8Array = new Uint8Array(0), locks?: SimulatedLockState) {
    this.durable = new Image(image);
    this.cache = new Image(image);
    this.locks = SimulatedLockDir.start(locks, () => this.checkAlive());
  }

  static fromImage(image: Uint8Array, locks?: SimulatedLockState): SimulatedDisk {
    return new SimulatedDisk(image, locks);
  }

  /** The writer lock's machine (OpenOptions.lockEnv): lock files here, probes of this boot. */
  lockEnv(): LockEnv {
    return this.locks;
  }

  /**
   * What a power loss now leaves of the lock files, for the same choice as crashImage (its own
   * random stream, so the file image does not change): see recovery/testing/simulatedLocks.ts.
   */
  crashLockFiles(choice: CrashChoice): SimulatedLockState {
    return this.locks.crashState(choice.mode, new Prng(choice.seed ^ 0x10c4_f11e));
  }

  get crashed(): boolean {
    return this.crashedAt !== undefined;
  }

  /** Operations issued since the last sync. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Registers a callback run at every event; returns a function that removes it. */
  onEvent(cb: (event: DiskEvent, disk: SimulatedDisk) => void): () => void {
    this.hooks.push(cb);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== cb);
    };
  }

  /** A FileIO over this disk. Several may be open; close() ends only that handle. */
  fileIO(): FileIO {
    return new SimulatedFileIO(this);
  }

  /** What a reader sees now (the page cache). */
  currentImage(): Uint8Array {
    return this.cache.snapshot();
  }

  /** What survives any power loss now. */
  durableImage(): Uint8Array {
    return this.durable.snapshot();
  }

  sizeBytes(): number {
    this.checkAlive();
    return this.cache.sizeBytes;
  }

  read(buf: Uint8Array, positionBytes: number): number {
    this.checkAlive();
    this.counts.reads++;
    return this.cache.read(buf, positionBytes);
  }

  write(buf: Uint8Array, positionBytes: number): void {
    this.checkAlive();
    checkPosition(positionBytes);
    const seq = ++this.events;
    // A copy: the caller may reuse `buf`, and a Node Buffer's slice() is a view, not a copy.
    const bytes = new Uint8Array(buf);
    this.pending.push({ kind: 'write', seq, positionBytes, bytes });
    this.cache.write(positionBytes, bytes);
    this.counts.writes++;
    this.counts.bytesWritten += bytes.length;
    this.fire({ seq, kind: 'write', positionBytes, lengthBytes: bytes.length });
  }

  truncate(sizeBytes: number): void {
    this.checkAlive();
    checkPosition(sizeBytes);
    const seq = ++this.events;
    this.pending.push({ kind: 'truncate', seq, sizeBytes });
    this.cache.truncate(sizeBytes);
    this.counts.truncates++;
    this.fire({ seq, kind: 'truncate', positionBytes: sizeBytes, lengthBytes: 0 });
  }

  /**
   * An `O_DSYNC` write (FileIO.writeDurable): an event like write() — a crash at it may lose or
   * tear it — after which the 4 KiB pages it touches are durable, with every pending write's bytes
   * in them (Linux flushes whole pages), and nothing else is. A pending truncate makes it a sync.
   */
  writeDurable(buf: Uint8Array, positionBytes: number): void {
    this.write(buf, positionBytes);
    this.counts.durableWrites++;
    if (this.pending.some((op) => op.kind === 'truncate')) {
      for (const op of this.pending) applyOp(this.durable, op);
      this.pending = [];
      return;
    }
    const from = Math.floor(positionBytes / BLOCK_BYTES) * BLOCK_BYTES;
    const to = Math.ceil((positionBytes + buf.length) / BLOCK_BYTES) * BLOCK_BYTES;
    const rest: PendingOp[] = [];
    for (const op of this.pending) {
      if (op.kind !== 'write') continue;
      const end = op.positionBytes + op.bytes.length;
      if (end <= from || op.positionBytes >= to) {
        rest.push(op);
        continue;
      }
      // The part in [from, to) reaches the durable image; the parts outside stay pending.
      const a = Math.max(from, op.positionBytes);
      const b = Math.min(to, end);
      this.durable.write(a, op.bytes.subarray(a - op.positionBytes, b - op.positionBytes));
      if (op.positionBytes < from) rest.push({ kind: 'write', seq: op.seq, positionBytes: op.positionBytes, bytes: op.bytes.subarray(0, from - op.positionBytes) });
      if (end > to) rest.push({ kind: 'write', seq: op.seq, positionBytes: to, bytes: op.bytes.subarray(to - op.positionBytes) });
    }
    this.pending = rest;
  }

  /** Makes every pending operation durable. A crash during the sync leaves them all pending. */
  sync(): void {
    this.checkAlive();
    const seq = ++this.events;
    this.counts.syncs++;
    this.fire({ seq, kind: 'sync', positionBytes: 0, lengthBytes: 0 });
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
  }

  /**
   * A file that a power loss now could leave. The same choice on the same disk state always gives
   * the same bytes.
   *   drop-all       the durable image alone
   *   keep-all       every pending operation, in order (a clean stop)
   *   random-subset  each pending operation kept or lost, in order
   *   reorder        a subset, in a shuffled order (truncates stay between the writes around them)
   *   tear-512/4k    a shuffled subset, with some writes torn at 512-byte / 4 KiB boundaries
   * Outside drop-all/keep-all, a file that grew may also keep its new size with zeros for the
   * lost bytes (file size is metadata and can reach the disk without the data).
   */
  crashImage(choice: CrashChoice): Uint8Array {
    const rng = new Prng(choice.seed);
    const image = new Image(this.durable.snapshot());
    if (choice.mode === 'drop-all') return image.snapshot();
    if (choice.mode === 'keep-all') {
      for (const op of this.pending) applyOp(image, op);
      return image.snapshot();
    }
    const keepChance = choice.mode === 'random-subset' ? 0.5 : 0.75;
    let ops = this.pending.filter(() => rng.chance(keepChance));
    if (choice.mode !== 'random-subset') ops = shuffleBetweenTruncates(ops, rng);
    const granule = choice.mode === 'tear-512' ? SECTOR_BYTES : choice.mode === 'tear-4k' ? BLOCK_BYTES : 0;
    for (const op of ops) {
      if (op.kind === 'write' && granule > 0 && rng.chance(0.5)) applyTorn(image, op, granule, rng);
      else applyOp(image, op);
    }
    if (this.cache.sizeBytes > image.sizeBytes && rng.chance(0.3)) image.truncate(this.cache.sizeBytes);
    return image.snapshot();
  }

  /** The operations issued since the last sync, in issue order. */
  pendingOps(): DiskEvent[] {
    return this.pending.map((op) =>
      op.kind === 'write'
        ? { seq: op.seq, kind: 'write', positionBytes: op.positionBytes, lengthBytes: op.bytes.length }
        : { seq: op.seq, kind: 'truncate', positionBytes: op.sizeBytes, lengthBytes: 0 },
    );
  }

  /**
   * A crash image keeping exactly the pending operations `keep` accepts, in issue order and
   * whole: for hand-built repros of a failure found by a random choice.
   */
  crashImageKeeping(keep: (op: DiskEvent) => boolean): Uint8Array {
    const image = new Image(this.durable.snapshot());
    const events = this.pendingOps();
    this.pending.forEach((op, i) => {
      if (keep(events[i] as DiskEvent)) applyOp(image, op);
    });
    return image.snapshot();
  }

  private checkAlive(): void {
    if (this.crashedAt !== undefined) throw new SimulatedCrash(this.crashedAt);
  }

  private fire(event: DiskEvent): void {
    for (const hook of this.hooks) hook(event, this);
    if (this.crashAt !== undefined && event.seq >= this.crashAt) {
      this.crashedAt = event.seq;
      throw new SimulatedCrash(event.seq);
    }
  }
}

class SimulatedFileIO implements FileIO {
  private closed = false;

  constructor(private readonly disk: SimulatedDisk) {}

  read(buf: Uint8Array, positionBytes: number): number {
    this.checkOpen();
    return this.disk.read(buf, positionBytes);
  }

  write(buf: Uint8Array, positionBytes: number): void {
    this.checkOpen();
    this.disk.write(buf, positionBytes);
  }

  sync(): void {
    this.checkOpen();
    this.disk.sync();
  }

  writeDurable(buf: Uint8Array, positionBytes: number): void {
    this.checkOpen();
    this.disk.writeDurable(buf, positionBytes);
  }

  size(): number {
    this.checkOpen();
    return this.disk.sizeBytes();
  }

  truncate(sizeBytes: number): void {
    this.checkOpen();
    this.disk.truncate(sizeBytes);
  }

  close(): void {
    this.closed = true;
  }

  /**
   * sync() on a later turn of the event loop, as Node's thread pool would do it: the event (and
   * any crash point) comes when the sync happens, not when it is asked for.
   */
  syncAsync(): Promise<void> {
    return later(() => this.sync(), this.disk.syncAsyncTurns);
  }

  private checkOpen(): void {
    if (this.closed) throw Object.assign(new Error('EBADF: bad file descriptor (simulated file closed)'), { code: 'EBADF' });
  }
}

/** Runs `op` after `turns` turns of the event loop (setImmediate); settles as it returns or throws. */
export function later(op: () => void, turns: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (left: number): void => {
      if (left > 1) {
        setImmediate(() => step(left - 1));
        return;
      }
      try {
        op();
        resolve();
      } catch (err) {
        reject(err);
      }
    };
    setImmediate(() => step(turns));
  });
}

function checkPosition(positionBytes: number): void {
  if (!Number.isSafeInteger(positionBytes) || positionBytes < 0) {
    throw new RangeError(`simulated disk: bad file position ${positionBytes}`);
  }
}

function applyOp(image: Image, op: PendingOp): void {
  if (op.kind === 'write') image.write(op.positionBytes, op.bytes);
  else image.truncate(op.sizeBytes);
}

/**
 * Writes `op` with each granule-aligned piece independently landed or torn; a torn piece holds the
 * old bytes, zeros or garbage. At least one piece is torn, so the write is never whole.
 */
function applyTorn(image: Image, op: PendingWrite, granule: number, rng: Prng): void {
  const start = op.positionBytes;
  const end = start + op.bytes.length;
  const old = image.slice(start, end);
  const out = new Uint8Array(op.bytes); // a copy: tearing must not change the pending write itself
  const pieces: Array<[number, number]> = [];
  for (let at = start; at < end; ) {
    const next = Math.min(end, (Math.floor(at / granule) + 1) * granule);
    pieces.push([at - start, next - start]);
    at = next;
  }
  const forced = rng.below(pieces.length);
  pieces.forEach(([from, to], i) => {
    if (i !== forced && rng.chance(0.5)) return; // this piece landed
    const kind = rng.below(3);
    if (kind === 0) out.set(old.subarray(from, to), from);
    else if (kind === 1) out.fill(0, from, to);
    else rng.fill(out.subarray(from, to));
  });
  image.write(start, out);
}

/** Shuffles the writes between consecutive truncates; a truncate keeps its place. */
function shuffleBetweenTruncates(ops: PendingOp[], rng: Prng): PendingOp[] {
  const out: PendingOp[] = [];
  let run: PendingOp[] = [];
  for (const op of ops) {
    if (op.kind === 'truncate') {
      out.push(...rng.shuffle(run), op);
      run = [];
    } else {
      run.push(op);
    }
  }
  out.push(...rng.shuffle(run));
  return out;
}

/**
 * A small seeded PRNG (mulberry32): every crash image and injected fault is reproducible from its
 * seed alone.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed ^ 0x9e37_79b9) >>> 0;
  }

  nextU32(): number {
    this.state = (this.state + 0x6d2b_79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.nextU32() & 0xff;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }
}
