// What the workloads share: the engines of a run, their directories and open handles, the timer,
// and the cross-check that stops the run when an engine's answers differ from the reference.

import fs from 'node:fs';
import path from 'node:path';
import { Digest } from './checksum.js';
import type { Engine, EngineFactory, ReadView } from './engines/engine.js';
import type { ValueShape } from './values.js';
import type { TraceRecording } from './vmaTrace.js';

/** What the contexts of one run share (one per value shape): the VMA trace, recorded once. */
export interface RunShared {
  trace: Promise<TraceRecording> | undefined;
}

export const MAX_INDEX = Number.MAX_SAFE_INTEGER;

export interface Sizes {
  /** Ranges in the main data set (workload 1). */
  readonly ranges: number;
  readonly stabs: number;
  readonly windows: number;
  readonly overwrites: number;
  readonly perTransaction: number;
  readonly durableCommits: number;
  readonly gaps: number;
  /** First-fit searches over the whole key space (workload 11). */
  readonly gapsAll: number;
  readonly snapshotReads: number;
  /** Engine cache budget for the cold-ish stabbing workload. */
  readonly coldCacheBytes: number;
}

export class CrossCheckError extends Error {
  constructor(
    readonly engine: string,
    readonly workload: string,
    got: string,
    expected: string,
  ) {
    super(`cross-check failed: engine '${engine}' in workload '${workload}' answered ${got}, the reference ${expected}`);
    this.name = 'CrossCheckError';
  }
}

/** Seconds taken by `body`. */
export function measure(body: () => void): number {
  const start = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A digest of every range in the view (the whole state, every byte of every value), for end-of-workload checks. */
export function stateDigest(view: ReadView, shape: ValueShape): string {
  const digest = new Digest(shape);
  view.ranges(0, MAX_INDEX, (first, last, value) => digest.addRangeDeep(first, last, value));
  return digest.hex();
}

/** One engine's place in the run: its main store (built by the bulk load) and the open handle. */
export class Slot {
  mainDir: string | undefined;
  engine: Engine | undefined;
  /** Set when the engine threw: it sits out the rest of the run. */
  failure: EngineFailure | undefined;
  /** How the open handle was opened, to state it beside the numbers. */
  openedWith: { durable: boolean; cacheBytes: number | undefined } = { durable: true, cacheBytes: undefined };

  constructor(
    readonly factory: EngineFactory,
    readonly shape: ValueShape,
  ) {}

  get name(): string {
    return this.factory.name;
  }

  async open(durable: boolean, cacheBytes?: number): Promise<Engine> {
    if (this.mainDir === undefined) throw new Error(`engine '${this.name}' has no main store yet`);
    await this.close();
    this.engine = await this.factory.open({ dir: this.mainDir, durable, shape: this.shape, ...(cacheBytes === undefined ? {} : { cacheBytes }) });
    this.openedWith = { durable, cacheBytes };
    return this.engine;
  }

  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    if (engine !== undefined) await engine.close();
  }

  describe(): string {
    return this.factory.describe(this.openedWith.durable, this.openedWith.cacheBytes);
  }
}

export interface EngineFailure {
  readonly engine: string;
  readonly workload: string;
  readonly message: string;
}

export class BenchContext {
  private dirCounter = 0;
  readonly failures: EngineFailure[] = [];
  /** The reference first (every check compares against it), then the engines under test. */
  readonly slots: Slot[];

  constructor(
    readonly workDir: string,
    readonly sizes: Sizes,
    readonly reps: number,
    readonly seed: number,
    readonly quick: boolean,
    factories: EngineFactory[],
    readonly log: (line: string) => void,
    /** The values every workload of this context stores. */
    readonly shape: ValueShape,
    readonly shared: RunShared = { trace: undefined },
  ) {
    this.slots = factories.map((factory) => new Slot(factory, shape));
    if (this.slots[0]?.factory.inMemory !== true) throw new Error('the reference engine must come first');
  }

  get reference(): Slot {
    return this.slots[0]!;
  }

  /** Engines taking part in a workload, the reference first. */
  slotsFor(workloadId: string): Slot[] {
    return this.slots.filter(
      (slot) => slot.failure === undefined && (slot.factory.onlyWorkloads === undefined || slot.factory.onlyWorkloads.includes(workloadId)),
    );
  }

  /**
   * Runs `body` for each slot that hasn't failed. An engine that throws is recorded as failed and
   * sits out the rest of the run, so one broken engine doesn't cost the others' numbers; a wrong
   * answer (CrossCheckError) or a failing reference still stops the run.
   */
  async each(workload: string, slots: readonly Slot[], body: (slot: Slot) => void | Promise<void>): Promise<void> {
    for (const slot of slots) {
      if (slot.failure !== undefined) continue;
      try {
        await body(slot);
      } catch (error) {
        if (error instanceof CrossCheckError || slot === this.reference) throw error;
        const message = error instanceof Error ? error.message : String(error);
        slot.failure = { engine: slot.name, workload, message };
        this.failures.push(slot.failure);
        this.log(`${slot.name} FAILED in ${workload}: ${message} (left out of the rest of the run)`);
        try {
          await slot.close();
        } catch {
          // Already broken; the failure above is what matters.
        }
        slot.engine = undefined;
      }
    }
  }

  /** The reference first, the others rotated by rep so that no engine always runs last. */
  repOrder(slots: Slot[], rep: number): Slot[] {
    const others = slots.slice(1);
    const shift = others.length === 0 ? 0 : rep % others.length;
    return [slots[0]!, ...others.slice(shift), ...others.slice(0, shift)];
  }

  freshDir(label: string): string {
    const dir = path.join(this.workDir, `${String(this.dirCounter++).padStart(3, '0')}-${label}`);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  check(workload: string, engine: string, got: string, expected: string | undefined): void {
    if (expected === undefined) throw new Error(`no reference answer for workload '${workload}'`);
    if (got !== expected) throw new CrossCheckError(engine, workload, got, expected);
  }

  async closeAll(): Promise<void> {
    for (const slot of this.slots) {
      try {
        await slot.close();
      } catch (error) {
        if (slot.failure === undefined) throw error;
      }
    }
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
