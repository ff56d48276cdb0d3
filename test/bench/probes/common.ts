// Shared set-up for the probes: a store holding the bench's data set (workload 1), built once per
// run in a temp directory, a FileIO that times writes and syncs, and allocation sampling.

import fs from 'node:fs';
import inspector from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import { open } from '../../../src/index.js';
import { type FileIO, NodeFileIO } from '../../../storage/io/fileIO.js';
import { CELL_BYTES } from '../../../src/common/limits.js';
import { type RangeData, type StoreOps, generateRanges } from '../data.js';
import { type ValueShape, shapeNamed } from '../values.js';

export interface Timed {
  writes: number;
  writeMs: number;
  syncs: number;
  syncMs: number;
  /** 4 KiB pages written since the last reset. */
  pages: Set<number>;
  /** O_DSYNC writes (a commit log's appends) and their time. */
  durableWrites: number;
  durableMs: number;
  /** Cells written home (not through writeDurable) by the type byte of each 256-byte cell. */
  cellTypes: Map<number, number>;
}

/** Counters at zero. */
function zeroTimed(): Timed {
  return { writes: 0, writeMs: 0, syncs: 0, syncMs: 0, pages: new Set(), durableWrites: 0, durableMs: 0, cellTypes: new Map() };
}

/** NodeFileIO with counters. */
export class TimedFileIO extends NodeFileIO {
  readonly t: Timed = zeroTimed();

  override write(buf: Uint8Array, positionBytes: number): void {
    const start = performance.now();
    super.write(buf, positionBytes);
    this.t.writeMs += performance.now() - start;
    this.t.writes++;
    for (let p = Math.floor(positionBytes / 4096); p <= Math.floor((positionBytes + buf.length - 1) / 4096); p++) this.t.pages.add(p);
    if (positionBytes % CELL_BYTES === 0 && buf.length % CELL_BYTES === 0) {
      const types = this.t.cellTypes;
      for (let at = 0; at < buf.length; at += CELL_BYTES) types.set(buf[at]!, (types.get(buf[at]!) ?? 0) + 1);
    }
  }

  override sync(): void {
    const start = performance.now();
    super.sync();
    this.t.syncMs += performance.now() - start;
    this.t.syncs++;
  }

  /** An O_DSYNC write (a commit log's append): counted and timed. */
  override writeDurable(buf: Uint8Array, positionBytes: number): void {
    const start = performance.now();
    super.writeDurable(buf, positionBytes);
    this.t.durableMs += performance.now() - start;
    this.t.durableWrites++;
  }

  reset(): void {
    Object.assign(this.t, zeroTimed());
  }
}

/**
 * A file of `bytes` bytes written and synced (so its blocks are allocated and a later write
 * overwrites them), open read-write, and a second descriptor of it opened O_DSYNC.
 */
export function syncedFile(file: string, bytes: number): { fd: number; dsync: number } {
  const fd = fs.openSync(file, 'w+');
  const mib = Buffer.alloc(1 << 20, 2);
  for (let at = 0; at < bytes; at += 1 << 20) fs.writeSync(fd, mib, 0, mib.length, at);
  fs.fsyncSync(fd);
  return { fd, dsync: fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DSYNC) };
}

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `maple-probe-${name}-`));
}

/** Writes the bench's data set (seed 1) into a new store at `file`, values of the named shape (values.ts, `{ id, prot }` by default), and returns the data. */
export function buildBenchStore(file: string, ranges: number, shapeName = 'inline'): RangeData {
  const shape = shapeNamed(shapeName);
  const data = generateRanges(ranges, 1, shape);
  const store = open(file);
  store.transaction((txn) => {
    for (let i = 0; i < data.count; i++) txn.store(data.firsts[i]!, data.lasts[i]!, shape.make(data.ids[i]!, data.prots[i]!));
  });
  store.close();
  return data;
}

/**
 * Commits `ops` one store each (`commits` of them, values of `shape`) on `store`; returns each
 * commit's milliseconds and the whole loop's.
 */
export function timedStores(store: { store(first: number, last: number, value: unknown): void }, ops: StoreOps, shape: ValueShape, commits: number): { ms: Float64Array; totalMs: number } {
  const ms = new Float64Array(commits);
  const start = performance.now();
  for (let k = 0; k < commits; k++) {
    const t = performance.now();
    store.store(ops.firsts[k]!, ops.lasts[k]!, shape.make(ops.ids[k]!, ops.prots[k]!));
    ms[k] = performance.now() - t;
  }
  return { ms, totalMs: performance.now() - start };
}

export function arg(n: number, fallback: number): number {
  const v = process.argv[2 + n];
  return v === undefined ? fallback : Number(v);
}

export type { FileIO };

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/**
 * Bytes `fn` allocates, by allocating site (V8's sampling heap profiler every `interval` bytes,
 * keeping objects already collected): a built-in is named with the function that called it.
 */
export async function sampleAllocations(fn: () => void, interval: number): Promise<Map<string, number>> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  fn();
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
  return bytes;
}
