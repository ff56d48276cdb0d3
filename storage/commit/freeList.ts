import { type CellRun } from '../format/pageFile.js';
import { orderByKey } from './sort.js';
import { PREFER_SCAN_RUNS } from '../../src/common/limits.js';
/**
 * The free list a commit allocates from first: the pending entries no open reader can reach
 * (LMDB reuses its freed pages the same way). Their cells are still allocated in the space map, so
 * reusing them changes only the right end of the pending tree — not a space-map leaf per run, which
 * is what releasing them would cost. Entries are taken whole, newest reusable first
 * (storage/commit/release.ts says why); what a commit loads but does not use reaches no version, and is
 * listed again where no reader pins it (storage/format/pendingList.ts): a large leftover under the key of
 * the entry it came from, a small one with the cells of the commit that no reader reaches — every
 * one of them there once the commit has searched for a chain across entries (searchedChains).
 *
 * Which loaded cells a commit takes decides how many separate writes (and dirty pages) it costs,
 * so node cells are taken as contiguously as the loaded runs allow (`bestFit`, `takeRuns`).
 */

/** Up to this many cells, takeRuns picks shortest runs by scanning rather than sorting. */
const SELECT_SHORTEST_MAX = 32;

/** The index of the shortest non-empty run (the first of equals), or −1 when all are empty. */
function shortestRun(runs: readonly CellRun[]): number {
  let best = -1;
  for (let i = 0; i < runs.length; i++) {
    const n = runs[i]!.count;
    if (n > 0 && (best < 0 || n < runs[best]!.count)) best = i;
  }
  return best;
}

export class FreeList {
  private runs: CellRun[] = [];
  private loadedCells = 0;
  /** Every entry is loaded: the runs only shrink from now on. */
  private exhausted = false;
  /**
   * Once exhausted, the shortest length run() found no run or chain for: no longer one is found
   * either, so it answers at once (a bulk load asks for tens of thousands of areas' runs).
   */
  private failedAt = Infinity;

  /**
   * @param take loads the next releasable pending entry's runs (new objects, which the list
   *   then changes) and removes the entry from the pending tree; undefined when none is left
   * @param seek takes an entry holding a run of at least `count` cells, when one is known
   *   (storage/commit/runHints.ts), the same way; undefined when none is
   * @param search what earlier commits' searches of the whole list found (RunHints): whether to
   *   skip one, and where to say one failed; none: always search
   */
  constructor(
    private readonly take: () => CellRun[] | undefined,
    private readonly seek: (count: number) => CellRun[] | undefined = () => undefined,
    private readonly search: { skipSearch(count: number): boolean; searchFailed(count: number, loadedCells: number): void } | null = null,
  ) {}

  /** Loads the next releasable entry; false when none is left. */
  loadNext(): boolean {
    if (this.exhausted) return false;
    const runs = this.take();
    if (runs === undefined) {
      this.exhausted = true;
      return false;
    }
    this.add(runs);
    return true;
  }

  private add(runs: CellRun[]): void {
    for (const run of runs) {
      if (run.count > 0) {
        this.runs.push(run);
        this.loadedCells += run.count;
      }
    }
  }

  private chainSearched = false;

  /** How many cells the last run() took: its `prefer`, or its `count`. */
  taken = 0;

  /**
   * This commit looked for a chain of touching runs across the loaded entries (spanningRun): it
   * loaded every entry to find contiguous cells that no single entry holds.
   */
  get searchedChains(): boolean {
    return this.chainSearched;
  }

  /** Cells loaded and not taken yet. */
  available(): number {
    return this.loadedCells;
  }

  /** One cell, or undefined when nothing reusable is left. */
  cell(): number | undefined {
    for (;;) {
      const run = this.runs[this.runs.length - 1];
      if (run) {
        const cell = run.start;
        run.start++;
        run.count--;
        this.loadedCells--;
        if (run.count === 0) this.runs.pop();
        return cell;
      }
      if (!this.loadNext()) return undefined;
    }
  }

  /**
   * `count` contiguous cells, or undefined when no loaded or loadable run is long enough — nor,
   * once everything is loaded, a chain of adjacent runs (spanningRun). Of the loaded runs, the
   * newest that holds `prefer` cells among the newest that holds `count` and PREFER_SCAN_RUNS runs
   * older, else that newest. Its first `prefer` cells are taken when it holds them, else `count`
   * (`taken` says which).
   */
  run(count: number, prefer = count): number | undefined {
    this.taken = count;
    if (count >= this.failedAt) return undefined;
    let seeking = !this.exhausted;
    // Cells loaded when the search of the whole list began (this commit's loads, all of them).
    let loadedBefore = -1;
    // The runs below this index hold fewer than `count` cells: entries loaded since are appended
    // above it, so each pass looks at the new runs only (a commit may load hundreds of runs).
    let scanned = 0;
    for (;;) {
      let fit = -1;
      for (let i = this.runs.length - 1, past = 0; i >= scanned; i--) {
        const n = this.runs[i]!.count;
        if (n >= prefer) {
          fit = i;
          break;
        }
        if (fit >= 0) {
          if (++past >= PREFER_SCAN_RUNS) break;
        } else if (n >= count) fit = i;
      }
      if (fit >= 0) {
        const run = this.runs[fit]!;
        const start = run.start;
        this.taken = run.count >= prefer ? prefer : count;
        this.takeFrom(fit, this.taken);
        return start;
      }
      scanned = this.runs.length;
      if (seeking) {
        // An entry hinted to hold such a run, before loading entries newest first.
        const runs = this.seek(count);
        if (runs !== undefined) {
          this.add(runs);
          continue;
        }
        seeking = false;
        // A recent search for as many cells found nothing (storage/commit/runHints.ts): the space map.
        if (this.search?.skipSearch(count)) return undefined;
        loadedBefore = this.loadedCells;
      }
      if (!this.loadNext()) {
        const start = this.spanningRun(count);
        if (start === undefined) {
          this.failedAt = count;
          // Told once per commit, by the search that loaded the list (a later failure here loads nothing).
          if (loadedBefore >= 0) this.search?.searchFailed(count, this.loadedCells);
        }
        return start;
      }
    }
  }

