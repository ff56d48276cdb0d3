/**
 * Step 3 of a commit: its pending list (storage/format/pendingList.ts), every run it frees, in
 * chunks of one cell each (a chunk fits any hole), split by who can reach the cells
 * (storage/io/readerSet.ts, BirthBands): cells the oldest reader may reach go to by-commit chunks
 * (byCommitKey(commit, i)); cells only newer readers reach, or none, to windowed chunks
 * (windowedKey(commit, j)), one group per chunk with the lowest birth among its cells. The cells
 * this commit took and does not use — spare cells and loaded runs left over — are reachable by no
 * version: a source entry's large leftover goes back under its key (LEFTOVER_KEEP_CELLS), the rest
 * joins the young group (whose window is empty when it holds nothing else), so that a reader held
 * across commits pins none of them — all of it after a search for a chain of runs across entries
 * (addSourceChunks). With no reader open everything is by-commit, as before windowed entries
 * existed: the next commit reuses it anyway.
 *
 * Chunks are added until the lists fit; adding one can free a few space-map paths, hence the
 * allocation rounds (storage/commit/allocate.ts). A chunk's cell is taken with the nodes' (the
 * chunk is freed by the next commit, like the nodes at the top of the trees, so it belongs in
 * their run). Chunks are written as placeholders while cells are placed and encoded last.
 */
import { assert, corruptCell } from '../../src/common/errors.js';
import { CARRY_SCAN_ENTRIES, LEFTOVER_KEEP_CELLS, PENDING_SLACK_RUNS } from '../../src/common/limits.js';
import { findFirst, iterate } from '../../src/tree/walk.js';
import { writeRange } from '../../src/tree/write.js';
import { NewValue, RecordSlot } from '../format/node.js';
import type { CellRun } from '../format/pageFile.js';
import { BY_COMMIT_CHUNK_RUNS, CHUNK_PLACEHOLDER, PENDING_KEYS_PER_COMMIT, WINDOWED_CHUNK_RUNS, WINDOWED_KEY_BASE, byCommitKey, decodePendingEntry, encodeChunk, freedByOf, type PendingEntry, type PendingRun, windowedKey } from '../format/pendingList.js';
import { recordCells } from '../format/valueRecord.js';
import { BirthBands, readerInWindow } from '../io/readerSet.js';
import type { CommitPlan } from './commitPlan.js';
import type { FreeList } from './freeList.js';
import { handOut } from './handOut.js';
import type { PendingSource } from './release.js';
import type { RunHints } from './runHints.js';
import { orderByKey } from './sort.js';

/** Chunks per kind: by-commit, and windowed (all groups together). */
interface ChunkNeed {
  byCommit: number;
  windowed: number;
}

export class PendingChunks {
  private readonly bands: BirthBands;
  /** The group of each entry of plan.frees (−1 by-commit, else the windowed group). */
  private readonly freeGroups: number[] = [];
  /** The lowest birth in each windowed group; the commit's number (an empty window) while it has none. */
  private readonly lowBirths: number[];
  /** The chunk put back under each source's key (storage/commit/freeList.ts leftovers), when it left any. */
  private readonly sourceChunks = new Map<number, NewValue>();
  private readonly byCommitChunks: NewValue[] = [];
  private readonly windowedChunks: NewValue[] = [];
  /** Runs per group (not yet joined) of frees[0 .. countedFrees) once coalesced (set when the chunks are first sized). */
  private countedRuns: number[];
  private countedFrees = 0;

  constructor(
    private readonly plan: CommitPlan,
    private readonly free: FreeList,
    private readonly sources: PendingSource[],
    private readonly hints: RunHints | null = null,
  ) {
    assert(recordCells(CHUNK_PLACEHOLDER.length) === 1, 'a pending-list chunk is one cell');
    this.bands = new BirthBands(plan.readers, plan.prev.commit);
    this.lowBirths = new Array<number>(this.bands.groups).fill(plan.commit);
    this.countedRuns = new Array<number>(this.bands.groups + 1).fill(0);
  }

  /** Classifies the frees so far and writes the first chunks, sized from them. */
  start(): void {
    this.classify();
    this.carryPinnedList();
    this.carryPinnedBands();
    // Sized from the coalesced lists: a bulk rewrite frees thousands of neighbouring cells that
    // coalesce into a few runs (sized uncoalesced, such a commit wrote dozens of empty chunks).
    const frees = this.plan.frees;
    if (frees.length > BY_COMMIT_CHUNK_RUNS) {
      this.countedRuns = this.groupLists([], false).slice(0, this.bands.groups + 1).map((list) => list.length);
      this.countedFrees = frees.length;
    }
    const initial = this.runCounts(0);
    if (initial[0]! > 0 || this.bands.groups === 0) initial[0]! += PENDING_SLACK_RUNS;
    this.addChunks(this.chunksFor(initial));
  }

