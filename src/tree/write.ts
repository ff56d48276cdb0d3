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
 *     Once a level comes down to one node replacing one node, and no level above would change
 *     its size (so none would widen the write or collapse the root), the rest is a path copy:
 *     updatePath turns each committed node above into a new one (reusing its decoded object) and
 *     changes the transaction's own nodes in place — the same tree, without rebuilding levels.
 *
 * Invariants kept (verified by recovery/check.ts): pivots strictly ascending inside the node's
 * bounds; no two adjacent empty slots; a leaf never ends in a gap unless it ends at MAX_INDEX (so
 * every gap lies inside one leaf and the gap fields are exact); every internal gap field equals
 * the largest gap below that child; non-root nodes other than the rightmost of their level are at
 * least minimally full.
 */
import { appendInPlace } from './append.js';
import { nodeAt } from './walk.js';
import { type Entries, type RunNode, NO_CHILDREN, NO_COMMITS, NO_GAPS, NO_SLOTS, type WriteScratch } from './writeScratch.js';
import { assert, corruptCell } from '../common/errors.js';
import { MAX_INDEX, INTERNAL_MIN, INTERNAL_SLOTS, LEAF_MIN, LEAF_SLOTS } from '../common/limits.js';
import { type MemNode, type Ref, type Slot, NewValue, RecordSlot, copyNode, newInternal, newLeaf } from '../../storage/format/node.js';

/** What the tree algorithms need from the storage layer. */
export interface NodeSource {
  /**
   * The node behind `ref`; `max` is its upper bound from the parent. For a committed cell it is a
   * new object of the caller's own, decoded for this call (never cached and handed out again):
   * the write path turns decoded nodes it copies into the new nodes replacing them.
   */
  node(ref: Ref, max: number): MemNode;
}

/** Side effects of a write, applied only once the write's plan is final. */
export interface WriteSink extends NodeSource {
  /**
   * A committed node is no longer referenced by the new version: its cell `cell` (and a leaf's
   * value area, `node.area`, which only that leaf references).
   */
  freeNode(cell: number, node: MemNode): void;
  /** A node built earlier in this transaction was replaced (its cell, if assigned, is unused). */
  dropNew(node: MemNode): void;
  /** A committed value record is no longer referenced. */
  freeRecord(cell: number): void;
  /**
   * A copy of the value of a committed record, for the second half of a range a store splits (a
   * record has exactly one referencing slot).
   */
  copyRecord(slot: RecordSlot): Slot;
  /** The writer's working memory (src/tree/writeScratch.ts), reused by every write. */
  readonly scratch: WriteScratch;
}

export interface TreeState {
  root: Ref | null;
  /**
   * A committed root's (a cell address's) commit, as the pointer to it names it: the low bits
   * the commit record holds (pointerCommit, storage/format/node.ts), or −1 where they are not known
   * (nothing checks it then). Unused while the root is a new node.
   */
  rootCommit: number;
  height: number;
  ranges: number;
  nodes: number;
  /**
   * NewValue slots written into this tree since it was loaded from its commit (writeRange and
   * appendRange count them; over-counting is harmless): 0 means the tree holds none, and a commit
   * skips looking for new values in every slot of every new leaf (measured: a 1,000,000-range bulk
   * load of inline values committed in 157 ms instead of 199).
   */
  newValues: number;
  /**
   * The savepoint generation writing this tree (absent: 0). A write changes in place only new
   * nodes of this generation and gives the nodes it builds this generation; a new node of an
   * earlier one is frozen — treated as a committed node is, copied and replaced, never changed —
   * so a tree kept from before the savepoint still reads as it did (src/api/writeGroup.ts).
   */
  gen?: number;
}

/** Whether a write of generation `gen` may change `ref` in place: a new node of that generation. */
function isOwn(ref: Ref, gen: number): ref is MemNode {
  return typeof ref !== 'number' && ref.gen === gen;
}

/**
 * The node behind `ref` as a write uses it: a committed node decoded (a new object), a frozen one
 * (an earlier generation's) copied, the generation's own node itself.
 */
function nodeToWrite(src: NodeSource, ref: Ref, min: number, max: number, gen: number, depth: number, height: number, pointed: number): MemNode {
  if (typeof ref !== 'number' && ref.gen !== gen) return copyNode(ref);
  return nodeAt(src, ref, min, max, depth, height, pointed);
}

