// SQLite through better-sqlite3, configured as well as we know how: a rowid table
// `ranges(first INTEGER PRIMARY KEY, last, value BLOB)`, WAL mode, prepared statements in raw/pluck
// mode, values as plain msgpack maps (msgpackr, no record extension) in the BLOB.
//
// - stabbing: the greatest `first ≤ x`, with `last ≥ x` checked in the same statement;
// - overwrite: trim the predecessor, `DELETE … RETURNING` the covered rows (re-inserting a tail that
//   sticks out), insert — all inside the caller's one transaction;
// - gap search: an ordered rowid scan from the range containing `min`, stopped at the first hole
//   that fits (measured faster than the LEAD() window-function formulation, see GAP_SQL below);
// - durability: `synchronous=FULL` (the WAL is fsynced at each commit) for durable runs, `OFF` for
//   non-durable ones; `fileBytes()` checkpoints the WAL first, so the log's copy isn't counted.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { Engine, EngineFactory, EngineSnapshot, OpenSpec, RangeValue, RangeVisitor, ReadView, SortedRanges, Writer } from './engine.js';
import { scanForGap } from './gapScan.js';

const FILE_NAME = 'store.sqlite';
/** Warm runs: a page cache bigger than any file the bench makes, plus mmap reads. */
const WARM_CACHE_BYTES = 256 * 2 ** 20;
const WARM_MMAP_BYTES = 2 ** 30;

const codec = new Packr({ useRecords: false });

type Row = [first: number, last: number, value: Buffer];

/**
 * One statement that finds the lowest fitting hole with a window function. Kept for reference and
 * for re-measuring: on 1M ranges it was slower than the ordered scan (the window input is sorted
 * into a temporary b-tree before the first row comes out), so the engine uses the scan.
 * Parameters: min, min, min, max, size, size, max (LEAD's default is max + 1, a wall past the window).
 */
export const GAP_SQL = `
  SELECT s FROM (
    SELECT MAX(last + 1, ?) AS s, LEAD(first, 1, ? + 1) OVER (ORDER BY first) AS next_first
    FROM (
      SELECT -1 AS first, ? - 1 AS last
      UNION ALL
      SELECT first, last FROM ranges
      WHERE first >= COALESCE((SELECT first FROM ranges WHERE first <= ? ORDER BY first DESC LIMIT 1), 0)
        AND first <= ?
    )
  ) WHERE next_first - s >= ? AND s + ? - 1 <= ? LIMIT 1`;

/** Reads, prepared once per connection (the live one, or a snapshot's own connection). */
class SqliteReads implements ReadView {
  private readonly stab;
  private readonly floorRow;
  private readonly window;
  private readonly windowKeys;

  constructor(db: Database.Database) {
    this.stab = db
      .prepare('SELECT value FROM (SELECT last, value FROM ranges WHERE first <= ? ORDER BY first DESC LIMIT 1) WHERE last >= ?')
      .pluck();
    this.floorRow = db.prepare('SELECT first, last, value FROM ranges WHERE first <= ? ORDER BY first DESC LIMIT 1').raw();
    // Starts at the range containing `from` (the greatest first ≤ from), else at `from`.
    const windowFrom =
      'FROM ranges WHERE first >= COALESCE((SELECT first FROM ranges WHERE first <= ? ORDER BY first DESC LIMIT 1), ?) AND first <= ? ORDER BY first';
    this.window = db.prepare(`SELECT first, last, value ${windowFrom}`).raw();
    this.windowKeys = db.prepare(`SELECT first, last ${windowFrom}`).raw();
  }

  load(index: number): RangeValue | undefined {
    const bytes = this.stab.get(index, index) as Buffer | undefined;
    return bytes === undefined ? undefined : (codec.unpack(bytes) as RangeValue);
  }

  floor(index: number): Row | undefined {
    return this.floorRow.get(index) as Row | undefined;
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    for (const row of this.window.all(from, from, to) as Row[]) {
      if (row[1] >= from) visit(row[0], row[1], codec.unpack(row[2]) as RangeValue);
    }
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return scanForGap(min, max, size, (from, to, visit) => {
      for (const row of this.windowKeys.iterate(from, from, to) as IterableIterator<[number, number]>) {
        if (!visit(row[0], row[1])) break; // leaving the loop resets the statement
      }
    });
  }
}

