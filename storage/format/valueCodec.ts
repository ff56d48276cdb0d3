/**
 * Values are msgpackr-encoded. An encoding of at most MAX_INLINE_BYTES bytes lives inline in its
 * leaf slot, like the kernel's value entries; any other is packed into a shared block or becomes
 * a value record written at commit.
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
 * Kept as msgpackr keeps them: a member or element that is undefined or null (it loads as such),
 * and objects reduced to their own enumerable string-keyed properties (symbol keys, inherited
 * members and a class's prototype are not stored, as with JSON). The checks cost the hot path
 * nothing: functions meet msgpackr's writeFunction hook, which only functions reach; "encodes as
 * nothing" is a look at values of at most 3 bytes that msgpackr packed; the fast record path
 * (packRecord) only ever packs 32-bit integers.
 */
import { Packr, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } from 'msgpackr';
import { MapleError, invalid, corrupt, cellPlace } from '../../src/common/errors.js';
import { InlineSlot, NewValue, type Slot } from './node.js';
import { tooLarge } from './valueRecord.js';
import { MAX_INLINE_BYTES, MAX_VALUE_BYTES } from '../../src/common/limits.js';

/** One shared structure: the keys of an object shape, in order. */
export type Structure = string[];

const span = { start: 0, end: 0 };

/** pack() into msgpackr's buffer in place, starting over at the same offset next time. */
const PACK_MODE = REUSE_BUFFER_MODE | RESET_BUFFER_MODE;

/** Record ids 0x40..0x5f are one byte; msgpackr shares at most 32 structures. */
const ONE_BYTE_RECORDS = 32;
const SCRATCH_BYTES = 256;

/**
 * Writes `v` at `p` as msgpackr packs a number in records mode, when it is a 32-bit integer
 * (unsigned, or negative signed): the position after it, or −1 for anything else. Small, so that
 * the compiler inlines it into packAs; each sign's encodings are a function of their own.
 */
function packInt(buf: Uint8Array, p: number, v: unknown): number {
  if (typeof v !== 'number') return -1;
  if (v >>> 0 === v) return packUint(buf, p, v);
  if (v >> 0 === v) return packNegative(buf, p, v);
  return -1;
}

/** packInt for an integer in [0, 2^32). */
function packUint(buf: Uint8Array, p: number, v: number): number {
  if (v < 0x40) {
    buf[p] = v;
    return p + 1;
  }
  if (v < 0x100) {
    buf[p] = 0xcc;
    buf[p + 1] = v;
    return p + 2;
  }
  if (v < 0x10000) {
    buf[p] = 0xcd;
    buf[p + 1] = v >>> 8;
    buf[p + 2] = v & 0xff;
    return p + 3;
  }
  buf[p] = 0xce;
  buf[p + 1] = v >>> 24;
  buf[p + 2] = (v >>> 16) & 0xff;
  buf[p + 3] = (v >>> 8) & 0xff;
  buf[p + 4] = v & 0xff;
  return p + 5;
}

/** packInt for an integer in [−2^31, 0). */
function packNegative(buf: Uint8Array, p: number, v: number): number {
  if (v >= -0x20) {
    buf[p] = 0x100 + v;
    return p + 1;
  }
  if (v >= -0x80) {
    buf[p] = 0xd0;
    buf[p + 1] = v + 0x100;
    return p + 2;
  }
  if (v >= -0x8000) {
    buf[p] = 0xd1;
    buf[p + 1] = (v >> 8) & 0xff;
    buf[p + 2] = v & 0xff;
    return p + 3;
  }
  buf[p] = 0xd2;
  buf[p + 1] = (v >>> 24) & 0xff;
  buf[p + 2] = (v >>> 16) & 0xff;
  buf[p + 3] = (v >>> 8) & 0xff;
  buf[p + 4] = v & 0xff;
  return p + 5;
}

/**
 * Whether packInt and the one-byte record id agree with this msgpackr, checked once at load on a
 * scratch Packr (options as ValueCodec's, a table of its own): integers at every encoding
 * boundary, and records of shared structures 0 and 31. On any difference msgpackr packs every value.
 */
