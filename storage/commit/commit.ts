/**
 * Commits: turn a transaction's new tree into cells on disk and swap the root atomically. The
 * steps, in order (bbolt's tx.Commit is the model: allocate, write, write the meta page):
 *
 *  1. Open the free list (storage/commit/release.ts): the pending entries no open reader can
 *     reach, taken lazily, newest first, as cells are needed. Their cells stay allocated in the
 *     space map throughout, so reusing them touches only the pending tree.
 *  2. Settle the new leaves' values (storage/commit/valueAreas.ts): a leaf whose values are too
 *     long for its slots gets a value area of its own, a value too long for an area a record;
 *     place the areas, the records and the shared-structures table (storage/commit/allocate.ts).
 *  3. Take cells for every new node and pending-list chunk (allocate.ts), to a fixed point:
 *     allocation changes the space map, whose new nodes need cells too, and the commit's pending
 *     list (storage/commit/pendingChunks.ts) grows with what it frees. Hand the cells out
 *     (storage/commit/handOut.ts) and encode the pending list.
 *  4. Encode every new cell into one buffer and the commit record for the next ring slot
 *     (storage/commit/writeCells.ts, prepareCommit), then write, sync, publish (writePrepared)
 *     and copy the new cells into the buffer pool. planCommit stops before the writes, for a
 *     write group whose syncs run off the main thread (storage/commit/writeAsync.ts).
 *
 * A commit writes only cells that are free in the last durable commit's space map — never a cell
 * that version or an open reader (snapshot, iterator, read-only store in any process) can reach.
 * The state the steps share is one CommitPlan (storage/commit/commitPlan.ts).
 */
import type { TreeState } from '../../src/tree/write.js';
import type { WriteScratch } from '../../src/tree/writeScratch.js';
import { type CommitRecord, type LogRef, type StructuresRef, NO_LOG } from '../format/commitRecord.js';
import type { CommitLog } from './commitLog.js';
import { type MemNode, NewValue, recordPointerCommit } from '../format/node.js';
import { AREA_VALUE_MAX_BYTES, MAX_INLINE_BYTES } from '../../src/common/limits.js';
import type { CellRun } from '../format/pageFile.js';
import { encodeStructures } from '../format/structures.js';
import type { ValueArena } from '../format/valueArena.js';
import { recordCells } from '../format/valueRecord.js';
import type { BufferPool } from '../io/bufferPool.js';
import type { CellReader } from '../io/cellReader.js';
import type { FileIO } from '../io/fileIO.js';
import type { ReaderSet } from '../io/readerSet.js';
import { CellAllocation, allocateCells } from './allocate.js';
import { CommitPlan, rootOf } from './commitPlan.js';
import { byCell, handOut } from './handOut.js';
import { type LeafArea, settleValues } from './valueAreas.js';
import { PendingChunks } from './pendingChunks.js';
import { openFreeList } from './release.js';
import type { RunHints } from './runHints.js';
import { orderByKey } from './sort.js';
import { type CommitBuffers, type CommitProtocol, type Extra, type PreparedCommit, type ValueSources, prepareCommit, writePrepared } from './writeCells.js';

export { treeOf } from './commitPlan.js';
export { pendingSplit } from './release.js';
export type { CommitProtocol } from './writeCells.js';

export interface DurableState {
  rec: CommitRecord;
  /** Ring slot holding `rec`. */
  slot: number;
}

/** What a store's commits work with, created once with the store. */
export interface CommitContext {
  io: FileIO;
  pager: CellReader;
  pool: BufferPool;
  /** The store's write-path scratch (the space-map and pending-tree writes use it too). */
  scratch: WriteScratch;
  buffers: CommitBuffers;
  /** Which pending entries hold long runs (storage/commit/runHints.ts); null: none kept. */
  hints: RunHints | null;
}

export interface CommitInput {
  /** The transaction's tree. */
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
  /** This boot's tag (storage/io/bootTag.ts), written into a record that no sync follows. */
  boot: number;
  /**
   * A ring slot the record must not take (−1: none): the last durable commit's while later commits
   * are not synced (`sync: 'none'`), so recovery after a power loss still finds it.
   */
  keepSlot: number;
  /** The store's commit log (commitProtocol 'log', storage/commit/commitLog.ts); null: none, and a log the file has is freed. */
  log: CommitLog | null;
}

export interface CommitResult {
  state: DurableState;
  cellsWritten: number;
}

export function writeCommit(ctx: CommitContext, state: DurableState, input: CommitInput, options: CommitOptions): CommitResult {
  const prepared = planCommit(ctx, state, input, options);
  writePrepared(ctx.io, ctx.pool, prepared);
  return { state: { rec: prepared.rec, slot: prepared.slot }, cellsWritten: prepared.cellsWritten };
}

/**
 * Steps 1–4 without the I/O: the commit, encoded and ready to write (nothing of it has reached the
 * file). Its buffers are the store's (CommitBuffers): write it, and refresh the pool from it,
 * before the store prepares another commit. A commit too large for those buffers is encoded as it
 * is written (PreparedCommit.windowed): until its cells are written, the transaction's arena
 * (input.values) and the version it read must stay as they are.
 */
