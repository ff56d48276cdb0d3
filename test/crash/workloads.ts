/**
 * Scripted workloads for the crash suite: each is a list of steps (single-operation commits,
 * transactions, snapshot opens/closes) chosen to drive one structural edge of the store through
 * commits — root splits and merges, height changes, spanning stores, bulk loads, large values,
 * allocation, leaves' value areas (across pages, freed and rewritten), file growth, ring
 * wrap-around, snapshots pinning old cells.
 * Every step is applied both to the store and to the reference model.
 */
import { RangeModel, sameValue, describeValue } from './rangeModel.js';

export type Op =
  | { t: 'store'; first: number; last: number; value: unknown }
  | { t: 'insert'; first: number; last: number; value: unknown }
  | { t: 'erase'; index: number }
  | { t: 'clear'; first: number; last: number }
  | { t: 'alloc'; size: number; min: number; max: number; value: unknown; rev?: boolean };

export type Step =
  /** One single-operation commit on the store itself. */
  | { kind: 'op'; op: Op }
  /** One transaction; `abort` throws at its end so everything rolls back. */
  | { kind: 'txn'; ops: Op[]; abort?: boolean }
  | { kind: 'snapshot-open'; name: string }
  | { kind: 'snapshot-close'; name: string }
  /** Asserts a live stats() figure, so a workload provably reaches the edge it is for. */
  | { kind: 'expect'; stat: 'height' | 'spaceMapHeight' | 'fileBytes'; atLeast?: number; atMost?: number };

export interface Workload {
  name: string;
  steps: Step[];
  protocol?: 'one-sync' | 'two-sync' | 'log';
}

/** What the store side of a step needs: the write surface shared by MapleStore and WriteTxn. */
export interface Writer {
  store(first: number, last: number, value: unknown): void;
  insert(first: number, last: number, value: unknown): void;
  erase(index: number): unknown;
  clear(first: number, last: number): void;
  allocRange(size: number, min: number, max: number, value: unknown): number;
  allocRangeRev(size: number, min: number, max: number, value: unknown): number;
}

export function applyToWriter(w: Writer, op: Op): unknown {
  switch (op.t) {
    case 'store':
      return w.store(op.first, op.last, op.value);
    case 'insert':
      return w.insert(op.first, op.last, op.value);
    case 'erase':
      return w.erase(op.index);
    case 'clear':
      return w.clear(op.first, op.last);
    case 'alloc':
      return op.rev ? w.allocRangeRev(op.size, op.min, op.max, op.value) : w.allocRange(op.size, op.min, op.max, op.value);
  }
}

export function applyToModel(m: RangeModel, op: Op): unknown {
  switch (op.t) {
    case 'store':
      return m.store(op.first, op.last, op.value);
    case 'insert':
      return m.insert(op.first, op.last, op.value);
    case 'erase':
      return m.erase(op.index);
    case 'clear':
      return m.clear(op.first, op.last);
    case 'alloc':
      return m.allocRange(op.size, op.min, op.max, op.value, op.rev);
  }
}

/** Throws when an operation's result on the store differs from the model's. */
export function checkResult(op: Op, actual: unknown, expected: unknown): void {
  if (op.t !== 'erase' && op.t !== 'alloc') return;
  if (!sameValue(actual ?? undefined, expected ?? undefined)) {
    throw new Error(`${describeOp(op)} returned ${describeValue(actual)}, model says ${describeValue(expected)}`);
  }
}

export function describeOp(op: Op): string {
  switch (op.t) {
    case 'store':
    case 'insert':
      return `${op.t}(${op.first}, ${op.last}, ${describeValue(op.value)})`;
    case 'erase':
      return `erase(${op.index})`;
    case 'clear':
      return `clear(${op.first}, ${op.last})`;
    case 'alloc':
      return `${op.rev ? 'allocRangeRev' : 'allocRange'}(${op.size}, ${op.min}, ${op.max}, ${describeValue(op.value)})`;
  }
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'op':
      return describeOp(step.op);
    case 'txn': {
      const head = step.ops.slice(0, 2).map(describeOp).join('; ');
      return `transaction of ${step.ops.length} ops${step.abort ? ' (aborted)' : ''}: ${head}${step.ops.length > 2 ? '; ...' : ''}`;
    }
    case 'snapshot-open':
    case 'snapshot-close':
      return `${step.kind} ${step.name}`;
    case 'expect':
      return `expect ${step.stat} in [${step.atLeast ?? 0}, ${step.atMost ?? '∞'}]`;
  }
}

