/**
 * Walking a tree version: point lookups and ordered iteration in either direction. No parent
 * pointers: a walk keeps its path on the JavaScript stack (at most the tree's height deep).
 */
import { type MemNode, type Ref, type Slot, checkPointedCommit } from '../../storage/format/node.js';
import { MAX_INDEX } from '../common/limits.js';
import { corruptCell } from '../common/errors.js';
import type { NodeSource, TreeState } from './write.js';

/**
 * The node behind `ref` at `depth` of a tree of `height`, with the checks the frame read paths make
 * (src/read/frameNode.ts) on a committed node: a leaf exactly at the last level, an internal node
 * above it, and its first slot starting inside the bounds its parent gives it (decodeNodeAt checks
 * the rest: pivots ascend to `max`). Without them a cell from elsewhere in the file (a stale copy,
 * a damaged pointer) sent the walks here and the write path into nodes with no children, bounds
 * outside their parent's, or a cycle: a TypeError, an assertion, endless recursion. And the commit
 * that wrote it is the one its parent's pointer names (`pointed`, MemNode.childCommits; −1 for a
 * root): an older cell left where a newer one was written is ECORRUPT, not an old answer.
 */
export function nodeAt(src: NodeSource, ref: Ref, min: number, max: number, depth: number, height: number, pointed: number): MemNode {
  const node = src.node(ref, max);
  if (typeof ref === 'number') {
    checkPointedCommit(ref, node.commit, pointed);
    if (node.leaf !== (depth === height - 1)) throw corruptCell(ref, `${node.leaf ? 'leaf' : 'internal node'} at depth ${depth} of a tree of height ${height}`);
    if (node.lasts[0]! < min) throw corruptCell(ref, `slot 0 ends at ${node.lasts[0]}, below the node's min ${min}`);
  }
  return node;
}

export interface RawEntry {
  first: number;
  last: number;
  slot: Slot;
}

/** The range containing `index`, or undefined when it is empty. */
export function lookup(src: NodeSource, tree: TreeState, index: number): RawEntry | undefined {
  if (tree.root === null) return undefined;
  let ref: Ref = tree.root;
  let pointed = tree.rootCommit;
  let min = 0;
  let max = MAX_INDEX;
  for (let depth = 0; ; depth++) {
    const node: MemNode = nodeAt(src, ref, min, max, depth, tree.height, pointed);
    const lasts = node.lasts;
    let i = 0;
    while (lasts[i]! < index) i++;
    const lo = i === 0 ? min : lasts[i - 1]! + 1;
    const hi = lasts[i]!;
    if (node.leaf) {
      const slot = node.slots[i] ?? null;
      return slot === null ? undefined : { first: lo, last: hi, slot };
    }
    ref = node.children[i]!;
    pointed = node.childCommits[i]!;
    min = lo;
    max = hi;
  }
}

/** Every non-empty range intersecting [from, to], ascending (or descending with `reverse`). */
export function* iterate(src: NodeSource, tree: TreeState, from: number, to: number, reverse: boolean): Generator<RawEntry> {
  if (tree.root === null || from > to) return;
  yield* walk(src, tree.root, 0, MAX_INDEX, from, to, reverse, 0, tree.height, tree.rootCommit);
}

function* walk(src: NodeSource, ref: Ref, min: number, max: number, from: number, to: number, reverse: boolean, depth: number, height: number, pointed: number): Generator<RawEntry> {
  const node = nodeAt(src, ref, min, max, depth, height, pointed);
  const n = node.lasts.length;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    const lo = i === 0 ? min : node.lasts[i - 1]! + 1;
    const hi = node.lasts[i]!;
    if (hi < from || lo > to) continue;
    if (node.leaf) {
      const slot = node.slots[i] ?? null;
      if (slot !== null) yield { first: lo, last: hi, slot };
    } else {
      yield* walk(src, node.children[i]!, lo, hi, from, to, reverse, depth + 1, height, node.childCommits[i]!);
    }
  }
}

/**
 * The first (or last, with `reverse`) non-empty range intersecting [from, to]: the first entry
 * iterate() would yield, found without a generator (commits ask the pending tree this once per
 * value area they place; a generator per call was most of a bulk load's garbage after the values).
 */
export function findFirst(src: NodeSource, tree: TreeState, from: number, to: number, reverse: boolean): RawEntry | undefined {
  if (tree.root === null || from > to) return undefined;
  return firstIn(src, tree.root, 0, MAX_INDEX, from, to, reverse, 0, tree.height, tree.rootCommit);
}

function firstIn(src: NodeSource, ref: Ref, min: number, max: number, from: number, to: number, reverse: boolean, depth: number, height: number, pointed: number): RawEntry | undefined {
  const node = nodeAt(src, ref, min, max, depth, height, pointed);
  const n = node.lasts.length;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    const lo = i === 0 ? min : node.lasts[i - 1]! + 1;
    const hi = node.lasts[i]!;
    if (hi < from || lo > to) continue;
    if (node.leaf) {
      const slot = node.slots[i] ?? null;
      if (slot !== null) return { first: lo, last: hi, slot };
    } else {
      const found = firstIn(src, node.children[i]!, lo, hi, from, to, reverse, depth + 1, height, node.childCommits[i]!);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
