/**
 * Runs a scripted workload on a SimulatedDisk and, at every disk event (write, truncate, sync) of
 * every step, builds crash images and checks the store reopened from each:
 *   (a) open succeeds and check() passes;
 *   (b) the contents equal exactly the state before the step in flight (the last acknowledged
 *       commit) or after it (the commit in flight), with the matching version number;
 *   (c) it accepts new commits, never reusing a commit number a record on disk already carries,
 *       and after a second crash somewhere in that follow-up it reopens to a state the follow-up
 *       allows, passing check() again.
 *
 * One live run visits every crash point: the disk's onEvent hook fires with the operation issued
 * but not completed — exactly what `crashAt = k` would leave — so the image is taken there and
 * checked on a separate disk while the workload runs on. A failure is reported as
 * (workload, step, event, mode, seed) and reruns alone with MAPLE_CRASH_REPRO.
 *
 * Stores open through the writer lock on the disk's simulated machine (OpenOptions.lockEnv): each
 * crash image comes with what the same power loss left of the lock files (missing, torn, garbage,
 * intact) on a new boot, and the reopen must take over whatever is there and say so in
 * stats().recovery.lockTakenOver.
 */
import * as zlib from 'node:zlib';
import { open, type MapleStore, type Snapshot } from '../../src/index.js';
import { decodeCommitRecord, COMMIT_RECORD_BYTES, COMMIT_RECORD_MAX_BYTES } from '../../storage/format/commitRecord.js';
import { ringSlotOffsetBytes } from '../../storage/format/pageFile.js';
import { CRASH_MODES, Prng, SimulatedDisk, isSimulatedCrash, type CrashChoice, type CrashMode, type DiskEvent } from '../../recovery/testing/simulatedDisk.js';
import type { SimulatedLockState } from '../../recovery/testing/simulatedLocks.js';
import { RangeModel, diffRanges, type ModelRange } from './rangeModel.js';
import { applyToModel, applyToWriter, checkResult, describeStep, modelStates, type Op, type Step, type Workload, type Writer } from './workloads.js';
import { RING_SLOTS } from '../../src/common/limits.js';
import { openWith } from '../../src/api/open.js';

export type Store = MapleStore<unknown>;

export interface RunOptions {
  /** Modes tried at every crash point. */
  modes: readonly CrashMode[];
  /** Seeds per random mode per crash point. */
  seedsPerMode: number;
  /** Mixed into every seed, so extra rounds see new images. */
  seedBase: number;
  /** Check a second crash after recovery (c). */
  secondCrash: boolean;
  /** Only this crash state (from a failure report). */
  only?: { event: number; mode: CrashMode; seed: number };
  /** Stop collecting after this many failures. */
  maxFailures: number;
  /** Images already checked, per step index; shared across rounds so repeats are not recounted. */
  seen?: Map<number, Set<string>>;
}

export interface RunResult {
  workload: string;
  events: number;
  states: number;
  failures: string[];
  /** Crash states by which side they recovered to. */
  recoveredTo: { before: number; after: number };
  /** Reopens that took over a lock file the crash left (the rest found none). */
  lockTakeovers: number;
}

/**
 * Opens a store on a simulated disk. The pool is kept small: opening a default 64 MiB pool
 * thousands of times would dominate the run, and a small pool makes recovery and check() go
 * through eviction and re-reads too.
 */
/** The commit log of the crash suite's stores: 64 KiB, a few single stores' entries to a pass. */
export const CRASH_LOG_CELLS = 256;

export function openOn(disk: SimulatedDisk, path: string, protocol: 'one-sync' | 'two-sync' | 'log' = 'one-sync', cacheSize = 512 * 1024): Store {
  // Small values are packed (an opt-in writer feature) so the crash suite covers blocks and records.
  // A small commit log, so the workloads fill it and start passes often (storage/commit/commitLog.ts).
  return openWith<unknown>(path, { sync: 'full', commitProtocol: protocol, cacheSize, packValues: true }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv(), logCells: CRASH_LOG_CELLS });
}

