// What a durable single-store commit writes, by value shape (docs/benchmarks.md, issue 11's
// durable-commit target): distinct 4 KiB pages written, write calls, their time, the fdatasync's
// time and the rest (the commit's CPU: planning, allocation, encoding) per commit; then the cells
// written home per commit by type, and the file's size after.
//
//   node dist/test/bench/probes/commitPages.js [ranges=1000000] [commits=1000] [shapes=inline,10B,120B] [aged=0]
//
// Bulk-loads the bench's data set of each shape, ages it by `aged` transactions of 1,000 random
// overwriting stores (as workloads 5 and 10 do before workload 6 in a full bench run; 0: none),
// reopens it, then commits `commits` single stores of a random range each (a new value of the same
// shape), sync 'full'.

import fs from 'node:fs';
import path from 'node:path';
import { storeOps } from '../data.js';
import { shapeNamed } from '../values.js';
import { TimedFileIO, arg, buildBenchStore, tempDir } from './common.js';
import { openWith } from '../../../src/api/open.js';
import { open } from '../../../src/index.js';
import { NODE_INTERNAL, NODE_LEAF } from '../../../storage/format/node.js';
import { RECORD_TYPE } from '../../../storage/format/valueRecord.js';
import { AREA_TYPE } from '../../../storage/format/valueArea.js';

/**
 * Cell type bytes (storage/format): nodes of any of the file's trees, value records (pending-list
 * chunks among them), value areas. "Other" is the commit record's slot and the cells of a value
 * area after its first, whose first byte is a value's (any of them may also read as a type).
 */
const TYPE_NAMES = new Map([[NODE_LEAF, 'leaves'], [NODE_INTERNAL, 'internal nodes'], [RECORD_TYPE, 'records'], [AREA_TYPE, 'value areas']]);
const ranges = arg(0, 1_000_000);
const commits = arg(1, 1000);
const shapes = (process.argv[4] ?? 'inline,10B,120B').split(',');
const aged = arg(3, 0);
const dir = tempDir('commit-pages');
try {
  for (const name of shapes) {
    const shape = shapeNamed(name);
    const file = path.join(dir, `${name}.maple`);
    const data = buildBenchStore(file, ranges, name);
    if (aged > 0) {
      const ager = open(file, { cacheSize: 256 * 2 ** 20 });
      const overwrites = storeOps(data, aged * 1000, 5, 30_000_000);
      for (let t = 0; t < aged; t++) {
        ager.transaction((txn) => {
          for (let k = t * 1000; k < (t + 1) * 1000; k++) txn.store(overwrites.firsts[k]!, overwrites.lasts[k]!, shape.make(overwrites.ids[k]!, overwrites.prots[k]!));
        });
      }
      ager.close();
    }
    const io = new TimedFileIO(file, 'r+');
    const store = openWith(file, { sync: 'full', cacheSize: 256 * 2 ** 20 }, { fileIO: io });
    const ops = storeOps(data, commits, 77, 30_000_000);
    let pages = 0;
    io.reset();
    const start = performance.now();
    for (let k = 0; k < commits; k++) {
      store.store(ops.firsts[k]!, ops.lasts[k]!, shape.make(ops.ids[k]!, ops.prots[k]!));
      pages += io.t.pages.size;
      io.t.pages.clear();
    }
    const ms = performance.now() - start;
    const per = (x: number, digits = 2): string => (x / commits).toFixed(digits);
    console.log(
      `${name}${aged > 0 ? ` (aged by ${aged * 1000} overwrites)` : ''}: ${per(pages)} pages, ${per(io.t.writes)} writes (${per(io.t.writeMs, 3)} ms), ${per(io.t.syncs)} fdatasyncs (${per(io.t.syncMs, 3)} ms), ` +
        `${per(io.t.durableWrites)} durable writes (${per(io.t.durableMs, 3)} ms), ` +
        `the rest ${per(ms - io.t.writeMs - io.t.syncMs - io.t.durableMs, 3)} ms per commit; ${Math.round((commits * 1000) / ms)} commits/s`,
    );
    let other = 0;
    const kinds: string[] = [];
    for (const [type, name] of TYPE_NAMES) kinds.push(`${name} ${per(io.t.cellTypes.get(type) ?? 0)}`);
    for (const [type, n] of io.t.cellTypes) if (!TYPE_NAMES.has(type)) other += n;
    kinds.push(`other ${per(other)}`);
    console.log(`  cells written home per commit, by type: ${kinds.join(', ')}; the file ${(store.stats().fileBytes / ranges).toFixed(1)} bytes a range after`);
    store.close();
    fs.rmSync(file, { force: true });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
