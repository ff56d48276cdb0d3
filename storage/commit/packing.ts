/**
 * Step 2 of a commit, the packing policy: which small new values share a packed value block
 * (storage/format/valueBlock.ts), and when a commit moves packed values it did not write so that
 * blocks empty and are freed whole instead of being pinned by one survivor.
 */
import { assert } from '../../src/common/errors.js';
import { CELL_BYTES, GATHER_AT, MAX_INDEX, RELOCATE_AT } from '../../src/common/limits.js';
import { lookup } from '../../src/tree/walk.js';
import { type TreeState, type WriteSink, writeRange } from '../../src/tree/write.js';
import { type MemNode, type Ref, NewValue, PackedSlot } from '../format/node.js';
import { type Block, type BlockEntry, ENTRY_HEADER_BYTES, PACK_MAX_BYTES, blockEntries, packValues } from '../format/valueBlock.js';
import type { CommitPlan } from './commitPlan.js';

/** Entry bytes of a packed value block: room for one largest packed value with its entry header. */
const BLOCK_ENTRY_ROOM = PACK_MAX_BYTES + ENTRY_HEADER_BYTES;

/**
 * Settles the packed value blocks before cells are placed: when packing, gathers a small commit's
 * neighbours and relocates the survivors of nearly empty blocks (both change the main tree); then
 * applies the reference-count changes to the space map, freeing blocks whose last reference went.
 */
export function settleBlocks(plan: CommitPlan, packedDeltas: Map<number, number>, pack: boolean): void {
  const deltas = new Map(packedDeltas);
  if (pack) {
    if (plan.main.newValues > 0) gatherNeighbours(plan, deltas);
    relocateSurvivors(plan, deltas);
  }
  for (const [cell, delta] of deltas) {
    if (delta !== 0 && plan.space.adjustBlock(cell, delta)) plan.frees.push({ start: cell, count: 1 });
  }
}

/** The new blocks of this commit's small new values (none when it writes none). */
export function newBlocks(plan: CommitPlan): Block[] {
  return plan.mainRecords.some((r) => r.bytes.length <= PACK_MAX_BYTES) ? packValues(neighbourRuns(plan.main.root)) : [];
}

/**
 * The small new values of the main tree, in key order, cut into runs of neighbours: values of one
 * new leaf, or of new leaves that touch. Only neighbours share a block — they tend to be
 * overwritten together, so a block empties and is freed as a whole instead of being pinned by one
 * survivor of an unrelated write. Values with no new neighbour share blocks among themselves
 * (measured: cheaper than a 256-byte record each even though survivors pin their block).
 */
function neighbourRuns(root: Ref | null): NewValue[][] {
  const runs: NewValue[][] = [];
  const loners: NewValue[] = [];
  let current: NewValue[] = [];
  let lastMax = -2;
  const walk = (ref: Ref, min: number, max: number): void => {
    if (typeof ref === 'number') return;
    if (ref.leaf) {
      if (min !== lastMax + 1 && current.length > 0) {
        if (current.length > 1) runs.push(current);
        else loners.push(...current);
        current = [];
      }
      let lo = min;
      ref.slots.forEach((s, i) => {
        if (s instanceof NewValue && s.bytes.length <= PACK_MAX_BYTES) {
          s.key = lo;
          current.push(s);
        }
        lo = ref.lasts[i]! + 1;
      });
      lastMax = max;
      return;
    }
    let lo = min;
    for (let i = 0; i < ref.lasts.length; i++) {
      walk(ref.children[i]!, lo, ref.lasts[i]!);
      lo = ref.lasts[i]! + 1;
    }
  };
  if (root !== null) walk(root, 0, MAX_INDEX);
  if (current.length > 1) runs.push(current);
  else loners.push(...current);
  if (loners.length > 0) runs.push(loners);
  return runs;
}

