/**
 * Commits: turn a transaction's new tree into cells on disk and swap the root atomically.
 *
 *  1. Reuse pending frees no open reader can reach (storage/freeList.ts): a pending entry lists
 *     cells written at or after its lowest birth and freed by commit K, which only the versions
 *     in [lowest birth, K) reach; it is reusable once no reader reads such a version (and K is
 *     durable — older than the commit being written). The cells stay allocated in the space map
 *     throughout, so reusing them touches only the pending tree.
 *  2. Settle the new leaves' values (storage/commit/valueAreas.ts): each new leaf with values too
 *     long for its slots gets a value area of its own, values too long for an area a record.
 *     Give every value area and record a run of cells, every new node a cell. Allocation
 *     changes the space map, whose new nodes need cells too; iterate to a fixed point (LMDB does
 *     the same with its free list). Nodes replaced during the iteration hand their cells back to
 *     a local pool first.
 *  3. Record what this commit freed (storage/pendingList.ts): the cells the oldest reader may
 *     reach under this commit's number (by-commit entries); those only newer readers reach, or
 *     none, in windowed entries with their lowest birth. The cells it took and did not use reach
 *     no version: a large leftover goes back under the key of the entry it came from, the rest
 *     joins the cells no reader reaches (reusable by the next commit whatever the readers).
 *  4. Write every new cell (coalesced into contiguous writes) and the commit record into the ring
 *     slot after the current one, then one fdatasync ('one-sync', validated at open by walking
 *     FRESH pointers) or sync-record-sync ('two-sync').
 *
 * A commit writes only cells that are free in the last durable commit's space map — never a cell
 * that version or an open reader (snapshot, iterator, read-only store in any process) can reach.
 */
