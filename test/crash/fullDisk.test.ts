/**
 * A full disk as a real file system gives it (ext4, tmpfs): ENOSPC only on a write that needs a
 * block the file does not have yet. Overwriting a block the file already holds still succeeds, a
 * write crossing into blocks that cannot be had lands the part that fits and then fails (a short
 * write), and fdatasync succeeds (the blocks were reserved when written). FaultyIO (faults.test.ts)
 * fails one chosen call, or every call; here every write that grows into a hole of the file — the
 * ring slots and the commit log's run are holes until first written — fails, while the undo
 * writes a failed commit makes over blocks it just wrote succeed.
 *
 * For every number of free blocks left before a step: the failure is a MapleError EIO carrying
 * the ENOSPC; a reopen while the disk is still full either opens at the last acknowledged state or
 * refuses with a MapleError; once space is freed, a reopen passes check(), holds exactly the last
 * acknowledged state (a write that failed does not come back) and takes new commits.
 */
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/index.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { systemError } from '../../recovery/testing/faultyIO.js';
import { type FileIO, writeDurable } from '../../storage/io/fileIO.js';
import { openWith } from '../../src/api/open.js';
import { describeError, readAll, type Store } from './crashRunner.js';
import { ForwardingIO } from '../helpers.js';
import { RangeModel, diffRanges } from './rangeModel.js';

const PATH = '/simulated/full-disk.maple';

/** A file on a file system with `free` blocks left (Infinity: room for anything). */
class FullDiskIO extends ForwardingIO {
  /** Blocks the file holds. */
  private readonly blocks = new Set<number>();
  free = Infinity;
  /** Writes refused for want of space. */
  refused = 0;

  constructor(
    inner: FileIO,
    private readonly blockBytes: number,
  ) {
    super(inner, false);
  }

  /** How many bytes of a write of `length` at `position` fit, taking the blocks they need. */
  private room(position: number, length: number): number {
    let done = 0;
    while (done < length) {
      const at = position + done;
      const block = Math.floor(at / this.blockBytes);
      if (!this.blocks.has(block)) {
        if (this.free < 1) break;
        this.free--;
        this.blocks.add(block);
      }
      done += Math.min(length - done, (block + 1) * this.blockBytes - at);
    }
    return done;
  }

  private writeWith(buf: Uint8Array, position: number, put: (b: Uint8Array, at: number) => void): void {
    const n = this.room(position, buf.length);
    if (n > 0) put(buf.subarray(0, n), position);
    if (n < buf.length) {
      this.refused++;
      throw systemError('ENOSPC', 'write');
    }
  }

  override write(buf: Uint8Array, position: number): void {
    this.writeWith(buf, position, (b, at) => this.inner.write(b, at));
  }

  // A field, not a method: ForwardingIO's optional writeDurable field would hide a method.
  override writeDurable = (buf: Uint8Array, position: number): void => {
    this.writeWith(buf, position, (b, at) => writeDurable(this.inner, b, at));
  };
}

type Protocol = 'log' | 'one-sync' | 'two-sync';
/** How the writes that meet the full disk are made. */
type Mode = 'single' | 'bulk' | 'group' | 'sync-none' | 'snapshot';

function openOn(io: FileIO, protocol: Protocol, mode: Mode): Store {
  const sync = mode === 'sync-none' ? 'none' : 'full';
  return openWith<unknown>(PATH, { commitProtocol: mode === 'sync-none' ? 'one-sync' : protocol, sync, cacheSize: 1 << 20 }, { fileIO: io, logCells: 256 });
}

/** Throws unless `err` is a MapleError EIO whose cause chain reaches an ENOSPC. */
function expectNoSpace(err: unknown, where: string): void {
  if (!(err instanceof MapleError)) throw new Error(`${where}: threw a non-MapleError: ${describeError(err)}`);
  if (err.code !== 'EIO') throw new Error(`${where}: threw MapleError ${err.code}, expected EIO: ${err.message}`);
  for (let e: unknown = err.cause, depth = 0; e !== undefined && depth < 8; depth++) {
    if (!(e instanceof MapleError) && (e as { code?: unknown })?.code === 'ENOSPC') return;
    e = (e as { cause?: unknown })?.cause;
  }
  throw new Error(`${where}: EIO does not carry the ENOSPC as its cause: ${err.message}`);
}

