/**
 * The maple tree's write path, copy-on-write: a store never changes a node in place. It rebuilds
 * the run of nodes it touches at each level and swaps the root.
 *
 * A write of [first, last] (a value, or empty for clear/erase):
 *  1. Collect, level by level, every node intersecting the span [first−1, last+1] (the neighbours
 *     are included so empty runs coalesce and no leaf is left ending in a gap).
 *  2. Flatten the leaves of that run into one wide entry list (the kernel's maple_big_node), apply
 *     the write (trim, split or drop what it overlaps), merge adjacent gaps.
 *  3. Cut the list into nodes: balanced (every node at least LEAF_MIN / INTERNAL_MIN full) or, at
 *     the right edge of the tree, densely from the left so ascending appends pack full nodes.
 *     A node that would fall below its minimum widens the span to a neighbour and starts over.
 *  4. Replace the run in the parent level's entry list with the new nodes and repeat upwards;
 *     grow a new root if the top splits, drop roots with one child, and an empty tree has no root.
 *
 * Invariants kept (verified by recovery/check.ts): pivots strictly ascending inside the node's
 * bounds; no two adjacent empty slots; a leaf never ends in a gap unless it ends at MAX_INDEX (so
 * every gap lies inside one leaf and the gap fields are exact); every internal gap field equals
 * the largest gap below that child; non-root nodes other than the rightmost of their level are at
 * least minimally full.
 */
import { appendRange } from './append.js';
import { assert } from './errors.js';
import { MAX_INDEX } from './limits.js';
import {
  type MemNode,
  type Ref,
  type Slot,
  InlineSlot,
  NewValue,
  PackedSlot,
  RecordSlot,
  INTERNAL_MIN,
  INTERNAL_SLOTS,
  LEAF_MIN,
  LEAF_SLOTS,
  newInternal,
  newLeaf,
} from '../storage/node.js';

/** What the tree algorithms need from the storage layer. */
export interface NodeSource {
  /** The node behind `ref`; `max` is its upper bound from the parent. */
  node(ref: Ref, max: number): MemNode;
}

/** Side effects of a write, applied only once the write's plan is final. */
export interface WriteSink extends NodeSource {
  /** A committed node cell is no longer referenced by the new version. */
  freeNode(cell: number): void;
  /** A node built earlier in this transaction was replaced (its cell, if assigned, is unused). */
  dropNew(node: MemNode): void;
  /** A committed value record is no longer referenced. */
  freeRecord(cell: number): void;
  /** The msgpack bytes of a committed record (to copy it when a store splits its range). */
  recordBytes(cell: number): Uint8Array;
  /** Slots pointing into the packed value block at `cell` changed by `delta`. */
  refPacked(cell: number, delta: number): void;
}

export interface TreeState {
  root: Ref | null;
  height: number;
  ranges: number;
  nodes: number;
}

export function emptyTree(): TreeState {
  return { root: null, height: 0, ranges: 0, nodes: 0 };
}

interface RunNode {
  ref: Ref;
  node: MemNode;
  min: number;
  max: number;
}

/** Entries of one level being rebuilt: parallel arrays. */
interface Entries {
  lasts: number[];
  slots: (Slot | null)[];
  children: Ref[];
  gaps: number[];
}

function collect(src: NodeSource, tree: TreeState, lo: number, hi: number): RunNode[][] {
  const runs: RunNode[][] = new Array(tree.height);
  const root = tree.root!;
  runs[tree.height - 1] = [{ ref: root, node: src.node(root, MAX_INDEX), min: 0, max: MAX_INDEX }];
  for (let level = tree.height - 2; level >= 0; level--) {
    const run: RunNode[] = [];
    for (const parent of runs[level + 1]!) {
      const p = parent.node;
      let cmin = parent.min;
      for (let i = 0; i < p.lasts.length; i++) {
        const cmax = p.lasts[i]!;
        if (cmax >= lo && cmin <= hi) {
          const ref = p.children[i]!;
          run.push({ ref, node: src.node(ref, cmax), min: cmin, max: cmax });
        }
        if (cmax >= hi) break;
        cmin = cmax + 1;
      }
    }
    runs[level] = run;
  }
  return runs;
}

