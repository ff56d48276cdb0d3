/**
 * The reader table: which versions worker threads of this process read (LMDB's reader table, in
 * the shared area of storage/io/sharedArea.ts instead of a lock file). The writer merges them into
 * the reader set of every commit (storage/io/readerSet.ts), so it keeps every cell they reach.
 *
 * A thread claims a free slot by compare-and-swap of its owner word, then publishes the version it
 * is about to read in it. The race: the writer may have listed the slots just before the version
 * landed. So the reader re-reads the published root after publishing its version (src/read/
 * sharedPins.ts) and starts again at the newer version if it moved. When it did not move, the
 * next commit to publish lists the table after this slot's version landed (the commit publishes,
 * then the one after lists), and the commit listing before it frees nothing that version reaches
 * for reuse by itself: cells are reused one commit after the commit that freed them at the earliest.
 *
 * Slots are freed by their owner (its last snapshot of a version closes, or it closes the shared
 * store), by the writer when the owner's Worker emits 'exit' (MapleStore.share(worker)), or by
 * the writer's periodic check that the owner's kernel thread still runs (storage/io/liveness.ts).
 * Freeing a slot of another thread first moves its owner word to FREEING by compare-and-swap, so
 * a slot that changed hands in the meantime is never cleared by mistake.
 *
 * An owner may keep a slot it no longer needs for its next version (idle: it pins nothing). Such a
 * slot is marked in its owner word (IDLE_OWNER) with its thread id cleared, and any thread finding
 * the table otherwise full takes it by compare-and-swap; the owner takes it back the same way
 * before using it again, and claims another slot when it lost it. So the table is full only when
 * its slots pin versions, never because idle readers keep slots.
 *
 * One slot, 32 bytes (the version as a 64-bit word, the rest 32-bit):
 *   byte  meaning
 *   0     owner: 0 free, FREEING while another thread frees it, else the owner's Node threadId + 1
 *   4     the owner's kernel thread id (0: unknown, then no liveness check)
 *   8     the owner's kernel thread start time (clock ticks since boot), low 32 bits
 *   12    high bits
 *   16    version read (64-bit), IDLE (−1) when the slot pins nothing
 *   24    zero
 */
import { busy } from '../../src/common/errors.js';
import type { ProcProbe } from './liveness.js';
import { SLOT_BYTES, type SharedArea, W_SLOT_HIGH_WATER } from './sharedArea.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

const IDLE = -1n;
const FREEING = -1;
/** Owner-word bit of a slot its owner keeps idle: another thread may take it (tags stay below it). */
const IDLE_OWNER = 0x4000_0000;
const SLOT_WORDS = SLOT_BYTES / 4;

/** Who holds a slot. */
export interface SlotOwner {
  /** Node's threadId + 1 (never 0). */
  readonly tag: number;
  /** Kernel thread id, 0 when /proc did not give it. */
  readonly tid: number;
  /** Kernel thread start time (clock ticks since boot), 0 when unknown. */
  readonly threadStart: number;
}

export class ReaderTable {
  constructor(private readonly area: SharedArea) {}

  /** Marks every slot of a new area idle (a zeroed slot would read as version 0). */
  static format(area: SharedArea): ReaderTable {
    const table = new ReaderTable(area);
    for (let i = 0; i < area.slots; i++) Atomics.store(area.bigs, table.versionIndex(i), IDLE);
    return table;
  }

  private ownerWord(slot: number): number {
    return (this.area.slotsAtBytes >>> 2) + slot * SLOT_WORDS;
  }

  private versionIndex(slot: number): number {
    return (this.area.slotsAtBytes + slot * SLOT_BYTES + 16) >>> 3;
  }

  /** Claims a free slot for `owner`, idle; EBUSY when every slot is taken. */
  claim(owner: SlotOwner): number {
    const w = this.area.words;
    for (let slot = 0; slot < this.area.slots; slot++) {
      const at = this.ownerWord(slot);
      if (Atomics.load(w, at) !== 0 || Atomics.compareExchange(w, at, 0, owner.tag) !== 0) continue;
      this.own(slot, owner);
      // The writer lists slots below the high-water mark: raised before the slot holds a version.
      for (let tries = 0; tries < this.area.slots + 1; tries++) {
        const hw = Atomics.load(w, W_SLOT_HIGH_WATER);
        if (hw > slot || Atomics.compareExchange(w, W_SLOT_HIGH_WATER, hw, slot + 1) === hw) break;
      }
      return slot;
    }
    // No free slot: take one another thread keeps idle (below the high-water mark already).
    const n = this.highWater;
    for (let slot = 0; slot < n; slot++) {
      const at = this.ownerWord(slot);
      const word = Atomics.load(w, at);
      if (word === FREEING || (word & IDLE_OWNER) === 0 || Atomics.compareExchange(w, at, word, owner.tag) !== word) continue;
      this.own(slot, owner);
      return slot;
    }
    throw busy(`the shared reader table is full: all ${this.area.slots} slots hold versions open in worker threads; close snapshots or shared stores`);
  }

