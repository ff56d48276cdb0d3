/**
 * The checker (bbolt's Tx.Check, the kernel's mt_validate): walks the current version's three
 * trees and verifies every rule the code relies on, throwing ECORRUPT naming the cell.
 *
 *  - every node: checksum, type, count bounds, commit ≤ the version and ≤ its parent's commit,
 *    pivots strictly ascending inside the node's bounds, all leaves at the same depth;
 *  - leaves: no two adjacent empty slots, no leaf ending in a gap except at MAX_INDEX;
 *  - internal nodes: each gap field equals the largest gap below that child;
 *  - occupancy: non-root nodes that are not the rightmost of their level hold at least
 *    LEAF_MIN / INTERNAL_MIN slots;
 *  - values: inline, area and record values decode as msgpack; records pass their checksums with
 *    commit ≤ the version; a leaf's value area is written by the leaf's own commit, names the leaf
 *    as its owner, passes its checksum, and every area slot lies inside it;
 *  - the commit log's run of cells (commitProtocol 'log') is allocated, and nothing else's;
 *  - the shared-structures table decodes, lists as many structures as the commit record says,
 *    and every value decodes through it;
 *  - the range and node counts in the commit record;
 *  - space: every cell below the high-water mark is exactly one of reachable, pending or free —
 *    none twice, none leaked — and the allocated / pending totals in the commit record hold;
 *  - pending entries (storage/format/pendingList.ts): freed by a commit ≤ the version; a windowed entry
 *    names a lowest birth no later than the commit that freed it.
 */
import { corruptCell, corrupt, cellPlace } from '../src/common/errors.js';
import { MAX_INDEX, INTERNAL_MIN, LEAF_MIN, CELL_BASE } from '../src/common/limits.js';
import { decodePendingEntry, isWindowedKey } from '../storage/format/pendingList.js';
import type { CommitRecord, TreeRoot } from '../storage/format/commitRecord.js';
import { AreaSlot, InlineSlot, RecordSlot, checkPointedCommit } from '../storage/format/node.js';
import { areaCommitAt } from '../storage/format/valueArea.js';
import { CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, CELL_BYTES, PAGE_BYTES } from '../src/common/limits.js';
import { isAllocatedMarker } from '../storage/commit/spaceMap.js';
import type { CellReader } from '../storage/io/cellReader.js';
import { loadCodec } from '../storage/io/cellReader.js';

const enum Owner {
  Free = 0,
  MainNode,
  MainRecord,
  SpaceNode,
  PendingNode,
  PendingRecord,
  Pending,
  ValueArea,
  Log,
}
const OWNER_NAMES = ['free', 'a main-tree node', 'a value record', 'a space-map node', 'a pending-tree node', 'a pending-free list', 'pending (freed, awaiting its grace period)', "a leaf's value area", 'the commit log'];

interface Entry {
  first: number;
  last: number;
  slot: InlineSlot | RecordSlot | AreaSlot;
}

/** A leaf with a value area: where the area is and which commit wrote the leaf. */
interface AreaOwner {
  leaf: number;
  area: number;
  cells: number;
  commit: number;
}

interface TreeFacts {
  ranges: number;
  nodes: number;
  entries: Entry[];
  areas: AreaOwner[];
}

