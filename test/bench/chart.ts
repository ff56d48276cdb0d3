// The SVG chart: grouped bars of ops/s per workload, one colour per engine, on a log scale (the
// engines differ by orders of magnitude), with the date, machine and command in the caption.

import fs from 'node:fs';
import path from 'node:path';
import type { BenchReport } from './report.js';

const COLOURS: Record<string, string> = {
  reference: '#9e9e9e',
  maple: '#2e7d32',
  'maple-2sync': '#81c784',
  'maple-1sync': '#1b5e20',
  lmdb: '#1565c0',
  sqlite: '#ef6c00',
};
const FALLBACK_COLOURS = ['#6a1b9a', '#00838f', '#c62828', '#4e342e'];

const BAR_WIDTH = 16;
const BAR_GAP = 2;
const GROUP_GAP = 28;
const PLOT_HEIGHT = 360;
const LEFT = 70;
const TOP = 86;
const BOTTOM = 96;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function shortRate(value: number): string {
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  const trim = (text: string): string => text.replace(/\.0$/, '');
  for (const [scale, unit] of units) {
    if (value >= scale) return `${trim((value / scale).toFixed(value >= scale * 100 ? 0 : 1))}${unit}`;
  }
  return value >= 10 ? value.toFixed(0) : trim(value.toFixed(1));
}

export function renderChart(report: BenchReport): string {
  const workloads = report.workloads.filter((workload) => workload.chart && workload.rows.length > 0).sort((a, b) => a.number - b.number);
  const engines = Object.keys(report.engines).filter((engine) => workloads.some((workload) => workload.rows.some((row) => row.engine === engine)));
  const colour = (engine: string): string => COLOURS[engine] ?? FALLBACK_COLOURS[engines.indexOf(engine) % FALLBACK_COLOURS.length]!;

  const values = workloads.flatMap((workload) => workload.rows.map((row) => row.opsPerSec)).filter((v) => v > 0);
  const lowDecade = Math.floor(Math.log10(Math.min(...values, 1)));
  // Headroom above the tallest bar for its rotated value label.
  const topLog = Math.max(lowDecade + 1, Math.log10(Math.max(...values, 10)) + 0.45);
  const highDecade = Math.floor(topLog);
  const y = (value: number): number => TOP + PLOT_HEIGHT - ((Math.log10(value) - lowDecade) / (topLog - lowDecade)) * PLOT_HEIGHT;

  // Each group holds only the engines that ran that workload (maple-1sync and maple-2sync run in one).
  const groupWidths = workloads.map((workload) => workload.rows.length * (BAR_WIDTH + BAR_GAP) + GROUP_GAP);
  const groupStarts = groupWidths.map((_, at) => LEFT + GROUP_GAP / 2 + groupWidths.slice(0, at).reduce((sum, w) => sum + w, 0));
  const width = Math.max(760, LEFT + groupWidths.reduce((sum, w) => sum + w, 0) + 20);
  const height = TOP + PLOT_HEIGHT + BOTTOM;
  const m = report.machine;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="22" font-size="16" font-weight="bold">maple-store bench: operations per second per workload (log scale, higher is better)</text>`,
    `<text x="${LEFT}" y="40" font-size="11" fill="#444">${escapeXml(`${report.date} · ${m.nproc} cores (${m.cpu}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${m.node} · ${report.sizes.ranges.toLocaleString('en-US')} ranges, medians of ${report.reps}`)}</text>`,
    `<text x="${LEFT}" y="55" font-size="11" fill="#444">${escapeXml(`command: ${report.command}`)}</text>`,
  ];
  // Legend.
  engines.forEach((engine, at) => {
    const x = LEFT + at * 120;
    parts.push(`<rect x="${x}" y="64" width="12" height="12" fill="${colour(engine)}"/>`);
    parts.push(`<text x="${x + 16}" y="74" font-size="12">${escapeXml(engine)}</text>`);
  });
  // Decade grid lines.
  for (let decade = lowDecade; decade <= highDecade; decade++) {
    const lineY = y(10 ** decade).toFixed(1);
    parts.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${lineY}" y2="${lineY}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${lineY}" font-size="11" text-anchor="end" dominant-baseline="middle">${shortRate(10 ** decade)}</text>`);
  }
  parts.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + PLOT_HEIGHT}" stroke="#757575"/>`);
  // Bars.
  workloads.forEach((workload, group) => {
    const groupX = groupStarts[group]!;
    const present = engines.filter((engine) => workload.rows.some((row) => row.engine === engine));
    present.forEach((engine, at) => {
      const row = workload.rows.find((candidate) => candidate.engine === engine);
      if (row === undefined || !(row.opsPerSec > 0)) return;
      const x = groupX + at * (BAR_WIDTH + BAR_GAP);
      const top = y(row.opsPerSec);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${BAR_WIDTH}" height="${(TOP + PLOT_HEIGHT - top).toFixed(1)}" fill="${colour(engine)}">` +
          `<title>${escapeXml(`${engine}: ${shortRate(row.opsPerSec)} ${workload.opsName}/s`)}</title></rect>`,
      );
      const labelX = x + BAR_WIDTH / 2 + 3;
      parts.push(
        `<text x="${labelX.toFixed(1)}" y="${(top - 3).toFixed(1)}" font-size="9" transform="rotate(-90 ${labelX.toFixed(1)} ${(top - 3).toFixed(1)})">${shortRate(row.opsPerSec)}</text>`,
      );
    });
    const centre = groupX + (present.length * (BAR_WIDTH + BAR_GAP)) / 2;
    parts.push(`<text x="${centre.toFixed(1)}" y="${TOP + PLOT_HEIGHT + 16}" font-size="12" text-anchor="middle">${workload.number}. ${escapeXml(`${workload.id} ${workload.values}`)}</text>`);
    parts.push(`<text x="${centre.toFixed(1)}" y="${TOP + PLOT_HEIGHT + 30}" font-size="10" text-anchor="middle" fill="#555">${escapeXml(`${workload.opsName}/s`)}</text>`);
  });
  parts.push(
    `<text x="${LEFT}" y="${height - 24}" font-size="10" fill="#555">Each bar: the median of the repetitions. Answers of every engine were cross-checked against the in-memory reference.</text>`,
  );
  parts.push(`<text x="${LEFT}" y="${height - 10}" font-size="10" fill="#555">Settings and the size/open workload (9): see latest.json and the printed tables.</text>`);
  if (report.failures.length > 0) {
    const failed = report.failures.map((failure) => `${failure.engine} failed in ${failure.workload} and was left out from then on`).join('; ');
    parts.push(`<text x="${LEFT}" y="${height - 40}" font-size="11" fill="#c62828">${escapeXml(`FAILED: ${failed}`)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function writeChart(report: BenchReport, file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, renderChart(report));
  fs.renameSync(temporary, file);
}