/**
 * Why a store just opened on `disk` (made from a crash image and `locks`) misreports the lock
 * files it took over, or undefined: every lock file the crash left is from a previous boot or torn,
 * so each one present must have been taken over, and named in stats().recovery.lockTakenOver.
 */
export function lockTakeoverProblem(disk: SimulatedDisk, path: string, locks: SimulatedLockState, store: Store): string | undefined {
  const taken = store.stats().recovery.lockTakenOver;
  const present = [disk.locks.pathLockFile(path), disk.locks.inodeLockFile()].filter((name): name is string => name !== undefined && locks.files.has(name));
  if (present.length === 0) return taken === null ? undefined : `no lock file survived the crash, but stats().recovery.lockTakenOver is ${JSON.stringify(taken)}`;
  if (taken === null) return `the crash left lock files ${present.join(', ')}, but stats().recovery.lockTakenOver is null`;
  const missing = present.filter((name) => !taken.includes(`${name}: `));
  return missing.length === 0 ? undefined : `stats().recovery.lockTakenOver (${taken}) does not name ${missing.join(', ')}`;
}

/** A small deterministic random stream in [0, 1) (xorshift32). */
export function stream(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

export function readAll(view: { ranges(): IterableIterator<{ first: number; last: number; value: unknown }> }): ModelRange[] {
  const out: ModelRange[] = [];
  for (const r of view.ranges()) out.push({ first: r.first, last: r.last, value: r.value });
  return out;
}

/** Applies one mutating step to the store; returns false for steps that do not touch it. */
export function runStep(store: Store, step: Step, model: RangeModel): void {
  if (step.kind === 'op') {
    const expected = applyToModel(model.clone(), step.op);
    checkResult(step.op, applyToWriter(store as unknown as Writer, step.op), expected);
  } else if (step.kind === 'txn') {
    const scratch = model.clone();
    const abort = new Error('workload abort');
    try {
      store.transaction((txn) => {
        for (const op of step.ops) checkResult(op, applyToWriter(txn as unknown as Writer, op), applyToModel(scratch, op));
        if (step.abort) throw abort;
      });
    } catch (err) {
      if (err !== abort) throw err;
    }
  }
}

/** The largest commit number any valid ring record in `image` carries. */
export function maxRecordedCommit(image: Uint8Array): number {
  let max = 0;
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    const at = ringSlotOffsetBytes(slot);
    if (at + COMMIT_RECORD_BYTES > image.length) continue;
    const rec = decodeCommitRecord(image.subarray(at, at + COMMIT_RECORD_MAX_BYTES));
    if (rec) max = Math.max(max, rec.commit, rec.highestCommit);
  }
  return max;
}

/**
 * Identifies a crash image for de-duplication. The header's random salt (bytes 24..31 of page 0,
 * salt and header CRC) differs between runs of the same workload, so it is left out: the same
 * crash state seen in another round is then not counted twice.
 */
/** The largest commit number of a valid ring record in `image` (its own number only). */
function newestValidRecord(image: Uint8Array): number {
  let max = 0;
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    const at = ringSlotOffsetBytes(slot);
    if (at + COMMIT_RECORD_BYTES > image.length) continue;
    const rec = decodeCommitRecord(image.subarray(at, at + COMMIT_RECORD_MAX_BYTES));
    if (rec) max = Math.max(max, rec.commit);
  }
  return max;
}

function imageKey(image: Uint8Array): string {
  if (image.length < 32) return `${image.length}:${zlib.crc32(image)}`;
  return `${image.length}:${zlib.crc32(image.subarray(0, 24))}:${zlib.crc32(image.subarray(32))}`;
}

function seedFor(base: number, step: number, event: number, mode: number, k: number): number {
  return (Math.imul(base + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b) ^ Math.imul(event + 1, 0xc2b2ae35) ^ Math.imul(mode * 7 + k + 1, 0x27d4eb2f)) >>> 0;
}

let pathCounter = 0;
const freshPath = (tag: string) => `/simulated/${tag}-${++pathCounter}.maple`;