export function emptyTree(): TreeState {
  return { root: null, rootCommit: 0, height: 0, ranges: 0, nodes: 0, newValues: 0 };
}

/** Placeholder for a pooled RunNode not in use (never read). */
const NO_NODE: MemNode = newLeaf([], []);

/**
 * A RunNode from the scratch's pool: a write's runs live only until its next attempt or its end
 * (writeRange does not nest), so each write allocates none once the pool has grown. writeRange
 * clears the references it handed out before it returns.
 */
function runNode(s: WriteScratch, ref: Ref, node: MemNode, min: number, max: number): RunNode {
  let r = s.runPool[s.runPoolUsed];
  if (r === undefined) {
    r = { ref, node, min, max };
    s.runPool.push(r);
  } else {
    r.ref = ref;
    r.node = node;
    r.min = min;
    r.max = max;
  }
  s.runPoolUsed++;
  return r;
}

function releaseRuns(s: WriteScratch): void {
  const pool = s.runPool;
  for (let i = 0; i < s.runPoolUsed; i++) {
    const r = pool[i]!;
    r.ref = 0;
    r.node = NO_NODE;
  }
  s.runPoolUsed = 0;
  // No write's values or nodes stay reachable from the scratch lists.
  if (s.leafUsed > 0) s.leaf.slots.fill(null, 0, s.leafUsed);
  if (s.innerUsed > 0) s.inner.children.fill(0, 0, s.innerUsed);
  s.leafUsed = 0;
  s.innerUsed = 0;
}

function collect(s: WriteScratch, src: NodeSource, tree: TreeState, lo: number, hi: number): RunNode[][] {
  const height = tree.height;
  const gen = tree.gen ?? 0;
  const runs: RunNode[][] = new Array(height);
  const root = tree.root!;
  s.runPoolUsed = 0;
  runs[height - 1] = [runNode(s, root, nodeToWrite(src, root, 0, MAX_INDEX, gen, 0, height, tree.rootCommit), 0, MAX_INDEX)];
  for (let level = height - 2; level >= 0; level--) {
    let run: RunNode[] | null = null;
    const parents = runs[level + 1]!;
    for (let k = 0; k < parents.length; k++) {
      const parent = parents[k]!;
      const p = parent.node;
      const lasts = p.lasts;
      let cmin = parent.min;
      for (let i = 0; i < lasts.length; i++) {
        const cmax = lasts[i]!;
        if (cmax >= lo && cmin <= hi) {
          const ref = p.children[i]!;
          const r = runNode(s, ref, nodeToWrite(src, ref, cmin, cmax, gen, height - 1 - level, height, p.childCommits[i]!), cmin, cmax);
          // Most runs are one node: an array literal of one, grown only when more follow.
          if (run === null) run = [r];
          else run.push(r);
        }
        if (cmax >= hi) break;
        cmin = cmax + 1;
      }
    }
    assert(run !== null, 'a write span intersects a child of its parents');
    runs[level] = run;
  }
  return runs;
}

/** Appends an entry, merging it into a preceding gap when both are empty. */
function pushEntry(e: Entries, last: number, slot: Slot | null): void {
  const n = e.n;
  if (slot === null && n > 0 && e.slots[n - 1] === null) {
    e.lasts[n - 1] = last;
    return;
  }
  if (n < e.lasts.length) {
    e.lasts[n] = last;
    e.slots[n] = slot;
  } else {
    e.lasts.push(last);
    e.slots.push(slot);
  }
  e.n = n + 1;
}

/** Appends an internal entry (`commit`: the low bits of a committed child's commit; 0 for a new one). */
function pushChild(e: Entries, last: number, child: Ref, gap: number, commit: number): void {
  const n = e.n;
  if (n < e.lasts.length) {
    e.lasts[n] = last;
    e.children[n] = child;
    e.gaps[n] = gap;
    e.childCommits[n] = commit;
  } else {
    e.lasts.push(last);
    e.children.push(child);
    e.gaps.push(gap);
    e.childCommits.push(commit);
  }
  e.n = n + 1;
}

interface LeafPlan {
  entries: Entries;
  freedRecords: number[];
  rangeDelta: number;
}