  /**
   * `count` contiguous cells from loaded runs that touch end to start (they came from different
   * pending entries: cells freed by different commits), taken from the start of the chain; undefined
   * when no chain is long enough. Without it, a value area or record needing more cells than any
   * single run went to the end of the file although its cells were free side by side, and the
   * free list fragmented under commits of areas of varying sizes (docs/benchmarks.md, workload 16).
   */
  private spanningRun(count: number): number | undefined {
    this.chainSearched = true;
    const runs = this.runs;
    if (runs.length < 2) return undefined;
    const order = orderByKey(runs.length, (k) => runs[k]!.start);
    let head = 0;
    let length = runs[order[0]!]!.count;
    for (let p = 1; p < order.length; p++) {
      const prev = runs[order[p - 1]!]!;
      const cur = runs[order[p]!]!;
      if (prev.start + prev.count === cur.start) length += cur.count;
      else {
        head = p;
        length = cur.count;
      }
      if (length < count) continue;
      const start = runs[order[head]!]!.start;
      const takes: Array<{ index: number; cells: number }> = [];
      let need = count;
      for (let q = head; q <= p && need > 0; q++) {
        const n = Math.min(need, runs[order[q]!]!.count);
        takes.push({ index: order[q]!, cells: n });
        need -= n;
      }
      // takeFrom removes emptied runs: highest index first, so the others keep theirs.
      takes.sort((a, b) => b.index - a.index);
      for (const t of takes) this.takeFrom(t.index, t.cells);
      return start;
    }
    return undefined;
  }

  /**
   * `count` contiguous cells from the loaded runs (nothing more is loaded): the start of the
   * shortest run that holds them, so longer runs stay whole for later. Undefined when none does.
   */
  bestFit(count: number): number | undefined {
    let best = -1;
    for (let i = 0; i < this.runs.length; i++) {
      const n = this.runs[i]!.count;
      if (n >= count && (best < 0 || n < this.runs[best]!.count)) best = i;
    }
    if (best < 0) return undefined;
    const start = this.runs[best]!.start;
    this.takeFrom(best, count);
    return start;
  }

  /** The longest loaded run's length (0 when none is loaded). */
  longestRun(): number {
    let n = 0;
    for (const r of this.runs) if (r.count > n) n = r.count;
    return n;
  }

  /** Takes `cell` if it is the next cell of a loaded run (to extend a run being handed out). */
  takeCell(cell: number): boolean {
    for (let i = 0; i < this.runs.length; i++) {
      if (this.runs[i]!.start === cell) {
        this.takeFrom(i, 1);
        return true;
      }
    }
    return false;
  }

  /**
   * Takes up to `count` loaded cells into `out`: the longest run first (the commit's hottest
   * nodes get it, so the next commit frees it whole), then the shortest runs (isolated cells are
   * used up instead of piling up on the list). Returns how many were taken.
   */
  takeRuns(count: number, out: number[]): number {
    let taken = 0;
    let longest = -1;
    for (let i = 0; i < this.runs.length; i++) if (longest < 0 || this.runs[i]!.count > this.runs[longest]!.count) longest = i;
    if (longest >= 0 && count > 0) {
      const run = this.runs[longest]!;
      const n = Math.min(count, run.count);
      for (let c = 0; c < n; c++) out.push(run.start + c);
      this.takeFrom(longest, n);
      taken += n;
    }
    if (taken < count && this.runs.length > 0) {
      const runs = this.runs;
      // Shortest run first, ties in list order: a commit's few missing cells are picked by
      // scanning for the shortest run again (measured: sorting the ~200 loaded runs for 9 cells
      // was a tenth of a 120-byte single commit's CPU); many are ordered by a sort.
      const order = count - taken <= SELECT_SHORTEST_MAX ? null : orderByKey(runs.length, (k) => runs[k]!.count);
      for (let o = 0; taken < count; o++) {
        const i = order !== null ? order[o] : shortestRun(runs);
        if (i === undefined || i < 0) break;
        const run = runs[i]!;
        const n = Math.min(count - taken, run.count);
        for (let c = 0; c < n; c++) out.push(run.start + c);
        run.start += n;
        run.count -= n;
        this.loadedCells -= n;
        taken += n;
      }
      this.runs = runs.filter((r) => r.count > 0);
    }
    return taken;
  }

  /** How many runs leftovers() would return. */
  leftoverCount(): number {
    let n = 0;
    for (const r of this.runs) if (r.count > 0) n++;
    return n;
  }

  /** Runs loaded but not used. */
  leftovers(): CellRun[] {
    return this.runs.filter((r) => r.count > 0);
  }

  private takeFrom(i: number, count: number): void {
    const run = this.runs[i]!;
    run.start += count;
    run.count -= count;
    this.loadedCells -= count;
    if (run.count === 0) this.runs.splice(i, 1);
  }
}