/** Spot reads against the model beyond the full iteration: point loads, gap search, counts. */
function spotChecks(store: Store, model: RangeModel, rng: Prng): string | undefined {
  if (store.count() !== model.count()) return `count() is ${store.count()}, model has ${model.count()}`;
  const probes = [0, 1, 2 ** 53 - 1];
  for (let i = 0; i < 4 && model.ranges.length > 0; i++) {
    const r = model.ranges[rng.below(model.ranges.length)] as ModelRange;
    probes.push(r.first, r.last, r.last + 1);
  }
  for (const index of probes) {
    if (index > Number.MAX_SAFE_INTEGER) continue;
    const got = store.entry(index);
    const want = model.entry(index);
    if ((got === undefined) !== (want === undefined) || (got && want && (got.first !== want.first || got.last !== want.last))) {
      return `entry(${index}) is ${got ? `[${got.first}, ${got.last}]` : 'undefined'}, model has ${want ? `[${want.first}, ${want.last}]` : 'undefined'}`;
    }
  }
  for (const size of [1, 7, 1000]) {
    const got = store.emptyArea(0, Number.MAX_SAFE_INTEGER, size);
    const want = model.emptyArea(0, Number.MAX_SAFE_INTEGER, size);
    if (got !== want) return `emptyArea(0, MAX, ${size}) is ${got}, model says ${want}`;
  }
  return undefined;
}

interface Verdict {
  side: 'before' | 'after';
}

/** Follow-up commits after recovery, each acknowledged before the next. */
function followUp(model: RangeModel, rng: Prng): Step[] {
  const base = 3_000_000_000 + rng.below(1000) * 100;
  const victim = model.ranges.length > 0 ? (model.ranges[rng.below(model.ranges.length)] as ModelRange).first : 5;
  return [
    { kind: 'op', op: { t: 'store', first: base, last: base + 9, value: { after: 'crash', n: base } } },
    {
      kind: 'txn',
      ops: [
        { t: 'erase', index: victim },
        { t: 'store', first: base + 50, last: base + 60, value: 'x'.repeat(300) },
        { t: 'clear', first: base + 5, last: base + 6 },
      ] satisfies Op[],
    },
  ];
}

export class CrashRunner {
  private failures: string[] = [];
  private states = 0;
  private recoveredTo = { before: 0, after: 0 };
  private lockTakeovers = 0;

  constructor(
    private readonly workload: Workload,
    private readonly opts: RunOptions,
  ) {}

