// The cost of encoding a value by shape (docs/design.md, section 4): the store's codec packing
// into a transaction arena (storage/format/valueCodec.ts, valueArena.ts) against msgpackr packing
// into its own reused buffer, and the bench's making of the value alone, in ns per value over
// 1,000,000 values of each shape of test/bench/values.ts (three passes, after one to warm up).
//
//   node dist/test/bench/probes/encodeShapes.js [values]

import { Packr, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } from 'msgpackr';
import { ValueArena } from '../../../storage/format/valueArena.js';
import { ValueCodec } from '../../../storage/format/valueCodec.js';
import { SHAPES } from '../values.js';
import { arg } from './common.js';

const count = arg(0, 1_000_000);

function nsPer(body: () => void): number {
  const t = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - t) / count;
}

for (const shape of SHAPES) {
  const codec = new ValueCodec();
  const arena = new ValueArena();
  const packr = new Packr({ structures: [], mapsAsObjects: true, moreTypes: true, saveStructures: () => true });
  const passes: string[] = [];
  for (let pass = 0; pass < 4; pass++) {
    arena.reset();
    // The arena is reset every 4,096 values, as a transaction of that many would leave it.
    const arenaNs = nsPer(() => {
      for (let i = 0; i < count; i++) {
        if ((i & 4095) === 0) arena.reset();
        codec.encode(shape.make(100_000 + i, 5), arena);
      }
    });
    const packNs = nsPer(() => {
      for (let i = 0; i < count; i++) packr.pack(shape.make(100_000 + i, 5), REUSE_BUFFER_MODE | RESET_BUFFER_MODE);
    });
    let sink = 0;
    const makeNs = nsPer(() => {
      for (let i = 0; i < count; i++) sink += shape.make(100_000 + i, 5) === null ? 1 : 0;
    });
    if (pass > 0) passes.push(`${arenaNs.toFixed(0)}/${packNs.toFixed(0)}/${makeNs.toFixed(0)}${sink < 0 ? '!' : ''}`);
  }
  console.log(`${shape.name.padEnd(7)} ns per value, codec into the arena / msgpackr alone / making the value: ${passes.join('  ')}`);
}