function applyToLeaves(sink: WriteSink, tree: TreeState, run: RunNode[], first: number, last: number, slot: Slot | null): LeafPlan {
  const e = sink.scratch.leaf;
  e.n = 0;
  const freedRecords: number[] = [];
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
            // The second half of a split range: a record has one referencing slot, so it is
            // copied; a value in the transaction's arena or in a leaf's area is shared (each
            // leaf copies its values into its own area at commit).
            if (kept === 2 && s instanceof RecordSlot) right = sink.copyRecord(s);
            else if (kept === 2 && s instanceof NewValue) {
              right = new NewValue(s.bytes);
              tree.newValues++; // counted even if this attempt is dropped: the count only gates a search
            }
          }
          pushEntry(e, hi, right);
        }
        if (kept === 0 && s instanceof RecordSlot) freedRecords.push(s.cell);
      }
      lo = hi + 1;
    }
  }
  assert(placed, 'the written range lies inside the collected leaves');
  let after = 0;
  for (let i = 0; i < e.n; i++) if (e.slots[i] !== null) after++;
  if (e.n > sink.scratch.leafUsed) sink.scratch.leafUsed = e.n;
  return { entries: e, freedRecords, rangeDelta: after - before };
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
  const gaps = node.gaps;
  for (let i = 0; i < gaps.length; i++) if (gaps[i]! > gap) gap = gaps[i]!;
  return gap;
}

/**
 * Where to cut `n` entries into nodes of at most `cap`: exclusive end indices of each group.
 * Leaves (`slots` given) never end a group on a gap (except the last group, whose end is the
 * run's end).
 */
