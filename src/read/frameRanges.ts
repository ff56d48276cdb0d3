/**
 * Range iteration on a committed version, straight from buffer-pool frames (the iterating
 * counterpart of src/read/frameLookup.ts): no decoded node objects, no generators. The walk keeps its
 * path explicitly — per level the node's cell, the next slot to visit and the node's bounds — as
 * plain numbers, and finds a cell's frame again whenever the pool may have moved it: between two
 * next() calls (and while a value record is read) any frame may be evicted, but a cell's content
 * is immutable while its version is read, so only its frame can change.
 *
 * Each node is checked as it is entered, as pager.node() does: checksum (once per page load),
 * type, slot count, commit number not newer than the version read, and leaves exactly at the
 * tree's height; every visited slot's bounds must ascend. Values decode lazily, one per next().
 */
import { childAt, childCommitAt, nodeCountAt, pivotAt, slotAt, slotTag } from '../../storage/format/node.js';
import { badBounds, enterNode } from './frameNode.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { slotValue } from './frameLookup.js';
import { MAX_INDEX } from '../common/limits.js';
import type { HeldReader, HoldingRegistry, ReleasableToken } from './readerRegistry.js';

export interface Range<V> {
  readonly first: number;
  readonly last: number;
  readonly value: V;
}

/**
 * Path entries per level: cell, next slot, node min, node max, the cell's slab offset with the
 * pool's miss count when it was found, and the commit bits its pointer names. The buffer pool gives
 * a frame to another page only in frame() on a miss, which it counts, so the offset holds while the
 * count is unchanged (and a cell of a version being read is never rewritten, so its frame's bytes
 * and checksum mark stay good). A node found again after a miss is checked again (enterNode): the
 * page may have been read back from a file whose write of it was lost.
 */
const STRIDE = 7;

/** The generators' shared prototype, so these iterators behave like the generators they replace. */
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as object;

/**
 * Every non-empty range of the committed tree at `root` intersecting [from, to], ascending (or
 * descending with `reverse`). `check`, when given, runs before every step and may throw (a closed
 * store or snapshot); the iterator then finishes. When registered with a ReaderRegistry (as a
 * HeldReader) it releases its hold once finished: exhausted, returned, or thrown.
 */
export class FrameRanges implements IterableIterator<Range<unknown>>, HeldReader {
  /** Cell, next slot, min, max for each level from the root down to `depth`. */
  private readonly path: number[];
  /** Level being visited; −1 before the first step, −2 once finished. */
  private depth = -1;
  // HeldReader: see src/read/readerRegistry.ts.
  holdIndex = -1;
  holdToken: ReleasableToken | null = null;
  registry: HoldingRegistry | null = null;
  /** What a failed step throws instead of its error (a shared store's: ECLOSED once its writer ended); null: the error. */
  failed: ((err: unknown) => unknown) | null = null;

  constructor(
    private readonly pager: CellReader,
    private readonly root: number | null,
    /** The low bits of the root's commit, as the commit record names them (−1: not checked). */
    private readonly rootCommit: number,
    private readonly height: number,
    readonly version: number,
    private readonly from: number,
    private readonly to: number,
    private readonly reverse: boolean,
    private readonly check: (() => void) | null,
  ) {
    this.path = new Array(STRIDE * height);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Range<unknown>> {
    if (this.depth === -2) return { value: undefined, done: true };
    let range: Range<unknown> | null;
    try {
      if (this.check !== null) this.check();
      range = this.step();
    } catch (err) {
      this.finish();
      throw this.failed === null ? err : this.failed(err);
    }
    if (range === null) {
      this.finish();
      return { value: undefined, done: true };
    }
    return { value: range, done: false };
  }

  return(value?: unknown): IteratorResult<Range<unknown>> {
    this.finish();
    return { value: value as Range<unknown>, done: true };
  }

  throw(err?: unknown): IteratorResult<Range<unknown>> {
    this.finish();
    throw err;
  }

  private finish(): void {
    this.depth = -2;
    if (this.registry !== null) {
      this.registry.releaseHeld(this);
      this.registry = null;
    }
  }

  /** The next range, or null when there is none. */
  private step(): Range<unknown> | null {
    if (this.depth === -1) {
      if (this.root === null || this.from > this.to) return null;
      this.enter(this.root, this.rootCommit, 0, 0, MAX_INDEX);
    }
    const pager = this.pager;
    const pool = pager.pool;
    const path = this.path;
    const from = this.from;
    const to = this.to;
    const reverse = this.reverse;
    const leafDepth = this.height - 1;
    while (this.depth >= 0) {
      const d = this.depth;
      const at = d * STRIDE;
      const cell = path[at]!;
      const i = path[at + 1]!;
      let off = path[at + 4]!;
      if (path[at + 5] !== pool.misses) {
        off = pager.verifiedNodeOffset(cell);
        enterNode(pool.slab, pool.words, off, cell, d, this.height, this.version, path[at + 6]!);
        path[at + 4] = off;
        path[at + 5] = pool.misses;
      }
      // Fetched after the reads above: a miss may have grown the pool (a new slab).
      const slab = pool.slab;
      const u32 = pool.words;
      const count = nodeCountAt(slab, off);
      if (i < 0 || i >= count) {
        this.depth = d - 1;
        continue;
      }
      const min = path[at + 2]!;
      const max = path[at + 3]!;
      const lo = i === 0 ? min : pivotAt(u32, off, i - 1) + 1;
      const hi = i === count - 1 ? max : pivotAt(u32, off, i);
      if (hi < lo || hi > max) throw badBounds(cell, i, lo, hi, min, max);
      // Past the window: so is everything after, at every level.
      if (reverse ? hi < from : lo > to) return null;
      path[at + 1] = reverse ? i - 1 : i + 1;
      if (d === leafDepth) {
        const s = slotAt(off, i);
        const tag = slotTag(slab, s);
        if (tag === 0) continue;
        return { first: lo, last: hi, value: slotValue(pager, this.version, s, tag, cell) };
      }
      this.enter(childAt(u32, off, i), childCommitAt(u32, off, i), d + 1, lo, hi);
    }
    return null;
  }

  /**
   * Checks the node at `cell` (its pointer naming commit bits `pointed`, −1 for the root) and
   * pushes it at level `d`, positioned at its first slot in the window.
   */
  private enter(cell: number, pointed: number, d: number, min: number, max: number): void {
    const pager = this.pager;
    const pool = pager.pool;
    const off = pager.verifiedNodeOffset(cell);
    const slab = pool.slab;
    const u32 = pool.words;
    enterNode(slab, u32, off, cell, d, this.height, this.version, pointed);
    const count = nodeCountAt(slab, off);
    // The first slot whose range reaches the window: slot i ends at pivot i (the last at max).
    let i = 0;
    if (this.reverse) {
      const to = this.to;
      i = count - 1;
      while (i > 0 && pivotAt(u32, off, i - 1) >= to) i--;
    } else {
      const from = this.from;
      while (i < count - 1 && pivotAt(u32, off, i) < from) i++;
    }
    const at = d * STRIDE;
    const path = this.path;
    path[at] = cell;
    path[at + 1] = i;
    path[at + 2] = min;
    path[at + 3] = max;
    path[at + 4] = off;
    path[at + 5] = pool.misses;
    path[at + 6] = pointed;
    this.depth = d;
  }
}

Object.setPrototypeOf(FrameRanges.prototype, IteratorPrototype);