  chunkCount(): number {
    return this.byCommitChunks.length + this.windowedChunks.length + this.sourceChunks.size;
  }

  /** Assigns a group to every free not classified yet. */
  classify(): void {
    const { frees, pager, prev } = this.plan;
    const bands = this.bands;
    for (let i = this.freeGroups.length; i < frees.length; i++) {
      let group = -1;
      if (bands.needsBirths) {
        // Every freed object starts a run of its own (a node, a record, a block, a chunk).
        const birth = pager.cellCommit(frees[i]!.start);
        // A birth outside [1, prev.commit] is a damaged header: the oldest group, which is safe.
        group = bands.groupOf(birth >= 1 && birth <= prev.commit ? birth : 0);
        if (group >= 0 && birth < this.lowBirths[group]!) this.lowBirths[group] = birth;
      }
      this.freeGroups.push(group);
    }
  }

  /**
   * Adds a chunk under the key of every source with more than LEFTOVER_KEEP_CELLS cells left over
   * (the others join this commit's list of cells no version reaches); true when it added one.
   * None when the commit searched for a chain of touching runs across entries (FreeList
   * searchedChains): every leftover then joins this commit's list, where the runs of different
   * entries that touch coalesce into one run — which the next commit needing that many cells
   * finds in one entry, by its run hint, instead of loading every entry to find the chain again.
   */
  addSourceChunks(): boolean {
    if (this.free.searchedChains) return false;
    let added = false;
    const leftovers = this.free.leftovers() as PendingRun[];
    let total = 0;
    for (const run of leftovers) total += run.count;
    if (total <= LEFTOVER_KEEP_CELLS) return false;
    const left = new Map<number, number>();
    for (const run of leftovers) left.set(run.source, (left.get(run.source) ?? 0) + run.count);
    for (const [source, cellsLeft] of left) {
      if (this.sourceChunks.has(source) || cellsLeft <= LEFTOVER_KEEP_CELLS) continue;
      const key = this.sources[source]!.key;
      const chunk = new NewValue(CHUNK_PLACEHOLDER);
      writeRange(this.plan.sink, this.plan.pending, key, key, chunk);
      this.sourceChunks.set(source, chunk);
      added = true;
    }
    return added;
  }

  /**
   * After a round of taking `cells` for `nodeCount` nodes and the chunks: true when the chunks
   * written hold every list; else adds the chunks missing and returns false (another round).
   */
  settle(cells: number[], nodeCount: number): boolean {
    // Coalescing only merges runs: when the runs fit uncoalesced they fit, so sort only if not.
    const unused = cells.length - nodeCount - this.chunkCount() + this.unplacedLeftovers();
    if (this.fits(this.chunksFor(this.runCounts(unused)))) return true;
    const { spare } = handOut(cells, nodeCount + this.chunkCount());
    const need = this.chunksFor(this.groupLists(spare).slice(0, this.bands.groups + 1).map((list) => list.length));
    if (this.fits(need)) return true;
    this.addChunks(need);
    return false;
  }

  /**
   * Gives the chunks their cells (`order` from position `from` on, as handed out) and encodes
   * them: the frees, the `spare` cells and the leftovers, each list in its chunks.
   */
  write(order: number[], from: number, spare: number[]): void {
    const { byCommitChunks, windowedChunks, sourceChunks, bands } = this;
    let at = from;
    for (const chunk of byCommitChunks) chunk.cell = order[at++]!;
    for (const chunk of windowedChunks) chunk.cell = order[at++]!;
    for (const chunk of sourceChunks.values()) chunk.cell = order[at++]!;
    const lists = this.groupLists(spare);
    const commit = this.plan.commit;
    let next = 0;
    for (let i = 0; i < byCommitChunks.length; i++) {
      const mine = lists[0]!.slice(next, next + BY_COMMIT_CHUNK_RUNS);
      next += mine.length;
      this.fill(byCommitChunks[i]!, byCommitKey(commit, i), mine, undefined);
    }
    assert(next === lists[0]!.length, 'every by-commit run is in the pending list');
    // Windowed chunks in key order: any not needed (the lists shrank as they coalesced) list nothing,
    // then the groups by ascending birth, the young group last — on top, where the next commit's
    // free list looks first.
    let windowedNeeded = 0;
    for (let g = 1; g <= bands.groups; g++) windowedNeeded += Math.ceil(lists[g]!.length / WINDOWED_CHUNK_RUNS);
    let w = 0;
    for (; w < windowedChunks.length - windowedNeeded; w++) this.fill(windowedChunks[w]!, windowedKey(commit, w), [], commit);
    for (let g = 1; g <= bands.groups; g++) {
      const list = lists[g]!;
      for (let i = 0; i < list.length; i += WINDOWED_CHUNK_RUNS, w++) this.fill(windowedChunks[w]!, windowedKey(commit, w), list.slice(i, i + WINDOWED_CHUNK_RUNS), this.lowBirths[g - 1]!);
    }
    assert(w === windowedChunks.length, 'every windowed run is in the pending list');
    // Leftovers under their source's key: runs only shrink as cells are taken from their start, so
    // a source's leftovers fit the chunk it came in (a windowed one gets an empty window: no
    // version reaches them).
    for (const [source, chunk] of sourceChunks) {
      const { windowed, freedBy, key } = this.sources[source]!;
      const list = lists[bands.groups + 1 + source]!;
      assert(list.length <= (windowed ? WINDOWED_CHUNK_RUNS : BY_COMMIT_CHUNK_RUNS), `the leftovers of pending entry ${key} fit its chunk`);
      this.fill(chunk, key, list, windowed ? freedBy : undefined);
    }
  }