export function checkStore(pager: CellReader, rec: CommitRecord): void {
  const hwm = rec.highWaterCell;
  const owner = new Uint8Array(hwm);
  const mark = (start: number, count: number, who: Owner, from: string): void => {
    for (let c = start; c < start + count; c++) {
      if (c < CELL_BASE || c >= hwm) throw corruptCell(c, `${OWNER_NAMES[who]} (${from}) lies outside the cell area [${CELL_BASE}, ${hwm})`);
      if (owner[c] !== Owner.Free) throw corruptCell(c, `is both ${OWNER_NAMES[owner[c]!]} and ${OWNER_NAMES[who]}`);
      owner[c] = who;
    }
  };

  const main = walkTree(pager, rec, rec.main, Owner.MainNode, mark, 'main tree');
  if (main.ranges !== rec.ranges) throw corrupt(`commit ${rec.commit} records ${rec.ranges} ranges; the main tree holds ${main.ranges}`);
  if (main.nodes !== rec.nodes) throw corrupt(`commit ${rec.commit} records ${rec.nodes} nodes; the main tree has ${main.nodes}`);
  // Values decode through the table this version holds, not the store's newer in-memory one.
  const codec = loadCodec(pager, rec.structures, rec.commit, true);
  if (rec.structures.cell !== 0) mark(rec.structures.cell, pager.recordCellCount(rec.structures.cell), Owner.MainRecord, 'shared-structures table');
  if (rec.log.cell !== 0) mark(rec.log.cell, rec.log.cells, Owner.Log, 'commit log');
  for (const a of main.areas) {
    // Written with its leaf, by the leaf's commit: an area has exactly one owner, and is freed with it.
    mark(a.area, a.cells, Owner.ValueArea, `value area of the leaf at cell ${a.leaf}`);
    const at = pager.pool.frame(a.area >>> CELLS_PER_PAGE_SHIFT) * PAGE_BYTES + (a.area & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    const written = areaCommitAt(pager.pool.slab, pager.pool.words, at);
    if (written !== a.commit) throw corruptCell(a.area, `value area written by commit ${written}, but its leaf at cell ${a.leaf} by commit ${a.commit}`);
  }
  for (const e of main.entries) {
    if (e.slot instanceof InlineSlot) {
      codec.decode(e.slot.bytes, `the inline value of [${e.first}, ${e.last}]`);
    } else if (e.slot instanceof RecordSlot) {
      codec.decode(pager.recordBytes(e.slot.cell, rec.commit, e.slot.commit), `the value record at ${cellPlace(e.slot.cell)}`);
      mark(e.slot.cell, pager.recordCellCount(e.slot.cell), Owner.MainRecord, `value of [${e.first}, ${e.last}]`);
    } else if (e.slot instanceof AreaSlot) {
      const s = e.slot;
      const buf = pager.areaValue(s.area, s.cells, s.leaf, s.leafCommit, s.offset, s.length);
      codec.decode(buf.subarray(pager.valueStart, pager.valueStart + s.length), `the value of [${e.first}, ${e.last}] in the value area at ${cellPlace(s.area)}, offset ${s.offset}`);
    }
  }

  const space = walkTree(pager, rec, rec.space, Owner.SpaceNode, mark, 'space map');
  const pending = walkTree(pager, rec, rec.pending, Owner.PendingNode, mark, 'pending tree');
  for (const [tree, name] of [[space, 'space map'], [pending, 'pending tree']] as const) {
    const a = tree.areas[0];
    if (a !== undefined) throw corruptCell(a.leaf, `a ${name} leaf has a value area (only main-tree leaves hold values)`);
  }
  let pendingCells = 0;
  for (const e of pending.entries) {
    if (!(e.slot instanceof RecordSlot) || e.first !== e.last) throw corrupt(`pending entry [${e.first}, ${e.last}] is not a single key holding a record`);
    const entry = decodePendingEntry(e.first, pager.recordBytes(e.slot.cell, rec.commit, e.slot.commit).slice());
    if (entry === undefined) throw corruptCell(e.slot.cell, `windowed pending entry ${e.first} is too short to hold its lowest birth`);
    const { freedBy, lowBirth, runs } = entry;
    if (freedBy > rec.commit) throw corrupt(`pending entry for commit ${freedBy} is newer than commit ${rec.commit}`);
    // The window [lowBirth, freedBy) of a windowed entry: its cells were written before it freed them (an empty window lists cells no version reaches).
    if (isWindowedKey(e.first) && lowBirth > freedBy) throw corruptCell(e.slot.cell, `windowed pending entry ${e.first} of commit ${freedBy} names a lowest birth ${lowBirth} after it`);
    mark(e.slot.cell, pager.recordCellCount(e.slot.cell), Owner.PendingRecord, `pending list of commit ${freedBy}`);
    for (const run of runs) {
      mark(run.start, run.count, Owner.Pending, `freed by commit ${freedBy}`);
      pendingCells += run.count;
    }
  }
  if (pendingCells !== rec.pendingCells) throw corrupt(`commit ${rec.commit} records ${rec.pendingCells} pending cells; the pending lists hold ${pendingCells}`);

  const allocated = new Uint8Array(hwm);
  let allocatedCells = 0;
  for (const e of space.entries) {
    if (!isAllocatedMarker(e.slot)) throw corrupt(`space-map entry [${e.first}, ${e.last}] does not hold the allocated marker`);
    if (e.first < CELL_BASE || e.last >= hwm) throw corrupt(`space-map run [${e.first}, ${e.last}] lies outside the cell area [${CELL_BASE}, ${hwm})`);
    allocated.fill(1, e.first, e.last + 1);
    allocatedCells += e.last - e.first + 1;
  }
  if (allocatedCells !== rec.allocatedCells) throw corrupt(`commit ${rec.commit} records ${rec.allocatedCells} allocated cells; the space map holds ${allocatedCells}`);
  for (let c = CELL_BASE; c < hwm; c++) {
    if (owner[c] !== Owner.Free && !allocated[c]) throw corruptCell(c, `is ${OWNER_NAMES[owner[c]!]} but free in the space map`);
    if (owner[c] === Owner.Free && allocated[c]) throw corruptCell(c, 'is allocated in the space map but neither reachable nor pending (leaked)');
  }
}

function walkTree(
  pager: CellReader,
  rec: CommitRecord,
  root: TreeRoot,
  who: Owner,
  mark: (start: number, count: number, who: Owner, from: string) => void,
  name: string,
): TreeFacts {
  const facts: TreeFacts = { ranges: 0, nodes: 0, entries: [], areas: [] };
  if (root.cell === 0) {
    if (root.height !== 0) throw corrupt(`${name} of commit ${rec.commit} has no root but height ${root.height}`);
    return facts;
  }
  const visit = (cell: number, min: number, max: number, depth: number, parentCommit: number, pointed: number): number => {
    mark(cell, 1, who, name);
    facts.nodes++;
    const node = pager.node(cell, max, rec.commit);
    if (node.commit > parentCommit) throw corruptCell(cell, `written by commit ${node.commit}, newer than its parent (${parentCommit})`);
    checkPointedCommit(cell, node.commit, pointed);
    const n = node.lasts.length;
    if (n > 1 && node.lasts[0]! < min) throw corruptCell(cell, `first pivot ${node.lasts[0]} is below the node's min ${min}`);
    if (n > 1 && node.lasts[n - 2]! >= max) throw corruptCell(cell, `last pivot ${node.lasts[n - 2]} is not below the node's max ${max}`);
    const isRoot = depth === 0;
    const rightmost = max === MAX_INDEX;
    if (node.leaf) {
      if (depth !== root.height - 1) throw corruptCell(cell, `leaf at depth ${depth}, tree height ${root.height}`);
      if (node.area !== 0) facts.areas.push({ leaf: cell, area: node.area, cells: node.areaCells, commit: node.commit });
      else if (node.areaCells !== 0) throw corruptCell(cell, `leaf gives ${node.areaCells} cells to a value area it does not have`);
      if (!isRoot && !rightmost && n < LEAF_MIN) throw corruptCell(cell, `leaf holds ${n} slots, below the minimum ${LEAF_MIN}`);
      let gap = 0;
      let lo = min;
      for (let i = 0; i < n; i++) {
        const hi = node.lasts[i]!;
        const slot = node.slots[i] ?? null;
        if (slot === null) {
          if (i > 0 && node.slots[i - 1] === null) throw corruptCell(cell, `adjacent empty slots ${i - 1} and ${i}`);
          gap = Math.max(gap, hi - lo + 1);
        } else {
          facts.ranges++;
          facts.entries.push({ first: lo, last: hi, slot: slot as InlineSlot | RecordSlot | AreaSlot });
        }
        lo = hi + 1;
      }
      if (node.slots[n - 1] === null && max !== MAX_INDEX) throw corruptCell(cell, `leaf ends in a gap at ${max}, not at MAX_INDEX`);
      if (isRoot && n === 1 && node.slots[0] === null) throw corruptCell(cell, 'root leaf holds nothing (an empty tree has no root)');
      return gap;
    }
    if (depth >= root.height - 1) throw corruptCell(cell, `internal node at depth ${depth}, tree height ${root.height}`);
    if (!isRoot && !rightmost && n < INTERNAL_MIN) throw corruptCell(cell, `internal node holds ${n} children, below the minimum ${INTERNAL_MIN}`);
    if (isRoot && n < 2) throw corruptCell(cell, 'internal root with a single child');
    let gap = 0;
    let lo = min;
    for (let i = 0; i < n; i++) {
      const hi = node.lasts[i]!;
      const child = node.children[i]!;
      const childGap = visit(child as number, lo, hi, depth + 1, node.commit, node.childCommits[i]!);
      if (childGap !== node.gaps[i]) throw corruptCell(cell, `gap field ${i} says ${node.gaps[i]}, the child's largest gap is ${childGap}`);
      gap = Math.max(gap, childGap);
      lo = hi + 1;
    }
    return gap;
  };
  visit(root.cell, 0, MAX_INDEX, 0, rec.commit, root.commit);
  return facts;
}
