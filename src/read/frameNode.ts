/**
 * The checks every frame-direct read path makes on a committed node as it enters it, in one place:
 * the commit that wrote it is not newer than the version being read (else the file no longer holds
 * that version: ECORRUPT, never a wrong answer), its type is known, its count fits its type, and
 * leaves sit exactly at the tree's height, and it is the node its parent's pointer names (the low bits
 * of its commit: an older cell left where a newer one was written is ECORRUPT). The checksum is the pool's business (CellReader verifies
 * it once per page load).
 */
import { corruptCell } from '../common/errors.js';
import { INTERNAL_SLOTS, LEAF_SLOTS } from '../common/limits.js';
import { NODE_INTERNAL, NODE_LEAF, checkPointedCommit, nodeCommitAt, nodeCountAt, nodeTypeAt } from '../../storage/format/node.js';

/**
 * Checks the node at byte `at` of the slab (cell `cell`, at `depth` of a tree of `height`, its
 * parent's pointer naming commit bits `pointed`, −1 for a root); true for a leaf.
 */
export function enterNode(slab: Uint8Array, words: Uint32Array, at: number, cell: number, depth: number, height: number, version: number, pointed: number): boolean {
  const commit = nodeCommitAt(words, at);
  if (commit > version) throw corruptCell(cell, `written by commit ${commit}, newer than the version ${version} being read`);
  checkPointedCommit(cell, commit, pointed);
  const type = nodeTypeAt(slab, at);
  const count = nodeCountAt(slab, at);
  if (type === NODE_LEAF) {
    if (depth !== height - 1) throw corruptCell(cell, `leaf at depth ${depth} of a tree of height ${height}`);
    if (count < 1 || count > LEAF_SLOTS) throw corruptCell(cell, `slot count ${count}`);
    return true;
  }
  if (type !== NODE_INTERNAL) throw corruptCell(cell, `unknown node type ${type}`);
  if (depth >= height - 1) throw corruptCell(cell, `internal node at depth ${depth} of a tree of height ${height}`);
  if (count < 1 || count > INTERNAL_SLOTS) throw corruptCell(cell, `slot count ${count}`);
  return false;
}

/** ECORRUPT for a slot whose bounds do not ascend inside its node's. */
export function badBounds(cell: number, i: number, lo: number, hi: number, nodeMin: number, nodeMax: number): Error {
  return corruptCell(cell, `slot ${i} bounds [${lo}, ${hi}] do not ascend inside the node's [${nodeMin}, ${nodeMax}]`);
}