  /** Encodes `runs` into `chunk`, listed under `key` (`lowBirth` for a windowed chunk). */
  private fill(chunk: NewValue, key: number, runs: CellRun[], lowBirth: number | undefined): void {
    for (const run of runs) this.plan.pendingCells += run.count;
    chunk.bytes = encodeChunk(runs, lowBirth);
    this.hints?.note(key, runs, lowBirth === undefined ? undefined : { lowBirth, freedBy: freedByOf(key) });
  }

  /** Chunks needed for these runs per group (index 0 by-commit, g + 1 windowed group g). */
  private chunksFor(runsPerGroup: number[]): ChunkNeed {
    let windowed = 0;
    for (let g = 1; g < runsPerGroup.length; g++) windowed += Math.ceil(runsPerGroup[g]! / WINDOWED_CHUNK_RUNS);
    return { byCommit: Math.ceil(runsPerGroup[0]! / BY_COMMIT_CHUNK_RUNS), windowed };
  }

  /** Runs per group (an upper bound: frees since countedFrees uncoalesced), with `unusedRuns` in the unreachable group. */
  private runCounts(unusedRuns: number): number[] {
    const bands = this.bands;
    const counts = this.countedRuns.slice();
    for (let i = this.countedFrees; i < this.freeGroups.length; i++) counts[this.freeGroups[i]! + 1]!++;
    counts[bands.unreachable + 1]! += unusedRuns;
    return counts;
  }

  /** Leftover runs that join this commit's own list (their source has no chunk of its own). */
  private unplacedLeftovers(): number {
    let n = 0;
    if (this.sourceChunks.size === 0) return this.free.leftoverCount();
    for (const r of this.free.leftovers() as PendingRun[]) if (!this.sourceChunks.has(r.source)) n++;
    return n;
  }

  /**
   * The lists per group (index as in chunksFor), coalesced: the frees, `spare` (cells taken and
   * not used) and the leftovers of sources without a chunk in the unreachable group; then each
   * source's list (bands.groups + 1 + source), its leftovers when it has a chunk. Without
   * `withLeftovers`, the frees and `spare` only.
   */
  private groupLists(spare: number[], withLeftovers = true): CellRun[][] {
    const bands = this.bands;
    const runs = this.plan.frees.slice();
    const groups = this.freeGroups.slice();
    for (const c of spare) {
      runs.push({ start: c, count: 1 });
      groups.push(bands.unreachable);
    }
    for (const r of withLeftovers ? (this.free.leftovers() as PendingRun[]) : []) {
      runs.push(r);
      groups.push(this.sourceChunks.has(r.source) ? bands.groups + r.source : bands.unreachable);
    }
    return coalesceGroups(runs, groups, bands.groups + 1 + this.sources.length);
  }

  private addChunk(windowed: boolean): void {
    const list = windowed ? this.windowedChunks : this.byCommitChunks;
    assert(list.length < PENDING_KEYS_PER_COMMIT, 'pending list fits its key space');
    const commit = this.plan.commit;
    const key = windowed ? windowedKey(commit, list.length) : byCommitKey(commit, list.length);
    const chunk = new NewValue(CHUNK_PLACEHOLDER);
    writeRange(this.plan.sink, this.plan.pending, key, key, chunk);
    list.push(chunk);
  }

  private addChunks(need: ChunkNeed): void {
    while (this.byCommitChunks.length < need.byCommit) this.addChunk(false);
    while (this.windowedChunks.length < need.windowed) this.addChunk(true);
  }

