/**
 * Values are msgpackr-encoded. An encoding of at most MAX_INLINE_BYTES bytes lives inline in its
 * leaf slot, like the kernel's value entries; one of at most AREA_VALUE_MAX_BYTES in its leaf's
 * value area (storage/format/valueArea.ts); a longer one in a value record of its own.
 *
 * A transaction encodes each value straight into its arena (storage/format/valueArena.ts): msgpackr
 * is pointed at the arena's current chunk (useBuffer) and packs there, in place, with four bytes
 * reserved in front for the length; the slot gets the value's handle. No buffer, view or object
 * is made per value. Between two values msgpackr is left pointed at a full "parking" buffer of the
 * codec's own, so any other msgpackr user in the process (sharing msgpackr's module-level target)
 * starts a buffer of its own instead of writing into the arena.
 *
 * Every value goes through msgpackr: no encoder is special-cased for a shape. (An earlier
 * hand-written encoder for records of 32-bit integers is gone; msgpackr packs `{ id, prot }` into
 * the arena in 70–80 ns, measured with `node dist/test/bench/probes/encodeShapes.js`.)
 *
 * Shared record structures (msgpackr's records, what lmdb-js does by default): the first time an
 * object shape is stored, its key list joins the store's structure table and every later object
 * of that shape encodes as a one-byte structure reference followed by its values — `{ id, prot }`
 * takes 7 bytes instead of 15, small enough to live inline in the leaf. The table only grows
 * (msgpackr appends, never renumbers), so the newest table decodes every older value. It is
 * written with the first commit whose values use a new entry (storage/format/structures.ts). Beyond
 * msgpackr's 32 shared structures, new shapes encode self-described in each value.
 *
 * Other options: extended types for typed arrays, and copied buffers so a decoded Uint8Array
 * never aliases a buffer-pool frame. Maps decode as plain objects.
 *
 * What is refused (EINVAL), because it would not load back as what was stored:
 *   - at top level: null and undefined (they mean "empty"), a function, a symbol, and anything
 *     whose encoding is msgpack nil or msgpackr's undefined (an object whose toJSON() returns
 *     null or undefined): such a value would load as nothing, indistinguishable from an empty index;
 *   - at any depth: a function (msgpackr would write undefined in its place, so `{ f() {} }` would
 *     load as `{ f: undefined }`) and a symbol (msgpackr cannot encode one).
 *   - at any depth: a Map with an object or array as a key (maps decode as objects, and msgpackr's
 *     decoder throws on such a key: the value could not be read back at all), a subclass of a
 *     typed array (written with a type msgpackr cannot read), and objects msgpackr packs as `{}` or
 *     as their characters — a subclass of Map, a Promise, WeakMap, WeakSet, WeakRef, or a boxed
 *     Number, String, Boolean, BigInt or Symbol (refuseUnloadable, below).
 * Kept as msgpackr keeps them: a member or element that is undefined or null (it loads as such),
 * and objects reduced to their own enumerable string-keyed properties (symbol keys, inherited
 * members and a class's prototype are not stored, as with JSON); Maps load as plain objects, -0
 * as 0, a Buffer as a Uint8Array, an own `__proto__` key as `__proto_` (msgpackr's guard against
 * prototype pollution); an array's holes load as undefined, its extra properties not at all. Functions cost the hot path nothing
 * (they meet msgpackr's writeFunction hook, which only functions reach); "encodes as nothing" is a
 * look at values of at most 3 bytes; the rest is one walk of the value's objects after packing.
 */
import { C1, Packr, REUSE_BUFFER_MODE, RESERVE_START_SPACE } from 'msgpackr';
import { MapleError, invalid, corrupt, cellPlace } from '../../src/common/errors.js';
import { ARENA_LENGTH_BYTES, type ValueArena } from './valueArena.js';
import { tooLarge } from './valueRecord.js';
import { MAX_VALUE_BYTES } from '../../src/common/limits.js';