  /** Writes `owner`'s identity into a slot it just took (its version is idle). */
  private own(slot: number, owner: SlotOwner): void {
    const w = this.area.words;
    const at = this.ownerWord(slot);
    // Identity before anything else: the liveness check reads the thread id, then the start.
    Atomics.store(w, at + 2, owner.threadStart >>> 0);
    Atomics.store(w, at + 3, highWord(owner.threadStart));
    Atomics.store(w, at + 1, owner.tid);
  }

  /**
   * Its owner keeps `slot` idle for a later version: it pins nothing, and another thread finding
   * the table full may take it. The thread id is cleared first, so the writer's liveness check
   * never judges a thread that takes it by the idle owner's identity.
   */
  keepIdle(slot: number, owner: SlotOwner): void {
    const w = this.area.words;
    const at = this.ownerWord(slot);
    this.idle(slot);
    Atomics.store(w, at + 1, 0);
    Atomics.store(w, at, owner.tag | IDLE_OWNER);
  }

  /** Takes back a slot `owner` kept idle (keepIdle); false when another thread took it meanwhile. */
  reclaim(slot: number, owner: SlotOwner): boolean {
    const at = this.ownerWord(slot);
    if (Atomics.compareExchange(this.area.words, at, owner.tag | IDLE_OWNER, owner.tag) !== (owner.tag | IDLE_OWNER)) return false;
    this.own(slot, owner);
    return true;
  }

  /** Gives back a slot `owner` kept idle, unless another thread took it meanwhile. */
  freeIdle(slot: number, owner: SlotOwner): void {
    Atomics.compareExchange(this.area.words, this.ownerWord(slot), owner.tag | IDLE_OWNER, 0);
  }

  /** Publishes the version `slot` reads (its owner only). */
  set(slot: number, version: number): void {
    Atomics.store(this.area.bigs, this.versionIndex(slot), BigInt(version));
  }

  /** The slot pins nothing (its owner only). */
  idle(slot: number): void {
    Atomics.store(this.area.bigs, this.versionIndex(slot), IDLE);
  }

  /** Its owner gives the slot back. */
  free(slot: number): void {
    const at = this.ownerWord(slot);
    this.idle(slot);
    Atomics.store(this.area.words, at + 1, 0);
    Atomics.store(this.area.words, at, 0);
  }

  /** Frees `slot` for an owner that is gone, if it still holds it. */
  private freeFor(slot: number, tag: number): boolean {
    const w = this.area.words;
    const at = this.ownerWord(slot);
    // Kept idle (keepIdle) or in use: either way the owner's.
    if (Atomics.compareExchange(w, at, tag | IDLE_OWNER, FREEING) !== (tag | IDLE_OWNER) && Atomics.compareExchange(w, at, tag, FREEING) !== tag) return false;
    this.idle(slot);
    Atomics.store(w, at + 1, 0);
    Atomics.store(w, at, 0);
    return true;
  }

  private get highWater(): number {
    return Math.min(this.area.slots, Atomics.load(this.area.words, W_SLOT_HIGH_WATER));
  }

  /** Every version a slot reads, distinct, ascending: what the writer's next commit keeps. */
  versions(): number[] {
    const out: number[] = [];
    const bigs = this.area.bigs;
    const n = this.highWater;
    for (let slot = 0; slot < n; slot++) {
      const v = Atomics.load(bigs, this.versionIndex(slot));
      if (v < 0n) continue;
      const version = Number(v);
      if (!out.includes(version)) out.push(version);
    }
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }

  /** Slots holding a version. */
  pinned(): number {
    let count = 0;
    const n = this.highWater;
    for (let slot = 0; slot < n; slot++) if (Atomics.load(this.area.bigs, this.versionIndex(slot)) >= 0n) count++;
    return count;
  }

  /** Frees every slot of the thread with Node threadId `tag − 1` (its Worker emitted 'exit'). */
  freeOwnedBy(tag: number): number {
    let freed = 0;
    const n = this.highWater;
    for (let slot = 0; slot < n; slot++) {
      if ((Atomics.load(this.area.words, this.ownerWord(slot)) & ~IDLE_OWNER) === tag && this.freeFor(slot, tag)) freed++;
    }
    return freed;
  }

  /**
   * Frees the slots of threads /proc shows ended (a Worker that exited without its 'exit' event
   * reaching the writer). `keep`: the caller's own tag, alive by definition. Slots without a known
   * kernel thread are left alone.
   */
  freeEnded(probe: ProcProbe, keep: number): number {
    const w = this.area.words;
    const verdicts = new Map<number, boolean>();
    let freed = 0;
    const n = this.highWater;
    for (let slot = 0; slot < n; slot++) {
      const at = this.ownerWord(slot);
      const tag = Atomics.load(w, at);
      if (tag === 0 || tag === FREEING || tag === keep) continue;
      const tid = Atomics.load(w, at + 1) >>> 0;
      if (tid === 0) continue;
      const start = joinU64(Atomics.load(w, at + 2) >>> 0, Atomics.load(w, at + 3) >>> 0);
      let gone = verdicts.get(tag);
      if (gone === undefined) {
        gone = probe.whyGone({ pid: process.pid, threadId: tid, threadStart: String(start) }) !== undefined;
        verdicts.set(tag, gone);
      }
      // The owner word is re-checked by the swap: a slot that changed hands is not touched.
      if (gone && this.freeFor(slot, tag)) freed++;
    }
    return freed;
  }
}