const value = (k: number): unknown => ({ k, pad: 'p'.repeat(40 + (k % 90)) });

/**
 * Writes ranges `k` from `from` on until one fails (at most 40 steps), adding each acknowledged
 * one to `model`. Whether a write failed.
 */
async function writeUntilFull(store: Store, mode: Mode, from: number, model: RangeModel, where: string): Promise<boolean> {
  for (let step = 0; step < 40; step++) {
    const k = from + step * 8;
    try {
      if (mode === 'bulk') {
        store.transaction((t) => {
          for (let j = 0; j < 8; j++) t.store((k + j) * 10, (k + j) * 10 + 3, value(k + j));
        });
      } else if (mode === 'group') {
        const writes = [];
        for (let j = 0; j < 8; j++) writes.push(store.storeAsync((k + j) * 10, (k + j) * 10 + 3, value(k + j)));
        const settled = await Promise.allSettled(writes);
        let failed = false;
        for (let j = 0; j < 8; j++) {
          const r = settled[j]!;
          if (r.status === 'fulfilled') model.store((k + j) * 10, (k + j) * 10 + 3, value(k + j));
          else {
            expectNoSpace(r.reason, `${where}: storeAsync ${k + j}`);
            failed = true;
          }
        }
        if (failed) return true;
        continue;
      } else {
        // A snapshot taken before each store, closed after: what the store frees waits for it.
        const snap = mode === 'snapshot' ? store.snapshot() : undefined;
        try {
          store.store(k * 10, k * 10 + 3, value(k));
          model.store(k * 10, k * 10 + 3, value(k));
          // A range trimmed: cells freed, not only taken.
          if (k >= 8) {
            store.clear((k - 8) * 10 + 1, (k - 8) * 10 + 2);
            model.clear((k - 8) * 10 + 1, (k - 8) * 10 + 2);
          }
        } finally {
          snap?.close();
        }
        continue;
      }
    } catch (err) {
      expectNoSpace(err, `${where}: step ${step}`);
      return true;
    }
    for (let j = 0; j < 8; j++) model.store((k + j) * 10, (k + j) * 10 + 3, value(k + j));
  }
  return false;
}

/**
 * `before` single stores with room to spare, then `free` blocks left and writes until one fails;
 * then the checks of the header. Returns whether a write failed.
 */
async function fillAndReopen(protocol: Protocol, mode: Mode, blockBytes: number, before: number, free: number): Promise<boolean> {
  const where = `${protocol}, ${mode}, ${blockBytes} B blocks, ${before} stores, then ${free} blocks free`;
  const disk = new SimulatedDisk();
  const io = new FullDiskIO(disk.fileIO(), blockBytes);
  const model = new RangeModel();
  let store: Store | undefined = openOn(io, protocol, mode);
  for (let k = 0; k < before; k++) {
    store.store(k * 10, k * 10 + 3, value(k));
    model.store(k * 10, k * 10 + 3, value(k));
  }
  // Held throughout: nothing its version reaches is reused, so the file grows.
  const held = mode === 'snapshot' ? store.snapshot() : undefined;
  if (mode !== 'snapshot') store.close();
  io.free = free;
  let failed = false;
  if (mode !== 'snapshot') {
    try {
      store = openOn(io, protocol, mode);
    } catch (err) {
      expectNoSpace(err, `${where}: open`);
      store = undefined;
      failed = true;
    }
  }
  if (store !== undefined && (await writeUntilFull(store, mode, before, model, where))) failed = true;
  if (held !== undefined) {
    const d = diffRanges(readAll(held), model.ranges.filter((r) => r.first < before * 10));
    if (d && before > 0) throw new Error(`${where}: the snapshot held while the disk filled reads wrong: ${d}`);
  }
  try {
    store?.close();
  } catch (err) {
    throw new Error(`${where}: close threw ${describeError(err)}`);
  }
  // Still full: the acknowledged state, or a clean refusal.
  try {
    const s = openOn(io, protocol, mode);
    try {
      const d = diffRanges(readAll(s), model.ranges);
      if (d) throw new Error(`${where}: reopened on the full disk, the store reads wrong: ${d}`);
      s.check();
    } finally {
      s.close();
    }
  } catch (err) {
    if (!(err instanceof MapleError) || err.code === 'ECORRUPT') throw new Error(`${where}: reopen on the full disk threw ${describeError(err)}`);
  }
  // Space freed: exactly the acknowledged state, and new commits.
  io.free = Infinity;
  let s: Store;
  try {
    s = openOn(io, protocol, mode);
  } catch (err) {
    throw new Error(`${where}: reopen after space was freed threw ${describeError(err)}`);
  }
  try {
    s.check();
    const d = diffRanges(readAll(s), model.ranges);
    if (d) throw new Error(`${where}: after space was freed the store is not the last acknowledged state: ${d}`);
    s.store(9_000_000, 9_000_001, 'after');
    expect(s.load(9_000_000)).toBe('after');
    s.check();
  } finally {
    s.close();
  }
  return failed;
}

