/**
 * The free list a commit allocates from first: the pending entries whose grace period is over
 * (LMDB reuses its freed pages the same way). Their cells are still allocated in the space map, so
 * reusing them changes only the right end of the pending tree — not a space-map leaf per run, which
 * is what releasing them would cost. Entries are taken whole, newest releasable first
 * (storage/commit.ts says why); what a commit loads but does not use is listed again in its own
 * pending list.
 */
import type { CellRun } from './spaceMap.js';

export class FreeList {
  private readonly runs: CellRun[] = [];

  /**
   * @param take loads the next releasable pending entry's runs and removes the entry from the
   *   pending tree; undefined when none is left
   */
  constructor(private readonly take: () => CellRun[] | undefined) {}

  private loadNext(): boolean {
    const runs = this.take();
    if (runs === undefined) return false;
    for (const run of runs) if (run.count > 0) this.runs.push({ ...run });
    return true;
  }

  /** One cell, or undefined when nothing reusable is left. */
  cell(): number | undefined {
    for (;;) {
      const run = this.runs[this.runs.length - 1];
      if (run) {
        const cell = run.start;
        run.start++;
        run.count--;
        if (run.count === 0) this.runs.pop();
        return cell;
      }
      if (!this.loadNext()) return undefined;
    }
  }

  /** `count` contiguous cells, or undefined when no loaded or loadable run is long enough. */
  run(count: number): number | undefined {
    for (;;) {
      for (let i = this.runs.length - 1; i >= 0; i--) {
        const run = this.runs[i]!;
        if (run.count < count) continue;
        const start = run.start;
        run.start += count;
        run.count -= count;
        if (run.count === 0) this.runs.splice(i, 1);
        return start;
      }
      if (!this.loadNext()) return undefined;
    }
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
}