  private fits(need: ChunkNeed): boolean {
    return need.byCommit <= this.byCommitChunks.length && need.windowed <= this.windowedChunks.length;
  }

  /**
   * While a reader is held, most commits free a cell or two it reaches, each listed in a chunk
   * of its own that stays as long as the reader: measured, 10,000 single-store commits under one
   * held snapshot kept ~2,000 such chunks — as many cells as the snapshot's whole version. So
   * a commit that writes a by-commit chunk anyway takes the newest pinned by-commit entry into it
   * when the two fit one chunk and no reader reads a version between the two commits (its cells
   * are then pinned by exactly the same readers under this commit's number); its old chunk is
   * freed like any other.
   */
  private carryPinnedList(): void {
    const plan = this.plan;
    const { prev, releaseUpTo, readers } = plan;
    if (releaseUpTo >= prev.commit || !this.freeGroups.includes(-1)) return;
    const entry = findFirst(plan.sink, plan.pending, 0, byCommitKey(prev.commit + 1, 0) - 1, true);
    if (entry === undefined || !(entry.slot instanceof RecordSlot)) return;
    const e = decodePendingEntry(entry.first, plan.pager.recordBytes(entry.slot.cell, prev.commit, entry.slot.commit))!;
    if (e.freedBy <= releaseUpTo || readerInWindow(readers, e.freedBy, plan.commit)) return;
    if (this.runsIn(-1) + e.runs.length > BY_COMMIT_CHUNK_RUNS - PENDING_SLACK_RUNS) return;
    this.carry(entry.first, entry.last, e, -1);
  }

  /**
   * The same for the reader bands' windowed entries. Every band gets chunks of its own, however
   * few its cells (small bands joined the by-commit list before, and so waited for the oldest
   * reader: an old snapshot held while newer ones opened and closed kept, for as long as it stayed
   * open, every cell only the newer ones had reached). So that a band held across commits does not
   * leave a chunk per commit, a commit that writes a band's chunk anyway takes into it a pinned
   * windowed entry, among the CARRY_SCAN_ENTRIES newest below its own keys, that exactly the same
   * readers pin — its lowest birth falls in the band, and no reader reads a version between the
   * two commits — when both fit one chunk; the last durable version's band (`sync: 'none'`) too.
   * Measured in docs/design.md, section 6 ("Reader bands").
   */
  private carryPinnedBands(): void {
    const { plan, bands } = this;
    const { prev, releaseUpTo, readers } = plan;
    // No band below the young group (whose cells no reader reaches): nothing to carry.
    if (releaseUpTo >= prev.commit || !bands.needsBirths || bands.groups < 2) return;
    const found: { first: number; last: number; e: PendingEntry; group: number }[] = [];
    let seen = 0;
    for (const entry of iterate(plan.sink, plan.pending, WINDOWED_KEY_BASE, windowedKey(prev.commit + 1, 0) - 1, true)) {
      if (++seen > CARRY_SCAN_ENTRIES) break;
      if (!(entry.slot instanceof RecordSlot)) continue;
      const e = decodePendingEntry(entry.first, plan.pager.recordBytes(entry.slot.cell, prev.commit, entry.slot.commit));
      if (e === undefined || !readerInWindow(readers, e.lowBirth, e.freedBy) || readerInWindow(readers, e.freedBy, plan.commit)) continue;
      const group = bands.groupOf(e.lowBirth);
      if (group < 0 || found.some((f) => f.group === group) || !this.freeGroups.includes(group)) continue;
      if (this.runsIn(group) + e.runs.length > WINDOWED_CHUNK_RUNS - PENDING_SLACK_RUNS) continue;
      found.push({ first: entry.first, last: entry.last, e, group });
    }
    // Taken once the walk is over: taking an entry changes the pending tree.
    for (const { first, last, e, group } of found) {
      this.carry(first, last, e, group);
      if (e.lowBirth < this.lowBirths[group]!) this.lowBirths[group] = e.lowBirth;
    }
  }

  /** Frees of this commit listed in `group` so far (runs, uncoalesced). */
  private runsIn(group: number): number {
    let n = 0;
    for (const g of this.freeGroups) if (g === group) n++;
    return n;
  }

  /** Takes the pending entry `first`..`last` (`e`) into this commit's list of `group`. */
  private carry(first: number, last: number, e: PendingEntry, group: number): void {
    this.plan.takeEntry(first, last, e.runs);
    this.hints?.forget(first);
    this.classify(); // the entry's chunk cell, freed just now
    for (const run of e.runs) {
      this.plan.frees.push(run);
      this.freeGroups.push(group);
    }
  }
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
