/**
 * The reader set a commit works with: every version an open reader reads — in-process snapshots
 * and iterators (src/read/readerRegistry.ts), read-only stores in any process (storage/io/readerFiles.ts).
 *
 * A cell written by commit B and freed by commit D is reachable exactly by the versions v with
 * B ≤ v < D, so it is pinned only while a reader's version lies in that window. The oldest version
 * alone (the horizon) is not enough to say so: a reader at r does not reach a cell written after
 * r, however many later commits free such cells while it stays open. Readers arriving later read a
 * version that is current then, which reaches none of the cells a commit may reuse (they were
 * freed by a durable commit before it); the one exception, a reader in another process that
 * registered just after a commit listed the readers, is seen by the next commit.
 */
import { lowerBound } from '../../src/common/lowerBound.js';

export interface ReaderSet {
  /** Distinct versions read, ascending. */
  readonly versions: readonly number[];
  /**
   * A reader in another process that has registered but not yet said which version it reads
   * (registered as version 0, storage/io/readerFiles.ts): it may read any version up to the current
   * one, so it pins everything, as if it read them all.
   */
  readonly any: boolean;
  /**
   * With `sync: 'none'`, the last durable version (src/api/store.ts), also in `versions`: what a
   * power loss leaves, so the cells it reaches are kept like any reader's until a checkpoint makes
   * a newer version durable. Its cells get a band of their own (BirthBands), and the release scan
   * passes over the entries it pins at once (storage/commit/release.ts). Undefined: the version a
   * commit builds on is durable.
   */
  readonly durableBase?: number;
}

/** No reader at all (frozen: shared by every caller). */
export const NO_READERS: ReaderSet = Object.freeze({ versions: Object.freeze([]), any: false });

/** The reader set of `a` and `b` together (both ascending, distinct). */
export function mergeReaders(a: readonly number[], b: ReaderSet): ReaderSet {
  if (b.versions.length === 0) return { versions: a, any: b.any };
  if (a.length === 0) return b;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.versions.length) {
    const x = i < a.length ? a[i]! : Infinity;
    const y = j < b.versions.length ? b.versions[j]! : Infinity;
    const v = x < y ? x : y;
    if (x === v) i++;
    if (y === v) j++;
    out.push(v);
  }
  return { versions: out, any: b.any };
}

/** The oldest version read (the reclaim horizon): `current` when no reader is open. */
export function horizonOf(readers: ReaderSet, current: number): number {
  if (readers.any) return 0;
  const oldest = readers.versions[0];
  return oldest === undefined || oldest > current ? current : oldest;
}

/** Position of the first version ≥ `version` (versions.length when none is). */
export function firstAtOrAbove(readers: ReaderSet, version: number): number {
  return lowerBound(readers.versions, version);
}

/** True when a reader may read a version in [low, high): the cells of that window are pinned. */
export function readerInWindow(readers: ReaderSet, low: number, high: number): boolean {
  // An empty window holds cells no version reaches (a commit's unused cells): never pinned.
  if (low >= high) return false;
  if (readers.any) return true;
  const i = firstAtOrAbove(readers, low);
  return i < readers.versions.length && readers.versions[i]! < high;
}

/** Reader bands of their own below the newest reader's (the readers beyond share one band). */
export const MAX_READER_BANDS = 2;

/**
 * How a commit splits what it frees, by the commit that wrote each cell (its birth B): the cell is
 * reached by the readers at versions ≥ B, so it is grouped with the cells the same readers reach.
 * Group −1: reached by the oldest reader (a by-commit entry, released with the horizon). Groups
 * 0 … groups−1 (windowed entries, ascending births): reached only by the readers from the k-th
 * newest on (k ≤ MAX_READER_BANDS), released as soon as those close; the last group, `young`, is
 * reached by no reader and is released by the next commit (unless a reader in another process
 * registered meanwhile at the version it replaced). Each group is at least one chunk cell, hence
 * the cap: the readers between the oldest and those share band 0, which is safe (its cells wait
 * for all of them). They joined group −1 before, and so waited for the oldest reader: with an old
 * snapshot held while newer ones came and went, for as long as it stayed open.
 */
export class BirthBands {
  /** Windowed groups (the last is the young group); 0 when every freed cell is by-commit. */
  readonly groups: number;
  /** Whether births decide anything: false when every freed cell joins the same group. */
  readonly needsBirths: boolean;
  /** The group of cells no version reaches (a commit's unused cells): the young group, or −1 with no reader open. */
  readonly unreachable: number;
  /** The position of the oldest reader with a band of its own. */
  private readonly firstBand: number;
  /** 1 when the readers at positions 1 … firstBand − 1 share band 0, else 0. */
  private readonly shared: number;

  constructor(private readonly readers: ReaderSet, current: number) {
    const k = readers.versions.length;
    if (readers.any || k === 0) {
      // No reader: what a commit frees is reusable by the next one anyway (by-commit entries).
      // A reader that may read anything: every freed cell is pinned, unused cells excepted.
      this.groups = readers.any ? 1 : 0;
      this.needsBirths = false;
      this.firstBand = k;
      this.shared = 0;
    } else {
      // The last durable version's band is kept whatever MAX_READER_BANDS says: its cells are
      // released at the next checkpoint, not with the oldest reader, however long that is held.
      const base = readers.durableBase;
      const baseAt = base === undefined ? -1 : firstAtOrAbove(readers, base);
      this.firstBand = Math.max(1, k - MAX_READER_BANDS);
      if (baseAt >= 1 && baseAt < this.firstBand) this.firstBand = baseAt;
      this.shared = this.firstBand > 1 ? 1 : 0;
      this.groups = this.shared + k - this.firstBand + 1;
      // Every birth is ≤ current: when the oldest reader reads the current version, all are ≤ it.
      this.needsBirths = readers.versions[0]! < current;
    }
    this.unreachable = this.groups - 1;
  }

  /** The group of a cell written by commit `birth` (0 when unknown: the oldest group). */
  groupOf(birth: number): number {
    if (!this.needsBirths) return -1;
    const i = firstAtOrAbove(this.readers, birth);
    if (i === 0) return -1;
    return i < this.firstBand ? 0 : i - this.firstBand + this.shared;
  }
}
