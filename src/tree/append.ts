/**
 * The append fast path of the write path (src/tree/write.ts): a store whose range lies wholly inside
 * the tree's trailing gap — beyond every stored key, the common case of a sorted bulk load — on a
 * tree whose rightmost path this transaction built itself (MemNodes no snapshot or earlier
 * version can see).
 *
 * The trailing gap [g, MAX_INDEX] is the last slot of the rightmost leaf. The write replaces it
 * with up to three entries: the gap left before the range (when first > g), the range, and the
 * new trailing gap (when last < MAX_INDEX). They are pushed onto the leaf in place. A leaf that
 * would overflow is closed the way writeRange's dense right-edge cut closes it: filled to
 * LEAF_SLOTS (one fewer when that entry would be a gap, as a leaf never ends in a gap below
 * MAX_INDEX), the rest starting a new rightmost leaf. The new node is pushed into the rightmost
 * parent, which splits the same way when full (INTERNAL_SLOTS children, the new one alone in the
 * new rightmost node), up to a new root. Closed nodes hold at least 13 of 15 slots or 10 of 10
 * children, above the minimums; the rightmost node of each level is exempt from them. Finally the
 * gap fields along the rightmost path are recomputed (the trailing gap shrank): when the new
 * trailing gap is at least as long as the span before the range, it is the largest everywhere on
 * the path and is written without scanning.
 *
 * The result is exactly the tree writeRange would build (test/append.test.ts compares them): the
 * one case where writeRange would do otherwise — a range adjacent to the left neighbour of a leaf
 * holding only the trailing gap, when that neighbour is not full and the two would merge — is
 * left to writeRange. Nothing is allocated except the new nodes: no plan, entry lists or runs.
 */
import { MAX_INDEX, INTERNAL_SLOTS, LEAF_SLOTS } from '../common/limits.js';
import { type MemNode, type Ref, type Slot, NewValue, newInternal, newLeaf, nodeArray, numberArray } from '../../storage/format/node.js';
import type { WriteScratch } from './writeScratch.js';

/** The tree fields the fast path reads and updates (src/tree/write.ts TreeState). */
interface AppendTree {
  root: number | MemNode | null;
  height: number;
  ranges: number;
  nodes: number;
  newValues: number;
  /** The generation whose new nodes the write may change (absent: 0; src/tree/write.ts TreeState.gen). */
  gen?: number;
}

/** Largest empty run of a leaf whose first slot starts at `min`. */
function leafGap(leaf: MemNode, min: number): number {
  const lasts = leaf.lasts;
  const slots = leaf.slots;
  let gap = 0;
  let lo = min;
  for (let i = 0; i < lasts.length; i++) {
    const hi = lasts[i]!;
    if (slots[i] == null && hi - lo + 1 > gap) gap = hi - lo + 1;
    lo = hi + 1;
  }
  return gap;
}

function internalGap(node: MemNode): number {
  const gaps = node.gaps;
  let gap = 0;
  for (let i = 0; i < gaps.length; i++) if (gaps[i]! > gap) gap = gaps[i]!;
  return gap;
}

/**
 * Collects the rightmost path into the scratch's path (and its leaf's min); false when a node on
 * it is committed (a cell address) or frozen (an earlier savepoint generation's) rather than built
 * by this generation of the transaction.
 */
function rightmostPath(s: WriteScratch, tree: AppendTree, gen: number): boolean {
  const pathNodes = s.path;
  let ref = tree.root;
  const h = tree.height;
  // The leaf's min is one past the pivot left of the rightmost child of the deepest node on the
  // path that has more than one child (0 when there is none).
  let minNode: MemNode | null = null;
  for (let d = 0; d < h; d++) {
    if (ref === null || typeof ref === 'number' || ref.gen !== gen) return false;
    pathNodes[d] = ref;
    if (d === h - 1) {
      s.pathLeafMin = minNode === null ? 0 : minNode.lasts[minNode.lasts.length - 2]! + 1;
      return ref.leaf;
    }
    const children = ref.children;
    const n = children.length;
    if (n > 1) minNode = ref;
    ref = children[n - 1]!;
  }
  return false;
}

/** Whether the leaf left of the rightmost one is new to this generation and full. */
function leftLeafFull(pathNodes: MemNode[], h: number, gen: number): boolean {
  for (let d = h - 2; d >= 0; d--) {
    const children = pathNodes[d]!.children;
    if (children.length < 2) continue;
    let ref = children[children.length - 2]!;
    for (let level = d + 1; ; level++) {
      if (typeof ref === 'number' || ref.gen !== gen) return false;
      if (level === h - 1) return ref.lasts.length === LEAF_SLOTS;
      ref = ref.children[ref.children.length - 1]!;
    }
  }
  return false;
}

/**
 * Stores `slot` over [first, last] when the range lies beyond every stored key and the rightmost
 * path is the transaction's own; returns false (having changed nothing) otherwise.
 */
export function appendRange(s: WriteScratch, tree: AppendTree, first: number, last: number, slot: Slot): boolean {
  if (!appendInPlace(s, tree, first, last, slot)) return false;
  if (slot instanceof NewValue) tree.newValues++;
  return true;
}

