/**
 * Run hints: which pending entries hold a run of free cells long enough for a value area or a
 * record, so a commit needing such a run takes that one entry instead of loading entry after
 * entry, newest first, until a long run turns up (and listing again every cell it loaded and did
 * not use). Measured before the hints on 20,000 ranges of 120-byte values
 * (`node dist/test/bench/probes/singleCommits.js`): a single-store commit loaded ~7 entries, ~390
 * cells in ~180 runs, to place one area of ~9 cells, and sorting what it listed again was a fifth
 * of its CPU.
 *
 * A hint is only a hint: a map from an entry's key to the longest run the store's own commits
 * listed under it. It is not written to the file, learned from nothing but this store's commits
 * (entries listed before it opened are found the old way), and may be stale (the entry taken
 * since, rewritten, or listed by a commit that failed): the commit reads the entry from the
 * version it builds on and checks it before taking it (storage/commit/release.ts), and drops or
 * corrects a hint that was wrong. Correctness never depends on it.
 */
import type { CellRun } from '../format/pageFile.js';
import { lowerBound } from '../../src/common/lowerBound.js';

/** Entries whose longest run is shorter than this are not hinted (any loaded run serves them). */
export const HINT_MIN_RUN = 2;

/** A failed search is not repeated before this many cells, at least, were freed since (see RunHints.skipSearch). */
export const SEARCH_RETRY_MIN_CELLS = 256;

/** What is known of one hinted entry. */
export interface Hint {
  /** The longest run listed under the key. */
  run: number;
  /** A windowed entry's window (storage/format/pendingList.ts): the lowest birth among its cells; −1 for a by-commit entry. */
  lowBirth: number;
  /** A windowed entry's freeing commit; −1 for a by-commit entry. */
  freedBy: number;
}

/** candidates() looks at every key. */
const ALL_KEYS: ReadonlyArray<readonly [number, number]> = [[-Infinity, Infinity]];

export class RunHints {
  private readonly hints = new Map<number, Hint>();
  /**
   * The hinted keys by their hint's run, each list ascending, and the runs that have one, ascending:
   * candidates() visits only the keys of runs long enough, newest first, and stops at its limit.
   * (Scanning every hint instead cost a tenth of a 120-byte single commit's CPU once a store had
   * ~900 of them: `node dist/test/bench/probes/commitStalls.js`, docs/design.md section 6.)
   */
  private readonly keysByRun = new Map<number, number[]>();
  private readonly runs: number[] = [];
  /**
   * The longest run of every entry a commit listed or read (hinted or not): an entry known to
   * hold nothing as long as a request is passed over without being read (ReleasableEntries.peek).
   */
  private readonly longest = new Map<number, number>();
  /** The shortest run the last failed search of the whole free list did not find (Infinity: none failed). */
  private failedFor = Infinity;
  /** Cells commits freed since that search, and how many must be before the next. */
  private freedSince = 0;
  private retryAfter = 0;

  /**
   * Whether a commit needing `count` contiguous cells that no hinted or loaded run holds should
   * skip the search of the whole free list (loading every releasable entry, then looking for a
   * chain of touching runs across them) and take its run from the space map: a search for as
   * many cells or fewer found nothing, and too few cells were freed since to make a run likely.
   * Such a search loads — and the commit then lists again — every run on the list: measured on
   * 1,000,000 ranges of 300-byte values, 99% of them failed, and the list they rewrote grew with
   * each (docs/design.md, section 6).
   */
  skipSearch(count: number): boolean {
    return count >= this.failedFor && this.freedSince < this.retryAfter;
  }

  /** A search of the whole free list, `loadedCells` cells, found no run of `count` cells. */
  searchFailed(count: number, loadedCells: number): void {
    this.failedFor = count;
    this.freedSince = 0;
    // A search costs about the cells it loads: repeated once half as many were freed since, it
    // costs each freed cell at most two more.
    this.retryAfter = Math.max(SEARCH_RETRY_MIN_CELLS, Math.ceil(loadedCells / 2));
  }

  /** A commit freed `cells` cells. */
  freed(cells: number): void {
    this.freedSince += cells;
  }

  /**
   * A commit listed `runs` under `key` (replacing what was there); `window` for a windowed entry,
   * so that one a reader pins is passed over without being read.
   */
  note(key: number, runs: readonly CellRun[], window?: { lowBirth: number; freedBy: number }): void {
    let n = 0;
    for (const r of runs) if (r.count > n) n = r.count;
    this.longest.set(key, n);
    const lowBirth = window?.lowBirth ?? -1;
    const freedBy = window?.freedBy ?? -1;
    const hint = this.hints.get(key);
    if (hint !== undefined && hint.run === n) {
      hint.lowBirth = lowBirth;
      hint.freedBy = freedBy;
      return;
    }
    this.unhint(key);
    if (n < HINT_MIN_RUN) return;
    this.hints.set(key, { run: n, lowBirth, freedBy });
    let keys = this.keysByRun.get(n);
    if (keys === undefined) {
      keys = [];
      this.keysByRun.set(n, keys);
      this.runs.splice(lowerBound(this.runs, n), 0, n);
    }
    keys.splice(lowerBound(keys, key), 0, key);
  }

  /** The entry under `key` was taken (or holds a run shorter than any hint). */
  forget(key: number): void {
    this.unhint(key);
    this.longest.delete(key);
  }

  private unhint(key: number): void {
    const hint = this.hints.get(key);
    if (hint === undefined) return;
    this.hints.delete(key);
    const keys = this.keysByRun.get(hint.run)!;
    keys.splice(lowerBound(keys, key), 1);
    if (keys.length === 0) {
      this.keysByRun.delete(hint.run);
      this.runs.splice(lowerBound(this.runs, hint.run), 1);
    }
  }

  /** Whether the entry under `key` is known to hold no run of `count` cells (if it was not changed since). */
  knownShorter(key: number, count: number): boolean {
    const n = this.longest.get(key);
    return n !== undefined && n < count;
  }

  /** How many entries are hinted. */
  get size(): number {
    return this.hints.size;
  }

  /**
   * Keys hinted to hold a run of at least `count` cells among those `usable` accepts, the
   * shortest such run first (longer runs stay whole for longer requests), of equal runs the
   * newest (highest) key first, at most `limit` of them. `usable` is asked about keys in that
   * order until `limit` are found. `spans` (lowest and highest key, the highest span first): the
   * only keys that may be usable, so that a run's keys outside them are passed over unasked.
   */
  candidates(count: number, usable: (key: number, hint: Hint) => boolean, limit: number, spans: ReadonlyArray<readonly [number, number]> = ALL_KEYS): number[] {
    const found: number[] = [];
    for (let r = lowerBound(this.runs, count); r < this.runs.length && found.length < limit; r++) {
      const keys = this.keysByRun.get(this.runs[r]!)!;
      for (let s = 0; s < spans.length && found.length < limit; s++) {
        const [lo, hi] = spans[s]!;
        for (let i = lowerBound(keys, hi + 1) - 1; i >= 0 && keys[i]! >= lo && found.length < limit; i--) {
          const key = keys[i]!;
          if (usable(key, this.hints.get(key)!)) found.push(key);
        }
      }
    }
    return found;
  }
}