function cutPoints(n: number, cap: number, dense: boolean, slots: (Slot | null)[] | null): number[] {
  if (n <= cap) return [n];
  if (dense) {
    const ends: number[] = [];
    let start = 0;
    while (n - start > cap) {
      let end = start + cap;
      if (slots !== null && slots[end - 1] === null) end--;
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
      if (g < k - 1 && slots !== null && slots[end - 1] === null) end--;
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

function buildLevel(e: Entries, leaf: boolean, runMin: number, ends: number[], gen: number): LevelResult {
  const nodes: MemNode[] = [];
  const mins: number[] = [];
  let start = 0;
  let min = runMin;
  for (const end of ends) {
    const lasts = e.lasts.slice(start, end);
    const node = leaf ? newLeaf(lasts, e.slots.slice(start, end), gen) : newInternal(lasts, e.children.slice(start, end), e.gaps.slice(start, end), gen, e.childCommits.slice(start, end));
    nodes.push(node);
    mins.push(min);
    min = lasts[lasts.length - 1]! + 1;
    start = end;
  }
  return { nodes, mins };
}

function entriesOf(level: LevelResult): Entries {
  const e: Entries = { lasts: [], slots: NO_SLOTS, children: [], gaps: [], childCommits: [], n: 0 };
  for (let i = 0; i < level.nodes.length; i++) {
    const node = level.nodes[i]!;
    pushChild(e, node.lasts[node.lasts.length - 1]!, node, nodeMaxGap(node, level.mins[i]!), 0);
  }
  return e;
}

/** The parent level's entries with the run [runMin, runMax] replaced by the nodes of `built`. */
function replaceInParents(s: WriteScratch, parents: RunNode[], runMin: number, runMax: number, built: LevelResult): Entries {
  const e = s.inner;
  e.n = 0;
  let placed = false;
  for (const parent of parents) {
    const p = parent.node;
    let cmin = parent.min;
    for (let i = 0; i < p.lasts.length; i++) {
      const cmax = p.lasts[i]!;
      if (cmax >= runMin && cmin <= runMax) {
        if (!placed) {
          for (let j = 0; j < built.nodes.length; j++) {
            const node = built.nodes[j]!;
            pushChild(e, node.lasts[node.lasts.length - 1]!, node, nodeMaxGap(node, built.mins[j]!), 0);
          }
          placed = true;
        }
      } else {
        pushChild(e, cmax, p.children[i]!, p.gaps[i]!, p.childCommits[i]!);
      }
      cmin = cmax + 1;
    }
  }
  assert(placed, 'the rebuilt run has a place in its parents');
  if (e.n > s.innerUsed) s.innerUsed = e.n;
  return e;
}

function applyValueEffects(sink: WriteSink, plan: LeafPlan): void {
  for (const cell of plan.freedRecords) sink.freeRecord(cell);
}

/**
 * The kernel's in-place store, for nodes this transaction built itself (no snapshot or earlier
 * version can see them): when the write stays inside one leaf that still fits, change that leaf
 * and the gap fields above it instead of rebuilding the path. Ascending bulk loads live here.
 */
function updateInPlace(sink: WriteSink, tree: TreeState, runs: RunNode[][], plan: LeafPlan): boolean {
  const gen = tree.gen ?? 0;
  for (const run of runs) if (run.length !== 1 || !isOwn(run[0]!.ref, gen)) return false;
  const leafRun = runs[0]![0]!;
  const n = plan.entries.n;
  const isRoot = tree.height === 1;
  if (n > LEAF_SLOTS || (n < LEAF_MIN && !isRoot && leafRun.max !== MAX_INDEX)) return false;
  if (isRoot && n === 1 && plan.entries.slots[0] === null) return false;
  const leaf = leafRun.node;
  leaf.lasts = plan.entries.lasts.slice(0, n);
  leaf.slots = plan.entries.slots.slice(0, n);
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
 * Whether, once level `level` is rebuilt as one node replacing one node, the rebuild of every level
 * above would keep its single node (each keeps its count of entries): none would fall below its
 * minimum fill and widen the write, and the root would not collapse. Then those levels are
 * rebuilt as they are, with one child and one gap field changed — which updatePath does in place.
 */
function pathAboveHolds(tree: TreeState, runs: RunNode[][], level: number): boolean {
  const top = tree.height - 1;
  for (let l = level + 1; l < top; l++) {
    const r = runs[l]![0]!;
    if (r.node.lasts.length < INTERNAL_MIN && r.max !== MAX_INDEX && !(r.min === 0 && r.max === MAX_INDEX)) return false;
  }
  return runs[top]![0]!.node.lasts.length > 1;
}

/**
 * The end of a write whose rebuild converged at `level` to one node replacing one node (every run
 * above is one node too): frees what the levels below replaced, turns the node at `level` into the
 * rebuilt one (`entries`), and copies the path above it — a committed node becomes a new node
 * (decoded nodes are the caller's own objects), a new node is changed in place — setting the
 * child pointer and gap field on the path. The tree is exactly the one the full rebuild builds.
 * `created` counts the nodes built below `level`.
 */
function updatePath(sink: WriteSink, tree: TreeState, runs: RunNode[][], level: number, entries: Entries, created: number): void {
  let removed = 0;
  for (let l = 0; l < level; l++) {
    const run = runs[l]!;
    removed += run.length;
    for (const r of run) {
      if (typeof r.ref === 'number') sink.freeNode(r.ref, r.node);
      else sink.dropNew(r.ref);
    }
  }
  tree.nodes += created - removed;
  const height = tree.height;
  const gen = tree.gen ?? 0;
  let child = runs[level]![0]!;
  let node = child.node;
  let oldRef = child.ref;
  if (!isOwn(oldRef, gen)) {
    // A decoded committed node becomes the new node: its cell and value area go (a leaf's values
    // get a new area at commit); a frozen new node of an earlier generation has neither yet.
    if (typeof oldRef === 'number') sink.freeNode(oldRef, node);
    else sink.dropNew(oldRef);
    node.cell = 0;
    node.commit = 0;
    node.area = 0;
    node.areaCells = 0;
    node.gen = gen;
  }
  const n = entries.n;
  node.lasts = entries.lasts.slice(0, n);
  if (node.leaf) node.slots = entries.slots.slice(0, n);
  else {
    node.children = entries.children.slice(0, n);
    node.gaps = entries.gaps.slice(0, n);
    node.childCommits = entries.childCommits.slice(0, n);
  }
  let gap = nodeMaxGap(node, child.min);
  for (let l = level + 1; l < height; l++) {
    const r = runs[l]!;
    const parent = r[0]!;
    const p = parent.node;
    const i = p.children.indexOf(oldRef);
    assert(i >= 0, 'the path update finds the child in its parent');
    const wasNew = isOwn(parent.ref, gen);
    if (wasNew && oldRef === node && p.gaps[i] === gap) return;
    p.children[i] = node;
    p.gaps[i] = gap;
    if (!wasNew) {
      if (typeof parent.ref === 'number') sink.freeNode(parent.ref, p);
      else sink.dropNew(parent.ref);
      p.cell = 0;
      p.commit = 0;
      p.gen = gen;
    }
    oldRef = parent.ref;
    node = p;
    gap = nodeMaxGap(p, parent.min);
  }
  tree.root = node;
}

/**
 * Stores `slot` over [first, last] (slot null = make the range empty). Mutates `tree` to the new
 * version; committed nodes and records it stops referencing are reported to `sink`.
 */
export function writeRange(sink: WriteSink, tree: TreeState, first: number, last: number, slot: Slot | null): void {
  if (slot instanceof NewValue) tree.newValues++;
  try {
    write(sink, tree, first, last, slot);
  } finally {
    releaseRuns(sink.scratch);
  }
}

function write(sink: WriteSink, tree: TreeState, first: number, last: number, slot: Slot | null): void {
  const gen = tree.gen ?? 0;
  if (tree.root === null) {
    if (slot === null) return;
    const e: Entries = { lasts: [], slots: [], children: NO_CHILDREN, gaps: NO_GAPS, childCommits: NO_COMMITS, n: 0 };
    if (first > 0) pushEntry(e, first - 1, null);
    pushEntry(e, last, slot);
    if (last < MAX_INDEX) pushEntry(e, MAX_INDEX, null);
    tree.root = newLeaf(e.lasts, e.slots, gen);
    tree.height = 1;
    tree.ranges = 1;
    tree.nodes = 1;
    return;
  }
  const scratch = sink.scratch;
  if (slot !== null && appendInPlace(scratch, tree, first, last, slot)) return;
  let lo = Math.max(first - 1, 0);
  let hi = Math.min(last + 1, MAX_INDEX);
  for (let attempt = 0; ; attempt++) {
    assert(attempt < 4 * tree.height + 8, 'write converges');
    const runs = collect(scratch, sink, tree, lo, hi);
    const plan = applyToLeaves(sink, tree, runs[0]!, first, last, slot);
    if (attempt === 0 && updateInPlace(sink, tree, runs, plan)) return;
    let entries = plan.entries;
    let built: LevelResult | undefined;
    let widened = false;
    let created = 0;
    let converged = -1;
    for (let level = 0; level < tree.height; level++) {
      const run = runs[level]!;
      const runMin = run[0]!.min;
      const runMax = run[run.length - 1]!.max;
      const leaf = level === 0;
      const cap = leaf ? LEAF_SLOTS : INTERNAL_SLOTS;
      const minFill = leaf ? LEAF_MIN : INTERNAL_MIN;
      const isTop = level === tree.height - 1;
      const n = entries.n;
      const dense = runMax === MAX_INDEX;
      const ends = cutPoints(n, cap, dense, leaf ? entries.slots : null);
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
      if (scratch.pathWrite && !isTop && run.length === 1 && ends.length === 1 && pathAboveHolds(tree, runs, level)) {
        converged = level;
        break;
      }
      built = buildLevel(entries, leaf, runMin, ends, gen);
      created += built.nodes.length;
      if (!isTop) entries = replaceInParents(scratch, runs[level + 1]!, runMin, runMax, built);
    }
    if (widened) continue;
    if (converged >= 0) {
      updatePath(sink, tree, runs, converged, entries, created);
      applyValueEffects(sink, plan);
      tree.ranges += plan.rangeDelta;
      return;
    }

    // The plan is final: apply its side effects.
    for (const run of runs) {
      for (const r of run) {
        if (typeof r.ref === 'number') sink.freeNode(r.ref, r.node);
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
      top = buildLevel(e, false, 0, cutPoints(e.n, INTERNAL_SLOTS, true, null), gen);
      created += top.nodes.length;
      height++;
    }
    let root: Ref = top.nodes[0]!;
    let rootNode = top.nodes[0]!;
    let rootCommit = 0;
    while (!rootNode.leaf && rootNode.lasts.length === 1) {
      root = rootNode.children[0]!;
      rootCommit = rootNode.childCommits[0]!;
      height--;
      removed++;
      rootNode = nodeAt(sink, root, 0, MAX_INDEX, 0, height, rootCommit);
    }
    if (rootNode.leaf && rootNode.lasts.length === 1 && rootNode.slots[0] === null) {
      if (typeof root === 'number') throw corruptCell(root, 'a committed root leaf holds nothing (an empty tree has no root)');
      tree.root = null;
      tree.height = 0;
      tree.nodes = 0;
      tree.ranges = 0;
      return;
    }
    tree.root = root;
    tree.rootCommit = rootCommit;
    tree.height = height;
    tree.ranges += plan.rangeDelta;
    tree.nodes += created - removed;
    return;
  }
}
