/**
 * A transaction's value arena: every value a transaction stores is encoded (by msgpackr, through
 * storage/format/valueCodec.ts) straight into the arena, and the leaf slot holds a handle to it —
 * a small integer, not an object and not an array of bytes of its own. The commit copies each
 * value once, from the arena into the cells it writes (its leaf slot, its leaf's value area or a
 * value record). Values the transaction overwrites stay in the arena until it ends.
 *
 * The arena is chunks of ARENA_CHUNK_BYTES; a value too long for one gets a chunk of its own. Each
 * value starts at a multiple of 8 bytes of its chunk:
 *
 *   offset  size  meaning
 *   0       4     length of the msgpack bytes, u32 little-endian
 *   4       …     the msgpack bytes
 *
 * handle = chunk × UNITS_PER_CHUNK + (offset of the length ÷ 8), below 2^30 (limits.ts).
 *
 * One arena per store, reset when a transaction starts: its first chunk is reused, the rest let go.
 */
import { invalid } from '../../src/common/errors.js';
import { ARENA_CHUNK_BYTES, ARENA_MAX_CHUNKS } from '../../src/common/limits.js';

/** Bytes before a value's msgpack: its length. */
export const ARENA_LENGTH_BYTES = 4;
const UNIT_SHIFT = 3;
const UNITS_PER_CHUNK = ARENA_CHUNK_BYTES >>> UNIT_SHIFT;
const UNIT_MASK = UNITS_PER_CHUNK - 1;
const CHUNK_SHIFT = Math.log2(UNITS_PER_CHUNK);

export class ValueArena {
  private readonly chunks: Buffer[];
  /**
   * Each chunk's bytes as a plain Uint8Array (same memory), for decoding: msgpackr copies a bin
   * with its source's slice(), so decoding from the Buffer itself would load a Buffer where
   * committed reads load a Uint8Array (README.md: a Buffer loads as a Uint8Array).
   */
  private readonly plain: Uint8Array[];
  /** The chunk values are being encoded into, its index, and where its free space starts. */
  current: Buffer;
  private currentIndex = 0;
  end = 0;

  constructor() {
    this.current = Buffer.allocUnsafeSlow(ARENA_CHUNK_BYTES);
    this.chunks = [this.current];
    this.plain = [plainView(this.current)];
  }

  /** Forgets every value: the first chunk is written over by the next ones. */
  reset(): void {
    this.chunks.length = 1;
    this.plain.length = 1;
    this.current = this.chunks[0]!;
    this.currentIndex = 0;
    this.end = 0;
  }

  /** Bytes the arena holds now (chunks, used or not). */
  get sizeBytes(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /** Makes sure the current chunk has `bytes` free after `end`: otherwise the next value goes to a new chunk. */
  room(bytes: number): void {
    if (this.current.length - this.end >= bytes) return;
    this.current = this.newChunk(ARENA_CHUNK_BYTES);
    this.currentIndex = this.chunks.length - 1;
    this.end = 0;
  }

  private newChunk(bytes: number): Buffer {
    if (this.chunks.length >= ARENA_MAX_CHUNKS) {
      throw invalid(`a transaction's values take more than ${ARENA_MAX_CHUNKS} chunks of ${ARENA_CHUNK_BYTES} bytes (values it overwrote count too): commit in several transactions`);
    }
    const chunk = Buffer.allocUnsafeSlow(bytes);
    this.chunks.push(chunk);
    this.plain.push(plainView(chunk));
    return chunk;
  }

  /**
   * Takes the value encoded into the current chunk at [start, end) — its length word, then its
   * msgpack — writes the length and returns its handle. `start` is a multiple of 8.
   */
  claim(start: number, end: number): number {
    const chunk = this.current;
    const n = end - start - ARENA_LENGTH_BYTES;
    chunk[start] = n & 0xff;
    chunk[start + 1] = (n >>> 8) & 0xff;
    chunk[start + 2] = (n >>> 16) & 0xff;
    chunk[start + 3] = n >>> 24;
    this.end = end;
    return (this.currentIndex << CHUNK_SHIFT) + (start >>> UNIT_SHIFT);
  }

  /**
   * Copies a value encoded elsewhere (bytes [start, end) of `from`, msgpack only) into the arena
   * and returns its handle: into the current chunk when it fits, else a chunk of its own.
   */
  copyIn(from: Uint8Array, start: number, end: number): number {
    const n = end - start;
    const need = ARENA_LENGTH_BYTES + n;
    if (need > ARENA_CHUNK_BYTES >>> 1) {
      // A chunk of its own; the current chunk stays the one being filled.
      const chunk = this.newChunk(need);
      chunk.set(from.subarray(start, end), ARENA_LENGTH_BYTES);
      chunk.writeUInt32LE(n, 0);
      return (this.chunks.length - 1) << CHUNK_SHIFT;
    }
    this.room(need + 7);
    const pos = (this.end + 7) & ~7;
    this.current.set(from.subarray(start, end), pos + ARENA_LENGTH_BYTES);
    return this.claim(pos, pos + need);
  }

  /** The chunk holding the value of `handle`. */
  chunkOf(handle: number): Buffer {
    return this.chunks[handle >>> CHUNK_SHIFT]!;
  }

  /** The same chunk as a plain Uint8Array, to decode from (a bin then loads as a Uint8Array). */
  bytesOf(handle: number): Uint8Array {
    return this.plain[handle >>> CHUNK_SHIFT]!;
  }

  /** Where the value's msgpack starts in its chunk. */
  startOf(handle: number): number {
    return ((handle & UNIT_MASK) << UNIT_SHIFT) + ARENA_LENGTH_BYTES;
  }

  /** The length of the value's msgpack. */
  lengthOf(handle: number): number {
    const chunk = this.chunks[handle >>> CHUNK_SHIFT]!;
    const at = (handle & UNIT_MASK) << UNIT_SHIFT;
    return (chunk[at]! | (chunk[at + 1]! << 8) | (chunk[at + 2]! << 16)) + chunk[at + 3]! * 0x100_0000;
  }

  /** Copies the value's msgpack to byte `at` of `buf`; returns its length. */
  copyTo(handle: number, buf: Uint8Array, at: number): number {
    const chunk = this.chunks[handle >>> CHUNK_SHIFT]!;
    const start = ((handle & UNIT_MASK) << UNIT_SHIFT) + ARENA_LENGTH_BYTES;
    const n = this.lengthOf(handle);
    if (n <= 32) {
      // Short values: a byte loop is cheaper than a native copy.
      for (let i = 0; i < n; i++) buf[at + i] = chunk[start + i]!;
    } else {
      chunk.copy(buf, at, start, start + n);
    }
    return n;
  }

  /** A view of the value's msgpack (for a value that becomes a record of its own). */
  view(handle: number): Uint8Array {
    const start = this.startOf(handle);
    return this.chunkOf(handle).subarray(start, start + this.lengthOf(handle));
  }
}

/** A Uint8Array over a Buffer's memory (one per chunk, made once). */
function plainView(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
