/** CRC-32 (zlib's polynomial) over byte ranges, via Node's native zlib.crc32. */
import * as zlib from 'node:zlib';

export function crc32(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  return zlib.crc32(bytes.subarray(start, end), initial) >>> 0;
}
