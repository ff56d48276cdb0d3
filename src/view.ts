/**
 * Reading one tree version: the shared implementation behind MapleStore, Snapshot and WriteTxn.
 * Committed versions use the frame-direct lookup (src/fastRead.ts); a transaction's own version,
 * which mixes new in-memory nodes with committed cells, goes through decoded nodes.
 */
import { type MemNode, type Ref, type Slot, InlineSlot, NewValue, PackedSlot, SLOT_PACKED, SLOT_RECORD } from '../storage/node.js';
import type { Pager } from '../storage/pager.js';
import { findFirst, iterate, lookup } from './cursor.js';
import { Hit, fastLookup } from './fastRead.js';
import { emptyArea } from './gaps.js';
import type { NodeSource, TreeState } from './tree.js';

export interface Range<V> {
  readonly first: number;
  readonly last: number;
  readonly value: V;
}

const sharedHit = new Hit();

function where(cell: number): string {
  return `cell ${cell} (page ${Math.floor(cell / 16)})`;
}

export class TreeReader implements NodeSource {
  constructor(readonly pager: Pager, readonly tree: TreeState, readonly version: number) {}

  node(ref: Ref, max: number): MemNode {
    return this.pager.node(ref, max, this.version);
  }

  value(slot: Slot): unknown {
    if (slot instanceof InlineSlot || slot instanceof NewValue) return this.pager.codec.decode(slot.bytes, 'an inline value');
    if (slot instanceof PackedSlot) return this.pager.codec.decode(this.pager.packedBytes(slot.cell, slot.offset, this.version), where(slot.cell));
    return this.pager.codec.decode(this.pager.recordBytes(slot.cell, this.version), where(slot.cell));
  }

  private fastSlotValue(hit: Hit): unknown {
    const slab = this.pager.pool.slab;
    if (hit.tag === SLOT_RECORD || hit.tag === SLOT_PACKED) {
      const cell = slab[hit.slotOffset]! | (slab[hit.slotOffset + 1]! << 8) | (slab[hit.slotOffset + 2]! << 16) | (slab[hit.slotOffset + 3]! * 0x100_0000);
      if (hit.tag === SLOT_PACKED) return this.pager.codec.decode(this.pager.packedBytes(cell, slab[hit.slotOffset + 5]!, this.version), where(cell));
      return this.pager.codec.decode(this.pager.recordBytes(cell, this.version), where(cell));
    }
    return this.pager.codec.decodeAt(slab, hit.slotOffset, hit.slotOffset + hit.tag, hit.cell);
  }

  load(index: number): unknown {
    const root = this.tree.root;
    if (root === null) return undefined;
    if (typeof root === 'number') {
      return fastLookup(this.pager, root, this.tree.height, this.version, index, sharedHit) ? this.fastSlotValue(sharedHit) : undefined;
    }
    const e = lookup(this, this.tree, index);
    return e === undefined ? undefined : this.value(e.slot);
  }

  entry(index: number): Range<unknown> | undefined {
    const root = this.tree.root;
    if (root === null) return undefined;
    if (typeof root === 'number') {
      if (!fastLookup(this.pager, root, this.tree.height, this.version, index, sharedHit)) return undefined;
      const { first, last } = sharedHit;
      return { first, last, value: this.fastSlotValue(sharedHit) };
    }
    const e = lookup(this, this.tree, index);
    return e === undefined ? undefined : { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  find(from: number, to: number, reverse: boolean): Range<unknown> | undefined {
    const e = findFirst(this, this.tree, from, to, reverse);
    return e === undefined ? undefined : { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  *ranges(from: number, to: number, reverse: boolean): Generator<Range<unknown>> {
    for (const e of iterate(this, this.tree, from, to, reverse)) yield { first: e.first, last: e.last, value: this.value(e.slot) };
  }

  emptyArea(min: number, max: number, size: number, reverse: boolean): number | undefined {
    return emptyArea(this, this.tree, min, max, size, reverse);
  }
}
