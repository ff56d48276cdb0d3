/**
 * The shared area: the one SharedArrayBuffer a store hands to the worker threads that read it
 * (MapleStore.share, src/api/sharedStore.ts). A SharedArrayBuffer posted to a Worker (postMessage,
 * workerData) is shared, not copied, so every thread of the process sees the same bytes; all of
 * them are read and written with Atomics only (sequentially consistent), never plainly.
 *
 * Four parts, each owned by its module, which describes its words:
 *   - the published root (storage/io/publishedRoot.ts): what a reader needs to read the newest
 *     version, readable without a lock;
 *   - the reader table (storage/io/readerTable.ts): the versions worker threads read, so the
 *     writer keeps what they reach;
 *   - the page log (storage/io/pageLog.ts): the pages commits wrote, so a worker's own buffer pool
 *     drops what changed under it;
 *   - the page ring (storage/io/pageRing.ts): the bytes of the last pages written, so a worker
 *     refreshes what changed by a copy instead of a read of the file.
 *
 *   byte offset        size            meaning
 *   0                  4               magic "MSA1"
 *   4                  4               slots in the reader table
 *   8                  4               entries in the page log (a power of two)
 *   12                 4               closed: 1 once the store that shared the area is closed, 2 once
 *                                      a reader found its writer's thread ended without closing it
 *   16                 4               publish count (publishedRoot.ts)
 *   20                 4               page-log reserve position (pageLog.ts)
 *   24                 4               slot high-water: slots ever claimed (readerTable.ts)
 *   28                 4               slots in the page ring (a power of two, ≤ log entries)
 *   32                 4               the writer's kernel thread id (0: unknown, then never judged ended)
 *   36                 8               the writer's kernel thread start (clock ticks since boot), low, high
 *   44                 4               zero
 *   48                 2 × 64          published root, two copies (publishedRoot.ts)
 *   176                slots × 32      reader slots (readerTable.ts)
 *   176 + slots × 32   entries × 4     page-log ring (pageLog.ts)
 *   L = that + entries × 4
 *   L                  ring × 16       page-ring slot headers (pageRing.ts)
 *   L + ring × 16      ring × 4096     page-ring slot bytes (pageRing.ts)
 */
import { invalid } from '../../src/common/errors.js';
import { PAGE_BYTES, PAGE_RING_SLOTS } from '../../src/common/limits.js';
import { highWord, joinU64 } from '../../src/common/u64.js';
import type { ProcProbe } from './liveness.js';

const MAGIC = 0x3241_534d; // "MSA2" little-endian

/** Word indexes of the header fields. */
export const W_MAGIC = 0;
export const W_SLOTS = 1;
export const W_LOG_ENTRIES = 2;
export const W_CLOSED = 3;
export const W_PUBLISH_COUNT = 4;
export const W_LOG_RESERVE = 5;
export const W_SLOT_HIGH_WATER = 6;
export const W_RING_SLOTS = 7;
const W_WRITER_TID = 8;
const W_WRITER_START = 9;

/** W_CLOSED: the writer closed the store; its thread ended without closing it. */
const CLOSED_BY_WRITER = 1;
const WRITER_ENDED = 2;

/** Bytes of one published-root copy. */
export const ROOT_COPY_BYTES = 64;
const ROOT_AT_BYTES = 48;
/** Bytes of one reader slot. */
export const SLOT_BYTES = 32;
const SLOTS_AT_BYTES = ROOT_AT_BYTES + 2 * ROOT_COPY_BYTES;
/** Words of one page-ring slot header (storage/io/pageRing.ts). */
export const RING_HEADER_WORDS = 4;

function areaBytes(slots: number, logEntries: number, ringSlots: number): number {
  return SLOTS_AT_BYTES + slots * SLOT_BYTES + logEntries * 4 + ringSlots * (RING_HEADER_WORDS * 4 + PAGE_BYTES);
}

