// Turns workload results into what people read: one table per workload (ops/s, µs/op and the
// ratio to LMDB and to SQLite, medians of the repetitions) and latest.json with the machine,
// the date and the command, so a number is never quoted without its conditions.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineFailure, Sizes } from './context.js';
import type { EngineRow, WorkloadResult } from './workloads.js';

export interface MachineInfo {
  readonly nproc: number;
  readonly memoryBytes: number;
  readonly cpu: string;
  readonly node: string;
  readonly platform: string;
  readonly kernel: string;
  /** The file system the stores were written to (fsync costs depend on it). */
  readonly benchFileSystem: string;
  /** 1-minute load average when the report was written: other work on the machine skews numbers. */
  readonly loadAverage: number;
}

export interface BenchReport {
  readonly date: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly sizes: Sizes;
  readonly reps: number;
  readonly seed: number;
  readonly quick: boolean;
  readonly engines: Record<string, string>;
  readonly notes: string[];
  readonly workloads: WorkloadResult[];
  /** Engines that threw and were left out of the rest of the run. */
  readonly failures: EngineFailure[];
  readonly totalSeconds: number;
}

/** Longest mount point that contains `dir`, from /proc/mounts (Linux). */
function fileSystemOf(dir: string): string {
  try {
    let best = { mount: '', type: 'unknown', device: '' };
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (device === undefined || mount === undefined || type === undefined) continue;
      const inside = dir === mount || dir.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length >= best.mount.length) best = { mount, type, device };
    }
    return `${best.type} (${best.device} on ${best.mount})`;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(benchDir: string): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    benchFileSystem: fileSystemOf(benchDir),
    loadAverage: os.loadavg()[0] ?? 0,
  };
}

function rowOf(workload: WorkloadResult, engine: string): EngineRow | undefined {
  return workload.rows.find((row) => row.engine === engine);
}

/** ops/s of `row` divided by the baseline's (so > 1 means faster than the baseline). */
export function ratio(workload: WorkloadResult, row: EngineRow, baseline: string): number | undefined {
  const base = rowOf(workload, baseline);
  return base === undefined ? undefined : row.opsPerSec / base.opsPerSec;
}

