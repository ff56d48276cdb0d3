// Workloads 15 and 16: how each engine's speed and size depend on the values it stores.
//
// 15 (values): for each value shape of --sweep, a bulk load, the bytes per range after it, warm
// stabbing loads and batched overwrites — workloads 1, 9, 2 and 5 run on a data set of that
// shape. Shapes above SWEEP_FULL_BYTES get proportionally fewer ranges, so that every shape loads
// about the same number of value bytes (a million 3 KB values would be 3 GB per engine).
//
// 16 (commit-size): for each shape of --commit-values, COMMIT_RANGES ranges bulk-loaded, then
// single-store commits that each give one random range a new value (the same range, so the range
// count stays put), and the bytes per range on disk after them. The commits are not durable (maple
// sync 'none', LMDB noSync, SQLite synchronous=OFF): what a file keeps does not depend on the
// sync, and a hundred thousand fsyncs per engine would take minutes.

import fs from 'node:fs';
import path from 'node:path';
import { sizesFor } from './args.js';
import { BenchContext, measure, median, type Sizes, stateDigest, type Slot } from './context.js';
import { Rng, generateRanges } from './data.js';
import type { EngineFactory } from './engines/engine.js';
import { measureShape, type ValueShape } from './values.js';
import { type EngineRow, type WorkloadId, type WorkloadResult, runWorkloads, sweepResult } from './workloads.js';

/** Shapes up to this many msgpack bytes run the sweep on the full data set. */
export const SWEEP_FULL_BYTES = 128;

export interface SweepEnv {
  readonly workDir: string;
  /** The run's sizes (--ranges, --quick). */
  readonly sizes: Sizes;
  readonly reps: number;
  readonly seed: number;
  readonly quick: boolean;
  readonly factories: EngineFactory[];
  readonly log: (line: string) => void;
}

/** Ranges the sweep loads for values of `bytes` (mean msgpack bytes); --quick a quarter of --ranges. */
export function sweepRanges(ranges: number, bytes: number, quick: boolean): number {
  const full = quick ? Math.max(1000, Math.round(ranges / 4)) : ranges;
  if (bytes <= SWEEP_FULL_BYTES) return full;
  return Math.max(1000, Math.round((full * SWEEP_FULL_BYTES) / bytes / 1000) * 1000);
}

const SWEEP_WORKLOADS: ReadonlySet<WorkloadId> = new Set<WorkloadId>(['bulk', 'size-open', 'stab-warm', 'overwrite']);

/** Workload 15: the sweep, one result per shape and figure. */
export async function valueSweep(env: SweepEnv, shapes: readonly ValueShape[]): Promise<WorkloadResult[]> {
  const results: WorkloadResult[] = [];
  for (const shape of shapes) {
    const bytes = measureShape(shape);
    const ranges = sweepRanges(env.sizes.ranges, bytes, env.quick);
    const dir = path.join(env.workDir, `sweep-${shape.name}`);
    fs.mkdirSync(dir, { recursive: true });
    const ctx = new BenchContext(dir, sizesFor(ranges, env.quick), env.reps, env.seed, env.quick, env.factories, env.log, shape);
    env.log(`workload 15 (values): ${shape.name} values, ${bytes.toFixed(1)} bytes each, ${ranges.toLocaleString('en-US')} ranges`);
    try {
      for (const r of await runWorkloads(ctx, SWEEP_WORKLOADS)) {
        const note = `${shape.name}: ${shape.describe}; mean ${bytes.toFixed(1)} msgpack bytes with shared structures (maple, LMDB); ${ranges.toLocaleString('en-US')} ranges`;
        results.push({ ...r, id: 'values', number: 15, measure: r.id, title: `Value sweep: ${r.title}`, chart: false, notes: [note, ...r.notes] });
      }
    } finally {
      await ctx.closeAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const failure of ctx.failures) results.at(-1)?.notes.push(`${failure.engine} FAILED in ${failure.workload}: ${failure.message}`);
  }
  return results;
}