export const FAST_RECORDS = ((): boolean => {
  try {
    const table: Structure[] = [];
    for (let i = 0; i < ONE_BYTE_RECORDS; i++) table.push([`k${i}`, 'v']);
    const probe = new Packr({ structures: table, mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true });
    const ints = [0, 1, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff];
    const all = ints.concat(ints.map((v) => -v - 1), [-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000]);
    const buf = new Uint8Array(SCRATCH_BYTES);
    for (const index of [0, ONE_BYTE_RECORDS - 1]) {
      for (const v of all) {
        const q = packInt(buf, 1, v);
        if (q < 0) continue; // not a 32-bit integer: left to msgpackr
        buf[0] = 0x40 + index;
        const p = packInt(buf, q, 0x41);
        const expected = probe.pack({ [`k${index}`]: v, v: 0x41 });
        if (p !== expected.length || !buf.subarray(0, p).every((b, i) => b === expected[i])) return false;
      }
    }
    return true;
  } catch {
    // Any failure of the probe (an msgpackr that packs differently or throws): pack with msgpackr only.
    return false;
  }
})();

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

/** What pack() returns in PACK_MODE: its buffer with the value's bounds, or a view of the value. */
type PackResult = Uint8Array & { start?: number; end?: number };

export class ValueCodec {
  private readonly enc: Packr;
  /**
   * packRecord's output, and the structure it matched last (tried first next time). A Buffer like
   * msgpackr's, so InlineSlot's constructor sees one kind of array.
   */
  private readonly scratch: Uint8Array = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  private scratchEnd = 0;
  private lastRecord = 0;
  private readonly dec: Packr;