export function planCommit(ctx: CommitContext, state: DurableState, input: CommitInput, options: CommitOptions): PreparedCommit {
  const plan = new CommitPlan(ctx.pager, ctx.scratch, state.rec, input.main, input.frees, input.readers);
  // 1. The free list.
  const { free, sources } = openFreeList(plan, ctx.hints);
  // 2. Value areas, records, the structures table.
  plan.collectMain();
  const areas = settleValues(plan.mainOrdered, input.values, options.packValues ? AREA_VALUE_MAX_BYTES : MAX_INLINE_BYTES, plan.mainRecords);
  const alloc = new CellAllocation(plan, free);
  const log = placeLog(plan, alloc, options.log);
  alloc.placeAreas(areas);
  alloc.placeRecords(plan.needed().records);
  const { structures, table } = placeStructures(plan, alloc);
  // 3. Nodes and the pending list.
  const list = new PendingChunks(plan, free, sources, ctx.hints);
  allocateCells(alloc, list);
  if (ctx.hints !== null) {
    let freed = 0;
    for (const run of plan.frees) freed += run.count;
    ctx.hints.freed(freed);
  }
  const nodes = alloc.nodes;
  const { order, spare } = handOut(alloc.cells, nodes.length + list.chunkCount());
  for (let i = 0; i < nodes.length; i++) nodes[i]!.cell = order[i]!;
  list.write(order, nodes.length, spare);
  // 4. Encode (the caller writes, syncs and publishes).
  const valueSources = { values: input.values, pager: ctx.pager, version: state.rec.commit };
  // Placed first, the leaves beside their areas come before the other nodes in address order (a bulk load needs no sort).
  const all = alloc.placedLeaves.length === 0 ? nodes : alloc.placedLeaves.concat(nodes);
  const prepared = prepare(ctx, plan, state, options, byCell(all), extrasOf(plan, table, areas), valueSources, structures, log);
  // A log run placed by this commit is written whole (zeros) with its cells: see PreparedCommit.fill.
  if (log.cell !== 0 && log.cell !== plan.prev.log.cell) prepared.fill = { cell: log.cell, cells: log.cells };
  return prepared;
}

/**
 * The commit log's run of cells: kept, placed (the first commit of a store opened with
 * commitProtocol 'log', from the free list or the space map, like a value record), replaced by a
 * larger one (CommitLog.cellsFor), or freed (a store no longer keeping one).
 */
function placeLog(plan: CommitPlan, alloc: CellAllocation, log: CommitLog | null): LogRef {
  const prev = plan.prev.log;
  if (log === null) {
    if (prev.cell !== 0) plan.frees.push({ start: prev.cell, count: prev.cells });
    return NO_LOG;
  }
  const cells = log.cellsFor(prev.cell === 0 ? 0 : prev.cells, plan.prev.allocatedCells);
  if (prev.cell !== 0 && cells === prev.cells) return prev;
  if (prev.cell !== 0) {
    // A log of another size (a larger one, storage/commit/commitLog.ts): a new one, from a new
    // pass (this commit starts it), the old one freed by it — nothing replays the old one once
    // this commit is durable.
    plan.frees.push({ start: prev.cell, count: prev.cells });
    log.close();
  }
  return { cell: alloc.placeRun(cells), cells, salt: 0, start: 0 };
}

/**
 * Values of this transaction may use shared structures the file does not hold yet: the whole
 * table is written again (it only grows) and the old one freed.
 */
function placeStructures(plan: CommitPlan, alloc: CellAllocation): { structures: StructuresRef; table: NewValue | null } {
  const { prev, pager } = plan;
  const codec = pager.codec;
  if (codec.structureCount <= prev.structures.count) return { structures: { ...prev.structures, fresh: false }, table: null };
  const table = new NewValue(encodeStructures(codec.structures()));
  alloc.placeRecords([table]);
  if (prev.structures.cell !== 0) plan.frees.push({ start: prev.structures.cell, count: pager.recordCellCount(prev.structures.cell) });
  return { structures: { cell: table.cell, fresh: true, count: codec.structureCount, commit: recordPointerCommit(plan.commit) }, table };
}

/** The new cells other than nodes (records, the structures table, value areas), sorted by cell. */
function extrasOf(plan: CommitPlan, table: NewValue | null, areas: LeafArea[]): Extra[] {
  const extras: Extra[] = [];
  const records = plan.needed().records;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    extras.push({ cell: r.cell, cells: recordCells(r.bytes.length), record: r.bytes, area: null });
  }
  if (table) extras.push({ cell: table.cell, cells: recordCells(table.bytes.length), record: table.bytes, area: null });
  for (let i = 0; i < areas.length; i++) {
    const a = areas[i]!;
    extras.push({ cell: a.cell, cells: a.cells, record: null, area: a });
  }
  // Areas are placed in leaf order, mostly ascending: sorted only when they are not.
  let sorted = true;
  for (let i = 1; i < extras.length && sorted; i++) sorted = extras[i - 1]!.cell < extras[i]!.cell;
  return sorted ? extras : orderByKey(extras.length, (i) => extras[i]!.cell).map((i) => extras[i]!);
}

/** The commit's cells (nodes sorted by cell, extras) and record, encoded for writing. */
function prepare(ctx: CommitContext, plan: CommitPlan, state: DurableState, options: CommitOptions, nodes: MemNode[], extras: Extra[], sources: ValueSources, structures: StructuresRef, log: LogRef): PreparedCommit {
  const { commit, space, main } = plan;
  return prepareCommit(
    ctx.buffers,
    nodes,
    extras,
    sources,
    {
      commit,
      main: rootOf(main, plan.commit),
      ranges: main.ranges,
      nodes: main.nodes,
      space: rootOf(space.tree, plan.commit),
      pending: rootOf(plan.pending, plan.commit),
      highWaterCell: space.highWaterCell,
      syncedCells: state.rec.syncedCells,
      allocatedCells: space.allocatedCells,
      pendingCells: plan.pendingCells,
      highestCommit: commit,
      nonce: plan.nonce,
      boot: 0,
      structures,
      log,
    },
    state.slot,
    options,
  );
}