/** Model state after each step: states[0] is the empty store, states[i] follows step i. */
export function modelStates(steps: readonly Step[]): RangeModel[] {
  const states = [new RangeModel()];
  for (const step of steps) {
    const prev = states[states.length - 1] as RangeModel;
    if (step.kind === 'op') {
      const next = prev.clone();
      applyToModel(next, step.op);
      states.push(next);
    } else if (step.kind === 'txn' && !step.abort) {
      const next = prev.clone();
      for (const op of step.ops) applyToModel(next, op);
      states.push(next);
    } else {
      states.push(prev);
    }
  }
  return states;
}

// ---- value makers: inline-sized, record-sized and large, all deterministic ----

/** A value that encodes to a few bytes (likely inline in the slot). */
const small = (i: number): unknown => i;
/** A typical mapping-like object (a value record). */
const rec = (i: number, tag = 'r'): unknown => ({ id: i, prot: i % 3 === 0 ? 'rw' : 'r', tag: `${tag}${i}` });
/** Bytes of a given size whose content depends on `seed`, so a swapped record is caught. */
export function bigValue(sizeBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < sizeBytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const store = (first: number, last: number, value: unknown): Step => ({ kind: 'op', op: { t: 'store', first, last, value } });
const txn = (ops: Op[], abort = false): Step => ({ kind: 'txn', ops, abort });
const sStore = (first: number, last: number, value: unknown): Op => ({ t: 'store', first, last, value });

// ---- the workloads ----

function singleStores(): Workload {
  return {
    name: 'single-stores',
    steps: [
      store(10, 19, small(1)),
      store(30, 39, rec(2)),
      { kind: 'op', op: { t: 'insert', first: 50, last: 50, value: 'point' } },
      store(15, 34, rec(3)), // overwrites the tail of one range and the head of the next
      { kind: 'op', op: { t: 'erase', index: 50 } },
      { kind: 'op', op: { t: 'clear', first: 12, last: 13 } }, // splits a range in two
      store(0, 0, small(5)),
      store(Number.MAX_SAFE_INTEGER - 5, Number.MAX_SAFE_INTEGER, rec(6)),
      { kind: 'op', op: { t: 'erase', index: 36 } },
      store(0, 100, 'covers all'),
      txn([], false),
      txn([sStore(200, 210, rec(7))], true),
      { kind: 'op', op: { t: 'erase', index: 55 } },
    ],
  };
}

function spanning(): Workload {
  const build: Op[] = [];
  for (let i = 0; i < 240; i++) build.push(sStore(i * 10, i * 10 + 4, rec(i)));
  return {
    name: 'spanning-stores',
    steps: [
      txn(build.slice(0, 120)),
      txn(build.slice(120)),
      store(57, 1803, rec(1000, 'span')), // crosses many leaves, trims both ends
      { kind: 'op', op: { t: 'clear', first: 1900, last: 2300 } },
      store(1, 2398, small(7)), // nearly everything collapses into one range
      txn([sStore(5, 5, rec(1)), sStore(2000, 2001, rec(2)), { t: 'clear', first: 100, last: 199 }]),
    ],
  };
}

function rootSplitMerge(): Workload {
  const steps: Step[] = [];
  for (let i = 0; i < 20; i++) steps.push(store(i * 4, i * 4 + 1, i % 2 === 0 ? small(i) : rec(i)));
  steps.push({ kind: 'expect', stat: 'height', atLeast: 2 });
  for (let i = 0; i < 18; i++) steps.push({ kind: 'op', op: { t: 'erase', index: i * 4 } });
  steps.push({ kind: 'expect', stat: 'height', atMost: 1 });
  return { name: 'root-split-merge', steps };
}

function heightChanges(): Workload {
  const steps: Step[] = [];
  const n = 1500;
  for (let b = 0; b < n; b += 250) {
    const ops: Op[] = [];
    for (let i = b; i < b + 250; i++) ops.push(sStore(i * 3, i * 3 + 1, i % 4 === 0 ? rec(i) : small(i)));
    steps.push(txn(ops));
  }
  steps.push({ kind: 'expect', stat: 'height', atLeast: 3 });
  for (let b = 0; b < n - 5; b += 300) {
    const ops: Op[] = [];
    for (let i = b; i < Math.min(b + 300, n - 5); i++) ops.push({ t: 'erase', index: i * 3 });
    steps.push(txn(ops));
  }
  steps.push({ kind: 'expect', stat: 'height', atMost: 2 });
  steps.push(store(0, 10, 'after shrink'));
  return { name: 'height-changes', steps };
}

function bulkLoad(): Workload {
  const a: Op[] = [];
  for (let i = 0; i < 4000; i++) a.push(sStore(i * 2, i * 2, i % 5 === 0 ? rec(i) : small(i)));
  const b: Op[] = [];
  for (let i = 0; i < 3000; i++) b.push(sStore(1_000_000 + i * 7, 1_000_000 + i * 7 + 3, rec(i, 'b')));
  return {
    name: 'bulk-load',
    steps: [txn(a), { kind: 'expect', stat: 'height', atLeast: 3 }, txn(b), store(3, 3, 'single after bulk')],
  };
}

function largeValues(): Workload {
  return {
    name: 'large-values',
    steps: [
      store(1, 1, bigValue(150 * 1024, 1)),
      store(2, 9, bigValue(300 * 1024, 2)),
      store(1, 1, bigValue(120 * 1024, 3)), // overwrite: the old record becomes pending
      txn([sStore(20, 29, bigValue(100 * 1024, 4)), { t: 'erase', index: 5 }]),
      store(5, 25, rec(5)), // trims a large-valued range: both pieces keep sharing... or not
      store(40, 40, bigValue(110 * 1024, 6)),
    ],
  };
}

function allocRanges(): Workload {
  const steps: Step[] = [];
  const alloc = (size: number, value: unknown, rev = false): Step => ({ kind: 'op', op: { t: 'alloc', size, min: 100, max: 10_000, value, rev } });
  for (let i = 0; i < 6; i++) steps.push(alloc(10 + i, rec(i)));
  for (let i = 0; i < 4; i++) steps.push(alloc(50, small(i), true));
  steps.push({ kind: 'op', op: { t: 'erase', index: 115 } }); // a hole low down
  steps.push(alloc(8, 'fills hole'));
  steps.push(
    txn([
      { t: 'alloc', size: 3, min: 100, max: 10_000, value: 'a' },
      { t: 'alloc', size: 2000, min: 100, max: 10_000, value: 'b', rev: true },
      { t: 'alloc', size: 1, min: 0, max: 99, value: 'c' },
    ]),
  );
  steps.push(alloc(1, 'exact', false));
  return { name: 'alloc-range', steps };
}

function allocationChurn(): Workload {
  // Each commit writes ~30 value records and drops ~15 older ones, so freed cells are reused.
  const steps: Step[] = [];
  for (let c = 0; c < 24; c++) {
    const ops: Op[] = [];
    for (let i = 0; i < 30; i++) ops.push(sStore(c * 1000 + i * 10, c * 1000 + i * 10 + 5, rec(c * 100 + i, 'x'.repeat(20 + ((c + i) % 7) * 30))));
    if (c > 0) for (let i = 0; i < 30; i += 2) ops.push({ t: 'erase', index: (c - 1) * 1000 + i * 10 });
    steps.push(txn(ops));
  }
  return { name: 'allocation-churn', steps };
}

/** A value of exactly `bytes` msgpack bytes (a string; 8 .. 65,535), distinct per `seed`. */
function sized(bytes: number, seed: number): string {
  const chars = bytes <= 32 ? bytes - 1 : bytes <= 257 ? bytes - 2 : bytes - 3;
  return `${seed}:`.padEnd(chars, String.fromCharCode(97 + (seed % 26))).slice(0, chars);
}

function valueAreas(): Workload {
  // Leaves whose value areas span pages (15 values of ~500 bytes: 30 cells), values around the
  // area's bounds (8 and 512 bytes in it, 7 inline, 513 a record), then every other range
  // erased (each leaf rewritten: its area freed, a new one written), single-store commits that
  // rewrite one leaf and its area at a time, and splits whose halves share an area value.
  const n = 300;
  const sizes = [8, 120, 500, 512, 7, 513, 40, 300];
  const load: Op[] = [];
  for (let i = 0; i < n; i++) load.push(sStore(i * 10, i * 10 + 6, sized(sizes[i % sizes.length]!, i)));
  const holes: Op[] = [];
  for (let i = 0; i < n; i += 2) holes.push({ t: 'erase', index: i * 10 });
  const steps: Step[] = [txn(load), { kind: 'expect', stat: 'height', atLeast: 2 }, txn(holes)];
  for (let k = 0; k < 12; k++) {
    const i = (k * 37) % n;
    steps.push(store(i * 10, i * 10 + 6, sized(sizes[(i + k) % sizes.length]!, 1000 + k)));
  }
  for (let k = 0; k < 6; k++) steps.push(store(k * 40 + 3, k * 40 + 3, small(k))); // splits
  steps.push(txn([sStore(1001, 1999, sized(511, 7)), sStore(1500, 1500, 'mid'), sStore(1700, 1710, sized(9, 8))]));
  return { name: 'value-areas', steps };
}

/**
 * Single-store commits that rewrite leaves and their value areas with values of 40–300 bytes, so
 * area sizes change from commit to commit and each area is placed in a run some earlier commit
 * freed — found through the run hints (storage/commit/runHints.ts) — with a snapshot held across
 * part of them (windowed entries, sought under its window).
 */
function areaChurn(): Workload {
  const n = 120;
  const load: Op[] = [];
  for (let i = 0; i < n; i++) load.push(sStore(i * 10, i * 10 + 4, sized(120, i)));
  const steps: Step[] = [txn(load)];
  // `spread` leaves in turn: 1, the same leaf again and again (each commit frees the area the
  // one before wrote: under the snapshot, a young windowed entry).
  const churn = (from: number, count: number, spread: number): void => {
    for (let k = from; k < from + count; k++) {
      const i = ((k % spread) * 53 + 7) % n;
      steps.push(store(i * 10, i * 10 + 4, sized(40 + ((k * 97) % 261), 2000 + k)));
    }
  };
  churn(0, 10, n);
  steps.push({ kind: 'snapshot-open', name: 'held' });
  churn(10, 8, 2);
  steps.push({ kind: 'snapshot-close', name: 'held' });
  churn(18, 10, n);
  return { name: 'area-churn', steps };
}

function fileGrowth(): Workload {
  const steps: Step[] = [];
  for (let i = 0; i < 12; i++) steps.push(store(i * 10, i * 10 + 1, bigValue(64 * 1024 + i * 512, 100 + i)));
  steps.push({ kind: 'expect', stat: 'fileBytes', atLeast: 800 * 1024 });
  steps.push(txn([{ t: 'clear', first: 0, last: 59 }, sStore(200, 300, bigValue(256 * 1024, 7))]));
  return { name: 'file-growth', steps };
}

function ringWrap(protocol: 'one-sync' | 'two-sync' = 'one-sync'): Workload {
  const steps: Step[] = [];
  for (let i = 0; i < 30; i++) steps.push(store(i % 7, i % 7, i % 2 === 0 ? small(i) : rec(i)));
  return { name: protocol === 'one-sync' ? 'ring-wrap' : 'ring-wrap-two-sync', steps, protocol };
}

function snapshotsHeld(): Workload {
  const steps: Step[] = [];
  const seed: Op[] = [];
  for (let i = 0; i < 60; i++) seed.push(sStore(i * 10, i * 10 + 7, rec(i)));
  steps.push(txn(seed));
  steps.push({ kind: 'snapshot-open', name: 'a' });
  for (let i = 0; i < 6; i++) steps.push(store(i * 10, i * 10 + 3, rec(500 + i, 'new')));
  steps.push({ kind: 'op', op: { t: 'clear', first: 100, last: 399 } });
  steps.push({ kind: 'snapshot-open', name: 'b' });
  for (let i = 0; i < 5; i++) steps.push(store(1000 + i, 1000 + i, rec(600 + i)));
  steps.push({ kind: 'snapshot-close', name: 'a' });
  for (let i = 0; i < 5; i++) steps.push(store(i * 10, i * 10 + 5, rec(700 + i, 'reuse'))); // may reuse a's cells
  steps.push({ kind: 'snapshot-close', name: 'b' });
  for (let i = 0; i < 5; i++) steps.push(store(400 + i * 10, 400 + i * 10 + 5, rec(800 + i, 'reuse2')));
  return { name: 'snapshots-held', steps };
}

/**
 * Snapshots held while the cells around them are reused (storage/io/readerSet.ts): what later commits
 * write and free again is reused at once under an old snapshot; a newer snapshot closed before the
 * older one releases what only it reached. Both stay checked against their versions every step.
 */
function readersHeldReuse(): Workload {
  const steps: Step[] = [];
  const seed: Op[] = [];
  for (let i = 0; i < 40; i++) seed.push(sStore(i * 10, i * 10 + 7, rec(i)));
  steps.push(txn(seed));
  steps.push({ kind: 'snapshot-open', name: 'old' });
  const rewrite = (gen: number): Step => {
    const ops: Op[] = [];
    for (let i = 0; i < 40; i++) ops.push(sStore(i * 10, i * 10 + 7, rec(gen * 100 + i, `g${gen}`.padEnd(240, 'g'))));
    return txn(ops);
  };
  steps.push(rewrite(1)); // value records written after `old`
  // The same ranges rewritten again and again: each commit frees the cells the one before wrote.
  for (let i = 0; i < 8; i++) steps.push(store(1000 + (i % 4), 1000 + (i % 4), rec(100 + i, 'young')));
  steps.push({ kind: 'snapshot-open', name: 'newer' });
  steps.push(rewrite(2)); // frees what `newer` reaches and `old` does not
  for (let i = 0; i < 4; i++) steps.push(store(1000 + i, 1000 + i, rec(300 + i)));
  steps.push({ kind: 'snapshot-close', name: 'newer' });
  steps.push(rewrite(4)); // may reuse what only `newer` reached
  steps.push(rewrite(5));
  for (let i = 0; i < 4; i++) steps.push(store((i % 2) * 10, (i % 2) * 10 + 7, rec(600 + i, 'again')));
  steps.push({ kind: 'snapshot-close', name: 'old' });
  steps.push(rewrite(7));
  return { name: 'readers-held-reuse', steps };
}

function mixedTwoSync(): Workload {
  const w = spanning();
  return { name: 'spanning-stores-two-sync', steps: w.steps, protocol: 'two-sync' };
}

/**
 * A workload under commitProtocol 'log' (storage/commit/commitLog.ts): every step is acknowledged
 * by its log entry, and passes start in between (the first commit, the log full, a commit too large
 * to log, a larger log once the store grew).
 */
function logged(w: Workload): Workload {
  return { name: `${w.name}-log`, steps: w.steps, protocol: 'log' };
}

/** Many single stores of values of every size class: the log fills and a new pass starts, several times. */
function logPasses(): Workload {
  const steps: Step[] = [];
  for (let i = 0; i < 150; i++) {
    const k = (i * 37) % 120;
    if (i % 11 === 10) steps.push({ kind: 'op', op: { t: 'erase', index: ((i * 53) % 120) * 10 } });
    else steps.push(store(k * 10, k * 10 + 4, i % 3 === 0 ? sized(40 + (i % 5) * 60, i) : i % 3 === 1 ? small(i) : rec(i)));
    if (i === 60) steps.push({ kind: 'snapshot-open', name: 'p' });
    if (i === 110) steps.push({ kind: 'snapshot-close', name: 'p' });
  }
  return { name: 'log-passes', steps, protocol: 'log' };
}

export function allWorkloads(): Workload[] {
  return [
    singleStores(),
    spanning(),
    rootSplitMerge(),
    heightChanges(),
    bulkLoad(),
    largeValues(),
    allocRanges(),
    allocationChurn(),
    valueAreas(),
    areaChurn(),
    fileGrowth(),
    ringWrap(),
    snapshotsHeld(),
    readersHeldReuse(),
    ringWrap('two-sync'),
    mixedTwoSync(),
    logged(singleStores()),
    logged(bulkLoad()),
    logged(areaChurn()),
    logged(snapshotsHeld()),
    logged(allocationChurn()),
    logPasses(),
  ];
}
