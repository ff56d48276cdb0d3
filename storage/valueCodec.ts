/**
 * Values are msgpackr-encoded. An encoding of at most MAX_INLINE_BYTES bytes (small integers,
 * booleans, short strings) lives inline in its leaf slot, like the kernel's value entries; any
 * other becomes a value record written at commit.
 *
 * Options: no shared record structures (every record decodes on its own), extended types for
 * typed arrays, and copied buffers so a decoded Uint8Array never aliases a buffer-pool frame.
 * Maps decode as plain objects.
 */
import { Packr } from 'msgpackr';
import { MapleError, invalid } from '../src/errors.js';
import { InlineSlot, MAX_INLINE_BYTES, NewValue, type Slot } from './node.js';
import { MAX_VALUE_BYTES, tooLarge } from './valueRecord.js';

const packr = new Packr({ useRecords: false, moreTypes: true, copyBuffers: true });

export function encodeValue(value: unknown): Slot {
  if (value === null || value === undefined) throw invalid(`value is ${value}; store a value, or use clear()/erase() to make a range empty`);
  let bytes: Uint8Array;
  try {
    bytes = packr.pack(value);
  } catch (err) {
    throw invalid(`value cannot be encoded with msgpack: ${(err as Error).message}`);
  }
  if (bytes.length > MAX_VALUE_BYTES) throw tooLarge(bytes.length);
  // pack() returns a view of msgpackr's reusable buffer: copy (a typed-array copy, not element-wise).
  if (bytes.length <= MAX_INLINE_BYTES) return new InlineSlot(new Uint8Array(bytes));
  return new NewValue(new Uint8Array(bytes));
}

const span = { start: 0, end: 0 };

/**
 * Decodes the value in bytes [start, end) of `buf` without making a view of it (msgpackr caches
 * its DataView on `buf`, so decoding from the pool slab allocates nothing but the value).
 */
export function decodeValueAt(buf: Uint8Array, start: number, end: number, cell: number): unknown {
  span.start = start;
  span.end = end;
  try {
    return packr.unpack(buf, span);
  } catch (err) {
    throw new MapleError('ECORRUPT', `the inline value in cell ${cell} (page ${Math.floor(cell / 16)}) does not decode as msgpack: ${(err as Error).message}`);
  }
}

/** Decodes a value; bytes that are not valid msgpack are ECORRUPT naming `where`. */
export function decodeValue(bytes: Uint8Array, where = 'a value'): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new MapleError('ECORRUPT', `${where} does not decode as msgpack: ${(err as Error).message}`);
  }
}
