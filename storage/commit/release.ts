/**
 * Step 1 of a commit: the free list's source, the pending entries no open reader can reach, taken
 * lazily as cells are needed (storage/commit/freeList.ts holds what was taken). By-commit entries
 * are reusable up to the horizon (the oldest version read) — a key prefix; windowed entries
 * (storage/format/pendingList.ts) are reusable when no reader's version lies in their window. A
 * reusable entry is freed by a durable commit (≤ the last durable one), so neither the last
 * durable version nor a reader that opens during this commit reaches its cells.
 *
 * Windowed entries are taken first, newest first: the young ones of the commit just before
 * (released now, unless a reader lies in their window) and the cells it left unused. A pinned one
 * is skipped; after PINNED_SCAN_LIMIT skipped, each further pinned entry sends the scan below every
 * entry freed after the newest reader that pins it (those freed by then wait for that reader to
 * close; entries at or below the horizon are reusable whatever their window): the scan costs at
 * most that many record reads per commit, and one per reader more, however many entries long-held
 * readers pin. It used to pass at once to the horizon: under an old snapshot held throughout, the
 * entries only newer readers had pinned waited, once those had closed, for the old one whenever
 * more than PINNED_SCAN_LIMIT newer entries were pinned.
 * Then by-commit entries, the newest reusable first (found afresh each time, O(log n), as entries
 * are removed when taken). Newest first keeps small commits cycling through the few cells the
 * commits just before them freed, and touches one end of the pending tree instead of both:
 * measured on a 1,000,000-range store after 3,000 random overwrites, single-store commits wrote
 * 13.5 cells instead of 16.3 (pending-tree nodes 5–6 → 2).
 *
 * Entries the free list takes are its sources: what it leaves of one goes back under that entry's
 * key (storage/commit/pendingChunks.ts), a key at or below the release limit, so it stays
 * reusable whatever the readers — and, being older than the entries the next commits free, it is
 * loaded only when those do not cover their need (a commit carving its cells from a large
 * leftover run otherwise never reuses the isolated cells the commits before it freed, and its
 * list grows).
 */
import { corruptCell } from '../../src/common/errors.js';
import { MAX_INDEX, PEEK_LIMIT, PEEK_VISIT_LIMIT, PINNED_SCAN_LIMIT } from '../../src/common/limits.js';
import { findFirst, iterate } from '../../src/tree/walk.js';
import type { NodeSource } from '../../src/tree/write.js';
import type { CommitRecord } from '../format/commitRecord.js';
import { RecordSlot } from '../format/node.js';
import type { CellRun } from '../format/pageFile.js';
import { WINDOWED_KEY_BASE, byCommitKey, decodePendingEntry, isWindowedKey, type PendingEntry, windowedKey } from '../format/pendingList.js';
import type { CellReader } from '../io/cellReader.js';
import { type ReaderSet, firstAtOrAbove, readerInWindow } from '../io/readerSet.js';
import { type CommitPlan, treeOf } from './commitPlan.js';
import { FreeList } from './freeList.js';
import type { Hint, RunHints } from './runHints.js';

/** Hinted entries a commit reads at most per run it seeks (each a pending-tree descent and a record read). */
const SEEK_CANDIDATES = 4;

/** A pending entry the free list took: where its leftovers go back (storage/commit/pendingChunks.ts). */
export interface PendingSource {
  key: number;
  freedBy: number;
  windowed: boolean;
}

/** The releasable pending entries of one commit, in the order the free list takes them. */
class ReleasableEntries {
  /** The entries taken so far; a run's `source` indexes this list. */
  readonly sources: PendingSource[] = [];
  /** The largest by-commit key at or below the horizon. */
  private readonly releaseLimit: number;
  /** Windowed entries at or below this key are reusable whatever their window. */
  private readonly windowedFloor: number;
  /** The highest windowed key this commit may take. */
  private readonly windowedLimit: number;
  private windowedCursor: number;
  private byCommitCursor: number;
  private pinnedSkipped = 0;

  constructor(
    private readonly plan: CommitPlan,
    private readonly hints: RunHints | null,
  ) {
    const { prev, releaseUpTo } = plan;
    this.releaseLimit = byCommitKey(releaseUpTo + 1, 0) - 1;
    this.windowedFloor = windowedKey(releaseUpTo + 1, 0) - 1;
    this.windowedLimit = plan.readers.any ? this.windowedFloor : windowedKey(prev.commit + 1, 0) - 1;
    this.windowedCursor = this.windowedLimit;
    this.byCommitCursor = this.releaseLimit;
    this.peekCursor = this.windowedLimit;
    this.seekSpans = [
      [WINDOWED_KEY_BASE, this.windowedLimit],
      [0, this.releaseLimit],
    ];
  }