  run(): RunResult {
    const w = this.workload;
    const protocol = w.protocol ?? 'one-sync';
    const models = modelStates(w.steps);
    const disk = new SimulatedDisk();
    // One path for the live store and every reopen: its lock file must be the one the crash left.
    const path = freshPath(w.name);
    const live = openOn(disk, path, protocol, 64 << 20);
    const versions: number[] = [live.version];
    const snapshots = new Map<string, { snap: Snapshot<unknown>; model: RangeModel; version: number }>();
    let stepIndex = -1;
    let seen = new Set<string>();
    // Versions that crash images reported for the commit in flight; each must equal the version
    // the live store reaches when that step returns.
    let afterVersions: Array<{ version: number; where: string }> = [];
    const off = disk.onEvent((event) => {
      if (stepIndex < 1 || this.failures.length >= this.opts.maxFailures) return;
      const step = w.steps[stepIndex - 1] as Step;
      for (const choice of this.choicesAt(stepIndex, event)) {
        const image = disk.crashImage(choice);
        const key = imageKey(image);
        if (seen.has(key) && this.opts.only === undefined) continue;
        seen.add(key);
        this.states++;
        const where = `${w.name} step ${stepIndex} [${describeStep(step)}] event ${event.seq} (${event.kind}${event.kind === 'sync' ? '' : ` @${event.positionBytes}+${event.lengthBytes}`}) mode ${choice.mode} seed ${choice.seed}`;
        const locks = disk.crashLockFiles(choice);
        const verdict = this.verifyImage(image, locks, path, models[stepIndex - 1] as RangeModel, models[stepIndex] as RangeModel, versions[stepIndex - 1] as number, protocol, where, choice);
        if (verdict?.version !== undefined) afterVersions.push({ version: verdict.version, where });
      }
    });
    try {
      for (let i = 1; i <= w.steps.length; i++) {
        const step = w.steps[i - 1] as Step;
        stepIndex = i;
        seen = this.opts.seen?.get(i) ?? new Set();
        this.opts.seen?.set(i, seen);
        afterVersions = [];
        try {
          if (step.kind === 'snapshot-open') {
            snapshots.set(step.name, { snap: live.snapshot(), model: models[i - 1] as RangeModel, version: live.version });
          } else if (step.kind === 'snapshot-close') {
            snapshots.get(step.name)?.snap.close();
            snapshots.delete(step.name);
          } else if (step.kind === 'expect') {
            const got = live.stats()[step.stat];
            if ((step.atLeast !== undefined && got < step.atLeast) || (step.atMost !== undefined && got > step.atMost)) {
              this.fail(`${w.name} step ${i}: workload did not reach its edge: ${step.stat} is ${got}, wanted ${describeStep(step)}`);
            }
          } else {
            runStep(live, step, models[i - 1] as RangeModel);
          }
        } finally {
          stepIndex = -1;
        }
        versions.push(live.version);
        this.checkLive(live, models[i] as RangeModel, snapshots, `${w.name} step ${i} [${describeStep(step)}]`);
        for (const a of afterVersions) {
          if (a.version !== live.version) this.fail(`${a.where}: recovered the in-flight commit as version ${a.version}, but the live store committed it as ${live.version}`);
        }
        if (this.failures.length >= this.opts.maxFailures) break;
      }
    } finally {
      off();
      for (const s of snapshots.values()) s.snap.close();
      live.close();
    }
    // After the last step everything is durable: a crash now must give the final state.
    const finalImage = disk.durableImage();
    const finalSeen = this.opts.seen?.get(0) ?? new Set<string>();
    this.opts.seen?.set(0, finalSeen);
    if (this.opts.only === undefined && !finalSeen.has(imageKey(finalImage))) {
      finalSeen.add(imageKey(finalImage));
      this.states++;
      const last = models[models.length - 1] as RangeModel;
      // The lock files: any state a power loss leaves (the store is closed, so none is current).
      const locks = disk.crashLockFiles({ mode: 'random-subset', seed: 0 });
      this.verifyImage(finalImage, locks, path, last, last, versions[versions.length - 1] as number, protocol, `${w.name} after the last step (durable image)`, {
        mode: 'drop-all',
        seed: 0,
      });
    }
    return { workload: w.name, events: disk.events, states: this.states, failures: this.failures, recoveredTo: this.recoveredTo, lockTakeovers: this.lockTakeovers };
  }

  private choicesAt(step: number, event: DiskEvent): CrashChoice[] {
    const out: CrashChoice[] = [];
    const only = this.opts.only;
    if (only !== undefined) return event.seq === only.event ? [{ mode: only.mode, seed: only.seed }] : [];
    this.opts.modes.forEach((mode, m) => {
      const n = mode === 'drop-all' || mode === 'keep-all' ? 1 : this.opts.seedsPerMode;
      for (let k = 0; k < n; k++) out.push({ mode, seed: seedFor(this.opts.seedBase, step, event.seq, m, k) });
    });
    return out;
  }

  private fail(message: string): void {
    if (this.failures.length < this.opts.maxFailures) this.failures.push(message);
  }

  private checkLive(live: Store, model: RangeModel, snapshots: Map<string, { snap: Snapshot<unknown>; model: RangeModel; version: number }>, where: string): void {
    const d = diffRanges(readAll(live), model.ranges);
    if (d) this.fail(`${where}: the live store differs from the model (not a crash): ${d}`);
    for (const [name, s] of snapshots) {
      const ds = diffRanges(readAll(s.snap), s.model.ranges);
      if (ds) this.fail(`${where}: snapshot ${name} (version ${s.version}) changed: ${ds}`);
      if (s.snap.version !== s.version) this.fail(`${where}: snapshot ${name} reports version ${s.version} → ${s.snap.version}`);
    }
  }