/** One shared structure: the keys of an object shape, in order. */
export type Structure = string[];

/**
 * Shared structures at most (msgpackr's maxSharedStructures, given explicitly): values refer to
 * them by one-byte ids 0x40..0x5f, so the number is part of the file format. A newer shape is
 * packed with its definition inline, and reading such a value makes msgpackr note the definition
 * past the shared ones for the rest of that decode; those entries are not shared and never written.
 */
export const MAX_SHARED_STRUCTURES = 32;

/** pack() in place into the buffer msgpackr is given, four bytes reserved in front for the length. */
const PACK_MODE = REUSE_BUFFER_MODE | RESERVE_START_SPACE | ARENA_LENGTH_BYTES;
/**
 * Free bytes a chunk must have before msgpackr packs into it: msgpackr starts a buffer of its own
 * when fewer than 2 KiB are left (a value longer than what is left is then copied into the arena).
 */
const PACK_ROOM_BYTES = 0x800 + 32;
/** The parking buffer's size: what msgpackr allocates for another user who finds it full. */
const PARKING_BYTES = 8192;

/**
 * msgpackr's writeFunction hook: called for a function met anywhere in a value (msgpackr would
 * otherwise pack undefined in its place). The refusal propagates out of pack().
 */
function refuseFunction(): never {
  throw invalid('value holds a function (as a member or element); functions cannot be stored (msgpack has no encoding for them: they would load as undefined)');
}

/**
 * Whether msgpack bytes [start, start + n) are a lone nil (0xc0) or msgpackr's undefined (fixext 1,
 * type 0, data 0: d4 00 00) — a value that would load as null or undefined.
 */
function encodesNothing(buf: Uint8Array, start: number, n: number): boolean {
  if (n === 1) return buf[start] === 0xc0;
  return n === 3 && buf[start] === 0xd4 && buf[start + 1] === 0 && buf[start + 2] === 0;
}

/** A UTF-16 code unit that is half of no surrogate pair. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * msgpackr's shouldShareStructure hook: whether a new shape's keys may join the shared table. Not
 * when a key holds a lone surrogate: msgpackr writes it as WTF-8, which reads back as U+FFFD, so a
 * shared key would load as itself in the writing process (whose table holds the key as given) and
 * as U+FFFD after a reopen, in a read-only open or in a worker (which read the table from the
 * file). Declined, the shape is written with the value and loads as U+FFFD everywhere, as a Map
 * key or a string does.
 */
function shareable(keys: string[]): boolean {
  for (const k of keys) if (typeof k === 'string' && LONE_SURROGATE.test(k)) return false;
  return true;
}

/**
 * Objects msgpackr packs as `{}` (or as their characters), which would load back as something else.
 * Matched with instanceof, so BigInt and Symbol, which are not constructors, are listed too: their
 * boxed objects (`Object(5n)`, `Object(Symbol())`) are boxed primitives like `new Number(5)`.
 */
const OPAQUE: ReadonlyArray<[Function, string]> = [
  [Promise, 'a Promise (a missing await?)'],
  [WeakMap, 'a WeakMap (its entries cannot be listed)'],
  [WeakSet, 'a WeakSet (its members cannot be listed)'],
  [WeakRef, 'a WeakRef'],
  [SharedArrayBuffer, 'a SharedArrayBuffer (it would load as {}; store a Uint8Array copy of its bytes)'],
  [Number, 'a Number object (store the number itself)'],
  [String, 'a String object (store the string itself)'],
  [Boolean, 'a Boolean object (store the boolean itself)'],
  [BigInt, 'a BigInt object (store the bigint itself)'],
  [Symbol, 'a Symbol object (symbols cannot be stored)'],
];

/** The views msgpackr writes and reads back (Buffer loads as a Uint8Array); a subclass of one it cannot read. */
const BYTE_VIEWS: ReadonlySet<unknown> = new Set<unknown>([
  Buffer,
  DataView,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
]);