class SqliteEngine implements Engine {
  readonly name = 'sqlite';
  private readonly reads: SqliteReads;
  private readonly writer: Writer;
  private readonly insert;
  private readonly setLast;
  private readonly deleteInside;
  private readonly runInTransaction: (body: (writer: Writer) => void) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly filePath: string,
    private readonly spec: OpenSpec,
  ) {
    this.reads = new SqliteReads(db);
    this.insert = db.prepare('INSERT INTO ranges (first, last, value) VALUES (?, ?, ?)');
    this.setLast = db.prepare('UPDATE ranges SET last = ? WHERE first = ?');
    this.deleteInside = db.prepare('DELETE FROM ranges WHERE first >= ? AND first <= ? RETURNING first, last, value').raw();
    const reads = this.reads;
    this.writer = {
      load: (index) => reads.load(index),
      ranges: (from, to, visit) => reads.ranges(from, to, visit),
      emptyArea: (min, max, size) => reads.emptyArea(min, max, size),
      store: (first, last, value) => this.replace(first, last, codec.pack(value)),
      clear: (first, last) => this.replace(first, last, undefined),
    };
    this.runInTransaction = db.transaction((body: (writer: Writer) => void) => body(this.writer));
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

  /** Overwrite by trimming; runs inside the caller's transaction. */
  private replace(first: number, last: number, encoded: Buffer | undefined): void {
    if (first > 0) {
      const before = this.reads.floor(first - 1);
      if (before !== undefined && before[1] >= first) {
        if (before[1] > last) this.insert.run(last + 1, before[1], before[2]);
        this.setLast.run(first - 1, before[0]);
      }
    }
    for (const row of this.deleteInside.all(first, last) as Row[]) {
      if (row[1] > last) this.insert.run(last + 1, row[1], row[2]); // at most one row sticks out
    }
    if (encoded !== undefined) this.insert.run(first, last, encoded);
  }

  transaction(body: (writer: Writer) => void): void {
    this.runInTransaction(body);
  }

  bulkLoad(input: SortedRanges): void {
    // Ascending rowids: SQLite appends to the rightmost leaf without searching.
    const insert = this.insert;
    const shape = input.shape;
    this.db.transaction(() => {
      for (let i = 0; i < input.count; i++) {
        insert.run(input.firsts[i]!, input.lasts[i]!, codec.pack(shape.make(input.ids[i]!, input.prots[i]!)));
      }
    })();
  }

  snapshot(): EngineSnapshot {
    // WAL readers see the database as of their first read and don't block the writer.
    const reader = openConnection(this.filePath, this.spec);
    reader.exec('BEGIN');
    reader.prepare('SELECT first FROM ranges LIMIT 1').get(); // the read transaction starts here
    const reads = new SqliteReads(reader);
    return {
      load: (index) => reads.load(index),
      ranges: (from, to, visit) => reads.ranges(from, to, visit),
      emptyArea: (min, max, size) => reads.emptyArea(min, max, size),
      close: () => {
        reader.exec('COMMIT');
        reader.close();
      },
    };
  }

  fileBytes(): number {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return this.diskBytes();
  }

  diskBytes(): number {
    return sizeOr0(this.filePath) + sizeOr0(`${this.filePath}-wal`);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function sizeOr0(filePath: string): number {
  try {
    return fs.statSync(filePath).size;
  } catch {
    return 0;
  }
}

function openConnection(filePath: string, spec: OpenSpec): Database.Database {
  const db = new Database(filePath);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${spec.durable ? 'FULL' : 'OFF'}`);
  db.pragma('temp_store = MEMORY');
  if (spec.cacheBytes === undefined) {
    db.pragma(`cache_size = -${WARM_CACHE_BYTES / 1024}`);
    db.pragma(`mmap_size = ${WARM_MMAP_BYTES}`);
  } else {
    // Cold-ish: only the small page cache; mmap would bypass it.
    db.pragma(`cache_size = -${Math.max(1, Math.floor(spec.cacheBytes / 1024))}`);
    db.pragma('mmap_size = 0');
  }
  return db;
}

export const sqliteFactory: EngineFactory = {
  name: 'sqlite',
  describe: (durable, cacheBytes) =>
    `better-sqlite3 (SQLite) table ranges(first INTEGER PRIMARY KEY, last INTEGER, value BLOB msgpack map); WAL; ` +
    `synchronous=${durable ? 'FULL (fsync per commit)' : 'OFF (no fsync)'}; ` +
    (cacheBytes === undefined
      ? `cache_size ${WARM_CACHE_BYTES / 2 ** 20} MiB, mmap_size ${WARM_MMAP_BYTES / 2 ** 20} MiB`
      : `cache_size ${Math.round(cacheBytes / 1024)} KiB, mmap_size 0 (the OS page cache still holds the file)`),
  open: async (spec: OpenSpec) => {
    const filePath = path.join(spec.dir, FILE_NAME);
    const db = openConnection(filePath, spec);
    db.exec('CREATE TABLE IF NOT EXISTS ranges (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, value BLOB NOT NULL)');
    return new SqliteEngine(db, filePath, spec);
  },
};