function isRecordLike(s: Slot | null): s is RecordSlot | NewValue {
  return s instanceof RecordSlot || s instanceof NewValue;
}

/** Appends an entry, merging it into a preceding gap when both are empty. */
function pushEntry(e: Entries, last: number, slot: Slot | null): void {
  const n = e.lasts.length;
  if (slot === null && n > 0 && e.slots[n - 1] === null) {
    e.lasts[n - 1] = last;
    return;
  }
  e.lasts.push(last);
  e.slots.push(slot);
}

interface LeafPlan {
  entries: Entries;
  freedRecords: number[];
  /** Packed value blocks whose reference counts change: +1 for a shared split, −1 for a drop. */
  packedDeltas: number[];
  rangeDelta: number;
}

function applyToLeaves(sink: WriteSink, run: RunNode[], first: number, last: number, slot: Slot | null): LeafPlan {
  const e: Entries = { lasts: [], slots: [], children: [], gaps: [] };
  const freedRecords: number[] = [];
  const packedDeltas: number[] = [];
  let before = 0;
  let placed = false;
  for (const r of run) {
    const leaf = r.node;
    let lo = r.min;
    for (let i = 0; i < leaf.lasts.length; i++) {
      const hi = leaf.lasts[i]!;
      const s = leaf.slots[i] ?? null;
      if (s !== null) before++;
      if (hi < first || lo > last) {
        pushEntry(e, hi, s);
      } else {
        let kept = 0;
        if (lo < first) {
          pushEntry(e, first - 1, s);
          if (s !== null) kept++;
        }
        if (!placed) {
          pushEntry(e, last, slot);
          placed = true;
        }
        if (hi > last) {
          let right = s;
          if (s !== null) {
            kept++;
            if (kept === 2 && isRecordLike(s)) right = new NewValue(s instanceof NewValue ? s.bytes : sink.recordBytes(s.cell));
            if (kept === 2 && s instanceof PackedSlot) packedDeltas.push(s.cell, 1);
          }
          pushEntry(e, hi, right);
        }
        if (kept === 0 && s instanceof RecordSlot) freedRecords.push(s.cell);
        if (kept === 0 && s instanceof PackedSlot) packedDeltas.push(s.cell, -1);
      }
      lo = hi + 1;
    }
  }
  assert(placed, 'the written range lies inside the collected leaves');
  let after = 0;
  for (const s of e.slots) if (s !== null) after++;
  return { entries: e, freedRecords, packedDeltas, rangeDelta: after - before };
}

/** Largest empty run in a leaf's entries [from, to) starting at index `min`. */
function leafGap(lasts: number[], slots: (Slot | null)[], from: number, to: number, min: number): number {
  let gap = 0;
  let lo = min;
  for (let i = from; i < to; i++) {
    const hi = lasts[i]!;
    if (slots[i] === null && hi - lo + 1 > gap) gap = hi - lo + 1;
    lo = hi + 1;
  }
  return gap;
}

export function nodeMaxGap(node: MemNode, min: number): number {
  if (node.leaf) return leafGap(node.lasts, node.slots, 0, node.lasts.length, min);
  let gap = 0;
  for (const g of node.gaps) if (g > gap) gap = g;
  return gap;
}

/**
 * Where to cut `n` entries into nodes of at most `cap`: exclusive end indices of each group.
 * Leaves never end a group on a gap (except the last group, whose end is the run's end).
 */
function cutPoints(n: number, cap: number, dense: boolean, endsOnGap: (i: number) => boolean): number[] {
  if (n <= cap) return [n];
  if (dense) {
    const ends: number[] = [];
    let start = 0;
    while (n - start > cap) {
      let end = start + cap;
      if (endsOnGap(end - 1)) end--;
      ends.push(end);
      start = end;
    }
    ends.push(n);
    return ends;
  }
  for (let k = Math.ceil(n / cap); k <= n; k++) {
    const ends: number[] = [];
    let start = 0;
    let ok = true;
    for (let g = 0; g < k; g++) {
      let end = g === k - 1 ? n : Math.round(((g + 1) * n) / k);
      if (g < k - 1 && endsOnGap(end - 1)) end--;
      if (end - start < 1 || end - start > cap) {
        ok = false;
        break;
      }
      ends.push(end);
      start = end;
    }
    if (ok) return ends;
  }
  throw new Error('unreachable: no cut found');
}