/**
 * Refuses what msgpackr packs without complaint but would not load back as itself: a Map with a
 * key that cannot be a property name (an object or array: maps decode as objects, and the decoder
 * throws on such a key — the value could not be read at all), a subclass of Map (packed as {}) or
 * of a typed array (packed with a type the decoder does not know: unreadable), and the OPAQUE
 * objects. Called once
 * msgpackr has packed the value (so it is finite and not too deep for msgpackr); it visits what
 * msgpackr visits — arrays, plain and class objects' own enumerable properties, Sets and Maps —
 * and nothing inside strings, numbers, typed arrays or Dates. Its cost is a walk of the value's
 * objects, measured with `node dist/test/bench/probes/encodeShapes.js` (docs/design.md, section 4,
 * "A value that would not load back as itself is refused").
 */
function refuseUnloadable(value: object): void {
  if (value.constructor === Object) {
    for (const key in value) {
      const x: unknown = (value as Record<string, unknown>)[key];
      if (typeof x === 'object' && x !== null) refuseUnloadable(x);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      if (typeof x === 'object' && x !== null) refuseUnloadable(x);
    }
    return;
  }
  if (value instanceof Map) {
    if (value.constructor !== Map) throw invalid(`value is or holds a subclass of Map (${value.constructor?.name || 'anonymous'}); msgpackr would store it as {}: store a Map`);
    for (const [key, x] of value) {
      if (typeof key === 'object' && key !== null) {
        throw invalid(`value holds a Map with ${Array.isArray(key) ? 'an array' : 'an object'} as a key; maps load back as plain objects, whose keys are strings: use string or number keys`);
      }
      if (typeof x === 'object' && x !== null) refuseUnloadable(x);
    }
    return;
  }
  if (value instanceof Set) {
    for (const x of value) if (typeof x === 'object' && x !== null) refuseUnloadable(x);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    if (!BYTE_VIEWS.has(value.constructor)) throw invalid(`value is or holds a subclass of a typed array (${value.constructor?.name || 'anonymous'}); msgpackr would write it with a type it cannot read back: store a ${Object.getPrototypeOf(value.constructor)?.name || 'typed array'}`);
    return;
  }
  if (value instanceof Date || value instanceof RegExp || value instanceof ArrayBuffer) return;
  for (const [type, what] of OPAQUE) if (value instanceof type) throw invalid(`value is or holds ${what}; it would load back as something else`);
  for (const key in value) {
    const x: unknown = (value as Record<string, unknown>)[key];
    if (typeof x === 'object' && x !== null) refuseUnloadable(x);
  }
}

/**
 * A decoded value, unless it is msgpackr's placeholder for the byte 0xc1, which msgpack never uses
 * (msgpackr never writes it): ECORRUPT naming `where` (a cell, or a description).
 */
function loaded(value: unknown, where: number | string): unknown {
  if (value === C1) throw corrupt(`${typeof where === 'number' ? `the value in ${cellPlace(where)}` : where} is msgpack's never-used byte 0xc1`);
  return value;
}

/** The refusal of a value whose toJSON() or getter stored a value while it was being encoded. */
function nested(): MapleError {
  return invalid("a toJSON() or getter of the value being stored stored a value while the value was being encoded: values are encoded one at a time (msgpackr's encoder is one per process); store it before or after");
}

/**
 * Whether a value is being encoded (by any store's codec), from its packing to its claim in the
 * arena, getters called by refuseUnloadable included. Process-wide on purpose, unlike every other
 * piece of state (test/house/moduleState.test.ts): msgpackr's own buffer and position are
 * module-wide, shared by every store and codec of the process.
 */
const ENCODE_GUARD = { active: false };

/** What pack() returns in PACK_MODE: its buffer with the value's bounds, or a view of the value. */
type PackResult = Uint8Array & { start?: number; end?: number };

