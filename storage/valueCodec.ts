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
 * written with the first commit whose values use a new entry (storage/structures.ts). Beyond
 * msgpackr's 32 shared structures, new shapes encode self-described in each value.
 *
 * Other options: extended types for typed arrays, and copied buffers so a decoded Uint8Array
 * never aliases a buffer-pool frame. Maps decode as plain objects.
 */
import { Packr } from 'msgpackr';
import { MapleError, invalid } from '../src/errors.js';
import { InlineSlot, MAX_INLINE_BYTES, NewValue, type Slot } from './node.js';
import { MAX_VALUE_BYTES, tooLarge } from './valueRecord.js';

/** One shared structure: the keys of an object shape, in order. */
export type Structure = string[];

const span = { start: 0, end: 0 };

export class ValueCodec {
  private readonly enc: Packr;
  private readonly dec: Packr;
  /** Structures the file's newest commit already holds (the rest are new since). */
  durableCount: number;

  /**
   * @param structures the table read from the file (empty for a new store)
   * @param shared false: new values get no shared structures and decode on their own (values
   *   already written with structures still decode through the table)
   */
  constructor(structures: Structure[] = [], readonly shared = true) {
    this.durableCount = structures.length;
    const table = structures.map((s) => s.slice());
    this.dec = new Packr({ structures: table, mapsAsObjects: true, moreTypes: true, copyBuffers: true, saveStructures: () => true });
    this.enc = shared ? this.dec : new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true, copyBuffers: true });
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
    let bytes: Uint8Array;
    try {
      bytes = this.enc.pack(value);
    } catch (err) {
      throw invalid(`value cannot be encoded with msgpack: ${(err as Error).message}`);
    }
    if (bytes.length > MAX_VALUE_BYTES) throw tooLarge(bytes.length);
    // pack() returns a view of msgpackr's reusable buffer: copy (a typed-array copy, not element-wise).
    if (bytes.length <= MAX_INLINE_BYTES) return new InlineSlot(bytes);
    return new NewValue(new Uint8Array(bytes));
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
      throw new MapleError('ECORRUPT', `the inline value in cell ${cell} (page ${Math.floor(cell / 16)}) does not decode as msgpack: ${(err as Error).message}`);
    }
  }

  /** Decodes a value; bytes that are not valid msgpack are ECORRUPT naming `where`. */
  decode(bytes: Uint8Array, where = 'a value'): unknown {
    try {
      return this.dec.unpack(bytes);
    } catch (err) {
      throw new MapleError('ECORRUPT', `${where} does not decode as msgpack: ${(err as Error).message}`);
    }
  }
}

const plain = new ValueCodec([], false);

/** Decodes self-described msgpack (no shared structures); ECORRUPT naming `where` when invalid. */
export function decodeValue(bytes: Uint8Array, where = 'a value'): unknown {
  return plain.decode(bytes, where);
}