interface LevelResult {
  nodes: MemNode[];
  mins: number[];
}

function buildLevel(e: Entries, leaf: boolean, runMin: number, ends: number[]): LevelResult {
  const nodes: MemNode[] = [];
  const mins: number[] = [];
  let start = 0;
  let min = runMin;
  for (const end of ends) {
    const lasts = e.lasts.slice(start, end);
    const node = leaf
      ? newLeaf(lasts, e.slots.slice(start, end))
      : newInternal(lasts, e.children.slice(start, end), e.gaps.slice(start, end));
    nodes.push(node);
    mins.push(min);
    min = lasts[lasts.length - 1]! + 1;
    start = end;
  }
  return { nodes, mins };
}

function entriesOf(level: LevelResult): Entries {
  const e: Entries = { lasts: [], slots: [], children: [], gaps: [] };
  for (let i = 0; i < level.nodes.length; i++) {
    const node = level.nodes[i]!;
    e.lasts.push(node.lasts[node.lasts.length - 1]!);
    e.children.push(node);
    e.gaps.push(nodeMaxGap(node, level.mins[i]!));
  }
  return e;
}

/** The parent level's entries with the run [runMin, runMax] replaced by `replacement`. */
function replaceInParents(parents: RunNode[], runMin: number, runMax: number, replacement: Entries): Entries {
  const e: Entries = { lasts: [], slots: [], children: [], gaps: [] };
  let placed = false;
  for (const parent of parents) {
    const p = parent.node;
    let cmin = parent.min;
    for (let i = 0; i < p.lasts.length; i++) {
      const cmax = p.lasts[i]!;
      if (cmax >= runMin && cmin <= runMax) {
        if (!placed) {
          for (let j = 0; j < replacement.lasts.length; j++) {
            e.lasts.push(replacement.lasts[j]!);
            e.children.push(replacement.children[j]!);
            e.gaps.push(replacement.gaps[j]!);
          }
          placed = true;
        }
      } else {
        e.lasts.push(cmax);
        e.children.push(p.children[i]!);
        e.gaps.push(p.gaps[i]!);
      }
      cmin = cmax + 1;
    }
  }
  assert(placed, 'the rebuilt run has a place in its parents');
  return e;
}

function applyValueEffects(sink: WriteSink, plan: LeafPlan): void {
  for (const cell of plan.freedRecords) sink.freeRecord(cell);
  for (let i = 0; i < plan.packedDeltas.length; i += 2) sink.refPacked(plan.packedDeltas[i]!, plan.packedDeltas[i + 1]!);
}

/**
 * The kernel's in-place store, for nodes this transaction built itself (no snapshot or earlier
 * version can see them): when the write stays inside one leaf that still fits, change that leaf
 * and the gap fields above it instead of rebuilding the path. Ascending bulk loads live here.
 */
function updateInPlace(sink: WriteSink, tree: TreeState, runs: RunNode[][], plan: LeafPlan): boolean {
  for (const run of runs) if (run.length !== 1 || typeof run[0]!.ref === 'number') return false;
  const leafRun = runs[0]![0]!;
  const n = plan.entries.lasts.length;
  const isRoot = tree.height === 1;
  if (n > LEAF_SLOTS || (n < LEAF_MIN && !isRoot && leafRun.max !== MAX_INDEX)) return false;
  if (isRoot && n === 1 && plan.entries.slots[0] === null) return false;
  const leaf = leafRun.node;
  leaf.lasts = plan.entries.lasts;
  leaf.slots = plan.entries.slots;
  for (let level = 1; level < tree.height; level++) {
    const child = runs[level - 1]![0]!;
    const parent = runs[level]![0]!.node;
    const i = parent.children.indexOf(child.ref);
    assert(i >= 0, 'in-place update finds the child in its parent');
    parent.gaps[i] = nodeMaxGap(child.node, child.min);
  }
  applyValueEffects(sink, plan);
  tree.ranges += plan.rangeDelta;
  return true;
}