export class ValueCodec {
  private readonly enc: Packr;
  private readonly dec: Packr;
  /** msgpackr's target between two encodes: full, never written (see the module comment). */
  private readonly parking: Buffer = Buffer.allocUnsafeSlow(PARKING_BYTES);
  /** The bounds given to unpack (reused: a decode allocates nothing but the value). */
  private readonly span = { start: 0, end: 0 };

  /**
   * @param structures the table read from the file (empty for a new store)
   * @param shared false: new values get no shared structures and decode on their own (values
   *   already written with structures still decode through the table)
   */
  constructor(structures: Structure[] = [], readonly shared = true) {
    // A table longer than the shared limit (written by releases that also wrote the inline
    // definitions a read had noted) holds nothing shared past it: msgpackr would refuse to encode.
    const table = structures.slice(0, MAX_SHARED_STRUCTURES).map((s) => s.slice());
    this.dec = new Packr({ structures: table, maxSharedStructures: MAX_SHARED_STRUCTURES, mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true, shouldShareStructure: shareable, writeFunction: refuseFunction });
    // Not `useRecords: false`: that packs the integers 64..127 as the one-byte fixints 0x40..0x7f,
    // which this.dec reads as references to shared structures 0x40..0x5f once the table has them
    // (written before, or by a later open with sharedStructures on): ECORRUPT, never the value.
    // A function that declines every object packs objects self-described, and those integers as
    // uint8 (0xcc), as the shared encoder does.
    this.enc = shared ? this.dec : new Packr({ useRecords: () => false, mapsAsObjects: true, moreTypes: true, copyBuffers: true, writeFunction: refuseFunction });
  }

  /**
   * A codec for a store whose table of `count` structures cannot be read (salvage): a value that
   * refers to one of them does not decode (ECORRUPT), where msgpackr without the structure would
   * read its reference byte 0x40 + id as the integer 64 + id (`{}`, one byte, would load as 64).
   * For decoding only.
   */
  static withDamagedTable(count: number): ValueCodec {
    const codec = new ValueCodec(Array.from({ length: Math.min(count, MAX_SHARED_STRUCTURES) }, () => []), true);
    const missing = (): never => {
      throw new Error('it refers to a shared structure of a damaged table');
    };
    for (const s of codec.table) (s as Structure & { read?: () => never }).read = missing;
    return codec;
  }

  private get table(): Structure[] & { sharedLength?: number } {
    return (this.dec as unknown as { structures: Structure[] & { sharedLength?: number } }).structures;
  }

  /**
   * The shared structures known now (durable or not): msgpackr's shared length, not the table's —
   * after reading a value of a shape past the shared limit, the table also holds that value's
   * inline definition until the next encode or decode trims it.
   */
  get structureCount(): number {
    const t = this.table;
    return Math.min(t.length, t.sharedLength ?? t.length);
  }

  /** A copy of the shared structures, to be written by a commit. */
  structures(): Structure[] {
    return this.table.slice(0, this.structureCount).map((s) => [...s]);
  }

  /**
   * Encodes `value` into `arena` and returns its handle (storage/format/valueArena.ts). Not from
   * inside another encode (a value's toJSON() or getter that stores a value, into any store):
   * msgpackr's buffer and position are module-wide, so the inner value would be packed into the
   * middle of the outer one, and the outer one's bytes over the inner one's (both unreadable).
   */
  encode(value: unknown, arena: ValueArena): number {
    if (ENCODE_GUARD.active) throw nested();
    ENCODE_GUARD.active = true;
    try {
      return this.encodeOne(value, arena);
    } finally {
      ENCODE_GUARD.active = false;
    }
  }