import { assert, corruptCell } from '../../src/common/errors.js';
import { AREA_VALUE_MAX_BYTES, MAX_INDEX, MAX_INLINE_BYTES, NODE_BYTES, CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';
import { findFirst, iterate } from '../../src/tree/walk.js';
import { type NodeSource, type TreeState, type WriteSink, writeRange } from '../../src/tree/write.js';
import type { BufferPool } from '../io/bufferPool.js';
import { type CommitRecord, type StructuresRef, type TreeRoot, FLAG_CELLS_DURABLE, encodeCommitRecord } from '../format/commitRecord.js';
import type { FileIO } from '../io/fileIO.js';
import { type MemNode, type Ref, NewValue, RecordSlot, encodeNodeAt } from '../format/node.js';
import type { ValueArena } from '../format/valueArena.js';
import { type LeafArea, encodeArea, settleValues } from './valueAreas.js';
import { ringSlotOffsetBytes, type CellRun } from '../format/pageFile.js';
import type { CellReader } from '../io/cellReader.js';
import { SpaceMap } from './spaceMap.js';
import { encodeRecordAt, recordCells } from '../format/valueRecord.js';
import { FreeList } from './freeList.js';
import { encodeStructures } from '../format/structures.js';
import { BY_COMMIT_CHUNK_RUNS, CHUNK_PLACEHOLDER, MAX_COMMITS, PENDING_KEYS_PER_COMMIT, WINDOWED_CHUNK_RUNS, WINDOWED_KEY_BASE, byCommitKey, decodePendingEntry, encodeChunk, isWindowedKey, type PendingEntry, type PendingRun, windowedKey } from '../format/pendingList.js';
import { BirthBands, type ReaderSet, horizonOf, readerInWindow } from '../io/readerSet.js';

export type CommitProtocol = 'one-sync' | 'two-sync';

export interface DurableState {
  rec: CommitRecord;
  /** Ring slot holding `rec`. */
  slot: number;
}

export interface CommitInput {
  main: TreeState;
  /** Cells the transaction stopped referencing. */
  frees: CellRun[];
  /** The versions open readers read: what they reach stays pending (storage/io/readerSet.ts). */
  readers: ReaderSet;
  /** The transaction's values, for the slots that are handles (null: it stored none). */
  values: ValueArena | null;
}

export interface CommitOptions {
  protocol: CommitProtocol;
  sync: boolean;
  /** Values of up to AREA_VALUE_MAX_BYTES in their leaf's value area (OpenOptions.packValues); false: a record each. */
  packValues: boolean;
}

export interface CommitResult {
  state: DurableState;
  cellsWritten: number;
}

const PENDING_SLACK_RUNS = 8;
/**
 * A source entry of the free list (step 1) with more cells than this left over gets them back
 * under its own key, below the entries the next commits free, which are taken first; fewer join
 * this commit's list, as one chunk costs less than two. Measured: with every leftover under its
 * source's key, single-store commits on 100,000 ranges wrote 12.1 cells instead of 10.5
 * (test/bench/probes/heldReaders.ts); with every leftover in the commit's own list, 3,000 small
 * commits after clearing 4 MB carved every cell from the one large leftover run, never reused the
 * isolated cells they freed, and wrote 12.9 cells per commit instead of 8.6 (the pending tree
 * grew a level).
 */
const LEFTOVER_KEEP_CELLS = 64;
/**
 * A reader band (cells only readers newer than the oldest reach, storage/readerSet.ts) gets
 * windowed chunks of its own only when it frees at least this many cells; a smaller one joins the
 * by-commit list. Readers that close oldest first release both together anyway: with two
 * snapshots reopened after random holds of up to 2,000 single-store commits on 20,000 ranges
 * (test/bench/probes/heldReaders.ts 20000 20000 2000), a chunk for every band wrote 13.8 cells per
 * commit and grew the file to 1.86 MiB, this 10.5 and 1.54 MiB. A large band (a bulk rewrite
 * under a newer snapshot, closed before an older one) is worth its chunk.
 */
const BAND_MIN_CELLS = 16;
/** Pinned windowed entries a commit's free list looks past before it leaves the rest for later (step 1). */
const PINNED_SCAN_LIMIT = 16;
/** A commit writing at most this many cells may take them as one run from the space map (below). */
const SMALL_COMMIT_CELLS = 64;
/** … when all free cells (loaded or pending) exceed its need by at most this many. */
const SMALL_COMMIT_SLACK = 8;

/**
 * A commit writing at least this many cells syncs them before writing its record (two-sync) and
 * marks the record CELLS_DURABLE, so open never has to validate a big commit: open time stays
 * bounded by this, whatever the size of the last commit. Small commits keep one fdatasync.
 */
export const ADAPTIVE_TWO_SYNC_CELLS = 2048;
const MAX_ROUNDS = 64;

export function treeOf(root: TreeRoot, ranges = 0, nodes = 0): TreeState {
  // Built as null and then set: a literal holding either null or a number here kept V8
  // deoptimizing this function (measured ~1 µs per commit).
  const tree: TreeState = { root: null, height: root.height, ranges, nodes };
  if (root.cell !== 0) tree.root = root.cell;
  return tree;
}

function rootOf(tree: TreeState): TreeRoot {
  const r = tree.root;
  if (r === null) return { cell: 0, fresh: false, height: 0 };
  if (typeof r === 'number') return { cell: r, fresh: false, height: tree.height };
  assert(r.cell !== 0, 'root has a cell');
  return { cell: r.cell, fresh: true, height: tree.height };
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

/**
 * The main tree's new nodes ordered leaves first, then level by level, each level in key order.
 * Cells are handed out in address order, so a bulk load lays its leaves out contiguously (range
 * scans read neighbouring cells) and its internal nodes in pages of their own (a small cache
 * keeps the upper levels whole instead of pages that are mostly leaves).
 */
function byLevel(nodes: MemNode[], levels: number[]): MemNode[] {
  let top = 0;
  let sorted = true;
  for (let i = 0; i < levels.length; i++) {
    if (i > 0 && levels[i - 1]! > levels[i]!) sorted = false;
    if (levels[i]! > top) top = levels[i]!;
  }
  if (sorted) return nodes;
  const out: MemNode[] = [];
  for (let level = 0; level <= top; level++) {
    for (let i = 0; i < nodes.length; i++) if (levels[i] === level) out.push(nodes[i]!);
  }
  return out;
}

/**
 * Cells on pending lists: reusable by the next commit (no reader in `readers` reads a version in
 * their entry's window) and still waiting.
 */
export function pendingSplit(src: NodeSource, pager: CellReader, rec: CommitRecord, readers: ReaderSet): { reusable: number; waiting: number } {
  let reusable = 0;
  let waiting = 0;
  const pending = treeOf(rec.pending);
  for (const entry of iterate(src, pending, 0, MAX_INDEX, false)) {
    if (!(entry.slot instanceof RecordSlot)) continue;
    const e = decodePendingEntry(entry.first, pager.recordBytes(entry.slot.cell, rec.commit).slice());
    if (e === undefined) continue;
    let cells = 0;
    for (const run of e.runs) cells += run.count;
    if (readerInWindow(readers, e.lowBirth, e.freedBy)) waiting += cells;
    else reusable += cells;
  }
  return { reusable, waiting };
}

export function writeCommit(io: FileIO, pager: CellReader, pool: BufferPool, state: DurableState, input: CommitInput, options: CommitOptions): CommitResult {
  const prev = state.rec;
  const commit = prev.highestCommit + 1;
  const nonce = randomNonce();
  const frees: CellRun[] = input.frees.slice();
  const sink: WriteSink = {
    node: (ref, max) => pager.node(ref, max, prev.commit),
    freeNode: (cell, node) => {
      assert(node.area === 0, 'the space map and pending trees hold no value areas');
      frees.push({ start: cell, count: 1 });
    },
    dropNew: (node) => assert(node.cell === 0, 'a node is replaced only before it has a cell'),
    freeRecord: (cell) => frees.push({ start: cell, count: pager.recordCellCount(cell) }),
    copyRecord: (cell) => new NewValue(pager.recordBytes(cell, prev.commit).slice()),
  };
  const space = new SpaceMap(treeOf(prev.space), prev.highWaterCell, prev.allocatedCells, sink);
  const pending = treeOf(prev.pending);
  let pendingCells = prev.pendingCells;

  // 1. The free list: pending entries no open reader can reach, taken lazily as cells are needed.
  //    By-commit entries are reusable up to the horizon (the oldest version read) — a key prefix;
  //    windowed entries (storage/pendingList.ts) are reusable when no reader's version lies in
  //    their window. A reusable entry is freed by a durable commit (≤ prev.commit), so neither the
  //    last durable version nor a reader that opens during this commit reaches its cells.
  assert(commit < MAX_COMMITS, `commit numbers stay below ${MAX_COMMITS} (pending-list keys)`);
  const readers = input.readers;
  const releaseUpTo = Math.min(horizonOf(readers, prev.commit), prev.commit);
  //    Windowed entries are taken first, newest first: the young ones of the commit just before
  //    (released now, unless a reader lies in their window) and the cells it left unused. A
  //    pinned one is skipped; after PINNED_SCAN_LIMIT skipped, the rest of the windowed entries
  //    above the horizon wait for it (those at or below it are reusable whatever their window):
  //    the scan costs at most that many record reads per commit, however many entries a
  //    long-held reader pins.
  //    Then by-commit entries, the newest reusable first (found afresh each time, O(log n), as
  //    entries are removed when taken). Newest first keeps small commits cycling through the few
  //    cells the commits just before them freed, and touches one end of the pending tree instead
  //    of both: measured on a 1,000,000-range store after 3,000 random overwrites, single-store
  //    commits wrote 13.5 cells instead of 16.3 (pending-tree nodes 5–6 → 2).
  const releaseLimit = byCommitKey(releaseUpTo + 1, 0) - 1;
  const windowedFloor = windowedKey(releaseUpTo + 1, 0) - 1;
  let windowedCursor = readers.any ? windowedFloor : windowedKey(prev.commit + 1, 0) - 1;
  let byCommitCursor = releaseLimit;
  let pinnedSkipped = 0;
  const takeEntry = (first: number, last: number, runs: CellRun[]): CellRun[] => {
    for (const run of runs) pendingCells -= run.count;
    writeRange(sink, pending, first, last, null);
    return runs;
  };
  //    Entries the free list takes are its sources: what it leaves of one goes back under that
  //    entry's key (step 3), a key at or below the release limit, so it stays reusable whatever
  //    the readers — and, being older than the entries the next commits free, it is loaded only
  //    when those do not cover their need (a commit carving its cells from a large leftover run
  //    otherwise never reuses the isolated cells the commits before it freed, and its list grows).
  const sources: { key: number; freedBy: number; windowed: boolean }[] = [];
  const load = (first: number, last: number, e: PendingEntry): CellRun[] => {
    const source = sources.length;
    sources.push({ key: first, freedBy: e.freedBy, windowed: isWindowedKey(first) });
    for (const run of e.runs) run.source = source;
    return takeEntry(first, last, e.runs);
  };
  const free = new FreeList(() => {
    while (windowedCursor >= WINDOWED_KEY_BASE) {
      // The newest windowed entry, or (none left) the newest by-commit one: one descent when
      // there is no windowed entry, as with no reader open. (This commit's own by-commit chunks,
      // above releaseLimit, are found the same way: then the bounded search below.)
      const entry = findFirst(sink, pending, 0, windowedCursor, true);
      if (entry === undefined) return undefined;
      if (entry.first < WINDOWED_KEY_BASE) {
        windowedCursor = WINDOWED_KEY_BASE - 1;
        if (entry.first > releaseLimit) break;
      }
      // A chunk this commit put back under a key it emptied (step 3) lists nothing to take yet.
      if (!(entry.slot instanceof RecordSlot)) {
        if (entry.first < WINDOWED_KEY_BASE) byCommitCursor = entry.first - 1;
        else windowedCursor = entry.first - 1;
        continue;
      }
      const e = decodePendingEntry(entry.first, pager.recordBytes(entry.slot.cell, prev.commit));
      if (e === undefined) throw corruptCell(entry.slot.cell, `windowed pending entry ${entry.first} is too short to hold its lowest birth`);
      if (entry.first <= windowedFloor || !readerInWindow(readers, e.lowBirth, e.freedBy)) return load(entry.first, entry.last, e);
      windowedCursor = entry.first - 1;
      if (++pinnedSkipped >= PINNED_SCAN_LIMIT && windowedCursor > windowedFloor) windowedCursor = windowedFloor;
    }
    for (;;) {
      const entry = findFirst(sink, pending, 0, byCommitCursor, true);
      if (entry === undefined) return undefined;
      if (!(entry.slot instanceof RecordSlot)) {
        byCommitCursor = entry.first - 1;
        continue;
      }
      return load(entry.first, entry.last, decodePendingEntry(entry.first, pager.recordBytes(entry.slot.cell, prev.commit))!);
    }
  });
  /** Gives each object (record or value area) a contiguous run: from the free list, else from the space map. */
  const placeRuns = (objects: { cells: number; cell: number }[]): void => {
    const rest: { cells: number; cell: number }[] = [];
    for (const o of objects) {
      const start = free.run(o.cells);
      if (start === undefined) rest.push(o);
      else o.cell = start;
    }
    space.allocateRuns(rest);
  };
  const placeRecords = (records: NewValue[]): void => {
    const objects = records.map((r) => ({ cells: recordCells(r.bytes.length), cell: 0 }));
    placeRuns(objects);
    records.forEach((r, i) => {
      r.cell = objects[i]!.cell;
    });
  };

  // 2. The main tree is final from here on (only the space map and pending tree change while
  //    cells are placed), so its new nodes are collected once, and their values settled: each new
  //    leaf's values too long for its slots go to a value area of its own, values too long for an
  //    area to records. Areas and records each get a contiguous run, first-fit into holes, else at
  //    the tail.
  const mainNodes: MemNode[] = [];
  const mainLevels: number[] = [];
  const mainRecords: NewValue[] = [];
  visitNew(input.main.root, mainNodes, null, mainLevels);
  const mainOrdered = byLevel(mainNodes, mainLevels);
  const areas = settleValues(mainOrdered, input.values, options.packValues ? AREA_VALUE_MAX_BYTES : MAX_INLINE_BYTES, mainRecords);

  /** Every new node still to place, and (when asked) every new value. */
  const needed = (withValues = true): { nodes: MemNode[]; records: NewValue[] } => {
    const nodes: MemNode[] = mainOrdered.slice();
    const records: NewValue[] | null = withValues ? mainRecords.slice() : null;
    visitNew(space.tree.root, nodes, records);
    visitNew(pending.root, nodes, records);
    return { nodes, records: records ?? [] };
  };
  placeRuns(areas);
  for (const a of areas) {
    a.leaf.area = a.cell;
    a.leaf.areaCells = a.cells;
  }
  placeRecords(needed().records);

  //    Values of this transaction may use shared structures the file does not hold yet: write the
  //    whole table again (it only grows) and free the old one.
  const codec = pager.codec;
  let structures: StructuresRef = { cell: prev.structures.cell, fresh: false, count: prev.structures.count };
  let table: NewValue | null = null;
  if (codec.structureCount > prev.structures.count) {
    table = new NewValue(encodeStructures(codec.structures()));
    placeRecords([table]);
    if (prev.structures.cell !== 0) frees.push({ start: prev.structures.cell, count: pager.recordCellCount(prev.structures.cell) });
    structures = { cell: table.cell, fresh: true, count: codec.structureCount };
  }

  // 3. Cells for every new node and pending-list chunk. Allocating changes the space map, whose
  //    new nodes need cells too: take cells, re-count, take more until everything fits (new nodes
  //    replace nodes that are already new, so this converges in a few rounds). Cells are handed
  //    out only at the end; any left over are freed by this very commit, so the space map is not
  //    touched again.
  //    Cells are taken as contiguously as possible (each separate run is a write call and, for
  //    a durable commit, a page to sync): extending the run taken so far, else the shortest
  //    loaded run that holds them all, else the longest loaded run and then isolated cells. A
  //    small commit that finds no run long enough, when all the free cells there are (loaded or
  //    still pending) barely cover it, takes one run from the space map instead and leaves them
  //    on the list: the cells of consecutive small commits otherwise interleave (each reusing the
  //    scattered cells the one before it freed) and stay interleaved. Only a nearly empty free
  //    list allows it, so the file holds at most about two small commits' cells more than it
  //    would have.
  const cells: number[] = [];
  let nodes: MemNode[] = [];
  const byCommitChunks: NewValue[] = [];
  const windowedChunks: NewValue[] = [];
  let fromSpaceMap = false;
  const takeFromSpaceMap = (count: number, contiguous: boolean): void => {
    for (const run of space.allocate(count, contiguous)) {
      for (let c = 0; c < run.count; c++) cells.push(run.start + c);
    }
  };
  /** Takes up to `missing` cells for a commit needing `need` in all; returns how many. */
  const takeCells = (need: number, missing: number): number => {
    if (fromSpaceMap) {
      takeFromSpaceMap(missing, true);
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
    if (cells.length === 0 && need >= 2 && need <= SMALL_COMMIT_CELLS && pendingCells + free.available() <= need + SMALL_COMMIT_SLACK && free.longestRun() < need) {
      fromSpaceMap = true;
      takeFromSpaceMap(missing, true);
      return missing;
    }
    const start = free.bestFit(missing - got);
    if (start !== undefined) {
      for (let c = 0; c < missing - got; c++) cells.push(start + c);
      return missing;
    }
    return got + free.takeRuns(missing - got, cells);
  };
  const fillCells = (): void => {
    for (let round = 0; ; round++) {
      assert(round < MAX_ROUNDS, 'commit allocation converges');
      nodes = needed(false).nodes;
      const need = nodes.length + chunkCount();
      if (need <= cells.length) return;
      const missing = need - cells.length - takeCells(need, need - cells.length);
      if (missing > 0) takeFromSpaceMap(missing + 1, false);
    }
  };

  // 4. This commit's pending list: every run it frees, in chunks of one cell each (a chunk fits
  //    any hole), split by who can reach the cells (storage/readerSet.ts, BirthBands): cells the
  //    oldest reader may reach go to by-commit chunks (byCommitKey(commit, i)); cells only newer
  //    readers reach, or none, to windowed chunks (windowedKey(commit, j)), one group per chunk
  //    with the lowest birth among its cells. The cells this commit took and does not use — spare
  //    cells and loaded runs left over — are reachable by no version: a source entry's large
  //    leftover goes back under its key (LEFTOVER_KEEP_CELLS), the rest joins the young group
  //    (whose window is empty when it holds nothing else), so that a reader held across commits
  //    pins none of them. With no reader open everything is by-commit, as before windowed entries
  //    existed: the next commit reuses it anyway.
  //    Chunks are added until the lists fit; adding one can free a few space-map paths, hence
  //    the loop. A chunk's cell is taken with the nodes' (the chunk is freed by the next commit,
  //    like the nodes at the top of the trees, so it belongs in their run).
  assert(recordCells(CHUNK_PLACEHOLDER.length) === 1, 'a pending-list chunk is one cell');
  const bands = new BirthBands(readers, prev.commit);
  /** The group of each entry of `frees` (−1 by-commit, else the windowed group). */
  const freeGroups: number[] = [];
  /** The lowest birth in each windowed group; `commit` (an empty window) while it has none. */
  const lowBirths: number[] = new Array<number>(bands.groups).fill(commit);
  /** Cells freed in each windowed group. */
  const bandCells: number[] = new Array<number>(bands.groups).fill(0);
  /** A reader band with fewer cells than BAND_MIN_CELLS joins the by-commit list (which is safe). */
  const effective = (group: number): number => (group >= 0 && group !== bands.unreachable && bandCells[group]! < BAND_MIN_CELLS ? -1 : group);
  const classify = (): void => {
    for (let i = freeGroups.length; i < frees.length; i++) {
      let group = -1;
      if (bands.needsBirths) {
        // Every freed object starts a run of its own (a node, a record, a block, a chunk).
        const birth = pager.cellCommit(frees[i]!.start);
        // A birth outside [1, prev.commit] is a damaged header: the oldest group, which is safe.
        group = bands.groupOf(birth >= 1 && birth <= prev.commit ? birth : 0);
        if (group >= 0) {
          if (birth < lowBirths[group]!) lowBirths[group] = birth;
          bandCells[group]! += frees[i]!.count;
        }
      }
      freeGroups.push(group);
    }
  };
  /** The chunk put back under each source's key (storage/freeList.ts leftovers), when it left any. */
  const sourceChunks = new Map<number, NewValue>();
  const chunkCount = (): number => byCommitChunks.length + windowedChunks.length + sourceChunks.size;
  /**
   * Adds a chunk under the key of every source with more than LEFTOVER_KEEP_CELLS cells left over
   * (the others join this commit's list of cells no version reaches); true when it added one.
   */
  const addSourceChunks = (): boolean => {
    let added = false;
    const leftovers = free.leftovers() as PendingRun[];
    let total = 0;
    for (const run of leftovers) total += run.count;
    if (total <= LEFTOVER_KEEP_CELLS) return false;
    const left = new Map<number, number>();
    for (const run of leftovers) left.set(run.source, (left.get(run.source) ?? 0) + run.count);
    for (const [source, cellsLeft] of left) {
      if (sourceChunks.has(source) || cellsLeft <= LEFTOVER_KEEP_CELLS) continue;
      const key = sources[source]!.key;
      const chunk = new NewValue(CHUNK_PLACEHOLDER);
      writeRange(sink, pending, key, key, chunk);
      sourceChunks.set(source, chunk);
      added = true;
    }
    return added;
  };
  /** Chunks needed for these runs per group (index 0 by-commit, g + 1 windowed group g). */
  const chunksFor = (runsPerGroup: number[]): { byCommit: number; windowed: number } => {
    let windowed = 0;
    for (let g = 1; g < runsPerGroup.length; g++) windowed += Math.ceil(runsPerGroup[g]! / WINDOWED_CHUNK_RUNS);
    return { byCommit: Math.ceil(runsPerGroup[0]! / BY_COMMIT_CHUNK_RUNS), windowed };
  };
  /** Runs per group (not yet joined) of frees[0 .. countedFrees) once coalesced (set when the chunks are first sized). */
  let countedRuns = new Array<number>(bands.groups + 1).fill(0);
  let countedFrees = 0;
  /** Runs per group (an upper bound: frees since countedFrees uncoalesced), with `unusedRuns` in the unreachable group. */
  const runCounts = (unusedRuns: number): number[] => {
    const counts = countedRuns.slice();
    for (let i = countedFrees; i < freeGroups.length; i++) counts[freeGroups[i]! + 1]!++;
    counts[bands.unreachable + 1]! += unusedRuns;
    for (let g = 0; g < bands.groups; g++) {
      if (effective(g) !== -1) continue;
      counts[0]! += counts[g + 1]!;
      counts[g + 1] = 0;
    }
    return counts;
  };
  /** Leftover runs that join this commit's own list (their source has no chunk of its own). */
  const unplacedLeftovers = (): number => {
    let n = 0;
    if (sourceChunks.size === 0) return free.leftoverCount();
    for (const r of free.leftovers() as PendingRun[]) if (!sourceChunks.has(r.source)) n++;
    return n;
  };
  /**
   * The lists per group (index as in chunksFor), coalesced: the frees, `spare` (cells taken and
   * not used) and the leftovers of sources without a chunk in the unreachable group; small reader
   * bands joined to the by-commit list when `join`; then each source's list (bands.groups + 1 +
   * source), its leftovers when it has a chunk. Without `withLeftovers`, the frees and `spare` only.
   */
  const groupLists = (spare: number[], join: boolean, withLeftovers = true): CellRun[][] => {
    const runs = frees.slice();
    const groups = join && bands.groups > 1 ? freeGroups.map(effective) : freeGroups.slice();
    for (const c of spare) {
      runs.push({ start: c, count: 1 });
      groups.push(bands.unreachable);
    }
    for (const r of withLeftovers ? (free.leftovers() as PendingRun[]) : []) {
      runs.push(r);
      groups.push(sourceChunks.has(r.source) ? bands.groups + r.source : bands.unreachable);
    }
    return coalesceGroups(runs, groups, bands.groups + 1 + sources.length);
  };
  const addChunk = (windowed: boolean): void => {
    const list = windowed ? windowedChunks : byCommitChunks;
    assert(list.length < PENDING_KEYS_PER_COMMIT, 'pending list fits its key space');
    const key = windowed ? windowedKey(commit, list.length) : byCommitKey(commit, list.length);
    const chunk = new NewValue(CHUNK_PLACEHOLDER);
    writeRange(sink, pending, key, key, chunk);
    list.push(chunk);
  };
  const addChunks = (need: { byCommit: number; windowed: number }): void => {
    while (byCommitChunks.length < need.byCommit) addChunk(false);
    while (windowedChunks.length < need.windowed) addChunk(true);
  };
  /**
   * While a reader is held, most commits free a cell or two it reaches, each listed in a chunk
   * of its own that stays as long as the reader: measured, 10,000 single-store commits under one
   * held snapshot kept ~2,000 such chunks — as many cells as the snapshot's whole version. So
   * a commit that writes a by-commit chunk anyway takes the newest pinned by-commit entry into it
   * when the two fit one chunk and no reader reads a version between the two commits (its cells
   * are then pinned by exactly the same readers under this commit's number); its old chunk is
   * freed like any other.
   */
  const carryPinnedList = (): void => {
    if (releaseUpTo >= prev.commit || !freeGroups.some((g) => effective(g) === -1)) return;
    const entry = findFirst(sink, pending, 0, byCommitKey(prev.commit + 1, 0) - 1, true);
    if (entry === undefined || !(entry.slot instanceof RecordSlot)) return;
    const e = decodePendingEntry(entry.first, pager.recordBytes(entry.slot.cell, prev.commit))!;
    if (e.freedBy <= releaseUpTo || readerInWindow(readers, e.freedBy, commit)) return;
    let runs = e.runs.length;
    for (const g of freeGroups) if (effective(g) === -1) runs++;
    if (runs > BY_COMMIT_CHUNK_RUNS - PENDING_SLACK_RUNS) return;
    takeEntry(entry.first, entry.last, e.runs);
    classify(); // the entry's chunk cell, freed just now
    for (const run of e.runs) {
      frees.push(run);
      freeGroups.push(-1);
    }
  };
  const fits = (need: { byCommit: number; windowed: number }): boolean => need.byCommit <= byCommitChunks.length && need.windowed <= windowedChunks.length;
  classify();
  carryPinnedList();
  // Sized from the coalesced lists: a bulk rewrite frees thousands of neighbouring cells that
  // coalesce into a few runs (sized uncoalesced, such a commit wrote dozens of empty chunks).
  if (frees.length > BY_COMMIT_CHUNK_RUNS) {
    countedRuns = groupLists([], false, false).slice(0, bands.groups + 1).map((list) => list.length);
    countedFrees = frees.length;
  }
  const initial = runCounts(0);
  // Room for the space-map and pending-tree paths freed while cells are placed (saves rounds).
  if (initial[0]! > 0 || bands.groups === 0) initial[0]! += PENDING_SLACK_RUNS;
  addChunks(chunksFor(initial));
  for (let round = 0; ; round++) {
    assert(round <= 2 * PENDING_KEYS_PER_COMMIT, 'the pending list converges');
    fillCells();
    classify();
    if (addSourceChunks()) continue;
    // Coalescing only merges runs: when the runs fit uncoalesced they fit, so sort only if not.
    const unused = cells.length - nodes.length - chunkCount() + unplacedLeftovers();
    if (fits(chunksFor(runCounts(unused)))) break;
    const { spare } = handOut(cells, nodes.length + chunkCount());
    const need = chunksFor(groupLists(spare, true).slice(0, bands.groups + 1).map((list) => list.length));
    if (fits(need)) break;
    addChunks(need);
  }

  const { order, spare } = handOut(cells, nodes.length + chunkCount());
  nodes.forEach((node, i) => {
    node.cell = order[i]!;
  });
  byCommitChunks.forEach((chunk, i) => {
    chunk.cell = order[nodes.length + i]!;
  });
  windowedChunks.forEach((chunk, i) => {
    chunk.cell = order[nodes.length + byCommitChunks.length + i]!;
  });
  let at = nodes.length + byCommitChunks.length + windowedChunks.length;
  for (const chunk of sourceChunks.values()) chunk.cell = order[at++]!;
  const lists = groupLists(spare, true);
  const fill = (chunk: NewValue, runs: CellRun[], lowBirth: number | undefined): void => {
    for (const run of runs) pendingCells += run.count;
    chunk.bytes = encodeChunk(runs, lowBirth);
  };
  let next = 0;
  for (const chunk of byCommitChunks) {
    const mine = lists[0]!.slice(next, next + BY_COMMIT_CHUNK_RUNS);
    next += mine.length;
    fill(chunk, mine, undefined);
  }
  assert(next === lists[0]!.length, 'every by-commit run is in the pending list');
  // Windowed chunks in key order: any not needed (the lists shrank as they coalesced) list nothing,
  // then the groups by ascending birth, the young group last — on top, where the next commit's
  // free list looks first.
  let windowedNeeded = 0;
  for (let g = 1; g <= bands.groups; g++) windowedNeeded += Math.ceil(lists[g]!.length / WINDOWED_CHUNK_RUNS);
  let w = 0;
  for (; w < windowedChunks.length - windowedNeeded; w++) fill(windowedChunks[w]!, [], commit);
  for (let g = 1; g <= bands.groups; g++) {
    const list = lists[g]!;
    for (let at = 0; at < list.length; at += WINDOWED_CHUNK_RUNS) fill(windowedChunks[w++]!, list.slice(at, at + WINDOWED_CHUNK_RUNS), lowBirths[g - 1]!);
  }
  assert(w === windowedChunks.length, 'every windowed run is in the pending list');
  // Leftovers under their source's key: runs only shrink as cells are taken from their start, so
  // a source's leftovers fit the chunk it came in (a windowed one gets an empty window: no
  // version reaches them).
  for (const [source, chunk] of sourceChunks) {
    const { windowed, freedBy } = sources[source]!;
    const list = lists[bands.groups + 1 + source]!;
    assert(list.length <= (windowed ? WINDOWED_CHUNK_RUNS : BY_COMMIT_CHUNK_RUNS), `the leftovers of pending entry ${sources[source]!.key} fit its chunk`);
    fill(chunk, list, windowed ? freedBy : undefined);
  }

  // 5. Encode, write, sync, publish. Every new cell is encoded straight into one buffer, in
  //    address order, and each contiguous run of cells is written with one call.
  const extras: Extra[] = [];
  for (const r of needed().records) extras.push({ cell: r.cell, cells: recordCells(r.bytes.length), record: r.bytes, area: null });
  if (table) extras.push({ cell: table.cell, cells: recordCells(table.bytes.length), record: table.bytes, area: null });
  for (const a of areas) extras.push({ cell: a.cell, cells: a.cells, record: null, area: a });
  let sorted = true;
  for (let i = 1; i < extras.length && sorted; i++) sorted = extras[i - 1]!.cell < extras[i]!.cell;
  const extrasByCell = sorted ? extras : orderByKey(extras.length, (i) => extras[i]!.cell).map((i) => extras[i]!);
  // The shared buffers are free unless this commit runs inside another's I/O (a test's disk
  // hook committing to a second store): then it takes buffers of its own.
  const shared = !scratchBusy;
  scratchBusy = true;
  try {
    const result = finishCommit(io, pager, pool, state, input, options, { commit, nonce, space, pending, pendingCells, structures, nodes, extras: extrasByCell, shared });
    return result;
  } finally {
    if (shared) scratchBusy = false;
  }
}

function finishCommit(
  io: FileIO,
  pager: CellReader,
  pool: BufferPool,
  state: DurableState,
  input: CommitInput,
  options: CommitOptions,
  c: { commit: number; nonce: number; space: SpaceMap; pending: TreeState; pendingCells: number; structures: StructuresRef; nodes: MemNode[]; extras: Extra[]; shared: boolean },
): CommitResult {
  const { commit, nonce, space, pending, pendingCells, structures } = c;
  let cellsWritten = c.nodes.length;
  for (const e of c.extras) cellsWritten += e.cells;
  const twoSync = options.sync && (options.protocol === 'two-sync' || cellsWritten >= ADAPTIVE_TWO_SYNC_CELLS);
  const rec: CommitRecord = {
    commit,
    flags: twoSync ? FLAG_CELLS_DURABLE : 0,
    main: rootOf(input.main),
    ranges: input.main.ranges,
    nodes: input.main.nodes,
    space: rootOf(space.tree),
    pending: rootOf(pending),
    highWaterCell: space.highWaterCell,
    allocatedCells: space.allocatedCells,
    pendingCells,
    highestCommit: commit,
    nonce,
    structures,
  };
  const slot = (state.slot + 1) % RING_SLOTS;
  writeCells(io, pool, byCell(c.nodes), c.extras, commit, nonce, c.shared, input.values, pager, state.rec.commit);
  if (twoSync) io.sync();
  const recordPage = c.shared ? RECORD_PAGE.fill(0) : new Uint8Array(PAGE_BYTES);
  recordPage.set(encodeCommitRecord(rec));
  try {
    io.write(recordPage, ringSlotOffsetBytes(slot));
  } catch (err) {
    // Part of the record may have landed: wipe the slot so the failed commit cannot come back.
    try {
      io.write(new Uint8Array(PAGE_BYTES), ringSlotOffsetBytes(slot));
      io.sync();
    } catch {
      /* the device is gone; reopen re-validates */
    }
    throw err;
  }
  if (options.sync) io.sync();
  return { state: { rec, slot }, cellsWritten };
}

/**
 * Orders a commit's cells for handing out to `count` nodes and chunks (leaves first … roots,
 * then chunks: the later, the sooner the next commits replace it): the cells' contiguous runs,
 * shortest first, so the longest run goes to the nodes freed soonest and is reused whole. The
 * cells beyond `count` are the first of that order (isolated ones), freed again by the commit.
 */
function handOut(cells: number[], count: number): { order: number[]; spare: number[] } {
  const sorted = sortNumbers(cells);
  // The runs as parallel arrays of start positions and lengths (no object per run).
  const runAt: number[] = [];
  const runLength: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const n = runAt.length;
    if (n > 0 && sorted[i - 1]! + 1 === sorted[i]) runLength[n - 1] = runLength[n - 1]! + 1;
    else {
      runAt.push(i);
      runLength.push(1);
    }
  }
  let order = sorted;
  if (runAt.length > 1) {
    // Shortest first, ties in address order.
    order = new Array<number>(sorted.length);
    let o = 0;
    const byLength = orderByKey(runAt.length, (k) => runLength[k]!);
    for (let j = 0; j < byLength.length; j++) {
      const i = byLength[j]!;
      const at = runAt[i]!;
      const length = runLength[i]!;
      for (let k = 0; k < length; k++) order[o++] = sorted[at + k]!;
    }
  }
  const spareCount = order.length - count;
  return { order: spareCount === 0 ? order : order.slice(spareCount), spare: order.slice(0, spareCount) };
}

/** Below this many elements a comparator sort is as cheap as the typed-array one. */
const SMALL_SORT = 32;
/** Index bits of a sort key cell × 2^KEY_INDEX_BITS + index (cells < 2^32: the key stays < 2^53). */
const KEY_INDEX_BITS = 20;
const KEY_SCALE = 2 ** KEY_INDEX_BITS;

/** The cell addresses (integers below 2^32) in ascending order, as a new array. */
function sortNumbers(values: number[]): number[] {
  if (values.length >= SMALL_SORT) {
    // Cells are below 2^32: back from float64 as uint32, so they stay small integers for V8.
    const sorted = Float64Array.from(values).sort();
    const out = new Array<number>(sorted.length);
    for (let i = 0; i < sorted.length; i++) out[i] = sorted[i]! >>> 0;
    return out;
  }
  const out = values.slice();
  for (let i = 1; i < out.length; i++) {
    const v = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! > v) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = v;
  }
  return out;
}

/**
 * The positions of `keys` (cell addresses, distinct or not) in ascending key order: a numeric
 * typed-array sort of key × 2^20 + position, much cheaper than a comparator sort of objects.
 */
function orderByKey(n: number, key: (i: number) => number): number[] {
  const out = new Array<number>(n);
  if (n < SMALL_SORT) {
    // Insertion sort of the positions (stable; no allocation, unlike Array#sort).
    const keys = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const k = key(i);
      let j = i - 1;
      while (j >= 0 && keys[j]! > k) {
        keys[j + 1] = keys[j]!;
        out[j + 1] = out[j]!;
        j--;
      }
      keys[j + 1] = k;
      out[j + 1] = i;
    }
    return out;
  }
  if (n >= KEY_SCALE) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out.sort((a, b) => key(a) - key(b) || a - b);
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = key(i) * KEY_SCALE + i;
  keys.sort();
  for (let i = 0; i < n; i++) out[i] = (keys[i]! % KEY_SCALE) | 0;
  return out;
}