/**
 * Stores `slot` over [first, last] (slot null = make the range empty). Mutates `tree` to the new
 * version; committed nodes and records it stops referencing are reported to `sink`.
 */
export function writeRange(sink: WriteSink, tree: TreeState, first: number, last: number, slot: Slot | null): void {
  if (tree.root === null) {
    if (slot === null) return;
    const e: Entries = { lasts: [], slots: [], children: [], gaps: [] };
    if (first > 0) pushEntry(e, first - 1, null);
    pushEntry(e, last, slot);
    if (last < MAX_INDEX) pushEntry(e, MAX_INDEX, null);
    tree.root = newLeaf(e.lasts, e.slots);
    tree.height = 1;
    tree.ranges = 1;
    tree.nodes = 1;
    return;
  }
  if (slot !== null && appendRange(tree, first, last, slot)) return;
  let lo = Math.max(first - 1, 0);
  let hi = Math.min(last + 1, MAX_INDEX);
  for (let attempt = 0; ; attempt++) {
    assert(attempt < 4 * tree.height + 8, 'write converges');
    const runs = collect(sink, tree, lo, hi);
    const plan = applyToLeaves(sink, runs[0]!, first, last, slot);
    if (attempt === 0 && updateInPlace(sink, tree, runs, plan)) return;
    let entries = plan.entries;
    let built: LevelResult | undefined;
    let widened = false;
    let created = 0;
    for (let level = 0; level < tree.height; level++) {
      const run = runs[level]!;
      const runMin = run[0]!.min;
      const runMax = run[run.length - 1]!.max;
      const leaf = level === 0;
      const cap = leaf ? LEAF_SLOTS : INTERNAL_SLOTS;
      const minFill = leaf ? LEAF_MIN : INTERNAL_MIN;
      const isTop = level === tree.height - 1;
      const n = entries.lasts.length;
      const dense = runMax === MAX_INDEX;
      const slots = entries.slots;
      const ends = cutPoints(n, cap, dense, leaf ? (i) => slots[i] === null : () => false);
      if (!isTop && !(runMin === 0 && runMax === MAX_INDEX)) {
        let under = false;
        let start = 0;
        for (let g = 0; g < ends.length; g++) {
          const size = ends[g]! - start;
          const rightmost = g === ends.length - 1 && runMax === MAX_INDEX;
          if (size < minFill && !rightmost) under = true;
          start = ends[g]!;
        }
        if (under) {
          if (runMin > 0) lo = Math.min(lo, runMin - 1);
          else hi = Math.max(hi, runMax + 1);
          widened = true;
          break;
        }
      }
      built = buildLevel(entries, leaf, runMin, ends);
      created += built.nodes.length;
      if (!isTop) entries = replaceInParents(runs[level + 1]!, runMin, runMax, entriesOf(built));
    }
    if (widened) continue;

    // The plan is final: apply its side effects.
    for (const run of runs) {
      for (const r of run) {
        if (typeof r.ref === 'number') sink.freeNode(r.ref);
        else sink.dropNew(r.ref);
      }
    }
    applyValueEffects(sink, plan);
    let removed = 0;
    for (const run of runs) removed += run.length;

    let top = built!;
    let height = tree.height;
    while (top.nodes.length > 1) {
      const e = entriesOf(top);
      top = buildLevel(e, false, 0, cutPoints(e.lasts.length, INTERNAL_SLOTS, true, () => false));
      created += top.nodes.length;
      height++;
    }
    let root: Ref = top.nodes[0]!;
    let rootNode = top.nodes[0]!;
    while (!rootNode.leaf && rootNode.lasts.length === 1) {
      root = rootNode.children[0]!;
      height--;
      removed++;
      rootNode = sink.node(root, MAX_INDEX);
    }
    if (rootNode.leaf && rootNode.lasts.length === 1 && rootNode.slots[0] === null) {
      assert(typeof root !== 'number', 'an empty root leaf is never committed');
      tree.root = null;
      tree.height = 0;
      tree.nodes = 0;
      tree.ranges = 0;
      return;
    }
    tree.root = root;
    tree.height = height;
    tree.ranges += plan.rangeDelta;
    tree.nodes += created - removed;
    return;
  }
}