describe('a full disk, as a real file system fills', () => {
  const modes: Mode[] = ['single', 'bulk', 'group', 'snapshot', 'sync-none'];
  for (const protocol of ['log', 'one-sync', 'two-sync'] as const) {
    for (const mode of modes) {
      if (mode === 'sync-none' && protocol !== 'one-sync') continue;
      for (const blockBytes of [1024, 4096]) {
        it(`${protocol}, ${mode}, ${blockBytes} B blocks: every amount of space left`, async () => {
          const errors: string[] = [];
          let failures = 0;
          for (const before of [0, 1, 2, 3, 6]) {
            for (let free = 0; free <= 24; free++) {
              try {
                if (await fillAndReopen(protocol, mode, blockBytes, before, free)) failures++;
              } catch (err) {
                errors.push((err as Error).message);
                if (errors.length >= 10) break;
              }
            }
          }
          expect(errors).toEqual([]);
          expect(failures).toBeGreaterThan(10);
        });
      }
    }
  }
});

/**
 * A store with free cells inside its file keeps committing on a full disk: every write of a
 * commit that reuses its own free space lands in blocks the file holds. The commit log's run and
 * the ring's slots are written whole when they are made, so no append or record ever meets a
 * hole of the file (before, the first append past what earlier passes had reached failed).
 */
describe('a full disk, with free space inside the store', () => {
  for (const protocol of ['log', 'one-sync', 'two-sync'] as const) {
    for (const mode of ['single', 'group'] as const) {
      it(`${protocol}, ${mode}: commits that reuse the store's free cells succeed`, async () => {
        const disk = new SimulatedDisk();
        const io = new FullDiskIO(disk.fileIO(), 4096);
        const model = new RangeModel();
        let store = openOn(io, protocol, mode);
        store.transaction((t) => {
          for (let k = 0; k < 400; k++) t.store(k * 10, k * 10 + 3, value(k));
        });
        for (let k = 0; k < 400; k++) model.store(k * 10, k * 10 + 3, value(k));
        // Half the ranges cleared in one commit: their cells are freed, and (no reader holds a
        // version) reusable from the commit after. The disk fills then, while the log has taken
        // few entries (most of its run was never written) and one ring slot was never written.
        store.transaction((t) => {
          for (let k = 0; k < 400; k += 2) t.clear(k * 10, k * 10 + 3);
        });
        for (let k = 0; k < 400; k += 2) model.clear(k * 10, k * 10 + 3);
        io.free = 0;
        // Overwrites of the ranges left (the live data stays as large), and in group mode a small
        // range added and replaced beside each: enough commits to fill a 64 KiB log many times.
        for (let step = 0; step < 120; step++) {
          const k = ((step * 37) % 200) * 2 + 1;
          const v = value(k + 1000 * (step % 3));
          if (mode === 'single') store.store(k * 10, k * 10 + 3, v);
          else await Promise.all([store.storeAsync(k * 10, k * 10 + 3, v), store.storeAsync(5, 6, step)]);
          model.store(k * 10, k * 10 + 3, v);
          if (mode === 'group') model.store(5, 6, step);
        }
        expect(io.refused).toBe(0);
        store.check();
        store.close();
        store = openOn(io, protocol, mode);
        try {
          expect(diffRanges(readAll(store), model.ranges) ?? '').toBe('');
          store.check();
        } finally {
          store.close();
        }
      });
    }
  }
});
