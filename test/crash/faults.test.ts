/**
 * Injected I/O faults (issue 3): EIO, ENOSPC and short writes on the Nth I/O call, for every N
 * of a workload (open included). The failing call must surface as a MapleError 'EIO' carrying the
 * original error as its cause; the store must stay usable or close cleanly; nothing acknowledged
 * may be lost; a reopen must pass check() and hold the last acknowledged state. After a failed
 * fsync the file is suspect: the dirty pages may or may not reach the disk, so the reopen is also
 * tried on crash images of that moment and must re-validate to a commit it can prove.
 */
import { describe, expect, it } from 'vitest';
import { MapleError, open } from '../../src/index.js';
import { FaultyIO, type FaultKind, type FaultRecord } from '../../recovery/testing/faultyIO.js';
import { SimulatedDisk, type CrashMode } from '../../recovery/testing/simulatedDisk.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import { describeError, readAll, runStep, type Store } from './crashRunner.js';
import { RangeModel, diffRanges } from './rangeModel.js';
import { bigValue, describeStep, modelStates, type Op, type Step } from './workloads.js';
import { openWith as openStoreWith } from '../../src/api/open.js';

type Protocol = 'one-sync' | 'two-sync' | 'log';

/** A workload touching each commit path: inline and record values, splits, a large value, frees. */
function faultSteps(): Step[] {
  const bulk: Op[] = [];
  for (let i = 0; i < 80; i++) bulk.push({ t: 'store', first: 1000 + i * 4, last: 1000 + i * 4 + 2, value: { id: i, tag: `b${i}` } });
  return [
    { kind: 'op', op: { t: 'store', first: 1, last: 5, value: 'one' } },
    { kind: 'txn', ops: bulk },
    { kind: 'op', op: { t: 'store', first: 10, last: 10, value: bigValue(20 * 1024, 1) } },
    { kind: 'op', op: { t: 'clear', first: 1100, last: 1200 } },
    { kind: 'op', op: { t: 'alloc', size: 30, min: 0, max: 5000, value: 'alloc' } },
    { kind: 'op', op: { t: 'erase', index: 10 } },
    { kind: 'op', op: { t: 'store', first: 3, last: 1050, value: { span: true } } },
  ];
}

const STEPS = faultSteps();
const MODELS = modelStates(STEPS);

function openWith(io: FileIO, protocol: Protocol, cacheSize: number): Store {
  // A small commit log: the workload fills it and starts passes (storage/commit/commitLog.ts).
  return openStoreWith<unknown>('/simulated/faults.maple', { sync: 'full', commitProtocol: protocol, cacheSize }, { fileIO: io, logCells: 256 });
}

/** A fresh store file on a disk, created without faults. */
function createdDisk(protocol: Protocol): SimulatedDisk {
  const disk = new SimulatedDisk();
  openWith(disk.fileIO(), protocol, 1 << 20).close();
  return disk;
}

/** Throws unless `err` is a MapleError 'EIO' whose cause chain reaches the injected error. */
function expectWrappedFault(err: unknown, fired: readonly FaultRecord[], where: string): void {
  if (!(err instanceof MapleError)) throw new Error(`${where}: threw a non-MapleError: ${describeError(err)}`);
  if (err.code !== 'EIO') throw new Error(`${where}: threw MapleError ${err.code}, expected EIO: ${err.message}`);
  if (fired.length === 0) throw new Error(`${where}: threw EIO but no fault was injected: ${err.message}`);
  const want = fired[0]?.kind === 'ENOSPC' ? 'ENOSPC' : 'EIO';
  for (let e: unknown = err.cause, depth = 0; e !== undefined && depth < 8; depth++) {
    if (!(e instanceof MapleError) && (e as { code?: unknown })?.code === want) return;
    e = (e as { cause?: unknown })?.cause;
  }
  throw new Error(`${where}: MapleError EIO does not carry the injected ${want} error as its cause: ${err.message}`);
}

function sameAsOneOf(actual: readonly { first: number; last: number; value: unknown }[], allowed: RangeModel[]): string | undefined {
  const diffs = allowed.map((m) => diffRanges(actual, m.ranges));
  return diffs.some((d) => d === undefined) ? undefined : diffs.join(' / ');
}

interface Outcome {
  /** The call that failed. */
  fired?: FaultRecord;
  /** Steps acknowledged before the fault. */
  acked: number;
}

/**
 * Runs the workload with `kind` injected at counted call `at`; checks the store's behaviour
 * during and after the fault and the reopened file. Returns what happened.
 */
