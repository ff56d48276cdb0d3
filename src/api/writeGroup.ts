/**
 * A write group: the functions of several `write()` calls, run one after another on one
 * copy-on-write tree and committed together (src/api/writeQueue.ts).
 *
 * Each function runs on a savepoint: a transaction of its own over the group's tree so far, with
 * a savepoint generation of its own (TreeState.gen, src/tree/write.ts). The new nodes of earlier
 * functions are frozen for it — copied, never changed — so when it throws, its transaction is
 * dropped and the group's tree, the cells its functions freed and their packed-block counts are
 * exactly what they were: only that caller is refused. When it returns, its tree becomes the
 * group's, and its frees and packed-block changes join the group's.
 */
import type { CellRun } from '../../storage/format/pageFile.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import type { TreeState } from '../tree/write.js';
import type { WriteScratch } from '../tree/writeScratch.js';
import { type WriteTxn, WriteTxnImpl, isThenable, refuseThenable } from './txn.js';

export class WriteGroup<V> {
  /** The tree after every function that returned. */
  tree: TreeState;
  /** Cells the group's functions stopped referencing. */
  readonly frees: CellRun[] = [];
  /** Changes to the reference counts of packed value blocks, by block cell. */
  readonly packedDeltas = new Map<number, number>();
  /** Whether any function that returned wrote something. */
  changed = false;
  /** Functions run, and encoded bytes of the values they stored (the group's caps). */
  writes = 0;
  valueBytes = 0;
  private gen = 0;

  /** A group over `base`, the tree of the published version `version`. */
  constructor(
    private readonly pager: CellReader,
    private readonly scratch: WriteScratch,
    base: TreeState,
    private readonly version: number,
  ) {
    this.tree = base;
  }

  /**
   * Runs `fn` on a savepoint of the group: returns its result, or throws what it threw (or the
   * refusal of a promise it returned) with nothing it did left in the group.
   */
  run<T>(fn: (txn: WriteTxn<V>) => T): T {
    this.writes++;
    const txn = new WriteTxnImpl<V>(this.pager, this.scratch, this.tree, this.version, ++this.gen);
    try {
      const result = fn(txn);
      if (isThenable(result)) refuseThenable(result);
      txn.end();
      this.valueBytes += txn.valueBytes;
      if (txn.changed) {
        this.tree = txn.tree;
        for (const run of txn.frees) this.frees.push(run);
        for (const [cell, delta] of txn.packedDeltas) {
          const n = (this.packedDeltas.get(cell) ?? 0) + delta;
          if (n === 0) this.packedDeltas.delete(cell);
          else this.packedDeltas.set(cell, n);
        }
        this.changed = true;
      }
      return result;
    } finally {
      txn.end();
    }
  }
}
