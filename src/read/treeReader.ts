/**
 * Reading one tree version: the shared implementation behind MapleStore, Snapshot and WriteTxn.
 * Committed versions (a root that is a cell number) read straight from buffer-pool frames: point
 * lookups (src/read/frameLookup.ts), iteration (src/read/frameRanges.ts) and gap search (src/tree/gaps.ts). A
 * transaction's own version, which mixes new in-memory nodes with committed cells, goes through
 * decoded nodes.
 */
import { type MemNode, type Ref, type Slot, AreaSlot, InlineSlot, NewValue } from '../../storage/format/node.js';
import type { ValueArena } from '../../storage/format/valueArena.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { findFirst, iterate, lookup } from '../tree/walk.js';
import { Hit, fastLookup, slotValue } from './frameLookup.js';
import { emptyArea } from '../tree/gaps.js';
import { fastEmptyArea } from './frameGaps.js';
import { FrameRanges, type Range } from './frameRanges.js';
import type { NodeSource, TreeState } from '../tree/write.js';

export type { Range } from './frameRanges.js';

export class TreeReader implements NodeSource {
  /** fastLookup's result, reused by every point read of this reader (made at its first). */
  private hit: Hit | null = null;

  /** `arena`: a transaction's values, for the slots that are handles (null for committed versions). */
  constructor(readonly pager: CellReader, readonly tree: TreeState, readonly version: number, readonly arena: ValueArena | null = null) {}

  node(ref: Ref, max: number): MemNode {
    return this.pager.node(ref, max, this.version);
  }

  value(slot: Slot): unknown {
    const pager = this.pager;
    if (typeof slot === 'number') return pager.codec.decodeHandle(this.arena!, slot);
    if (slot instanceof InlineSlot) {
      const n = slot.length;
      const lo = slot.lo;
      const hi = slot.hi;
      const bytes = pager.inlineScratch;
      for (let i = 0; i < n; i++) bytes[i] = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
      return pager.codec.decodeAt(bytes, 0, n, slot.leaf);
    }
    if (slot instanceof AreaSlot) {
      const buf = pager.areaValue(slot.area, slot.cells, slot.leaf, slot.leafCommit, slot.offset, slot.length);
      return pager.codec.decodeAt(buf, pager.valueStart, pager.valueStart + slot.length, slot.area);
    }
    if (slot instanceof NewValue) return pager.codec.decode(slot.bytes, 'a new value');
    const buf = pager.recordValue(slot.cell, this.version, slot.commit);
    return pager.codec.decodeAt(buf, pager.valueStart, pager.valueStart + pager.valueLength, slot.cell);
  }

  private fastSlotValue(hit: Hit): unknown {
    return slotValue(this.pager, this.version, hit.slotOffset, hit.tag, hit.cell);
  }

  /**
   * A frame-direct iterator over the committed version (root a cell number), or null when the
   * version holds nodes of an open transaction. `check` runs before every step.
   */
  frameRanges(from: number, to: number, reverse: boolean, check: (() => void) | null): FrameRanges | null {
    const root = this.tree.root;
    if (root !== null && typeof root !== 'number') return null;
    return new FrameRanges(this.pager, root, this.tree.rootCommit, this.tree.height, this.version, from, to, reverse, check);
  }

  load(index: number): unknown {
    const root = this.tree.root;
    if (root === null) return undefined;
    if (typeof root === 'number') {
      const hit = (this.hit ??= new Hit());
      return fastLookup(this.pager, root, this.tree.rootCommit, this.tree.height, this.version, index, hit) ? this.fastSlotValue(hit) : undefined;
    }
    const e = lookup(this, this.tree, index);
    return e === undefined ? undefined : this.value(e.slot);
  }

  entry(index: number): Range<unknown> | undefined {
    const root = this.tree.root;
    if (root === null) return undefined;
    if (typeof root === 'number') {
      const hit = (this.hit ??= new Hit());
      if (!fastLookup(this.pager, root, this.tree.rootCommit, this.tree.height, this.version, index, hit)) return undefined;
      const { first, last } = hit;
      return { first, last, value: this.fastSlotValue(hit) };
    }
    const e = lookup(this, this.tree, index);
    return e === undefined ? undefined : { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  find(from: number, to: number, reverse: boolean): Range<unknown> | undefined {
    const it = this.frameRanges(from, to, reverse, null);
    if (it !== null) return it.next().value;
    const e = findFirst(this, this.tree, from, to, reverse);
    return e === undefined ? undefined : { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  ranges(from: number, to: number, reverse: boolean): IterableIterator<Range<unknown>> {
    return this.frameRanges(from, to, reverse, null) ?? this.decodedRanges(from, to, reverse);
  }

  private *decodedRanges(from: number, to: number, reverse: boolean): Generator<Range<unknown>> {
    for (const e of iterate(this, this.tree, from, to, reverse)) yield { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  emptyArea(min: number, max: number, size: number, reverse: boolean): number | undefined {
    const root = this.tree.root;
    if (typeof root === 'number') return fastEmptyArea(this.pager, root, this.tree.rootCommit, this.tree.height, this.version, min, max, size, reverse);
    return emptyArea(this, this.tree, min, max, size, reverse);
  }
}