function formatNumber(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatRatio(value: number | undefined): string {
  if (value === undefined) return '—';
  return value >= 100 ? `${value.toFixed(0)}×` : value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`;
}

function formatMicros(us: number): string {
  return us >= 1000 ? formatNumber(us, 0) : us >= 10 ? formatNumber(us, 1) : formatNumber(us, 3);
}

export function formatTable(workload: WorkloadResult): string {
  const header = ['engine', `${workload.opsName}/s`, `µs/${workload.opName}`, 'vs LMDB', 'vs SQLite', ...workload.extraColumns.map((c) => c.label)];
  const body = workload.rows.map((row) => [
    row.engine,
    formatNumber(row.opsPerSec, row.opsPerSec >= 100 ? 0 : 1),
    formatMicros(row.usPerOp),
    formatRatio(ratio(workload, row, 'lmdb')),
    formatRatio(ratio(workload, row, 'sqlite')),
    ...workload.extraColumns.map((column) => {
      const value = row.extra[column.key];
      return value === undefined ? '—' : formatNumber(value, column.digits);
    }),
  ]);
  const widths = header.map((title, at) => Math.max(title.length, ...body.map((cells) => cells[at]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, at) => (at === 0 ? cell.padEnd(widths[at]!) : cell.padStart(widths[at]!))).join('  ');
  const lines = [
    `== ${workload.number}. ${workload.title}`,
    line(header),
    line(widths.map((width) => '-'.repeat(width))),
    ...body.map(line),
  ];
  for (const note of workload.notes) lines.push(`   note: ${note}`);
  if (workload.rows.length === 0) lines.push('   (no engine ran this workload)');
  return lines.join('\n');
}

export function formatReport(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `maple-store bench — ${report.date}`,
    `command: ${report.command}`,
    `machine: ${m.nproc} cores (${m.cpu}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; stores on ${m.benchFileSystem}; load average ${m.loadAverage.toFixed(2)}`,
    `medians of ${report.reps} repetitions; "vs X" = ops/s ÷ X's ops/s (> 1 is faster than X)`,
    '',
  ];
  // Stable: each workload's value shapes stay in the order they ran.
  const byNumber = [...report.workloads].sort((a, b) => a.number - b.number);
  for (const workload of byNumber) lines.push(formatTable(workload), '');
  const summary = formatShapeSummary(report.workloads);
  if (summary !== '') lines.push(summary, '');
  lines.push('engine settings:');
  for (const [engine, settings] of Object.entries(report.engines)) lines.push(`  ${engine}: ${settings}`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  for (const failure of report.failures) lines.push(`FAILED: ${failure.engine} in workload ${failure.workload}: ${failure.message}`);
  lines.push(`total ${report.totalSeconds.toFixed(1)} s`);
  return lines.join('\n');
}

/** What a summary column shows of a workload's row: ops/s, or an extra figure. */
interface SummaryFigure {
  readonly label: string;
  /** The workload's id, or the sweep's measure. */
  readonly measure: string;
  readonly extra?: string;
  /** Lower is better (bytes): the ratio is the other engine's ÷ maple's. */
  readonly lowerIsBetter?: boolean;
}

const SUMMARY_FIGURES: readonly SummaryFigure[] = [
  { label: 'bulk load ranges/s', measure: 'bulk' },
  { label: 'warm loads/s', measure: 'stab-warm' },
  { label: 'batched overwrites stores/s', measure: 'overwrite' },
  { label: 'durable single commits/s', measure: 'durable' },
  { label: 'bytes/range after load', measure: 'size-open', extra: 'bytesPerRange', lowerIsBetter: true },
  { label: 'bytes/range after single commits', measure: 'commit-size', extra: 'bytesPerRange', lowerIsBetter: true },
];

/**
 * One line per value shape and figure: maple, LMDB, SQLite and the reference side by side, with
 * maple's ratios (for bytes, the other engine's size ÷ maple's: above 1, maple's file is smaller).
 */
export function formatShapeSummary(workloads: readonly WorkloadResult[]): string {
  const header = ['values', 'figure', 'maple', 'LMDB', 'SQLite', 'reference', 'maple vs LMDB', 'maple vs SQLite', 'maple vs reference'];
  const body: string[][] = [];
  const shapes = [...new Set(workloads.map((w) => w.values))];
  for (const shape of shapes) {
    for (const figure of SUMMARY_FIGURES) {
      const found = workloads.filter((w) => w.values === shape && (w.measure ?? w.id) === figure.measure);
      for (const w of found) {
        const value = (engine: string): number | undefined => {
          const row = rowOf(w, engine);
          if (row === undefined) return undefined;
          return figure.extra === undefined ? row.opsPerSec : row.extra[figure.extra];
        };
        const maple = value('maple');
        if (maple === undefined) continue;
        const versus = (engine: string): string => {
          const other = value(engine);
          if (other === undefined || !(other > 0) || !(maple > 0)) return '—';
          return formatRatio(figure.lowerIsBetter === true ? other / maple : maple / other);
        };
        const show = (engine: string): string => {
          const v = value(engine);
          return v === undefined ? '—' : formatNumber(v, v >= 100 ? 0 : 1);
        };
        const where = w.id === 'values' ? ' (sweep)' : '';
        body.push([shape, `${figure.label}${where}`, show('maple'), show('lmdb'), show('sqlite'), show('reference'), versus('lmdb'), versus('sqlite'), figure.extra === undefined ? versus('reference') : '—']);
      }
    }
  }
  if (body.length === 0) return '';
  const widths = header.map((title, at) => Math.max(title.length, ...body.map((cells) => cells[at]!.length)));
  const line = (cells: string[]): string => cells.map((cell, at) => (at < 2 ? cell.padEnd(widths[at]!) : cell.padStart(widths[at]!))).join('  ');
  return ['== By value shape (one run; bytes: the other engine ÷ maple, above 1 maple is smaller)', line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

export function writeJson(report: BenchReport, file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(temporary, file); // never leave a half-written results file
}