function runWithFault(kind: FaultKind, at: number, protocol: Protocol, cacheSize: number): Outcome {
  const disk = createdDisk(protocol);
  const io = new FaultyIO(disk.fileIO(), { kind, at });
  const where = `${kind} at call ${at} (${protocol}, cache ${cacheSize} B)`;
  let acked = 0;
  let failedStep: number | undefined;
  let store: Store | undefined;
  try {
    store = openWith(io, protocol, cacheSize);
  } catch (err) {
    expectWrappedFault(err, io.fired, `${where}: open`);
  }
  if (store) {
    for (let i = 1; i <= STEPS.length; i++) {
      try {
        runStep(store, STEPS[i - 1] as Step, MODELS[i - 1] as RangeModel);
      } catch (err) {
        expectWrappedFault(err, io.fired, `${where}: step ${i} [${describeStep(STEPS[i - 1] as Step)}]`);
        failedStep = i;
        break;
      }
      acked = i;
      let contents;
      try {
        contents = readAll(store);
      } catch (err) {
        expectWrappedFault(err, io.fired, `${where}: reading after step ${i}`);
        break;
      }
      const d = diffRanges(contents, (MODELS[i] as RangeModel).ranges);
      if (d) throw new Error(`${where}: after step ${i} the store reads wrong: ${d}`);
    }
  }
  const fired = io.fired[0];
  const what = fired ? `${where}, fired on ${fired.op} call ${fired.call} @${fired.positionBytes}+${fired.lengthBytes}, in step ${failedStep ?? '-'}` : where;
  let ackedModel = MODELS[acked] as RangeModel;
  if (store) {
    // Still usable or cleanly closable: reads give the acknowledged state or refuse; a further
    // commit succeeds or refuses with a MapleError; close never throws.
    try {
      const d = diffRanges(readAll(store), ackedModel.ranges);
      if (d) throw new Error(`${where}: after the fault the store reads wrong: ${d}`);
    } catch (err) {
      if (!(err instanceof MapleError)) throw err;
    }
    try {
      store.store(9_000_000, 9_000_000, 'after fault');
      ackedModel = ackedModel.clone();
      ackedModel.store(9_000_000, 9_000_000, 'after fault');
      failedStep = undefined; // a later commit superseded the failed one
    } catch (err) {
      if (!(err instanceof MapleError)) throw new Error(`${where}: a commit after the fault threw a non-MapleError: ${describeError(err)}`);
    }
    store.close();
  }
  // What the reopened file may hold: the acknowledged state; after a failed fsync also the
  // failed commit, whose writes may all have reached the disk.
  const allowed = [ackedModel];
  if (failedStep !== undefined && fired?.op === 'sync') allowed.push(MODELS[failedStep] as RangeModel);
  // Power-loss images of this moment, taken before the reopen below commits to the same disk.
  const modes: CrashMode[] = fired?.op === 'sync' ? ['drop-all', 'keep-all', 'random-subset', 'reorder', 'tear-512', 'tear-4k'] : [];
  const images = modes.map((mode, k) => ({ mode, image: disk.crashImage({ mode, seed: at * 31 + k }) }));
  verifyReopen(disk.fileIO(), allowed, protocol, `${what}: reopen`);
  for (const { mode, image } of images) {
    verifyReopen(SimulatedDisk.fromImage(image).fileIO(), allowed, protocol, `${what}: reopen after power loss (${mode})`);
  }
  return { fired, acked };
}

function verifyReopen(io: FileIO, allowed: RangeModel[], protocol: Protocol, where: string): void {
  let store: Store;
  try {
    store = openWith(io, protocol, 1 << 20);
  } catch (err) {
    throw new Error(`${where}: open threw ${describeError(err)}`);
  }
  try {
    store.check();
    const d = sameAsOneOf(readAll(store), allowed);
    if (d) throw new Error(`${where}: contents are not the last acknowledged state: ${d}`);
    store.store(8_000_000, 8_000_001, 'new life');
    if (store.load(8_000_000) !== 'new life') throw new Error(`${where}: a new commit does not read back`);
    store.check();
  } catch (err) {
    throw new Error(`${where}: ${err instanceof Error && err.message.startsWith(where) ? err.message.slice(where.length + 2) : describeError(err)}`);
  } finally {
    store.close();
  }
}

/** Counted calls the whole workload makes with no fault. */
function callsInWorkload(protocol: Protocol, cacheSize: number): number {
  const disk = createdDisk(protocol);
  const io = new FaultyIO(disk.fileIO());
  const store = openWith(io, protocol, cacheSize);
  for (let i = 1; i <= STEPS.length; i++) {
    runStep(store, STEPS[i - 1] as Step, MODELS[i - 1] as RangeModel);
    readAll(store);
  }
  store.close();
  return io.calls;
}

describe('injected I/O faults on every call of a workload', () => {
  const configs: Array<[Protocol, number]> = [
    ['one-sync', 64 << 20],
    ['one-sync', 64 << 10], // a small pool: commits and reads go back to the file
    ['two-sync', 64 << 20],
    ['log', 64 << 20],
  ];
  for (const kind of ['EIO', 'ENOSPC', 'short-write'] as const) {
    for (const [protocol, cacheSize] of configs) {
      it(`${kind}, ${protocol}, cache ${cacheSize} B`, () => {
        const total = callsInWorkload(protocol, cacheSize);
        expect(total).toBeGreaterThan(10);
        let fired = 0;
        const errors: string[] = [];
        for (let at = 1; at <= total; at++) {
          try {
            if (runWithFault(kind, at, protocol, cacheSize).fired) fired++;
          } catch (err) {
            errors.push((err as Error).message);
            if (errors.length >= 15) break;
          }
        }
        console.log(`${kind} ${protocol} cache ${cacheSize}: ${total} calls, ${fired} faults injected, ${errors.length} failures`);
        expect(errors).toEqual([]);
        expect(fired).toBeGreaterThan(0);
      });
    }
  }

  it('a persistent EIO (dead device) fails every commit cleanly and loses nothing', () => {
    const disk = createdDisk('one-sync');
    const store = openWith(disk.fileIO(), 'one-sync', 1 << 20);
    store.store(1, 1, 'kept');
    store.close();
    const io = new FaultyIO(disk.fileIO(), { kind: 'EIO', at: 1, counting: 'mutations', persistent: true });
    const s = openWith(io, 'one-sync', 1 << 20);
    expect(s.load(1)).toBe('kept');
    for (let i = 0; i < 3; i++) expect(() => s.store(2, 2, 'lost')).toThrow(MapleError);
    expect(s.load(1)).toBe('kept');
    s.close();
    const model = new RangeModel();
    model.store(1, 1, 'kept');
    verifyReopen(disk.fileIO(), [model], 'one-sync', 'after a dead device');
  });
});