  /**
   * Reopens `image` and checks (a), (b), (c). Returns the version reported when the image holds
   * the in-flight commit (checked against the live store once the step returns).
   */
  private verifyImage(
    image: Uint8Array,
    locks: SimulatedLockState,
    path: string,
    before: RangeModel,
    after: RangeModel,
    beforeVersion: number,
    protocol: 'one-sync' | 'two-sync' | 'log',
    where: string,
    choice: CrashChoice,
  ): { version?: number } | undefined {
    const rng = new Prng(choice.seed ^ 0x5bd1e995);
    let phase = 'open';
    let store: Store | undefined;
    try {
      const disk = SimulatedDisk.fromImage(image, locks);
      store = openOn(disk, path, protocol);
      phase = 'lock takeover';
      const lockProblem = lockTakeoverProblem(disk, path, locks, store);
      if (lockProblem) this.fail(`${where}: ${lockProblem}`);
      if (store.stats().recovery.lockTakenOver !== null) this.lockTakeovers++;
      phase = 'check()';
      store.check();
      phase = 'contents';
      const actual = readAll(store);
      const dBefore = diffRanges(actual, before.ranges);
      const dAfter = dBefore === undefined ? undefined : diffRanges(actual, after.ranges);
      if (dBefore !== undefined && dAfter !== undefined) {
        this.fail(`${where}: contents match neither the last acknowledged commit (${dBefore}) nor the one in flight (${dAfter})`);
        return undefined;
      }
      const verdict: Verdict = { side: dBefore === undefined ? 'before' : 'after' };
      const model = verdict.side === 'before' ? before : after;
      this.recoveredTo[verdict.side]++;
      phase = 'reads';
      const spot = spotChecks(store, model, rng);
      if (spot) {
        this.fail(`${where}: ${spot}`);
        return undefined;
      }
      phase = 'version';
      const version = store.version;
      const report = store.stats().recovery;
      if (report.commit !== version) this.fail(`${where}: stats().recovery.commit is ${report.commit} but version is ${version}`);
      const newestRecord = newestValidRecord(image);
      if (newestRecord > version && !report.fellBack) {
        this.fail(`${where}: a valid commit record ${newestRecord} is newer than the version opened (${version}), but stats().recovery.fellBack is false`);
      }
      let result: { version?: number } = {};
      // When the step changes nothing visible, either version is right for the same contents.
      const ambiguous = before === after || diffRanges(before.ranges, after.ranges) === undefined;
      if (ambiguous) {
        if (version < beforeVersion) this.fail(`${where}: reports version ${version}, older than the last acknowledged ${beforeVersion}`);
        if (version > beforeVersion) result = { version };
      } else if (verdict.side === 'before') {
        if (version !== beforeVersion) this.fail(`${where}: holds the last acknowledged contents but reports version ${version}, not ${beforeVersion}`);
      } else {
        if (version <= beforeVersion) this.fail(`${where}: holds the in-flight commit but reports version ${version} ≤ ${beforeVersion}`);
        result = { version };
      }
      phase = 'new commit';
      const floor = maxRecordedCommit(image);
      this.afterRecovery(disk, path, store, model, floor, protocol, where, rng);
      return result;
    } catch (err) {
      this.fail(`${where}: ${phase} threw ${describeError(err)}`);
      return undefined;
    } finally {
      try {
        store?.close();
      } catch {
        // A store whose disk died in the second crash may refuse to close; that is not the test.
      }
    }
  }