/** Nodes sorted by their assigned cells. */
function byCell(nodes: MemNode[]): MemNode[] {
  let sorted = true;
  for (let i = 1; i < nodes.length && sorted; i++) sorted = nodes[i - 1]!.cell < nodes[i]!.cell;
  if (sorted) return nodes;
  return orderByKey(nodes.length, (i) => nodes[i]!.cell).map((i) => nodes[i]!);
}

/** A random 32-bit number, never 0 (0 marks cells written before nonces, e.g. by tests). */
function randomNonce(): number {
  return (1 + Math.floor(Math.random() * 0xffff_fffe)) >>> 0;
}

/**
 * Each group's runs (groups[i] + 1 is the list of runs[i]) in address order, neighbours of one
 * group merged; a cell listed twice is a bug, whatever the groups.
 */
function coalesceGroups(runs: CellRun[], groups: number[], lists: number): CellRun[][] {
  const out: CellRun[][] = [];
  for (let g = 0; g < lists; g++) out.push([]);
  let end = -1;
  const order = orderByKey(runs.length, (k) => runs[k]!.start);
  for (let j = 0; j < order.length; j++) {
    const r = runs[order[j]!]!;
    // Two references to one cell in the file (a damaged tree) free it twice.
    if (r.start < end) throw corruptCell(r.start, 'freed twice in one commit: two references lead to it');
    end = r.start + r.count;
    const list = out[groups[order[j]!]! + 1]!;
    const last = list[list.length - 1];
    if (last !== undefined && last.start + last.count === r.start) last.count += r.count;
    else list.push({ start: r.start, count: r.count });
  }
  return out;
}

