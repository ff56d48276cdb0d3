// What a bulk load allocates (docs/design.md, section 10): V8's sampling heap profiler, keeping
// objects already collected, over one transaction storing the bench's `ranges` ranges of a value
// shape into a new store; bytes by allocating function (built-ins under their caller), the
// values the caller makes included.
//
//   node dist/test/bench/probes/bulkAllocation.js [ranges=1000000] [shape=10B]

import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { generateRanges } from '../data.js';
import { shapeNamed } from '../values.js';
import { arg, tempDir } from './common.js';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const ranges = arg(0, 1_000_000);
const shape = shapeNamed(process.argv[3] ?? '10B');
const dir = tempDir('bulk-alloc');
try {
  const data = generateRanges(ranges, 1, shape);
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const store = open(path.join(dir, 'bulk.maple'));
  store.transaction((txn) => {
    for (let i = 0; i < data.count; i++) txn.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]!, data.prots[i]!));
  });
  store.close();
  const { profile } = await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
  session.disconnect();
  const bytes = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode, caller: string): void => {
    const f = node.callFrame;
    const own = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    // A built-in (no url) is charged to the function that called it.
    const key = f.url === '' && caller !== '' ? caller : own;
    bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child, key);
  };
  walk(profile.head, '');
  console.log(`${ranges} ranges of ${shape.name}: ${(total / 1e6).toFixed(1)} MB allocated (sampled), by function:`);
  for (const [key, n] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(n / 1e6).toFixed(1).padStart(7)} MB  ${key}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
