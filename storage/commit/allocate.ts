/**
 * Placing a commit's new cells: leaves' value areas and value records first (each a contiguous
 * run, from the free list, else first-fit into holes of the space map, else at the tail), then
 * every new node and pending-list chunk. Allocating changes the space map, whose new
 * nodes need cells too: take cells, re-count, take more until everything fits (new nodes replace
 * nodes that are already new, so this converges in a few rounds). Node cells are handed out only
 * at the end (storage/commit/handOut.ts); any left over are freed by this very commit, so the
 * space map is not touched again.
 *
 * Cells are taken as contiguously as possible (each separate run is a write call and, for a
 * durable commit, a page to sync): extending the run taken so far, else the shortest loaded run
 * that holds them all, else the longest loaded run and then isolated cells. A small commit that
 * finds no run long enough, when all the free cells there are (loaded or still pending) barely
 * cover it, takes one run from the space map instead and leaves them on the list: the cells of
 * consecutive small commits otherwise interleave (each reusing the scattered cells the one before
 * it freed) and stay interleaved. Only a nearly empty free list allows it, so the file holds at
 * most about two small commits' cells more than it would have.
 */
import { assert } from '../../src/common/errors.js';
import { MAX_ALLOCATION_ROUNDS, SMALL_COMMIT_CELLS, SMALL_COMMIT_SLACK } from '../../src/common/limits.js';
import type { MemNode, NewValue } from '../format/node.js';
import type { LeafArea } from './valueAreas.js';
import { PENDING_KEYS_PER_COMMIT } from '../format/pendingList.js';
import { recordCells } from '../format/valueRecord.js';
import type { CommitPlan } from './commitPlan.js';
import type { FreeList } from './freeList.js';
import type { PendingChunks } from './pendingChunks.js';

export class CellAllocation {
  /** Cells taken for the nodes and chunks, in the order taken. */
  readonly cells: number[] = [];
  /** Every new node to place, as of the last round (not the leaves placed beside their areas). */
  nodes: MemNode[] = [];
  /** Leaves given the cell before their value area (placeAreas): placed already. */
  readonly placedLeaves: MemNode[] = [];
  /** This commit takes its node cells from the space map (a small commit, see above). */
  private fromSpaceMap = false;

  constructor(
    private readonly plan: CommitPlan,
    private readonly free: FreeList,
  ) {}

  /** Gives each object (a record or a value area) a contiguous run of its cells: from the free list, else from the space map. */
  private placeRuns(objects: readonly { cells: number; cell: number }[]): void {
    const rest: { cells: number; cell: number }[] = [];
    for (let i = 0; i < objects.length; i++) {
      const o = objects[i]!;
      const start = this.free.run(o.cells);
      if (start === undefined) rest.push(o);
      else o.cell = start;
    }
    this.plan.space.allocateRuns(rest);
  }

  /** A contiguous run of `cells` cells (the commit log's): its first cell. */
  placeRun(cells: number): number {
    const run = { cells, cell: 0 };
    this.placeRuns([run]);
    return run.cell;
  }

  /**
   * Places each new leaf's value area, and tells the leaf where it is. A leaf goes in the cell
   * right before its area where it can: one run of cells for both, so a load reads one page and a
   * commit writes the pair with one call (docs/design.md, section 6, "A leaf beside its area").
   * The free list is searched for the area's cells as before, preferring a run that holds one
   * cell more; when the run found holds only the area, the leaf gets a cell with the other nodes.
   * What the free list cannot hold goes to the space map, leaf and area together.
   */
  placeAreas(areas: readonly LeafArea[]): void {
    const tail: LeafArea[] = [];
    for (let i = 0; i < areas.length; i++) {
      const a = areas[i]!;
      const start = this.free.run(a.cells, a.cells + 1);
      if (start === undefined) tail.push(a);
      else if (this.free.taken > a.cells) this.besideLeaf(a, start);
      else a.cell = start;
    }
    if (tail.length > 0) {
      const runs = tail.map((a) => ({ cells: a.cells + 1, cell: 0 }));
      this.plan.space.allocateRuns(runs);
      for (let i = 0; i < tail.length; i++) this.besideLeaf(tail[i]!, runs[i]!.cell);
    }
    if (this.placedLeaves.length > 0) this.plan.placed();
    for (let i = 0; i < areas.length; i++) {
      const a = areas[i]!;
      a.leaf.area = a.cell;
      a.leaf.areaCells = a.cells;
    }
  }

  /** The leaf of `area` in cell `start`, the area right after it. */
  private besideLeaf(area: LeafArea, start: number): void {
    area.leaf.cell = start;
    area.cell = start + 1;
    this.placedLeaves.push(area.leaf);
  }

  /** Gives each record a contiguous run. */
  placeRecords(records: NewValue[]): void {
    const objects = records.map((r) => ({ cells: recordCells(r.bytes.length), cell: 0 }));
    this.placeRuns(objects);
    records.forEach((r, i) => {
      r.cell = objects[i]!.cell;
    });
  }

  /** Takes cells until there is one for every new node and each of `chunks` chunks. */
  fill(chunks: number): void {
    for (let round = 0; ; round++) {
      assert(round < MAX_ALLOCATION_ROUNDS, 'commit allocation converges');
      this.nodes = this.plan.needed(false).nodes;
      const need = this.nodes.length + chunks;
      if (need <= this.cells.length) return;
      const missing = need - this.cells.length - this.takeCells(need, need - this.cells.length);
      if (missing > 0) this.takeFromSpaceMap(missing + 1, false);
    }
  }

  private takeFromSpaceMap(count: number, contiguous: boolean): void {
    for (const run of this.plan.space.allocate(count, contiguous)) {
      for (let c = 0; c < run.count; c++) this.cells.push(run.start + c);
    }
  }

  /** Takes up to `missing` cells for a commit needing `need` in all; returns how many. */
  private takeCells(need: number, missing: number): number {
    const { free, cells } = this;
    if (this.fromSpaceMap) {
      this.takeFromSpaceMap(missing, true);
      return missing;
    }
    let got = 0;
    if (cells.length > 0) {
      for (let next = cells[cells.length - 1]! + 1; got < missing && free.takeCell(next); next++, got++) cells.push(next);
      if (got === missing) return got;
    }
    while (free.available() < missing - got && free.loadNext()) {
      /* load entries until the loaded cells cover the need, or none is left */
    }
    if (cells.length === 0 && need >= 2 && need <= SMALL_COMMIT_CELLS && this.plan.pendingCells + free.available() <= need + SMALL_COMMIT_SLACK && free.longestRun() < need) {
      this.fromSpaceMap = true;
      this.takeFromSpaceMap(missing, true);
      return missing;
    }
    const start = free.bestFit(missing - got);
    if (start !== undefined) {
      for (let c = 0; c < missing - got; c++) cells.push(start + c);
      return missing;
    }
    return got + free.takeRuns(missing - got, cells);
  }
}

/**
 * Rounds of taking cells and sizing the pending list until both hold still: each round takes
 * cells for every node and chunk, classifies what it freed, and adds the chunks still missing
 * (which may free more space-map paths, hence another round).
 */
export function allocateCells(alloc: CellAllocation, list: PendingChunks): void {
  list.start();
  for (let round = 0; ; round++) {
    assert(round <= 2 * PENDING_KEYS_PER_COMMIT, 'the pending list converges');
    alloc.fill(list.chunkCount());
    list.classify();
    if (list.addSourceChunks()) continue;
    if (list.settle(alloc.cells, alloc.nodes.length)) return;
  }
}