  /** The keys this commit may take, highest first: windowed ones up to its limit, by-commit ones up to the release limit. */
  private readonly seekSpans: ReadonlyArray<readonly [number, number]>;

  /**
   * Takes a releasable entry the run hints (storage/commit/runHints.ts) say holds a run of at
   * least `count` cells, checked against the version this commit builds on: its runs, or
   * undefined when no hinted entry does. A hint found wrong is dropped or corrected.
   */
  seek(count: number): CellRun[] | undefined {
    const hints = this.hints;
    if (hints === null || hints.size === 0) return undefined;
    const { sink, pending, readers } = this.plan;
    // By key and the window noted with it: a pinned entry is not read.
    const usable = (key: number, hint: Hint): boolean => {
      if (!isWindowedKey(key)) return key <= this.releaseLimit;
      return key <= this.windowedLimit && (key <= this.windowedFloor || hint.freedBy < 0 || !readerInWindow(readers, hint.lowBirth, hint.freedBy));
    };
    for (const key of hints.candidates(count, usable, SEEK_CANDIDATES, this.seekSpans)) {
      const entry = findFirst(sink, pending, key, key, false);
      if (entry === undefined || entry.first !== key || !(entry.slot instanceof RecordSlot)) {
        hints.forget(key);
        continue;
      }
      const { e, fits } = this.examine(hints, key, entry.slot, count);
      if (fits) return this.load(entry.first, entry.last, e);
    }
    return undefined;
  }

  /** The highest key peek() has not looked at yet. */
  private peekCursor: number;
  /** Entries peek() read and did not take, by key: taken later (for cells), they are not decoded again. */
  private readonly peeked = new Map<number, PendingEntry>();

  /** The entry under `key` (its record named by `slot`) as of the version this commit builds on. */
  private entryAt(key: number, slot: RecordSlot): PendingEntry | undefined {
    const e = this.peeked.get(key);
    if (e !== undefined) {
      this.peeked.delete(key);
      return e;
    }
    return decodePendingEntry(key, this.plan.pager.recordBytes(slot.cell, this.plan.prev.commit, slot.commit));
  }

  /**
   * Reads the entry under `key` (its record at `cell`) and notes it in the run hints: the entry,
   * and whether this commit may take it for a run of `count` cells (it holds one, and no reader
   * reads a version in its window).
   */
  private examine(hints: RunHints, key: number, slot: RecordSlot, count: number): { e: PendingEntry; fits: boolean } {
    const e = this.entryAt(key, slot);
    if (e === undefined) throw corruptCell(slot.cell, `windowed pending entry ${key} is too short to hold its lowest birth`);
    const windowed = isWindowedKey(key);
    hints.note(key, e.runs, windowed ? { lowBirth: e.lowBirth, freedBy: e.freedBy } : undefined);
    let longest = 0;
    for (const r of e.runs) if (r.count > longest) longest = r.count;
    const pinned = windowed && key > this.windowedFloor && readerInWindow(this.plan.readers, e.lowBirth, e.freedBy);
    return { e, fits: longest >= count && !pinned };
  }

  /**
   * Reads releasable entries newest first without taking them, looking for one that holds a run
   * of at least `count` cells, and takes that one: its runs, or undefined after PEEK_LIMIT reads
   * or PEEK_VISIT_LIMIT entries passed over unread (or none left). Each entry read is noted in
   * the run hints, so seek() offers it to later requests and no commit reads it again for as long
   * a run; entries known to be shorter are passed over unread. Without it, a commit whose area
   * found no hinted entry loaded entry after entry and listed again, on top of the free list,
   * every cell it loaded: on a file aged by batched overwrites, 3% of 120-byte single commits
   * loaded 10–120 entries of isolated cells each, and the next such commit found them on top
   * again (docs/design.md, section 6).
   */
  peek(count: number): CellRun[] | undefined {
    const hints = this.hints;
    if (hints === null) return undefined;
    const { sink, pending } = this.plan;
    let reads = 0;
    let visits = 0;
    // Windowed keys, then the releasable by-commit ones (keys between them are this commit's own
    // chunks and entries no commit may reuse yet).
    for (const floor of [WINDOWED_KEY_BASE, 0]) {
      if (floor === 0) this.peekCursor = Math.min(this.peekCursor, this.releaseLimit);
      for (const entry of iterate(sink, pending, floor, this.peekCursor, true)) {
        const key = entry.first;
        if (!(entry.slot instanceof RecordSlot) || hints.knownShorter(key, count)) {
          if (++visits > PEEK_VISIT_LIMIT) return undefined;
          this.peekCursor = key - 1;
          continue;
        }
        // Resume at this entry next time: it is not read now.
        if (++reads > PEEK_LIMIT) return undefined;
        this.peekCursor = key - 1;
        const { e, fits } = this.examine(hints, key, entry.slot, count);
        if (!fits) {
          this.peeked.set(key, e);
          continue;
        }
        // Taking it changes the pending tree: the walk ends here.
        return this.load(key, entry.last, e);
      }
      if (floor === WINDOWED_KEY_BASE) this.peekCursor = Math.min(this.peekCursor, WINDOWED_KEY_BASE - 1);
    }
    return undefined;
  }

