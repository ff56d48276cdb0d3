/**
 * The order in which a commit hands its cells to its new nodes and pending-list chunks, and the
 * order in which it encodes them. Where a node lands decides what later reads and commits cost:
 * neighbouring leaves in neighbouring cells make range scans read fewer pages, and the cells the
 * next commits free together are reused together when they were handed out together.
 */
import type { MemNode } from '../format/node.js';
import { orderByKey, sortNumbers } from './sort.js';

/**
 * The main tree's new nodes ordered leaves first, then level by level, each level in key order.
 * Cells are handed out in address order, so a bulk load lays its leaves out contiguously (range
 * scans read neighbouring cells) and its internal nodes in pages of their own (a small cache
 * keeps the upper levels whole instead of pages that are mostly leaves).
 */
export function byLevel(nodes: MemNode[], levels: number[]): MemNode[] {
  let top = 0;
  let sorted = true;
  for (let i = 0; i < levels.length; i++) {
    if (i > 0 && levels[i - 1]! > levels[i]!) sorted = false;
    if (levels[i]! > top) top = levels[i]!;
  }
  if (sorted) return nodes;
  const out: MemNode[] = [];
  for (let level = 0; level <= top; level++) {
    for (let i = 0; i < nodes.length; i++) if (levels[i] === level) out.push(nodes[i]!);
  }
  return out;
}

/**
 * Orders a commit's cells for handing out to `count` nodes and chunks (leaves first … roots,
 * then chunks: the later, the sooner the next commits replace it): the cells' contiguous runs,
 * shortest first, so the longest run goes to the nodes freed soonest and is reused whole. The
 * cells beyond `count` are the first of that order (isolated ones), freed again by the commit.
 */
export function handOut(cells: number[], count: number): { order: number[]; spare: number[] } {
  const sorted = sortNumbers(cells);
  // The runs as parallel arrays of start positions and lengths (no object per run).
  const runAt: number[] = [];
  const runLength: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const n = runAt.length;
    if (n > 0 && sorted[i - 1]! + 1 === sorted[i]) runLength[n - 1] = runLength[n - 1]! + 1;
    else {
      runAt.push(i);
      runLength.push(1);
    }
  }
  let order = sorted;
  if (runAt.length > 1) {
    // Shortest first, ties in address order.
    order = new Array<number>(sorted.length);
    let o = 0;
    const byLength = orderByKey(runAt.length, (k) => runLength[k]!);
    for (let j = 0; j < byLength.length; j++) {
      const i = byLength[j]!;
      const at = runAt[i]!;
      const length = runLength[i]!;
      for (let k = 0; k < length; k++) order[o++] = sorted[at + k]!;
    }
  }
  const spareCount = order.length - count;
  return { order: spareCount === 0 ? order : order.slice(spareCount), spare: order.slice(0, spareCount) };
}

/** Nodes sorted by their assigned cells (the order they are encoded and written in). */
export function byCell(nodes: MemNode[]): MemNode[] {
  let sorted = true;
  for (let i = 1; i < nodes.length && sorted; i++) sorted = nodes[i - 1]!.cell < nodes[i]!.cell;
  if (sorted) return nodes;
  return orderByKey(nodes.length, (i) => nodes[i]!.cell).map((i) => nodes[i]!);
}
