// Entry point of `npm run bench` (node dist/test/bench/run.js after a build with
// tsconfig.bench.json). Progress goes to stderr, one line per workload; the tables go
// to stdout; latest.json and chart.svg go to test/bench/results/ (or --out).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, USAGE } from './args.js';
import { writeChart } from './chart.js';
import { BenchContext } from './context.js';
import type { EngineFactory } from './engines/engine.js';
import { mapleUnavailable } from './engines/maple.js';
import { createFactories } from './engines/registry.js';
import { formatReport, machineInfo, writeJson, type BenchReport } from './report.js';
import { commitSize, valueSweep } from './sweep.js';
import { measureShape } from './values.js';
import { runWorkloads, type WorkloadResult } from './workloads.js';

/** The repository root: the nearest folder above this file whose package.json is maple-store's. */
function repositoryRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'maple-store') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

function commandLine(argv: readonly string[]): string {
  const flags = argv.join(' ');
  if (process.env['npm_lifecycle_event'] === 'bench') return `npm run bench${flags === '' ? '' : ` -- ${flags}`}`;
  const base = 'node dist/test/bench/run.js';
  return flags === '' ? base : `${base} ${flags}`;
}

/** Chooses the engines: the reference always (first), maple only if it loads unless asked for. */
async function chooseEngines(requested: readonly string[] | undefined, notes: string[]): Promise<EngineFactory[]> {
  const all = createFactories();
  let chosen = all.filter((factory) => factory.inMemory === true || requested === undefined || requested.includes(factory.name));
  if (chosen.some((factory) => factory.name.startsWith('maple'))) {
    const problem = await mapleUnavailable();
    if (problem !== undefined) {
      if (requested?.some((name) => name.startsWith('maple'))) throw new Error(`maple-store cannot be loaded: ${problem}`);
      notes.push(`maple-store skipped: it could not be loaded (${problem})`);
      chosen = chosen.filter((factory) => !factory.name.startsWith('maple'));
    }
  }
  return chosen;
}

export async function main(argv: string[]): Promise<BenchReport | undefined> {
  const options = parseArgs(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }
  const started = process.hrtime.bigint();
  const log = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  const notes: string[] = [];
  const startLoad = os.loadavg()[0] ?? 0;
  if (startLoad > os.availableParallelism() / 2) {
    notes.push(`the machine was busy when the run started (1-minute load average ${startLoad.toFixed(2)} on ${os.availableParallelism()} cores): numbers are skewed`);
  }
  const factories = await chooseEngines(options.engines, notes);
  for (const note of notes) log(note);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-bench-'));
  const contexts: BenchContext[] = [];
  const shared = { trace: undefined };
  try {
    log(`${factories.map((factory) => factory.name).join(', ')} on ${options.sizes.ranges.toLocaleString('en-US')} ranges, ${options.reps} reps, in ${workDir}`);
    const workloads: WorkloadResult[] = [];
    const suite = [...options.only].some((id) => id !== 'values' && id !== 'commit-size');
    for (const [at, shape] of (suite ? options.values : []).entries()) {
      // Each value shape on stores of its own; its directory goes when its workloads are done.
      const dir = path.join(workDir, shape.name);
      fs.mkdirSync(dir);
      const ctx = new BenchContext(dir, options.sizes, options.reps, options.seed, options.quick, factories, log, shape, shared);
      contexts.push(ctx);
      // Workloads 12–14 store values of their own ({ id, prot }): they run with the first shape only.
      const only = at === 0 ? options.only : new Set([...options.only].filter((id) => !SHAPE_FREE.includes(id)));
      workloads.push(...(await runWorkloads(ctx, only)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const env = { workDir, sizes: options.sizes, reps: options.reps, seed: options.seed, quick: options.quick, factories, log };
    if (options.only.has('values')) workloads.push(...(await valueSweep(env, options.sweep)));
    if (options.only.has('commit-size')) workloads.push(...(await commitSize(env, options.commitValues)));
    const failures = contexts.flatMap((ctx) => ctx.failures);
    const engines: Record<string, string> = {};
    for (const factory of factories) engines[factory.name] = factory.describe(true, undefined);
    const report: BenchReport = {
      date: new Date().toISOString(),
      command: commandLine(argv),
      machine: machineInfo(workDir),
      sizes: options.sizes,
      reps: options.reps,
      seed: options.seed,
      quick: options.quick,
      engines,
      notes: [
        ...notes,
        `every engine stores the same value objects: maple as msgpack (msgpackr) with shared structures, LMDB in lmdb-js msgpack with shared record structures, SQLite as self-described msgpack maps; value shapes: ${[...new Set([...options.values, ...options.sweep, ...options.commitValues])].map((shape) => `${shape.name} = ${shape.describe} (mean ${measureShape(shape).toFixed(1)} bytes)`).join('; ')}`,
        'keys are page numbers; the data set has random lengths (1..2048) and holes (none for half of the ranges, else 1..4096)',
      ],
      workloads,
      failures,
      totalSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
    process.stdout.write(`${formatReport(report)}\n`);
    const outDir = options.outDir ?? path.join(repositoryRoot(), 'test', 'bench', 'results');
    writeJson(report, path.join(outDir, 'latest.json'));
    writeChart(report, path.join(outDir, 'chart.svg'));
    log(`wrote ${path.join(outDir, 'latest.json')} and chart.svg`);
    if (failures.length > 0) {
      // The numbers of the other engines are written above; the run still fails.
      throw new Error(`${failures.map((f) => `${f.engine} failed in ${f.workload}: ${f.message}`).join('; ')}`);
    }
    return report;
  } finally {
    for (const ctx of contexts) await ctx.closeAll();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** Workloads whose values do not follow --values (concurrency.ts, concurrentWrites.ts). */
const SHAPE_FREE: readonly string[] = ['worker-readers', 'held-snapshot', 'concurrent'];

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
