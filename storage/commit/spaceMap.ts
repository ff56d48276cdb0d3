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
import { assert, corruptCell } from '../../src/common/errors.js';
import { lookup, findFirst, type RawEntry } from '../../src/tree/walk.js';
import { emptyArea } from '../../src/tree/gaps.js';
import { type TreeState, type WriteSink, writeRange } from '../../src/tree/write.js';
import { InlineSlot, type NewValue, type Slot } from '../format/node.js';
import { recordCells } from '../format/valueRecord.js';
import { CELL_BASE, MAX_CELL } from '../../src/common/limits.js';
import { type CellRun } from '../format/pageFile.js';

/** The value of every allocated run: msgpack `true`, inline. */
export const ALLOCATED = new InlineSlot(Uint8Array.of(0xc3));

export function isAllocatedMarker(slot: Slot): boolean {
  return slot instanceof InlineSlot && slot.length === 1 && slot.lo === 0xc3;
}

/** A packed value block's reference count, as an inline msgpack unsigned integer. */
export function countSlot(n: number): InlineSlot {
  assert(Number.isInteger(n) && n > 0 && n < 2 ** 32, `block reference count ${n}`);
  if (n < 0x80) return new InlineSlot(Uint8Array.of(n));
  return new InlineSlot(Uint8Array.of(0xce, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff));
}

/** The reference count in a block's space-map entry, or undefined if the slot is not a count. */
export function slotCount(slot: Slot): number | undefined {
  if (!(slot instanceof InlineSlot)) return undefined;
  // Read from the slot's integers (bytes 0..3 little-endian in lo, byte 4 in hi), not its bytes
  // getter, which allocates.
  const lo = slot.lo;
  const b0 = lo % 256;
  if (slot.length === 1 && b0 > 0 && b0 < 0x80) return b0;
  if (slot.length === 5 && b0 === 0xce) return ((lo >>> 8) & 0xff) * 0x100_0000 + ((lo >>> 16) & 0xff) * 0x1_0000 + Math.floor(lo / 0x100_0000) * 0x100 + (slot.hi & 0xff);
  return undefined;
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
   * Gives each record a contiguous run: first-fit into holes below the high-water mark; once one
   * does not fit, the rest go together at the tail (a bulk load takes one run, not one per record).
   */
  allocateRecords(records: NewValue[]): void {
    let i = 0;
    for (; i < records.length; i++) {
      const r = records[i]!;
      const count = recordCells(r.bytes.length);
      const start = this.highWaterCell > CELL_BASE ? emptyArea(this.sink, this.tree, CELL_BASE, this.highWaterCell - 1, count, false) : undefined;
      if (start === undefined) break;
      this.take(start, count);
      r.cell = start;
    }
    if (i === records.length) return;
    let total = 0;
    for (let k = i; k < records.length; k++) total += recordCells(records[k]!.bytes.length);
    let cell = this.highWaterCell;
    this.take(cell, total);
    for (let k = i; k < records.length; k++) {
      records[k]!.cell = cell;
      cell += recordCells(records[k]!.bytes.length);
    }
  }

  /** Records a new block's reference count (its entries) on its allocated cell. */
  setBlockCount(cell: number, count: number, values: NewValue[]): void {
    for (const v of values) v.cell = cell;
    writeRange(this.sink, this.tree, cell, cell, countSlot(count));
  }

  /** A packed value block's reference count. */
  blockCount(cell: number): number {
    const e = lookup(this.sink, this.tree, cell);
    return this.countOf(cell, e);
  }

  /** Changes a block's reference count; at zero the block is an ordinary allocated cell, returned true. */
  adjustBlock(cell: number, delta: number): boolean {
    const e = lookup(this.sink, this.tree, cell);
    const count = this.countOf(cell, e);
    const n = count + delta;
    // More references dropped than the file counts: the counts on disk are wrong.
    if (n < 0) throw corruptCell(cell, `packed value block's reference count ${count} falls below zero (${delta})`);
    writeRange(this.sink, this.tree, cell, cell, n === 0 ? ALLOCATED : countSlot(n));
    return n === 0;
  }

  /** The reference count of the block at `cell` from its space-map entry `e`; ECORRUPT when it has none. */
  private countOf(cell: number, e: RawEntry | undefined): number {
    const count = e && e.first === cell && e.last === cell ? slotCount(e.slot) : undefined;
    // A leaf points at a packed block the space map does not count: the file is damaged.
    if (count === undefined) throw corruptCell(cell, 'a packed value block with no reference count in the space map');
    return count;
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