/** New cells other than a node: a value record (or the structures table, or a pending-list chunk), or a leaf's value area. */
interface Extra {
  cell: number;
  cells: number;
  record: Uint8Array | null;
  area: LeafArea | null;
}

/** One contiguous write: `length` bytes at byte `at` of the commit's buffer, to cell `cell` on. */
interface CellWrite {
  cell: number;
  at: number;
  length: number;
}

/**
 * A commit encodes its cells into a window of this size, reused, and writes the window out each
 * time it fills. A commit's cells in one buffer of their own cost a fresh allocation of the whole
 * size, and the first touch of every page of it: measured, a new 55 MB buffer written once took
 * 140–280 ms, a reused 2 MB one refilled 27 times about 7 ms.
 */
const WINDOW_BYTES = 2 * 1024 * 1024;
let scratch = new Uint8Array(64 * 1024);
/** A commit is between encoding into `scratch` and its last use of it. */
let scratchBusy = false;
/** The commit-record page, reused (io.write never keeps the buffer). */
const RECORD_PAGE = new Uint8Array(PAGE_BYTES);

/**
 * Encodes the commit's nodes (sorted by cell, as assigned) and other cells (sorted by cell) in
 * address order into a window, and writes each contiguous run with one call whenever the window
 * fills and at the end. The pool gets each written run at once: no reader reaches a cell a commit
 * writes, and a failed commit drops the pool (MapleStore.commit). A cell larger than the window
 * (a long value record) is encoded into a buffer of its own.
 */
