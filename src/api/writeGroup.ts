/**
 * A write group: the functions of several `write()` calls, run one after another on one
 * copy-on-write tree and committed together (src/api/writeQueue.ts).
 *
 * Each function runs on a savepoint: a transaction of its own over the group's tree so far, with
 * a savepoint generation of its own (TreeState.gen, src/tree/write.ts). The new nodes of earlier
 * functions are frozen for it — copied, never changed — so when it throws, its transaction is
 * dropped and the group's tree and the cells its functions freed are exactly what they were: only
 * that caller is refused. When it returns, its tree becomes the group's, and its frees join the
 * group's. The functions encode their values into one arena, the group's (reset when the group
 * starts): the values of a dropped function stay in it unreferenced — no slot of the group's tree
 * holds their handles, so the commit copies none of them — until the next transaction or group.
 */
import type { CellRun } from '../../storage/format/pageFile.js';
import type { ValueArena } from '../../storage/format/valueArena.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import type { TreeState } from '../tree/write.js';
import type { WriteScratch } from '../tree/writeScratch.js';
import { type WriteTxn, WriteTxnImpl, isThenable, refuseThenable } from './txn.js';

export class WriteGroup<V> {
  /** The tree after every function that returned. */
  tree: TreeState;
  /** Cells the group's functions stopped referencing. */
  readonly frees: CellRun[] = [];
  /** Whether any function that returned wrote something. */
  changed = false;
  /** Functions run, and encoded bytes of the values they stored (the group's caps). */
  writes = 0;
  valueBytes = 0;
  private gen = 0;

  /** A group over `base`, the tree of the published version `version`, its values in `arena` (reset here). */
  constructor(
    private readonly pager: CellReader,
    private readonly scratch: WriteScratch,
    base: TreeState,
    private readonly version: number,
    readonly arena: ValueArena,
  ) {
    this.tree = base;
    arena.reset();
  }

  /**
   * Runs `fn` on a savepoint of the group: returns its result, or throws what it threw (or the
   * refusal of a promise it returned) with nothing it did left in the group.
   */
  run<T>(fn: (txn: WriteTxn<V>) => T): T {
    this.writes++;
    const txn = new WriteTxnImpl<V>(this.pager, this.scratch, this.tree, this.version, this.arena, ++this.gen);
    try {
      const result = fn(txn);
      if (isThenable(result)) refuseThenable(result);
      txn.end();
      this.valueBytes += txn.valueBytes;
      if (txn.changed) {
        this.tree = txn.tree;
        for (const run of txn.frees) this.frees.push(run);
        this.changed = true;
      }
      return result;
    } finally {
      txn.end();
    }
  }
}
