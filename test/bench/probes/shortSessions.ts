// What a short session costs (docs/design.md, section 5, "Sessions"): a process that opens a
// store, makes a few durable single stores and closes it, as a command-line tool or a serverless
// function does. On a store of `ranges` ranges (10-byte values) per commit protocol (a copy of
// one bulk load each), `sessions` sessions of `writes` stores each, alternating between them: milliseconds per session (open to close) and the
// durable writes it made (fdatasyncs and commit-log appends, counted by a FileIO that times them).
//
//   node dist/test/bench/probes/shortSessions.js [ranges=100000] [sessions=200] [writes=1]

import fs from 'node:fs';
import path from 'node:path';
import type { CommitProtocol } from '../../../storage/commit/commit.js';
import { openWith } from '../../../src/api/open.js';
import { shapeNamed } from '../values.js';
import { TimedFileIO, arg, buildBenchStore, tempDir } from './common.js';

const ranges = arg(0, 100_000);
const sessions = arg(1, 200);
const writes = arg(2, 1);
const dir = tempDir('short-sessions');
try {
  const shape = shapeNamed('10B');
  const loaded = path.join(dir, 'loaded.maple');
  const data = buildBenchStore(loaded, ranges, '10B');
  const protocols: CommitProtocol[] = ['log', 'one-sync'];
  const files = new Map(protocols.map((p) => [p, path.join(dir, `${p}.maple`)]));
  for (const f of files.values()) fs.copyFileSync(loaded, f);
  const totals = new Map(protocols.map((p) => [p, { ms: 0, syncs: 0, appends: 0 }]));
  let k = 0;
  for (let s = 0; s < sessions; s++) {
    for (const protocol of protocols) {
      const start = performance.now();
      const file = files.get(protocol)!;
      const io = new TimedFileIO(file, 'r+');
      const store = openWith(file, { commitProtocol: protocol }, { fileIO: io });
      for (let w = 0; w < writes; w++, k++) {
        const i = (k * 7919) % data.count;
        store.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]! + k, data.prots[i]!));
      }
      store.close();
      io.close();
      const t = totals.get(protocol)!;
      t.ms += performance.now() - start;
      t.syncs += io.t.syncs;
      t.appends += io.t.durableWrites;
    }
  }
  for (const [protocol, t] of totals) {
    console.log(`${protocol}: ${(t.ms / sessions).toFixed(2)} ms a session of ${writes} store(s); ${(t.syncs / sessions).toFixed(2)} fdatasyncs and ${(t.appends / sessions).toFixed(2)} log appends a session`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
