/**
 * The write path's working memory, owned by one writer (a store) and reused by every write it
 * makes: the wide entry lists of the level being rebuilt, the pooled run records, and the append
 * path's rightmost path. A write allocates nothing for them once they have grown, and no module
 * holds them: two stores never share one, so a store's write running inside another's (a test's
 * disk hook committing elsewhere) cannot clobber it. A WriteScratch serves one write at a time
 * (writeRange and appendRange do not nest).
 *
 * The switches turn the fast paths off; tests compare their trees with the general path's.
 */
import type { MemNode, Ref, Slot } from '../../storage/format/node.js';

/** One node of a run being rebuilt, with its bounds from the parent. */
export interface RunNode {
  ref: Ref;
  node: MemNode;
  min: number;
  max: number;
}

/**
 * Entries of one level being rebuilt: parallel arrays. A leaf level's have no children or gaps and
 * an internal level's no slots: those share the empty arrays below, which are never written.
 */
export interface Entries {
  lasts: number[];
  slots: (Slot | null)[];
  children: Ref[];
  gaps: number[];
  /** An internal level's: the low bits of each committed child's commit (MemNode.childCommits). */
  childCommits: number[];
  /** Entries in use: the arrays may be longer (the reused scratch lists). */
  n: number;
}

/** The unused arrays of an entry list's kind: shared, never written, always empty. */
export const NO_SLOTS: (Slot | null)[] = [];
export const NO_CHILDREN: Ref[] = [];
export const NO_GAPS: number[] = [];
export const NO_COMMITS: number[] = [];

/**
 * Entries the scratch lists start with: longer than any node so they rarely grow; filled with
 * doubles from the start so their copies hold keys unboxed.
 */
const SCRATCH_ENTRIES = 64;

export class WriteScratch {
  /** The path copy of src/tree/write.ts (updatePath); off, every write rebuilds its levels. */
  pathWrite = true;
  /** The append fast path (src/tree/append.ts); off, appends take writeRange's general path. */
  appendPath = true;

  /** The leaf level's wide entry list (applyToLeaves). */
  readonly leaf: Entries = { lasts: [], slots: [], children: NO_CHILDREN, gaps: NO_GAPS, childCommits: NO_COMMITS, n: 0 };
  /** The internal levels' wide entry list (replaceInParents). */
  readonly inner: Entries = { lasts: [], slots: NO_SLOTS, children: [], gaps: [], childCommits: [], n: 0 };
  /** How far the scratch lists were filled since they were last cleared. */
  leafUsed = 0;
  innerUsed = 0;
  /** RunNode records reused by collect; the first runPoolUsed are the current write's. */
  readonly runPool: RunNode[] = [];
  runPoolUsed = 0;

  /** The append path's rightmost path, root first, and the min of its leaf. */
  readonly path: MemNode[] = [];
  pathLeafMin = 0;

  constructor() {
    for (let i = 0; i < SCRATCH_ENTRIES; i++) {
      this.leaf.lasts.push(0.5);
      this.leaf.slots.push(null);
      this.inner.lasts.push(0.5);
      this.inner.children.push(0);
      this.inner.childCommits.push(0);
      this.inner.gaps.push(0.5);
    }
  }
}