  /** (c): new commits succeed, get fresh numbers, and a second crash among them recovers. */
  private afterRecovery(disk: SimulatedDisk, path: string, store: Store, model: RangeModel, floor: number, protocol: 'one-sync' | 'two-sync' | 'log', where: string, rng: Prng): void {
    const steps = followUp(model, rng);
    const models = [model];
    for (const step of steps) {
      const next = (models[models.length - 1] as RangeModel).clone();
      if (step.kind === 'op') applyToModel(next, step.op);
      else if (step.kind === 'txn') for (const op of step.ops) applyToModel(next, op);
      models.push(next);
    }
    // Reservoir-sample one event of the follow-up as the second crash point.
    let eventsSeen = 0;
    let current = 0;
    let picked: { image: Uint8Array; locks: SimulatedLockState; step: number; choice: CrashChoice; seq: number } | undefined;
    const off = this.opts.secondCrash
      ? disk.onEvent((event, d) => {
          eventsSeen++;
          if (rng.below(eventsSeen) !== 0) return;
          const choice = { mode: CRASH_MODES[rng.below(CRASH_MODES.length)] as CrashMode, seed: rng.nextU32() };
          picked = { image: d.crashImage(choice), locks: d.crashLockFiles(choice), step: current, choice, seq: event.seq };
        })
      : () => undefined;
    let lastVersion = store.version;
    try {
      for (let i = 1; i <= steps.length; i++) {
        current = i;
        runStep(store, steps[i - 1] as Step, models[i - 1] as RangeModel);
        const v = store.version;
        if (v <= lastVersion || v <= floor) {
          this.fail(`${where}: follow-up commit ${i} after recovery got version ${v}; it must exceed ${Math.max(lastVersion, floor)} (never reuse a commit number seen on disk)`);
        }
        lastVersion = v;
        const d = diffRanges(readAll(store), (models[i] as RangeModel).ranges);
        if (d) this.fail(`${where}: follow-up commit ${i} after recovery reads wrong: ${d}`);
      }
    } finally {
      off();
    }
    if (!picked) return;
    const second = `${where}, then second crash at follow-up step ${picked.step} event ${picked.seq} mode ${picked.choice.mode} seed ${picked.choice.seed}`;
    let again: Store | undefined;
    let phase = 'open';
    try {
      const secondDisk = SimulatedDisk.fromImage(picked.image, picked.locks);
      again = openOn(secondDisk, path, protocol);
      phase = 'lock takeover';
      const lockProblem = lockTakeoverProblem(secondDisk, path, picked.locks, again);
      if (lockProblem) this.fail(`${second}: ${lockProblem}`);
      phase = 'check()';
      again.check();
      phase = 'contents';
      const actual = readAll(again);
      const b = diffRanges(actual, (models[picked.step - 1] as RangeModel).ranges);
      const a = b === undefined ? undefined : diffRanges(actual, (models[picked.step] as RangeModel).ranges);
      if (b !== undefined && a !== undefined) this.fail(`${second}: contents match neither side (${b}; ${a})`);
      phase = 'new commit';
      again.store(7_000_000_000, 7_000_000_000, 'third life');
      if (again.load(7_000_000_000) !== 'third life') this.fail(`${second}: a commit after the second recovery does not read back`);
    } catch (err) {
      this.fail(`${second}: ${phase} threw ${describeError(err)}`);
    } finally {
      again?.close();
    }
  }
}

export function describeError(err: unknown): string {
  if (isSimulatedCrash(err)) return `a SimulatedCrash (the harness's own crash leaked): ${String(err)}`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const top = (err.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' | ');
    return `${err.name}${code ? ` [${String(code)}]` : ''}: ${err.message} (${top})`;
  }
  return String(err);
}

/** Crash-state budget from MAPLE_CRASH_STATES: unset → 10,000; 'big' → 200,000; a number → it. */
export function crashStateTarget(env = process.env.MAPLE_CRASH_STATES): number {
  if (env === undefined || env === '') return 10_000;
  if (env === 'big') return 200_000;
  const n = Number(env);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`MAPLE_CRASH_STATES must be 'big' or a positive number; got ${env}`);
  return Math.floor(n);
}

/** MAPLE_CRASH_REPRO="workload:event:mode:seed" reruns one crash state. */
export function parseRepro(env = process.env.MAPLE_CRASH_REPRO): { workload: string; event: number; mode: CrashMode; seed: number } | undefined {
  if (!env) return undefined;
  const [workload, event, mode, seed] = env.split(':');
  if (!workload || !event || !mode || !seed || !CRASH_MODES.includes(mode as CrashMode)) {
    throw new Error(`MAPLE_CRASH_REPRO must be workload:event:mode:seed; got ${env}`);
  }
  return { workload, event: Number(event), mode: mode as CrashMode, seed: Number(seed) };
}
