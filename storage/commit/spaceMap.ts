/**
 * Free space, kept by the maple tree itself: the space map is a tree over cell addresses whose
 * ranges are the allocated runs of cells (coalesced) and whose gaps are free space. Allocating k
 * cells is `emptyArea(k)` — the query the kernel uses to place a new mapping — and everything at
 * or above the high-water mark is one big gap, so the file grows by allocating there.
 *
 * Cells a commit stops referencing are not returned here: they stay allocated and are listed
 * in the pending tree, which is also the free list once their grace period is over
 * (storage/commit/commit.ts, storage/commit/freeList.ts).
 */
import { assert } from '../../src/common/errors.js';
import { lookup, findFirst } from '../../src/tree/walk.js';
import { emptyArea } from '../../src/tree/gaps.js';
import { type TreeState, type WriteSink, writeRange } from '../../src/tree/write.js';
import { InlineSlot, type Slot } from '../format/node.js';
import { CELL_BASE, MAX_CELL } from '../../src/common/limits.js';
import { type CellRun } from '../format/pageFile.js';

/** The value of every allocated run: msgpack `true`, inline. */
export const ALLOCATED = new InlineSlot(Uint8Array.of(0xc3));

export function isAllocatedMarker(slot: Slot): boolean {
  return slot instanceof InlineSlot && slot.length === 1 && slot.lo === 0xc3;
}

export class SpaceMap {
  constructor(
    readonly tree: TreeState,
    public highWaterCell: number,
    public allocatedCells: number,
    private readonly sink: WriteSink,
  ) {}

  /** Allocates `count` cells, contiguous when `contiguous`, else in as few runs as holes allow. */
  allocate(count: number, contiguous: boolean): CellRun[] {
    assert(count > 0, 'allocation of at least one cell');
    const runs: CellRun[] = [];
    let want = count;
    let remaining = count;
    while (remaining > 0) {
      want = Math.min(want, remaining);
      const start = this.highWaterCell > CELL_BASE
        ? emptyArea(this.sink, this.tree, CELL_BASE, this.highWaterCell - 1, want, false)
        : undefined;
      if (start !== undefined) {
        this.take(start, want);
        runs.push({ start, count: want });
        remaining -= want;
      } else if (contiguous || want === 1) {
        const tail = this.highWaterCell;
        assert(tail + remaining - 1 <= MAX_CELL, 'file stays within 2^32 cells');
        this.take(tail, remaining);
        runs.push({ start: tail, count: remaining });
        remaining = 0;
      } else {
        want = Math.ceil(want / 2);
      }
    }
    return runs;
  }

  /**
   * Gives each object (a value record or value area) a contiguous run of its `cells`: first-fit
   * into holes below the high-water mark; once one does not fit, the rest go together at the
   * tail (a bulk load takes one run, not one per object). Sets each one's `cell`.
   */
  allocateRuns(objects: readonly { cells: number; cell: number }[]): void {
    let i = 0;
    for (; i < objects.length; i++) {
      const o = objects[i]!;
      const start = this.highWaterCell > CELL_BASE ? emptyArea(this.sink, this.tree, CELL_BASE, this.highWaterCell - 1, o.cells, false) : undefined;
      if (start === undefined) break;
      this.take(start, o.cells);
      o.cell = start;
    }
    if (i === objects.length) return;
    let total = 0;
    for (let k = i; k < objects.length; k++) total += objects[k]!.cells;
    let cell = this.highWaterCell;
    this.take(cell, total);
    for (let k = i; k < objects.length; k++) {
      objects[k]!.cell = cell;
      cell += objects[k]!.cells;
    }
  }

  /** Marks [start, start+count−1] allocated, merged with allocated neighbours. */
  private take(start: number, count: number): void {
    assert(count > 0 && start >= CELL_BASE && findFirst(this.sink, this.tree, start, start + count - 1, false) === undefined, `cells ${start}..${start + count - 1} are free when taken`);
    let first = start;
    let last = start + count - 1;
    const left = first > CELL_BASE ? lookup(this.sink, this.tree, first - 1) : undefined;
    if (left && isAllocatedMarker(left.slot)) first = left.first;
    const right = lookup(this.sink, this.tree, last + 1);
    if (right && isAllocatedMarker(right.slot)) last = right.last;
    writeRange(this.sink, this.tree, first, last, ALLOCATED);
    this.allocatedCells += count;
    if (start + count > this.highWaterCell) this.highWaterCell = start + count;
  }

}
