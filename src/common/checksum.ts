/**
 * CRC-32 (zlib's polynomial, reflected 0xEDB88320) over byte ranges.
 *
 * Computed in JavaScript, eight bytes per step from eight lookup tables ("slicing by 8"): the
 * checksummed spans are mostly single 256-byte cells, where a call into native zlib.crc32 (plus
 * the subarray it needs) costs as much as the work; longer spans go to zlib (below).
 * The result is bit-for-bit zlib's, which the tests check against zlib.crc32.
 */

import * as zlib from 'node:zlib';

const TABLES = makeTables();

/**
 * zlib's own crc32 (Node 20.15 and later), for spans of 512 bytes and more — value areas and log
 * entries are kilobytes. Measured with the call as made here (a subarray, then zlib), after a
 * warm-up (`node dist/test/bench/probes/crcSpans.js`, two runs, on the machine of
 * docs/benchmarks.md): 256 bytes 0.22–0.33 µs natively against 0.24–0.27 µs here, 512 bytes
 * 0.35–0.47 against 0.44–0.63, 3,072 bytes 0.80–1.18 against 2.37–3.38, 50,000 bytes 11.4–14.3
 * against 44–48. Single cells, checked inside the read path, stay here.
 */
const NATIVE_CRC32: ((data: Uint8Array, value?: number) => number) | undefined = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
const NATIVE_MIN_BYTES = 512;

function makeTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb8_8320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return t;
}

/** CRC-32 of bytes[start, end), continuing from `initial` (a previous result; 0 to start). */
export function crc32(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  if (end - start >= NATIVE_MIN_BYTES && NATIVE_CRC32 !== undefined) return NATIVE_CRC32(bytes.subarray(start, end), initial);
  return crc32Js(bytes, start, end, initial);
}

/** crc32 in JavaScript whatever the span (the tests hold it to zlib's on long spans too). */
export function crc32Js(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  const t = TABLES;
  let c = ~initial;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32 of bytes [from, to) of an object spread over buffer-pool frames, continuing from
 * `initial`: its bytes 0 .. firstSpan−1 at byte `at` of `slab`, then page by page (`pageBytes`
 * each) at the frames `frames[0 .. frameCount)`.
 */
export function crc32Spread(slab: Uint8Array, at: number, firstSpan: number, pageBytes: number, frames: ArrayLike<number>, frameCount: number, from: number, to: number, initial = 0): number {
  let c = initial;
  let b = from;
  if (b < firstSpan) {
    const n = Math.min(to, firstSpan);
    c = crc32(slab, at + b, at + n, c);
    b = n;
  }
  while (b < to) {
    const page = Math.floor((b - firstSpan) / pageBytes);
    if (page >= frameCount) throw new RangeError(`byte ${b} lies past the ${frameCount + 1} pages given`);
    const inPage = (b - firstSpan) % pageBytes;
    const n = Math.min(to - b, pageBytes - inPage);
    const start = frames[page]! * pageBytes + inPage;
    c = crc32(slab, start, start + n, c);
    b += n;
  }
  return c;
}
