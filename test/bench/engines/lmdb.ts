// LMDB through lmdb-js, configured as well as we know how: ordered number keys (`first`), values
// `[last, value]` in lmdb-js's own msgpack encoding (shared record structures), a map size large
// enough never to remap, `noMemInit`, the bulk load as one transaction of `append` puts, and a
// stabbing query as a reverse range read of limit 1 starting at x.
//
// Durability: `overlappingSync: false` so that a synchronous commit returns only after its fsync
// (lmdb-js's Linux default returns before the data is on disk); non-durable runs use `noSync`.

import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import type { Engine, EngineFactory, EngineSnapshot, OpenSpec, RangeValue, RangeVisitor, ReadView, SortedRanges, Writer } from './engine.js';
import { scanForGap } from './gapScan.js';

type Key = number;
type Stored = [last: number, value: RangeValue];

const FILE_NAME = 'store.mdb';
/** Address space reserved up front so that no commit ever pays for a remap. */
const MAP_SIZE_BYTES = 16 * 2 ** 30;

/** Reads shared by the live database and snapshots (which pass their read transaction). */
class LmdbReads implements ReadView {
  constructor(
    private readonly db: Database<Stored, Key>,
    private readonly transaction: Transaction | undefined,
  ) {}

  /** The range with the greatest first ≤ index, as [first, last, value], or undefined. */
  floor(index: number): [number, number, RangeValue] | undefined {
    for (const { key, value } of this.db.getRange({ start: index, reverse: true, limit: 1, transaction: this.transaction })) {
      return [key, value[0], value[1]];
    }
    return undefined;
  }

  load(index: number): RangeValue | undefined {
    for (const { value } of this.db.getRange({ start: index, reverse: true, limit: 1, transaction: this.transaction })) {
      return value[0] >= index ? value[1] : undefined;
    }
    return undefined;
  }

  /** Visits ranges intersecting [from, to] until `visit` returns false. */
  scan(from: number, to: number, visit: (first: number, last: number, value: RangeValue) => boolean): void {
    if (from > 0) {
      const before = this.floor(from - 1); // a range starting below `from` may still reach it
      if (before !== undefined && before[1] >= from && !visit(before[0], before[1], before[2])) return;
    }
    for (const { key, value } of this.db.getRange({ start: from, end: to, inclusiveEnd: true, transaction: this.transaction })) {
      if (!visit(key, value[0], value[1])) return;
    }
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    this.scan(from, to, (first, last, value) => {
      visit(first, last, value);
      return true;
    });
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return scanForGap(min, max, size, (from, to, visit) => this.scan(from, to, (first, last) => visit(first, last)));
  }
}

class LmdbEngine implements Engine {
  readonly name = 'lmdb';
  private readonly reads: LmdbReads;
  private readonly writer: Writer;

  constructor(
    private readonly root: RootDatabase<Stored, Key>,
    private readonly filePath: string,
  ) {
    this.reads = new LmdbReads(root, undefined);
    const reads = this.reads;
    this.writer = {
      load: (index) => reads.load(index),
      ranges: (from, to, visit) => reads.ranges(from, to, visit),
      emptyArea: (min, max, size) => reads.emptyArea(min, max, size),
      store: (first, last, value) => this.replace(first, last, value),
      clear: (first, last) => this.replace(first, last, undefined),
    };
  }

  load(index: number): RangeValue | undefined {
    return this.reads.load(index);
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    this.reads.ranges(from, to, visit);
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return this.reads.emptyArea(min, max, size);
  }

  /** Overwrite by trimming, inside the current write transaction. */
  private replace(first: number, last: number, value: RangeValue | undefined): void {
    const db = this.root;
    if (first > 0) {
      const before = this.reads.floor(first - 1);
      if (before !== undefined && before[1] >= first) {
        if (before[1] > last) db.putSync(last + 1, [before[1], before[2]]);
        db.putSync(before[0], [first - 1, before[2]]);
      }
    }
    const insideKeys: number[] = [];
    let tail: Stored | undefined;
    for (const { key, value: stored } of db.getRange({ start: first, end: last, inclusiveEnd: true })) {
      insideKeys.push(key);
      tail = stored;
    }
    if (tail !== undefined && tail[0] > last) db.putSync(last + 1, [tail[0], tail[1]]);
    for (const key of insideKeys) {
      if (key !== first || value === undefined) db.removeSync(key); // a put at `first` replaces it anyway
    }
    if (value !== undefined) db.putSync(first, [last, value]);
  }

  transaction(body: (writer: Writer) => void): void {
    this.root.transactionSync(() => body(this.writer));
  }

  bulkLoad(input: SortedRanges): void {
    const db = this.root;
    const shape = input.shape;
    db.transactionSync(() => {
      for (let i = 0; i < input.count; i++) {
        db.putSync(input.firsts[i]!, [input.lasts[i]!, shape.make(input.ids[i]!, input.prots[i]!)], { append: true });
      }
    });
  }

  snapshot(): EngineSnapshot {
    const transaction = this.root.useReadTransaction();
    const reads = new LmdbReads(this.root, transaction);
    return {
      load: (index) => reads.load(index),
      ranges: (from, to, visit) => reads.ranges(from, to, visit),
      emptyArea: (min, max, size) => reads.emptyArea(min, max, size),
      close: () => transaction.done(),
    };
  }

  fileBytes(): number {
    return fs.statSync(this.filePath).size;
  }

  diskBytes(): number {
    return this.fileBytes();
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}

export const lmdbFactory: EngineFactory = {
  name: 'lmdb',
  describe: (durable) =>
    `lmdb-js (LMDB) key=first (ordered-binary number), value=[last, value] in lmdb-js msgpack with shared structures; ` +
    `pageSize 4096, mapSize 16 GiB, noMemInit, no lmdb-js object cache; ` +
    (durable ? 'durable: transactionSync with overlappingSync:false (fsync before return)' : 'non-durable: noSync (no fsync)') +
    '; cache size: not controllable (mmap, the OS page cache holds the file)',
  open: async (spec: OpenSpec) => {
    const filePath = path.join(spec.dir, FILE_NAME);
    const root = open<Stored, Key>({
      path: filePath,
      noSubdir: true,
      overlappingSync: false,
      noSync: !spec.durable,
      noMemInit: true,
      pageSize: 4096,
      mapSize: MAP_SIZE_BYTES,
      cache: false,
    });
    return new LmdbEngine(root, filePath);
  },
};
