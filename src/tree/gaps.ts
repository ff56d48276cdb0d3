/**
 * Gap search in O(log n): internal nodes carry the largest empty run below each child (kernel
 * maple_arange_64), so the search descends only into children whose gap can hold `size`. Every
 * gap lies inside one leaf (a leaf never ends in a gap except at MAX_INDEX), so a leaf answers
 * exactly; a window [min, max] clips gaps only along its two boundary paths.
 */
import type { Ref } from '../../storage/format/node.js';
import { MAX_INDEX } from '../common/limits.js';
import type { NodeSource, TreeState } from './write.js';
import { nodeAt } from './walk.js';

/** Lowest (or highest, with `reverse`) s with [s, s+size−1] empty and inside [min, max]. */
export function emptyArea(src: NodeSource, tree: TreeState, min: number, max: number, size: number, reverse: boolean): number | undefined {
  if (max - min + 1 < size) return undefined;
  if (tree.root === null) return reverse ? max - size + 1 : min;
  return search(src, tree.root, 0, MAX_INDEX, min, max, size, reverse, 0, tree.height, tree.rootCommit);
}

function search(src: NodeSource, ref: Ref, nodeMin: number, nodeMax: number, min: number, max: number, size: number, reverse: boolean, depth: number, height: number, pointed: number): number | undefined {
  const node = nodeAt(src, ref, nodeMin, nodeMax, depth, height, pointed);
  const n = node.lasts.length;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    const lo = i === 0 ? nodeMin : node.lasts[i - 1]! + 1;
    const hi = node.lasts[i]!;
    if (hi < min || lo > max) continue;
    if (node.leaf) {
      if (node.slots[i] !== null && node.slots[i] !== undefined) continue;
      const s = Math.max(lo, min);
      const e = Math.min(hi, max);
      if (e - s + 1 >= size) return reverse ? e - size + 1 : s;
    } else {
      if (node.gaps[i]! < size) continue;
      const found = search(src, node.children[i]!, lo, hi, min, max, size, reverse, depth + 1, height, node.childCommits[i]!);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