function writeCells(io: FileIO, pool: BufferPool, nodes: MemNode[], extras: Extra[], commit: number, nonce: number, shared: boolean, values: ValueArena | null, pager: CellReader, version: number): void {
  let total = nodes.length * NODE_BYTES;
  for (const e of extras) total += e.cells * CELL_BYTES;
  const size = Math.min(WINDOW_BYTES, total);
  let buf: Uint8Array;
  if (!shared) {
    buf = new Uint8Array(size);
  } else {
    if (scratch.length < size) scratch = new Uint8Array(Math.min(WINDOW_BYTES, Math.max(size, 2 * scratch.length)));
    buf = scratch;
    buf.fill(0, 0, size);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const writes: CellWrite[] = [];
  let run: CellWrite | null = null;
  let used = 0;
  const flush = (): void => {
    for (const w of writes) {
      io.write(buf.subarray(w.at, w.at + w.length), w.cell * CELL_BYTES);
      refreshPool(pool, w.cell, buf, w.at, w.length);
    }
    writes.length = 0;
    run = null;
    buf.fill(0, 0, used);
    used = 0;
  };
  let end = -1;
  let n = 0;
  let e = 0;
  while (n < nodes.length || e < extras.length) {
    const isNode = e >= extras.length || (n < nodes.length && nodes[n]!.cell < extras[e]!.cell);
    const cell = isNode ? nodes[n]!.cell : extras[e]!.cell;
    const cells = isNode ? 1 : extras[e]!.cells;
    if (!(cell >= end)) assert(false, `cell ${cell} written twice in one commit`);
    end = cell + cells;
    const bytes = cells * CELL_BYTES;
    if (bytes > buf.length) {
      // Longer than the window: a buffer of its own, written at once.
      const x = extras[e++]!;
      const own = new Uint8Array(bytes);
      encodeRecordAt(x.record!, commit, nonce, own, 0);
      io.write(own, cell * CELL_BYTES);
      refreshPool(pool, cell, own, 0, bytes);
      continue;
    }
    if (used + bytes > buf.length) flush();
    const at = used;
    if (isNode) {
      encodeNodeAt(nodes[n++]!, commit, buf, dv, at, nonce, values);
    } else {
      const x = extras[e++]!;
      if (x.area !== null) encodeArea(x.area, values, pager, version, commit, nonce, buf, dv, at);
      else encodeRecordAt(x.record!, commit, nonce, buf, at);
    }
    const r = run as CellWrite | null;
    if (r !== null && r.cell + r.length / CELL_BYTES === cell) {
      r.length += bytes;
    } else {
      run = { cell, at, length: bytes };
      writes.push(run);
    }
    used += bytes;
  }
  flush();
}

/** Copies the `length` bytes at byte `start` of `buf`, written to cells `cell` on, into the pool. */
function refreshPool(pool: BufferPool, cell: number, buf: Uint8Array, start: number, length: number): void {
  let at = start;
  const end = start + length;
  let offset = cell * CELL_BYTES;
  while (at < end) {
    const page = Math.floor(offset / PAGE_BYTES);
    const inPage = offset % PAGE_BYTES;
    const n = Math.min(PAGE_BYTES - inPage, end - at);
    pool.update(page, inPage, buf.subarray(at, at + n));
    at += n;
    offset += n;
  }
}