  /** Takes the next releasable entry out of the pending tree: its runs, or undefined when none is left. */
  next(): CellRun[] | undefined {
    const { sink, pending, readers } = this.plan;
    while (this.windowedCursor >= WINDOWED_KEY_BASE) {
      // The newest windowed entry, or (none left) the newest by-commit one: one descent when
      // there is no windowed entry, as with no reader open. (This commit's own by-commit chunks,
      // above releaseLimit, are found the same way: then the bounded search below.)
      const entry = findFirst(sink, pending, 0, this.windowedCursor, true);
      if (entry === undefined) return undefined;
      if (entry.first < WINDOWED_KEY_BASE) {
        this.windowedCursor = WINDOWED_KEY_BASE - 1;
        if (entry.first > this.releaseLimit) break;
      }
      // A chunk this commit put back under a key it emptied lists nothing to take yet.
      if (!(entry.slot instanceof RecordSlot)) {
        if (entry.first < WINDOWED_KEY_BASE) this.byCommitCursor = entry.first - 1;
        else this.windowedCursor = entry.first - 1;
        continue;
      }
      const e = this.entryAt(entry.first, entry.slot);
      if (e === undefined) throw corruptCell(entry.slot.cell, `windowed pending entry ${entry.first} is too short to hold its lowest birth`);
      if (entry.first <= this.windowedFloor || !readerInWindow(readers, e.lowBirth, e.freedBy)) return this.load(entry.first, entry.last, e);
      this.windowedCursor = entry.first - 1;
      const base = readers.durableBase;
      if (base !== undefined && e.lowBirth <= base && base < e.freedBy) {
        // Pinned by the last durable version (`sync: 'none'`): so is every entry freed after it but
        // those no version reaches, which were taken first, being newest. The scan passes below
        // them at once, and they do not count as skipped.
        this.windowedCursor = Math.min(this.windowedCursor, windowedKey(base + 1, 0) - 1);
        continue;
      }
      if (++this.pinnedSkipped >= PINNED_SCAN_LIMIT) this.windowedCursor = Math.min(this.windowedCursor, this.passPinned(e.freedBy));
    }
    for (;;) {
      const entry = findFirst(sink, pending, 0, this.byCommitCursor, true);
      if (entry === undefined) return undefined;
      if (!(entry.slot instanceof RecordSlot)) {
        this.byCommitCursor = entry.first - 1;
        continue;
      }
      return this.load(entry.first, entry.last, this.entryAt(entry.first, entry.slot)!);
    }
  }

  /**
   * Where the scan of windowed entries goes on once an entry freed by `freedBy` was found pinned
   * past PINNED_SCAN_LIMIT: below every entry freed after the newest version read before
   * `freedBy` (a version in the entry's window, as some reader's is, so that reader pins it), and
   * never below the entries reusable whatever their window.
   */
  private passPinned(freedBy: number): number {
    const readers = this.plan.readers;
    const below = firstAtOrAbove(readers, freedBy) - 1;
    if (readers.any || below < 0) return this.windowedFloor;
    return Math.max(this.windowedFloor, windowedKey(readers.versions[below]! + 1, 0) - 1);
  }

  private load(first: number, last: number, e: PendingEntry): CellRun[] {
    this.hints?.forget(first);
    const source = this.sources.length;
    this.sources.push({ key: first, freedBy: e.freedBy, windowed: isWindowedKey(first) });
    for (const run of e.runs) run.source = source;
    return this.plan.takeEntry(first, last, e.runs);
  }
}

/** The commit's free list over its releasable pending entries, and the list of entries it takes. */
export function openFreeList(plan: CommitPlan, hints: RunHints | null = null): { free: FreeList; sources: PendingSource[] } {
  const entries = new ReleasableEntries(plan, hints);
  return { free: new FreeList(() => entries.next(), (count) => entries.seek(count) ?? entries.peek(count), hints), sources: entries.sources };
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
    const e = decodePendingEntry(entry.first, pager.recordBytes(entry.slot.cell, rec.commit, entry.slot.commit).slice());
    if (e === undefined) continue;
    let cells = 0;
    for (const run of e.runs) cells += run.count;
    if (readerInWindow(readers, e.lowBirth, e.freedBy)) waiting += cells;
    else reusable += cells;
  }
  return { reusable, waiting };
}