/**
 * A commit of a few small values would give each a block of its own — a 256-byte cell for a
 * dozen bytes, kept as long as the value lives: single-store commits grew a 100,000-range store
 * of `{ id, gen }` values 2.06× over 200,000 overwrites, against the 1.5× that space reuse
 * promises. Such a commit (at most GATHER_AT small values) also moves the packed values of the
 * new leaves it writes anyway into that block, as far as it has room: a leaf's values then share
 * one block, which the leaf's next rewrite empties and frees whole. Only leaf slots change (the
 * leaf is new in this commit), so it costs no other node.
 */
function gatherNeighbours(plan: CommitPlan, deltas: Map<number, number>): void {
  const { pager, prev, main } = plan;
  const leaves: MemNode[] = [];
  let small = 0;
  const walk = (ref: Ref): boolean => {
    if (typeof ref === 'number') return true;
    if (ref.leaf) {
      let mine = 0;
      for (const s of ref.slots) if (s instanceof NewValue && s.bytes.length <= PACK_MAX_BYTES) mine++;
      if (mine > 0) leaves.push(ref);
      small += mine;
      return small <= GATHER_AT;
    }
    for (const c of ref.children) if (!walk(c)) return false;
    return true;
  };
  if (main.root === null || !walk(main.root) || small === 0) return;
  for (const leaf of leaves) {
    let room = BLOCK_ENTRY_ROOM;
    for (const s of leaf.slots) if (s instanceof NewValue && s.bytes.length <= PACK_MAX_BYTES) room -= ENTRY_HEADER_BYTES + s.bytes.length;
    const slots = leaf.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (!(s instanceof PackedSlot)) continue;
      const bytes = pager.packedBytes(s.cell, s.offset, prev.commit);
      if (ENTRY_HEADER_BYTES + bytes.length > room) continue;
      room -= ENTRY_HEADER_BYTES + bytes.length;
      slots[i] = new NewValue(bytes.slice());
      deltas.set(s.cell, (deltas.get(s.cell) ?? 0) - 1);
    }
  }
}

/**
 * Blocks this commit leaves with at most RELOCATE_AT references: find each surviving entry
 * through the key stored with it and store its value again, so it lands in this commit's new
 * block and the old cell can be freed instead of being pinned by a survivor. A survivor whose
 * range no longer starts at its key (trimmed on the left) stays where it is.
 */
function relocateSurvivors(plan: CommitPlan, deltas: Map<number, number>): void {
  const { pager, prev, space, main, frees } = plan;
  const version = prev.commit;
  const sink: WriteSink = {
    node: (ref, max) => pager.node(ref, max, version),
    freeNode: (cell) => frees.push({ start: cell, count: 1 }),
    dropNew: (node) => assert(node.cell === 0, 'main-tree nodes have no cells before allocation'),
    freeRecord: (cell) => frees.push({ start: cell, count: pager.recordCellCount(cell) }),
    recordBytes: (cell) => pager.recordBytes(cell, version).slice(),
    refPacked: (cell, delta) => deltas.set(cell, (deltas.get(cell) ?? 0) + delta),
    scratch: plan.sink.scratch,
  };
  for (const [cell, delta] of [...deltas]) {
    if (delta >= 0) continue;
    const left = space.blockCount(cell) + delta;
    if (left <= 0 || left > RELOCATE_AT) continue;
    const at = pager.verifiedNodeOffset(cell);
    const entries = blockEntries(pager.pool.slab.slice(at, at + CELL_BYTES));
    for (const e of entries) {
      if (!Number.isSafeInteger(e.key)) continue; // a damaged key finds nothing to move
      relocateEntry(sink, main, cell, e);
    }
  }
}

/** Stores the block entry `e` of `cell` again when its range still starts at its key. */
function relocateEntry(sink: WriteSink, main: TreeState, cell: number, e: BlockEntry): void {
  const hit = lookup(sink, main, e.key);
  if (!hit || hit.first !== e.key || !(hit.slot instanceof PackedSlot) || hit.slot.cell !== cell || hit.slot.offset !== e.offset) return;
  writeRange(sink, main, hit.first, hit.last, new NewValue(e.bytes));
}