/** appendRange for writeRange, which has counted the new value already. */
export function appendInPlace(s: WriteScratch, tree: AppendTree, first: number, last: number, slot: Slot): boolean {
  const gen = tree.gen ?? 0;
  if (!s.appendPath || !rightmostPath(s, tree, gen)) return false;
  const pathNodes = s.path;
  const h = tree.height;
  const leaf = pathNodes[h - 1]!;
  const leafMin = s.pathLeafMin;
  const lasts = leaf.lasts;
  const slots = leaf.slots;
  const n = lasts.length;
  if (slots[n - 1] != null) return false; // a range ends at MAX_INDEX: nothing lies beyond it
  const base = n - 1; // entries kept before the trailing gap
  const gapStart = base > 0 ? lasts[base - 1]! + 1 : leafMin;
  if (first < gapStart) return false;
  const leadGap = first > gapStart;
  // A leaf holding only the trailing gap (left by a split, or by an erase), and a range adjacent
  // to the left neighbour's last one: writeRange would rebuild the two leaves together, which
  // comes to the same two leaves only when the neighbour is full. Otherwise leave it to
  // writeRange, so both paths always build identical trees.
  if (base === 0 && !leadGap && !leftLeafFull(pathNodes, h, gen)) return false;

  const tail = last < MAX_INDEX;
  const k = (leadGap ? 1 : 0) + 1 + (tail ? 1 : 0);

  if (base + k <= LEAF_SLOTS) {
    // The trailing gap's entry (index base) becomes the first new one; the rest are pushed.
    if (leadGap) {
      lasts[base] = first - 1; // still empty
      lasts.push(last);
      slots.push(slot);
    } else {
      lasts[base] = last;
      slots[base] = slot;
    }
    if (tail) {
      lasts.push(MAX_INDEX);
      slots.push(null);
    }
    tree.ranges++;
    // Every other gap lies inside [0, first − 1]: when the trailing gap is at least that long it
    // is the largest gap of every node on the path, and no node needs scanning.
    const trailing = MAX_INDEX - last;
    if (tail && trailing >= first) {
      for (let d = 0; d < h - 1; d++) {
        const gaps = pathNodes[d]!.gaps;
        gaps[gaps.length - 1] = trailing;
      }
    } else {
      refreshGaps(pathNodes, h - 1, leafGap(leaf, leafMin));
    }
    return true;
  }

  // The leaf overflows (base ≥ LEAF_SLOTS − 2): fill it to LEAF_SLOTS entries, one fewer when the
  // last would be a gap, and start the new rightmost leaf with the rest.
  lasts.pop();
  slots.pop();
  let rLasts: number[];
  let rSlots: (Slot | null)[];
  if (leadGap && base + 1 === LEAF_SLOTS) {
    // Entry LEAF_SLOTS−1 would be the gap before the range: the leaf ends at its last range.
    rLasts = numberArray(first - 1, last);
    rSlots = nodeArray<Slot | null>(null, slot);
  } else if (leadGap) {
    // base + 2 ≤ LEAF_SLOTS: the gap and the range fit; only the trailing gap moves over.
    lasts.push(first - 1, last);
    slots.push(null, slot);
    rLasts = numberArray();
    rSlots = nodeArray();
  } else {
    // Adjacent to the last range: base + 1 ≤ LEAF_SLOTS always holds here.
    lasts.push(last);
    slots.push(slot);
    rLasts = numberArray();
    rSlots = nodeArray();
  }
  if (tail) {
    rLasts.push(MAX_INDEX);
    rSlots.push(null);
  }
  // Overflow means base + k > LEAF_SLOTS, so the new leaf is never empty: it holds the trailing
  // gap, or (the gap-before case at base = LEAF_SLOTS − 1) the gap and the range.
  tree.ranges++;
  const right = newLeaf(rLasts, rSlots, gen);
  const closedMax = lasts[lasts.length - 1]!;
  pushRight(pathNodes, tree, h - 1, leafGap(leaf, leafMin), closedMax, right, leafGap(right, closedMax + 1));
  return true;
}

/**
 * Recomputes the gap fields above path level `level`, whose node's largest gap is now `gap`.
 */
function refreshGaps(pathNodes: MemNode[], level: number, gap: number): void {
  for (let d = level - 1; d >= 0; d--) {
    const p = pathNodes[d]!;
    const gaps = p.gaps;
    gaps[gaps.length - 1] = gap;
    gap = internalGap(p);
  }
}

/**
 * The rightmost node at path level `level` was closed at `closedMax` (its largest gap now
 * `closedGap`); `right` (largest gap `rightGap`) follows it as the new rightmost node of that
 * level. Pushes `right` into the parent, splitting full parents, growing a root if needed.
 */
function pushRight(pathNodes: MemNode[], tree: AppendTree, level: number, closedGap: number, closedMax: number, right: MemNode, rightGap: number): void {
  const gen = tree.gen ?? 0;
  tree.nodes++;
  for (let d = level - 1; d >= 0; d--) {
    const p = pathNodes[d]!;
    const n = p.lasts.length;
    p.lasts[n - 1] = closedMax;
    p.gaps[n - 1] = closedGap;
    if (n < INTERNAL_SLOTS) {
      p.lasts.push(MAX_INDEX);
      p.children.push(right);
      p.childCommits.push(0);
      p.gaps.push(rightGap);
      refreshGaps(pathNodes, d, internalGap(p));
      return;
    }
    // p is full: it is closed as is, and the new node alone starts the next rightmost node.
    const next = newInternal(numberArray(MAX_INDEX), nodeArray<Ref>(right), numberArray(rightGap), gen, nodeArray(0));
    tree.nodes++;
    closedGap = internalGap(p);
    right = next;
    // closedMax stays: p's last child was closed at it.
  }
  // The root was closed: grow a new one.
  const oldRoot = pathNodes[0]!;
  tree.root = newInternal(numberArray(closedMax, MAX_INDEX), nodeArray<Ref>(oldRoot, right), numberArray(closedGap, rightGap), gen, nodeArray(0, 0));
  tree.height++;
  tree.nodes++;
}
