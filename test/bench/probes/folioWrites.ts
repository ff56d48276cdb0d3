// What a small write costs by the size of the writes that first cached its page (storage/io/fileIO.ts,
// WRITE_PIECE_BYTES). Linux caches a file in folios as large as the write or read that brought the
// bytes in; a later sub-page write walks every block of its folio.
//
//   node dist/test/bench/probes/folioWrites.js [mib=64] [writes=50000] [pieces=4096,65536,262144,1048576,2097152]
//
// For each piece size: writes a `mib` MiB file in pieces of that size, fdatasyncs it, then times
// `writes` 256-byte pwrites at random 256-byte-aligned offsets (µs per write, two rounds).

import fs from 'node:fs';
import path from 'node:path';
import { arg, tempDir } from './common.js';

const mib = arg(0, 64);
const writes = arg(1, 50_000);
const pieces = (process.argv[4] ?? '4096,65536,262144,1048576,2097152').split(',').map(Number);
const dir = tempDir('folio-writes');
try {
  for (const piece of pieces) {
    const file = path.join(dir, `piece-${piece}`);
    const fd = fs.openSync(file, 'w+');
    const fill = new Uint8Array(piece).fill(1);
    for (let at = 0; at < mib * 2 ** 20; at += piece) fs.writeSync(fd, fill, 0, piece, at);
    fs.fdatasyncSync(fd);
    const cell = new Uint8Array(256).fill(3);
    const cells = (mib * 2 ** 20) / 256;
    let seed = 1;
    const rounds: string[] = [];
    for (let round = 0; round < 2; round++) {
      const start = performance.now();
      for (let k = 0; k < writes; k++) {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        fs.writeSync(fd, cell, 0, 256, Math.floor((seed / 2_147_483_648) * cells) * 256);
      }
      rounds.push((((performance.now() - start) * 1000) / writes).toFixed(2));
    }
    console.log(`cached by ${piece}-byte writes: a 256-byte pwrite takes ${rounds.join(' / ')} µs`);
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
