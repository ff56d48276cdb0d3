/**
 * The published root: the newest committed version, as the writer hands it to worker threads, read
 * without a lock and without touching the file (its commit ring stays the writer's and recovery's).
 *
 * Two copies and a publish count, the count's low bit naming the copy readers use (Linux's latched
 * sequence counter): the writer fills the other copy, then increments the count. A reader loads the
 * count, the copy it names, and the count again; unchanged, the copy was not being written (the
 * writer writes that copy only after moving the count on), else it retries. A writer that stops
 * half-way (its thread ended) leaves the count unchanged, so readers keep the previous root — they
 * never wait on a writer. Count 0: nothing published yet.
 *
 * One copy, 64 bytes (32-bit words, in the shared area at storage/io/sharedArea.ts):
 *   word  meaning
 *   0     commit number, low 32 bits
 *   1     commit number, high bits
 *   2     main tree root cell (0: empty tree)
 *   3     main tree height
 *   4     range count, low 32 bits
 *   5     range count, high bits
 *   6     main tree node count, low 32 bits
 *   7     main tree node count, high bits
 *   8     shared-structures table: record cell (0: none)
 *   9     structures in the table
 *   10    page-log end after this commit's pages (storage/io/pageLog.ts; a position mod 2^32)
 *   11    the main tree root's commit, as the commit record's pointer names it (its low 24 bits)
 *   12    the structures table's commit, as the commit record names it (its low 16 bits)
 *   13-15 zero
 */
import { busy } from '../../src/common/errors.js';
import { SHARED_READ_RETRIES } from '../../src/common/limits.js';
import type { CommitRecord } from '../format/commitRecord.js';
import { ROOT_COPY_BYTES, type SharedArea, W_PUBLISH_COUNT } from './sharedArea.js';
import { highWord, joinU64 } from '../../src/common/u64.js';

const COPY_WORDS = ROOT_COPY_BYTES / 4;

/** A published version: what a reader needs to read it. */
export interface PublishedRoot {
  /** The publish count it was read at (changes with every publication). */
  readonly count: number;
  readonly commit: number;
  /** Main tree root cell, 0 when the tree is empty. */
  readonly rootCell: number;
  readonly height: number;
  readonly ranges: number;
  readonly nodes: number;
  readonly structuresCell: number;
  readonly structuresCount: number;
  /** Page-log position after this commit's pages (storage/io/pageLog.ts). */
  readonly logEnd: number;
  /** The low bits of the commits that wrote the root node and the structures table (commitRecord.ts). */
  readonly rootCommit: number;
  readonly structuresCommit: number;
}

/** Publishes `rec` (durable) as the newest version; `logEnd` is the page log's end after its pages. */
export function publishRoot(area: SharedArea, rec: CommitRecord, logEnd: number): void {
  const w = area.words;
  const count = Atomics.load(w, W_PUBLISH_COUNT) >>> 0;
  const next = (count + 1) >>> 0 === 0 ? 2 : (count + 1) >>> 0;
  const at = area.rootWord + (next & 1) * COPY_WORDS;
  Atomics.store(w, at, rec.commit >>> 0);
  Atomics.store(w, at + 1, highWord(rec.commit));
  Atomics.store(w, at + 2, rec.main.cell);
  Atomics.store(w, at + 3, rec.main.height);
  Atomics.store(w, at + 4, rec.ranges >>> 0);
  Atomics.store(w, at + 5, highWord(rec.ranges));
  Atomics.store(w, at + 6, rec.nodes >>> 0);
  Atomics.store(w, at + 7, highWord(rec.nodes));
  Atomics.store(w, at + 8, rec.structures.cell);
  Atomics.store(w, at + 9, rec.structures.count);
  Atomics.store(w, at + 10, logEnd | 0);
  Atomics.store(w, at + 11, rec.main.commit);
  Atomics.store(w, at + 12, rec.structures.commit);
  // The copy is whole: readers move to it. (A count wrapping to 0 would read as "nothing
  // published", so it skips to 2, which names the same copy parity as 0.)
  Atomics.store(w, W_PUBLISH_COUNT, next | 0);
}

/** The publish count: unchanged since a read, the published root is the one read. 0: none yet. */
export function publishCount(area: SharedArea): number {
  return Atomics.load(area.words, W_PUBLISH_COUNT) >>> 0;
}

/** The newest published version, or undefined when none was published. Lock-free; never waits. */
export function readPublished(area: SharedArea): PublishedRoot | undefined {
  const w = area.words;
  for (let attempt = 0; attempt < SHARED_READ_RETRIES; attempt++) {
    const count = Atomics.load(w, W_PUBLISH_COUNT) >>> 0;
    if (count === 0) return undefined;
    const at = area.rootWord + (count & 1) * COPY_WORDS;
    const root: PublishedRoot = {
      count,
      commit: joinU64(Atomics.load(w, at) >>> 0, Atomics.load(w, at + 1) >>> 0),
      rootCell: Atomics.load(w, at + 2) >>> 0,
      height: Atomics.load(w, at + 3) >>> 0,
      ranges: joinU64(Atomics.load(w, at + 4) >>> 0, Atomics.load(w, at + 5) >>> 0),
      nodes: joinU64(Atomics.load(w, at + 6) >>> 0, Atomics.load(w, at + 7) >>> 0),
      structuresCell: Atomics.load(w, at + 8) >>> 0,
      structuresCount: Atomics.load(w, at + 9) >>> 0,
      logEnd: Atomics.load(w, at + 10) >>> 0,
      rootCommit: Atomics.load(w, at + 11) >>> 0,
      structuresCommit: Atomics.load(w, at + 12) >>> 0,
    };
    if (Atomics.load(w, W_PUBLISH_COUNT) >>> 0 === count) return root;
  }
  // Only a writer publishing thousands of versions during these few loads gets here.
  throw busy(`the published root moved on during ${SHARED_READ_RETRIES} attempts to read it`);
}