export class SharedArea {
  /** The whole area as 32-bit words. */
  readonly words: Int32Array;
  /** The whole area as 64-bit words (slot versions). */
  readonly bigs: BigInt64Array;
  readonly slots: number;
  readonly logEntries: number;
  /** Word index of the first published-root copy. */
  readonly rootWord = ROOT_AT_BYTES / 4;
  /** Byte offset of slot 0. */
  readonly slotsAtBytes = SLOTS_AT_BYTES;
  /** Word index of the page-log ring. */
  readonly logWord: number;
  readonly ringSlots: number;
  /** Word index of the page ring's slot headers. */
  readonly ringWord: number;
  /** The page ring's slot bytes (ringSlots × PAGE_BYTES). */
  readonly ringBytes: Uint8Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.bigs = new BigInt64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
    this.slots = Atomics.load(this.words, W_SLOTS);
    this.logEntries = Atomics.load(this.words, W_LOG_ENTRIES);
    this.logWord = (SLOTS_AT_BYTES + this.slots * SLOT_BYTES) / 4;
    this.ringSlots = Atomics.load(this.words, W_RING_SLOTS);
    this.ringWord = this.logWord + this.logEntries;
    this.ringBytes = new Uint8Array(buffer, (this.ringWord + this.ringSlots * RING_HEADER_WORDS) * 4, this.ringSlots * PAGE_BYTES);
  }

  /** A new area (zeroed: no version published, every slot free). */
  static create(slots: number, logEntries: number, ringSlots = Math.min(PAGE_RING_SLOTS, logEntries)): SharedArea {
    const buffer = new SharedArrayBuffer(areaBytes(slots, logEntries, ringSlots));
    const words = new Int32Array(buffer);
    words[W_SLOTS] = slots;
    words[W_LOG_ENTRIES] = logEntries;
    words[W_RING_SLOTS] = ringSlots;
    Atomics.store(words, W_MAGIC, MAGIC);
    return new SharedArea(buffer);
  }

  /** The area in `buffer`, as another thread created it; EINVAL when it is not one. */
  static attach(buffer: unknown): SharedArea {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < SLOTS_AT_BYTES) {
      throw invalid('the shared handle holds no shared area (a SharedArrayBuffer made by MapleStore.share())');
    }
    const words = new Int32Array(buffer);
    const slots = Atomics.load(words, W_SLOTS);
    const entries = Atomics.load(words, W_LOG_ENTRIES);
    const ring = Atomics.load(words, W_RING_SLOTS);
    if (
      Atomics.load(words, W_MAGIC) !== MAGIC ||
      slots <= 0 ||
      entries <= 0 ||
      (entries & (entries - 1)) !== 0 ||
      ring <= 0 ||
      (ring & (ring - 1)) !== 0 ||
      ring > entries ||
      buffer.byteLength !== areaBytes(slots, entries, ring)
    ) {
      throw invalid('the shared handle\'s buffer is not a shared area of this version of maple-store (made by MapleStore.share() of the same package)');
    }
    return new SharedArea(buffer);
  }

  get closed(): boolean {
    return Atomics.load(this.words, W_CLOSED) !== 0;
  }

  /** Closed because the writer's thread ended without closing the store (checkWriter). */
  get writerEnded(): boolean {
    return Atomics.load(this.words, W_CLOSED) === WRITER_ENDED;
  }

  markClosed(): void {
    Atomics.store(this.words, W_CLOSED, CLOSED_BY_WRITER);
  }

  /** The writer's kernel thread (storage/io/liveness.ts), set once before the area is shared. */
  setWriter(tid: number, start: number): void {
    Atomics.store(this.words, W_WRITER_START, start >>> 0);
    Atomics.store(this.words, W_WRITER_START + 1, highWord(start));
    Atomics.store(this.words, W_WRITER_TID, tid);
  }

  /**
   * Whether the area is closed, after checking (/proc) that the writer's thread still runs: a
   * Worker that wrote the store may end (terminated, crashed) without closing it, and another
   * writer may then take its lock over and reuse what this area's readers read. Its readers
   * must stop (ECLOSED), as if it had closed: the area is marked closed for every thread.
   */
  checkWriter(probe: ProcProbe): boolean {
    if (this.closed) return true;
    const tid = Atomics.load(this.words, W_WRITER_TID) >>> 0;
    if (tid === 0) return false;
    const start = joinU64(Atomics.load(this.words, W_WRITER_START) >>> 0, Atomics.load(this.words, W_WRITER_START + 1) >>> 0);
    if (probe.whyGone({ pid: process.pid, threadId: tid, threadStart: String(start) }) === undefined) return false;
    Atomics.compareExchange(this.words, W_CLOSED, 0, WRITER_ENDED);
    return true;
  }
}
