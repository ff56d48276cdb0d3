// The CRC-32 of long spans (src/common/checksum.ts): the JavaScript one against zlib's native
// crc32, by span length — a cell (256 B), a page, a single store's log entry (~3 KB) and a write
// group's (~50 KB).
//
//   node dist/test/bench/probes/crcSpans.js [rounds=200000]

import * as zlib from 'node:zlib';
import { arg } from './common.js';
import { crc32Js } from '../../../src/common/checksum.js';

const rounds = arg(0, 200_000);
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
for (const bytes of [256, 512, 1024, 2048, 3072, 4096, 50_000]) {
  const buf = new Uint8Array(bytes).map((_, i) => (i * 31) & 0xff);
  const time = (f: () => number): number => {
    let x = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) x ^= f();
    const us = Number(process.hrtime.bigint() - t0) / rounds / 1000;
    if (x === 0.5) console.log(x); // keeps the loop's result alive
    return us;
  };
  // Each timed twice, the first time as a warm-up (the optimizing compiler takes a few thousand calls).
  const inPath = (): number => native!(buf.subarray(0, bytes), 0); // as checksum.ts calls it
  time(() => crc32Js(buf, 0, bytes));
  const js = time(() => crc32Js(buf, 0, bytes));
  if (native !== undefined) time(inPath);
  const z = native === undefined ? NaN : time(inPath);
  console.log(`${String(bytes).padStart(6)} bytes: JavaScript ${js.toFixed(2)} µs, zlib ${z.toFixed(2)} µs`);
}
