// What a 1,000-store transaction allocates (docs/design.md, "What bounds maple"): V8's sampling heap
// profiler, keeping objects already collected, over 20 transactions of the bench's stores after
// 10 untimed ones; bytes per transaction by allocating function (built-ins under their caller).
//
//   node dist/test/bench/probes/writeAllocation.js [ranges=1000000]

import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { storeOps } from '../data.js';
import { arg, buildBenchStore, tempDir } from './common.js';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const ranges = arg(0, 1_000_000);
const dir = tempDir('alloc');
const file = path.join(dir, 's.maple');
try {
  const data = buildBenchStore(file, ranges);
  const store = open(file, { sync: 'none' });
  const ops = storeOps(data, 30_000, 900, 40_000_000);
  const run = (from: number, to: number): void => {
    for (let t = from; t < to; t++) {
      store.transaction((w) => {
        for (let k = t * 1000; k < (t + 1) * 1000; k++) w.store(ops.firsts[k]!, ops.lasts[k]!, { id: ops.ids[k]!, prot: ops.prots[k]! });
      });
    }
  };
  run(0, 10);
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  run(10, 30);
  const { profile } = await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
  session.disconnect();
  const name = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
  const bytes = new Map<string, number>();
  const walk = (n: ProfileNode, parent: ProfileNode | null): void => {
    const key = n.callFrame.url === '' && parent !== null ? `${name(n)} <- ${name(parent)}` : name(n);
    bytes.set(key, (bytes.get(key) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, n);
  };
  walk(profile.head, null);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  console.log(`${(total / 20 / 1e6).toFixed(2)} MB allocated per 1,000-store transaction (sampled); the largest sites:`);
  for (const [site, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`${(b / 20 / 1e3).toFixed(0).padStart(7)} KB  ${site}`);
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
