// Command-line flags of `npm run bench`, and the workload sizes they imply.

import type { Sizes } from './context.js';
import { ENGINE_NAMES } from './engines/registry.js';
import { SHAPE_NAMES, shapeNamed, type ValueShape } from './values.js';
import { WORKLOAD_IDS, type WorkloadId } from './workloads.js';

export interface BenchOptions {
  readonly sizes: Sizes;
  readonly reps: number;
  readonly seed: number;
  readonly quick: boolean;
  readonly only: ReadonlySet<WorkloadId>;
  /** undefined: every engine that loads. */
  readonly engines: readonly string[] | undefined;
  readonly outDir: string | undefined;
  readonly help: boolean;
  /** Value shapes workloads 1–11 run with, each on its own stores. */
  readonly values: readonly ValueShape[];
  /** Value shapes of the sweep (workload 15). */
  readonly sweep: readonly ValueShape[];
  /** Value shapes of the single-store commit size workload (16). */
  readonly commitValues: readonly ValueShape[];
}

export const DEFAULT_VALUES = ['inline', '10B', '120B'];
export const DEFAULT_COMMIT_VALUES = ['10B', '40B', '120B'];
const QUICK_VALUES = ['10B'];
const QUICK_COMMIT_VALUES = ['40B'];

export const USAGE = `usage: npm run bench -- [flags]
  --ranges N        ranges in the data set (default 1,000,000; 20,000 with --quick)
  --reps N          repetitions per workload, the median is reported (default 3)
  --only LIST       workloads by id or number, comma-separated:
                    ${WORKLOAD_IDS.map((id, at) => `${at + 1}=${id}`).join(' ')}
  --values LIST     value shapes workloads 1-11 run with, each on stores of its own
                    (default ${DEFAULT_VALUES.join(',')}, with --quick ${QUICK_VALUES.join(',')}; known: ${SHAPE_NAMES.join(',')})
  --sweep LIST      value shapes of workload 15 (default: all)
  --commit-values LIST  value shapes of workload 16 (default ${DEFAULT_COMMIT_VALUES.join(',')}, with --quick ${QUICK_COMMIT_VALUES.join(',')})
  --engines LIST    ${ENGINE_NAMES.join(',')} (the reference always runs: it is the oracle)
  --quick           small sizes for a smoke run (seconds)
  --seed N          data seed (default 1)
  --out DIR         where latest.json and chart.svg go (default test/bench/results)`;

const DEFAULT_RANGES = 1_000_000;
const QUICK_RANGES = 20_000;

function positiveInteger(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value < 1) throw new Error(`${flag} needs a positive integer, got ${text ?? 'nothing'}`);
  return value;
}

function list(flag: string, text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') throw new Error(`${flag} needs a comma-separated list`);
  return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Sizes follow the issue at 1M ranges and scale with --ranges; --quick shrinks everything. */
export function sizesFor(ranges: number, quick: boolean): Sizes {
  const scale = ranges / DEFAULT_RANGES;
  const overwrites = quick ? 1000 : Math.max(1000, Math.round(10_000 * scale));
  return {
    ranges,
    stabs: ranges,
    windows: Math.max(100, Math.round(ranges / 10)),
    overwrites,
    perTransaction: quick ? 100 : Math.min(1000, Math.max(1, Math.round(overwrites / 10))),
    durableCommits: quick ? 50 : 1000,
    gaps: quick ? 200 : 1000,
    gapsAll: quick ? 20 : 100,
    snapshotReads: Math.max(1000, Math.round(ranges / 10)),
    coldCacheBytes: Math.max(64 * 1024, ranges),
  };
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  let ranges: number | undefined;
  let reps = 3;
  let seed = 1;
  let quick = false;
  let only: WorkloadId[] = [...WORKLOAD_IDS];
  let engines: string[] | undefined;
  let outDir: string | undefined;
  let help = false;
  let values: readonly string[] | undefined;
  let sweep: readonly string[] = SHAPE_NAMES;
  let commitValues: readonly string[] | undefined;
  for (let at = 0; at < argv.length; at++) {
    const flag = argv[at]!;
    const next = (): string | undefined => argv[++at];
    switch (flag) {
      case '--ranges':
        ranges = positiveInteger(flag, next());
        break;
      case '--reps':
        reps = positiveInteger(flag, next());
        break;
      case '--seed':
        seed = positiveInteger(flag, next());
        break;
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = list(flag, next()).map((item) => {
          const byNumber = /^\d+$/.test(item) ? WORKLOAD_IDS[Number(item) - 1] : undefined;
          const id = byNumber ?? WORKLOAD_IDS.find((candidate) => candidate === item);
          if (id === undefined) throw new Error(`--only: unknown workload '${item}' (known: ${WORKLOAD_IDS.join(', ')} or 1-${WORKLOAD_IDS.length})`);
          return id;
        });
        break;
      case '--engines':
        engines = list(flag, next());
        for (const name of engines) {
          if (!(ENGINE_NAMES as readonly string[]).includes(name)) throw new Error(`--engines: unknown engine '${name}' (known: ${ENGINE_NAMES.join(', ')})`);
        }
        break;
      case '--out':
        outDir = next();
        if (outDir === undefined) throw new Error('--out needs a directory');
        break;
      case '--values':
        values = list(flag, next());
        break;
      case '--sweep':
        sweep = list(flag, next());
        break;
      case '--commit-values':
        commitValues = list(flag, next());
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new Error(`unknown flag '${flag}'\n${USAGE}`);
    }
  }
  return {
    sizes: sizesFor(ranges ?? (quick ? QUICK_RANGES : DEFAULT_RANGES), quick),
    reps,
    seed,
    quick,
    only: new Set(only),
    engines,
    outDir,
    help,
    // --quick: one shape through workloads 1-11 and one through 16, to stay a matter of seconds.
    values: (values ?? (quick ? QUICK_VALUES : DEFAULT_VALUES)).map(shapeNamed),
    sweep: sweep.map(shapeNamed),
    commitValues: (commitValues ?? (quick ? QUICK_COMMIT_VALUES : DEFAULT_COMMIT_VALUES)).map(shapeNamed),
  };
}