/** Ranges and single-store commits of workload 16 (the setting; --quick shrinks them). */
export function commitSizes(quick: boolean): { ranges: number; commits: number } {
  return quick ? { ranges: 2000, commits: 5000 } : { ranges: 20_000, commits: 100_000 };
}

/** Workload 16: bytes per range after many single-store commits, per shape. */
export async function commitSize(env: SweepEnv, shapes: readonly ValueShape[]): Promise<WorkloadResult[]> {
  const { ranges, commits } = commitSizes(env.quick);
  const results: WorkloadResult[] = [];
  for (const shape of shapes) {
    const dir = path.join(env.workDir, `commit-${shape.name}`);
    fs.mkdirSync(dir, { recursive: true });
    const ctx = new BenchContext(dir, env.sizes, 1, env.seed, env.quick, env.factories, env.log, shape);
    env.log(`workload 16 (commit-size): ${shape.name} values, ${ranges.toLocaleString('en-US')} ranges, ${commits.toLocaleString('en-US')} single-store commits`);
    const data = generateRanges(ranges, env.seed + 13, shape);
    const rng = new Rng(env.seed + 1300);
    const picks = new Uint32Array(commits);
    for (let k = 0; k < commits; k++) picks[k] = rng.below(ranges);
    const slots = ctx.slotsFor('commit-size').filter((slot) => slot.factory.cloneOf === undefined);
    const seconds = new Map<Slot, number>();
    const extras = new Map<Slot, Record<string, number>>();
    let expected: string | undefined;
    try {
      await ctx.each('commit-size', slots, async (slot) => {
        slot.mainDir = ctx.freshDir(`${slot.name}-commits`);
        const engine = await slot.open(false);
        engine.bulkLoad(data);
        const bulkBytes = engine.fileBytes();
        const taken = measure(() => {
          for (let k = 0; k < commits; k++) {
            const i = picks[k]!;
            engine.transaction((writer) => writer.store(data.firsts[i]!, data.lasts[i]!, shape.make(50_000_000 + k, data.prots[(i + k) % ranges]!)));
          }
        });
        const fileBytes = engine.fileBytes();
        const digest = stateDigest(engine, shape);
        if (slot === ctx.reference) expected = digest;
        else ctx.check('commit-size', slot.name, digest, expected);
        seconds.set(slot, taken);
        extras.set(slot, { bulkBytesPerRange: bulkBytes / ranges, bytesPerRange: fileBytes / ranges, fileBytes });
        await slot.close();
      });
    } finally {
      await ctx.closeAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const rows: EngineRow[] = slots
      .filter((slot) => seconds.has(slot) && slot.failure === undefined)
      .map((slot) => {
        const taken = seconds.get(slot)!;
        return {
          engine: slot.name,
          ops: commits,
          seconds: [taken],
          medianSeconds: median([taken]),
          opsPerSec: commits / taken,
          usPerOp: (taken * 1e6) / commits,
          checksum: '',
          settings: slot.factory.describe(false, undefined),
          extra: slot === ctx.reference ? {} : extras.get(slot)!,
        };
      });
    const notes = [
      `${shape.name}: ${shape.describe}`,
      'each commit stores a new value over one whole random range (the range count stays the same); not durable (maple sync none, LMDB noSync, SQLite synchronous=OFF): the bytes kept do not depend on the sync',
      'bytes/range: maple stats().fileBytes, LMDB data file size, SQLite db file after wal_checkpoint(TRUNCATE), ÷ ranges; one repetition',
    ];
    for (const failure of ctx.failures) notes.push(`${failure.engine} FAILED: ${failure.message}`);
    results.push(
      sweepResult(
        ctx,
        'commit-size',
        'commit-size',
        `${ranges.toLocaleString('en-US')} ranges, then ${commits.toLocaleString('en-US')} single-store commits (not durable): bytes per range`,
        'commit',
        rows,
        notes,
        [
          { key: 'bulkBytesPerRange', label: 'bytes/range after load', digits: 1 },
          { key: 'bytesPerRange', label: 'bytes/range after commits', digits: 1 },
          { key: 'fileBytes', label: 'file bytes', digits: 0 },
        ],
      ),
    );
  }
  return results;
}