  private encodeOne(value: unknown, arena: ValueArena): number {
    if (value === null || value === undefined) throw invalid(`value is ${value}; store a value, or use clear()/erase() to make a range empty`);
    if (typeof value === 'function') throw invalid('value is a function; functions cannot be stored (msgpack has no encoding for them: it would load as undefined)');
    if (typeof value === 'symbol') throw invalid(`value is a symbol (${String(value)}); symbols cannot be stored`);
    arena.room(PACK_ROOM_BYTES);
    const chunk = arena.current;
    const enc = this.enc;
    enc.useBuffer(chunk);
    enc.position = arena.end;
    let out: PackResult;
    try {
      out = enc.pack(value, PACK_MODE) as PackResult;
    } catch (err) {
      if (err instanceof MapleError) throw err;
      throw invalid(`value cannot be encoded with msgpack: ${(err as Error).message}`);
    } finally {
      enc.useBuffer(this.parking);
      enc.position = PARKING_BYTES;
    }
    // Packed in the chunk, which msgpackr returns whole with the value's [start, end) (the
    // reserved length first); when the value added a shared structure, a view of just the value.
    // Anything else was packed into a buffer of msgpackr's own (the value outgrew the chunk).
    let start: number;
    let end: number;
    let inChunk = true;
    if (out === chunk) {
      start = out.start!;
      end = out.end!;
    } else if (out.buffer === chunk.buffer && out.start === undefined) {
      start = out.byteOffset - chunk.byteOffset;
      end = start + out.length;
    } else {
      start = out.start ?? 0;
      end = out.start === undefined ? out.length : out.end!;
      inChunk = false;
    }
    const from = start + ARENA_LENGTH_BYTES;
    const n = end - from;
    if (n <= 3 && encodesNothing(inChunk ? chunk : out, from, n)) {
      const kind = typeof value === 'object' ? `an object of class ${(value as object).constructor?.name || '(none)'}` : `a ${typeof value}`;
      throw invalid(`value (${kind}) encodes as msgpack ${n === 1 ? 'nil' : 'undefined'} (a toJSON() returning nothing?): it would load as ${n === 1 ? 'null' : 'undefined'}, like an empty index`);
    }
    if (n > MAX_VALUE_BYTES) throw tooLarge(n);
    if (typeof value === 'object') {
      try {
        refuseUnloadable(value);
      } catch (err) {
        if (err instanceof MapleError) throw err;
        throw invalid(`value cannot be walked: ${(err as Error).message}`);
      }
    }
    if (inChunk) return arena.claim(start, end);
    return arena.copyIn(out, from, end);
  }

  /**
   * Decodes the value in bytes [start, end) of `buf` without making a view of it (msgpackr caches
   * its DataView on `buf`, so decoding from the pool slab allocates nothing but the value).
   */
  decodeAt(buf: Uint8Array, start: number, end: number, cell: number): unknown {
    const span = this.span;
    span.start = start;
    span.end = end;
    let value: unknown;
    try {
      value = this.dec.unpack(buf, span);
    } catch (err) {
      throw corrupt(`the value in ${cellPlace(cell)} does not decode as msgpack: ${(err as Error).message}`);
    }
    return loaded(value, cell);
  }

  /** Decodes the value of `handle` in `arena` (a transaction's own value). */
  decodeHandle(arena: ValueArena, handle: number): unknown {
    const span = this.span;
    span.start = arena.startOf(handle);
    span.end = span.start + arena.lengthOf(handle);
    return this.dec.unpack(arena.bytesOf(handle), span);
  }

  /** Decodes a value; bytes that are not valid msgpack are ECORRUPT naming `where`. */
  decode(bytes: Uint8Array, where = 'a value'): unknown {
    let value: unknown;
    try {
      value = this.dec.unpack(bytes);
    } catch (err) {
      throw corrupt(`${where} does not decode as msgpack: ${(err as Error).message}`);
    }
    return loaded(value, where);
  }
}

const plain = new ValueCodec([], false);

/** Decodes self-described msgpack (no shared structures); ECORRUPT naming `where` when invalid. */
export function decodeValue(bytes: Uint8Array, where = 'a value'): unknown {
  return plain.decode(bytes, where);
}
