/**
 * The crash suite (issue 3): every scripted workload is crashed at every write, truncate and sync,
 * with several drop/keep/reorder/tear choices per point; each crash image must reopen to exactly
 * the last acknowledged commit or the one in flight, pass check(), accept new commits and survive
 * a second crash. See crashRunner.ts for the oracle.
 *
 *   MAPLE_CRASH_STATES=big (or a number)      check far more crash states (default 10,000)
 *   MAPLE_CRASH_REPRO=workload:event:mode:seed rerun one failing crash state
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CRASH_MODES, SimulatedDisk, isSimulatedCrash, type CrashMode } from '../../recovery/testing/simulatedDisk.js';
import { CrashRunner, crashStateTarget, describeError, lockTakeoverProblem, openOn, parseRepro, runStep, type RunOptions } from './crashRunner.js';
import { allWorkloads, modelStates } from './workloads.js';

const target = crashStateTarget();
const repro = parseRepro();
const RANDOM_MODES: readonly CrashMode[] = ['random-subset', 'reorder', 'tear-512', 'tear-4k'];
const LONG_MS = 6 * 60 * 60 * 1000;
let total = 0;
/** Per workload: the crash images already checked at each step, across all rounds. */
const seenImages = new Map<string, Map<number, Set<string>>>();
const seenFor = (name: string) => seenImages.get(name) ?? seenImages.set(name, new Map()).get(name)!;

function options(overrides: Partial<RunOptions>): RunOptions {
  return { modes: CRASH_MODES, seedsPerMode: 1, seedBase: 0, secondCrash: true, maxFailures: 20, ...overrides };
}

afterAll(() => {
  console.log(`crash states checked: ${total}`);
});

if (repro !== undefined) describe('crash repro', () => {
  it(`reruns ${process.env.MAPLE_CRASH_REPRO}`, () => {
    const r = repro!;
    const w = allWorkloads().find((x) => x.name === r.workload);
    expect(w, `no workload named ${r.workload}`).toBeDefined();
    const result = new CrashRunner(w!, options({ only: { event: r.event, mode: r.mode, seed: r.seed } })).run();
    total += result.states;
    for (const f of result.failures) console.log(f);
    expect(result.states).toBe(1);
    expect(result.failures).toEqual([]);
  });
});

if (repro === undefined) describe('crash during creation', () => {
  it('a store whose creation was cut short reopens as a new, empty store', () => {
    const failures: string[] = [];
    // The disk events of the open alone (close() writes too: the writer's open mark, cleared).
    const events = (() => {
      const disk = new SimulatedDisk();
      const store = openOn(disk, '/simulated/create-count');
      const n = disk.events;
      store.close();
      return n;
    })();
    expect(events).toBeGreaterThan(0);
    for (let k = 1; k <= events; k++) {
      const disk = new SimulatedDisk();
      disk.crashAt = k;
      try {
        openOn(disk, '/simulated/create');
        failures.push(`crash at creation event ${k} did not stop the open`);
        continue;
      } catch (err) {
        if (!isSimulatedCrash(err)) failures.push(`creation event ${k}: open threw ${describeError(err)}, not the simulated crash`);
      }
      CRASH_MODES.forEach((mode, m) => {
        const image = disk.crashImage({ mode, seed: k * 10 + m });
        const locks = disk.crashLockFiles({ mode, seed: k * 10 + m });
        total++;
        try {
          // Nothing was ever acknowledged, so nothing may block using the file — nor its lock files.
          const reopened = SimulatedDisk.fromImage(image, locks);
          const store = openOn(reopened, '/simulated/create');
          const lockProblem = lockTakeoverProblem(reopened, '/simulated/create', locks, store);
          if (lockProblem) failures.push(`creation event ${k} ${mode}: ${lockProblem}`);
          store.check();
          if (store.count() !== 0 || store.version !== 0) failures.push(`creation event ${k} ${mode}: reopened with ${store.count()} ranges at version ${store.version}`);
          store.store(1, 2, 'first');
          store.check();
          store.close();
        } catch (err) {
          failures.push(`creation event ${k} (${mode}, seed ${k * 10 + m}, image ${image.length} bytes): ${describeError(err)}`);
        }
      });
    }
    expect(failures).toEqual([]);
  });
});

if (repro === undefined) describe('the harness itself', () => {
  it('a crash via crashAt = k leaves the same disk state the onEvent hook sees at event k', () => {
    // Compared by shape (durable size, pending operations, image sizes), not bytes: the store
    // may put random salts or nonces in what it writes.
    const w = allWorkloads().find((x) => x.name === 'single-stores')!;
    const models = modelStates(w.steps);
    const shape = (d: SimulatedDisk, k: number) =>
      JSON.stringify({
        durable: d.durableImage().length,
        pending: d.pendingOps(),
        images: CRASH_MODES.map((mode) => d.crashImage({ mode, seed: k }).length),
      });
    const hooked = new Map<number, string>();
    const disk = new SimulatedDisk();
    const store = openOn(disk, '/simulated/hooked');
    const base = disk.events;
    disk.onEvent((e, d) => hooked.set(e.seq, shape(d, e.seq)));
    w.steps.forEach((step, i) => runStep(store, step, models[i]!));
    expect(disk.events).toBeGreaterThan(base + 10);
    for (let k = base + 1; k <= disk.events; k++) {
      const d = new SimulatedDisk();
      d.crashAt = k;
      try {
        const s = openOn(d, '/simulated/crash-at');
        w.steps.forEach((step, i) => runStep(s, step, models[i]!));
      } catch (err) {
        if (!isSimulatedCrash(err)) throw err;
      }
      expect(d.crashedAt).toBe(k);
      expect(shape(d, k), `event ${k}`).toBe(hooked.get(k));
    }
  });
});

if (repro === undefined) describe('crash suite: every crash point of every workload', () => {
  for (const w of allWorkloads()) {
    it(
      `${w.name}${w.protocol ? ` (${w.protocol})` : ''}`,
      () => {
        const r = new CrashRunner(w, options({ seen: seenFor(w.name) })).run();
        total += r.states;
        console.log(
          `${w.name}: ${r.events} disk events, ${r.states} crash states (recovered to the acknowledged commit ${r.recoveredTo.before}, to the one in flight ${r.recoveredTo.after}; took over a crashed writer's lock ${r.lockTakeovers} times)`,
        );
        expect(r.failures).toEqual([]);
        // Crash images come with the lock files the crash left: reopens must meet (and take over) some.
        expect(r.lockTakeovers).toBeGreaterThan(0);
        // Both outcomes must actually occur, or the workload is not exercising the commit path.
        expect(r.recoveredTo.before).toBeGreaterThan(0);
        expect(r.recoveredTo.after).toBeGreaterThan(0);
      },
      LONG_MS,
    );
  }

  it(
    'reaches the crash-state target with fresh random choices',
    () => {
      const failures: string[] = [];
      const workloads = allWorkloads();
      for (let round = 1; total < target && failures.length === 0; round++) {
        const before = total;
        for (const w of workloads) {
          if (total >= target) break;
          const r = new CrashRunner(w, options({ modes: RANDOM_MODES, seedBase: round, secondCrash: round % 2 === 0, seen: seenFor(w.name) })).run();
          total += r.states;
          failures.push(...r.failures);
        }
        // Every workload's crash images exhausted: more rounds would only recount.
        if (total === before) break;
      }
      expect(failures).toEqual([]);
      expect(total).toBeGreaterThanOrEqual(target);
    },
    LONG_MS,
  );
});
