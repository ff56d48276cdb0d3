/**
 * The state one commit's steps share (storage/commit/commit.ts runs them in order): the commit's
 * number and nonce, the three trees it changes (the main tree, final once its values are settled;
 * the space map; the pending tree), the cells it frees and the count of pending cells. The steps
 * take it as an argument instead of closing over the locals of one long function.
 */
import { assert, corruptCell } from '../../src/common/errors.js';
import { type TreeState, type WriteSink, writeRange } from '../../src/tree/write.js';
import type { WriteScratch } from '../../src/tree/writeScratch.js';
import type { CommitRecord, TreeRoot } from '../format/commitRecord.js';
import { type MemNode, type Ref, NewValue, pointerCommit } from '../format/node.js';
import type { CellRun } from '../format/pageFile.js';
import { MAX_COMMITS } from '../format/pendingList.js';
import type { CellReader } from '../io/cellReader.js';
import { type ReaderSet, horizonOf } from '../io/readerSet.js';
import { byLevel } from './handOut.js';
import { SpaceMap } from './spaceMap.js';

export function treeOf(root: TreeRoot, ranges = 0, nodes = 0): TreeState {
  // Built as null and then set: a literal holding either null or a number here kept V8
  // deoptimizing this function (measured ~1 µs per commit).
  const tree: TreeState = { root: null, rootCommit: root.commit, height: root.height, ranges, nodes, newValues: 0 };
  if (root.cell !== 0) tree.root = root.cell;
  return tree;
}

/** The commit record's pointer to the root of `tree`, written by commit `commit`. */
export function rootOf(tree: TreeState, commit: number): TreeRoot {
  const r = tree.root;
  if (r === null) return { cell: 0, fresh: false, height: 0, commit: 0 };
  if (typeof r === 'number') {
    assert(tree.rootCommit >= 0, 'a committed root\'s commit is known');
    return { cell: r, fresh: false, height: tree.height, commit: tree.rootCommit };
  }
  assert(r.cell !== 0, 'root has a cell');
  return { cell: r.cell, fresh: true, height: tree.height, commit: pointerCommit(commit) };
}

export class CommitPlan {
  readonly commit: number;
  /** Written into every cell of this commit: tells its cells from a torn earlier attempt's. */
  readonly nonce: number;
  /** Cells this commit stops referencing: the transaction's, then those its own steps free. */
  readonly frees: CellRun[];
  /** The sink of the space-map and pending-tree writes: reads the last durable version. */
  readonly sink: WriteSink;
  readonly space: SpaceMap;
  readonly pending: TreeState;
  /** Cells listed in the pending tree (the commit record's pendingCells). */
  pendingCells: number;
  /** Pending entries freed at or before this commit are reachable by no open reader's horizon. */
  readonly releaseUpTo: number;
  /** The main tree's new nodes in hand-out order (leaves first, byLevel), set by collectMain. */
  mainOrdered: MemNode[] = [];
  /** The main tree's new value records, set when its values are settled (storage/commit/valueAreas.ts). */
  mainRecords: NewValue[] = [];

  constructor(
    readonly pager: CellReader,
    scratch: WriteScratch,
    readonly prev: CommitRecord,
    readonly main: TreeState,
    frees: CellRun[],
    readonly readers: ReaderSet,
  ) {
    this.commit = prev.highestCommit + 1;
    this.nonce = randomNonce();
    this.frees = frees.slice();
    this.sink = {
      node: (ref, max) => {
        const node = pager.node(ref, max, prev.commit);
        // Their leaves hold inline values only: a leaf with a value area is a cell of the main tree.
        if (node.leaf && node.area !== 0 && typeof ref === 'number') throw corruptCell(ref, 'a node of the space map or pending tree names a value area');
        return node;
      },
      freeNode: (cell, node) => {
        assert(node.area === 0, 'the space map and pending trees hold no value areas');
        this.frees.push({ start: cell, count: 1 });
      },
      dropNew: (node) => assert(node.cell === 0, 'a node is replaced only before it has a cell'),
      freeRecord: (cell) => this.frees.push({ start: cell, count: pager.recordCellCount(cell) }),
      copyRecord: (slot) => new NewValue(pager.recordBytes(slot.cell, prev.commit, slot.commit).slice()),
      scratch,
    };
    this.space = new SpaceMap(treeOf(prev.space), prev.highWaterCell, prev.allocatedCells, this.sink);
    this.pending = treeOf(prev.pending);
    this.pendingCells = prev.pendingCells;
    assert(this.commit < MAX_COMMITS, `commit numbers stay below ${MAX_COMMITS} (pending-list keys)`);
    this.releaseUpTo = Math.min(horizonOf(readers, prev.commit), prev.commit);
  }

  /** Removes pending entry [first, last], whose runs are `runs`, from the pending tree. */
  takeEntry(first: number, last: number, runs: CellRun[]): CellRun[] {
    for (const run of runs) this.pendingCells -= run.count;
    writeRange(this.sink, this.pending, first, last, null);
    return runs;
  }

  /**
   * Collects the main tree's new nodes once it is final (only the space map and pending tree
   * change while cells are placed); settling their values (storage/commit/valueAreas.ts) fills
   * mainRecords.
   */
  collectMain(): void {
    const nodes: MemNode[] = [];
    const levels: number[] = [];
    this.mainRecords = [];
    visitNew(this.main.root, nodes, null, levels);
    this.mainOrdered = byLevel(nodes, levels);
  }

  /** Main-tree nodes that have their cells already (leaves placed beside their value areas) are not handed cells again. */
  placed(): void {
    this.mainOrdered = this.mainOrdered.filter((n) => n.cell === 0);
  }

  /** Every new node still to place (main tree first, in hand-out order), and (when asked) every new value. */
  needed(withValues = true): { nodes: MemNode[]; records: NewValue[] } {
    const nodes: MemNode[] = this.mainOrdered.slice();
    const records: NewValue[] | null = withValues ? this.mainRecords.slice() : null;
    visitNew(this.space.tree.root, nodes, records);
    visitNew(this.pending.root, nodes, records);
    return { nodes, records: records ?? [] };
  }
}

/**
 * Collects the new (in-memory) nodes under `ref`, children before parents, each with its level
 * (0 = leaf), and (when asked) the new values of new leaves.
 */
function visitNew(ref: Ref | null, nodes: MemNode[], records: NewValue[] | null, levels: number[] | null = null): number {
  if (ref === null || typeof ref === 'number') return -1;
  let level = 0;
  if (ref.leaf) {
    if (records !== null) {
      const slots = ref.slots;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        if (s instanceof NewValue) records.push(s);
      }
    }
  } else {
    const children = ref.children;
    for (let i = 0; i < children.length; i++) {
      const l = visitNew(children[i]!, nodes, records, levels) + 1;
      if (l > level) level = l;
    }
  }
  nodes.push(ref);
  if (levels !== null) levels.push(level);
  return level;
}

/** A random 32-bit number, never 0 (0 marks cells written before nonces, e.g. by tests). */
function randomNonce(): number {
  return (1 + Math.floor(Math.random() * 0xffff_fffe)) >>> 0;
}