  /**
   * @param structures the table read from the file (empty for a new store)
   * @param shared false: new values get no shared structures and decode on their own (values
   *   already written with structures still decode through the table)
   */
  constructor(structures: Structure[] = [], readonly shared = true) {
    const table = structures.map((s) => s.slice());
    this.dec = new Packr({ structures: table, mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true, writeFunction: refuseFunction });
    this.enc = shared ? this.dec : new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true, copyBuffers: true, writeFunction: refuseFunction });
  }

  private get table(): Structure[] {
    return (this.dec as unknown as { structures: Structure[] }).structures;
  }

  /** The shared structures known now (durable or not). */
  get structureCount(): number {
    return this.table.length;
  }

  /** A copy of the table, to be written by a commit. */
  structures(): Structure[] {
    return this.table.map((s) => [...s]);
  }

  encode(value: unknown): Slot {
    if (value === null || value === undefined) throw invalid(`value is ${value}; store a value, or use clear()/erase() to make a range empty`);
    if (this.shared && FAST_RECORDS && typeof value === 'object') {
      let n = 0;
      try {
        if ((value as object).constructor === Object) n = this.packRecord(value as Record<string, unknown>);
      } catch {
        // a throwing getter or proxy: msgpackr meets it again below and reports it as EINVAL
      }
      // A copy for a NewValue (scratch is a Buffer, whose slice() would be a view).
      if (n > 0) return n <= MAX_INLINE_BYTES ? new InlineSlot(this.scratch, 0, n) : new NewValue(new Uint8Array(this.scratch.buffer.slice(this.scratch.byteOffset, this.scratch.byteOffset + n)));
    }
    if (typeof value === 'function') throw invalid('value is a function; functions cannot be stored (msgpack has no encoding for them: it would load as undefined)');
    if (typeof value === 'symbol') throw invalid(`value is a symbol (${String(value)}); symbols cannot be stored`);
    let out: PackResult;
    try {
      out = this.enc.pack(value, PACK_MODE) as PackResult;
    } catch (err) {
      if (err instanceof MapleError) throw err;
      throw invalid(`value cannot be encoded with msgpack: ${(err as Error).message}`);
    }
    // Packed into msgpackr's own buffer, which it returns whole with the value's [start, end) —
    // no view allocated per value — and reuses from `start` for the next value. When the value
    // added a shared structure, msgpackr returns a view of just the value instead (no start/end).
    const start = out.start ?? 0;
    const end = out.start === undefined ? out.length : out.end!;
    const n = end - start;
    if (n <= 3 && encodesNothing(out, start, n)) {
      const kind = typeof value === 'object' ? `an object of class ${(value as object).constructor?.name || '(none)'}` : `a ${typeof value}`;
      throw invalid(`value (${kind}) encodes as msgpack ${n === 1 ? 'nil' : 'undefined'} (a toJSON() returning nothing?): it would load as ${n === 1 ? 'null' : 'undefined'}, like an empty index`);
    }
    if (n > MAX_VALUE_BYTES) throw tooLarge(n);
    if (n <= MAX_INLINE_BYTES) return new InlineSlot(out, start, end);
    // A copy (Buffer#slice would be a view): the buffer is msgpackr's to reuse.
    const at = out.byteOffset + start;
    return new NewValue(new Uint8Array(out.buffer.slice(at, at + n)));
  }

  /**
   * The bytes msgpackr writes for a plain object whose keys, in order, are a shared structure
   * already in the table and whose values are all 32-bit integers — the common record shape — packed
   * into `scratch` without msgpackr (its per-call set-up costs more than the packing): the record id
   * 0x40 + index, then each value as msgpackr packs integers. Returns the length, or 0 (nothing to
   * rely on) when the value is anything else, for msgpackr to pack. FAST_RECORDS checks these rules
   * against msgpackr itself at load; test/storage/fastRecords.test.ts compares bytes too.
   */
  private packRecord(value: Record<string, unknown>): number {
    const table = this.table as Structure[] & { sharedLength?: number };
    const shared = Math.min(table.sharedLength ?? 0, ONE_BYTE_RECORDS);
    if (shared === 0) return 0;
    let index = this.lastRecord;
    if (index >= shared || !this.packAs(value, table[index]!, index)) {
      index = -1;
      for (let i = 0; i < shared; i++) {
        if (i !== this.lastRecord && this.packAs(value, table[i]!, i)) {
          index = i;
          break;
        }
      }
      if (index < 0) return 0;
      this.lastRecord = index;
    }
    return this.scratchEnd;
  }

  /** Packs `value` into scratch as record `index` (keys `keys`); false when it is not one. */
  private packAs(value: Record<string, unknown>, keys: Structure, index: number): boolean {
    const buf = this.scratch;
    buf[0] = 0x40 + index;
    let p = 1;
    let j = 0;
    const own = typeof value.hasOwnProperty === 'function';
    for (const key in value) {
      if (own && !value.hasOwnProperty(key)) continue; // as msgpackr skips inherited keys
      if (j === keys.length || key !== keys[j]) return false;
      j++;
      p = packInt(buf, p, value[key]);
      if (p < 0 || p > SCRATCH_BYTES - 8) return false;
    }
    if (j !== keys.length) return false;
    this.scratchEnd = p;
    return true;
  }

  /**
   * Decodes the value in bytes [start, end) of `buf` without making a view of it (msgpackr caches
   * its DataView on `buf`, so decoding from the pool slab allocates nothing but the value).
   */
  decodeAt(buf: Uint8Array, start: number, end: number, cell: number): unknown {
    span.start = start;
    span.end = end;
    try {
      return this.dec.unpack(buf, span);
    } catch (err) {
      throw corrupt(`the inline value in ${cellPlace(cell)} does not decode as msgpack: ${(err as Error).message}`);
    }
  }

  /** Decodes a value; bytes that are not valid msgpack are ECORRUPT naming `where`. */
  decode(bytes: Uint8Array, where = 'a value'): unknown {
    try {
      return this.dec.unpack(bytes);
    } catch (err) {
      throw corrupt(`${where} does not decode as msgpack: ${(err as Error).message}`);
    }
  }
}

const plain = new ValueCodec([], false);

/** Decodes self-described msgpack (no shared structures); ECORRUPT naming `where` when invalid. */
export function decodeValue(bytes: Uint8Array, where = 'a value'): unknown {
  return plain.decode(bytes, where);
}
