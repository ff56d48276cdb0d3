// Workload 14 (issue 12, benchmark 1): durable writes by C = 1, 8, 64, 256 concurrent writers,
// each awaiting its write before the next (a closed loop, like request handlers), small values:
//
//   maple-sync     store() per op (one durable commit each); writers take turns at setImmediate
//   maple-async    await storeAsync() (group commit: one commit per group, its durable write one
//                  O_DSYNC append to the store's commit log — the default commitProtocol, 'log')
//   maple-1sync-async   the same with commitProtocol 'one-sync' (one fdatasync per group, off the
//                  main thread)
//   lmdb-async     await put() with overlappingSync off (the promise resolves once the batch's
//                  commit is synced — durable, as maple's)
//   sqlite-full    an autocommit INSERT per op, WAL with synchronous=FULL (an fsync per commit)
//
// Each cell (engine × C) runs on a fresh store for a fixed time and reports ops/s, per-op latency
// p50/p99 (from the moment the writer is ready to issue the op to its acknowledgement, so a
// synchronous engine's writers are charged the time they wait for each other), the event loop's
// delay p99 during the run (perf_hooks.monitorEventLoopDelay), its utilization (the share of the
// run the main thread was busy: near 1, the main thread is what bounds the rate), and fsyncs per op. Those are
// counted: for maple by its stats (syncs), and for every engine, when strace can trace, by a
// separate untimed run of the same cell in a child process under `strace -f -c` (fsync,
// fdatasync, msync). Every acknowledged write is checked to be in the store afterwards.
//
// The child-process entry: node dist/test/bench/concurrentWrites.js <engine> <C> <ops> <dir>

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { open as openLmdb } from 'lmdb';
import { Packr } from 'msgpackr';
import { open as openMaple } from '../../src/index.js';

export const CONCURRENT_ENGINES = ['maple-sync', 'maple-async', 'maple-1sync-async', 'lmdb-async', 'sqlite-full'] as const;
export type ConcurrentEngine = (typeof CONCURRENT_ENGINES)[number];
export const WRITER_COUNTS = [1, 8, 64, 256] as const;

interface Value {
  id: number;
  prot: number;
}

/** One engine opened on a fresh directory, as the writers use it. */
interface Target {
  /** Writes [key, key] = value durably; settles once acknowledged (a synchronous engine returns undefined). */
  write(key: number, value: Value): Promise<unknown> | undefined;
  /** How many keys the store holds (each acknowledged write is a distinct key). */
  count(): number;
  /** fdatasync calls the engine reports itself (maple), or undefined. */
  syncs(): number | undefined;
  close(): Promise<void>;
}

const codec = new Packr({ useRecords: false });

async function openTarget(engine: ConcurrentEngine, dir: string): Promise<Target> {
  fs.mkdirSync(dir, { recursive: true });
  switch (engine) {
    case 'maple-sync':
    case 'maple-async':
    case 'maple-1sync-async': {
      const store = openMaple<Value>(path.join(dir, 'store.maple'), { sync: 'full', commitProtocol: engine === 'maple-1sync-async' ? 'one-sync' : 'log' });
      const async = engine.endsWith('-async');
      return {
        write: (key, value) => (async ? store.storeAsync(key, key, value) : (store.store(key, key, value), undefined)),
        count: () => store.count(),
        syncs: () => store.stats().syncs,
        close: () => store.closeAsync(),
      };
    }
    case 'lmdb-async': {
      const db = openLmdb<Value, number>({ path: path.join(dir, 'store.mdb'), overlappingSync: false, noMemInit: true, mapSize: 2 ** 32 });
      return {
        write: (key, value) => db.put(key, value),
        count: () => db.getCount(),
        syncs: () => undefined,
        close: () => db.close(),
      };
    }
    case 'sqlite-full': {
      const db = new Database(path.join(dir, 'store.sqlite'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS ranges (first INTEGER PRIMARY KEY, last INTEGER, value BLOB)');
      const insert = db.prepare('INSERT OR REPLACE INTO ranges VALUES (?, ?, ?)');
      const count = db.prepare('SELECT count(*) FROM ranges').pluck();
      return {
        write: (key, value) => {
          insert.run(key, key, codec.pack(value));
          return undefined;
        },
        count: () => count.get() as number,
        syncs: () => undefined,
        close: async () => {
          db.close();
        },
      };
    }
  }
}

export interface CellResult {
  readonly engine: ConcurrentEngine;
  readonly writers: number;
  readonly ops: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly loopP99Ms: number;
  /** Event-loop utilization during the run: the share of time the main thread was busy. */
  readonly elu: number;
  /** Counted by the engine's own stats (maple), else undefined. */
  readonly statsSyncsPerOp: number | undefined;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs one cell: `writers` closed-loop writers for `seconds` (or, with `ops`, until that many
 * writes were acknowledged). Keys are distinct per write (writer × 2^32 + sequence).
 */
export async function runCell(engine: ConcurrentEngine, writers: number, dir: string, limit: { seconds?: number; ops?: number }): Promise<CellResult> {
  const target = await openTarget(engine, dir);
  const synchronous = engine === 'maple-sync' || engine === 'sqlite-full';
  const latencies: number[] = [];
  const syncsBefore = target.syncs();
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  let acknowledged = 0;
  let issued = 0;
  const started = process.hrtime.bigint();
  const deadline = limit.seconds === undefined ? undefined : started + BigInt(Math.round(limit.seconds * 1e9));
  const more = (): boolean => (limit.ops === undefined || issued < limit.ops) && (deadline === undefined || process.hrtime.bigint() < deadline);
  monitor.enable();
  const eluBefore = performance.eventLoopUtilization();
  const writer = async (id: number): Promise<void> => {
    for (let seq = 0; more(); seq++) {
      issued++;
      const ready = process.hrtime.bigint();
      // A synchronous engine blocks the thread: the writers take turns, one op per turn of the loop.
      if (synchronous) await nextTurn();
      const key = id * 2 ** 32 + seq;
      const pending = target.write(key, { id: key % 1_000_003, prot: seq & 7 });
      if (pending !== undefined) await pending;
      latencies.push(Number(process.hrtime.bigint() - ready) / 1e3);
      acknowledged++;
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const elu = performance.eventLoopUtilization(eluBefore).utilization;
  monitor.disable();
  const syncsAfter = target.syncs();
  const held = target.count();
  await target.close();
  if (held !== acknowledged) throw new Error(`${engine} with ${writers} writers acknowledged ${acknowledged} writes but holds ${held} keys`);
  const sorted = Float64Array.from(latencies).sort();
  return {
    engine,
    writers,
    ops: acknowledged,
    seconds,
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
    loopP99Ms: monitor.percentile(99) / 1e6,
    elu,
    statsSyncsPerOp: syncsBefore === undefined || syncsAfter === undefined ? undefined : (syncsAfter - syncsBefore) / acknowledged,
  };
}

/** The event loop's delay p99 (ms) over `seconds` with nothing to do: the machine's noise floor. */
export async function idleLoopP99Ms(seconds: number): Promise<number> {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  monitor.enable();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  monitor.disable();
  return monitor.percentile(99) / 1e6;
}

/**
 * fsync-family calls per op of a cell, counted by strace in a child process running `ops` writes
 * (untimed: tracing slows every call); undefined when strace cannot trace here.
 */
export function countSyncsPerOp(engine: ConcurrentEngine, writers: number, ops: number, dir: string): number | undefined {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync,msync', process.execPath, self, engine, String(writers), String(ops), dir], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return undefined;
  // The summary table: "% time  seconds  usecs/call  calls  errors  syscall".
  let calls = 0;
  let found = false;
  for (const line of r.stderr.split('\n')) {
    const cells = line.trim().split(/\s+/);
    const name = cells[cells.length - 1];
    if (name === 'fsync' || name === 'fdatasync' || name === 'msync') {
      // calls is the 4th column, or the 3rd when usecs/call is blank; errors may follow it.
      const numbers = cells.slice(0, -1).filter((cell) => /^\d+(\.\d+)?$/.test(cell));
      const count = Number(numbers[3] ?? numbers[numbers.length - 1]);
      if (Number.isFinite(count)) {
        calls += count;
        found = true;
      }
    }
  }
  const done = /acknowledged (\d+)/.exec(r.stdout);
  const acknowledged = done === null ? ops : Number(done[1]);
  return found ? calls / acknowledged : 0;
}

// The child-process entry (under strace): run the cell, say how many writes were acknowledged.
const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const [engine, writers, ops, dir] = process.argv.slice(2);
  if (!CONCURRENT_ENGINES.includes(engine as ConcurrentEngine) || dir === undefined) {
    process.stderr.write('usage: concurrentWrites.js <engine> <writers> <ops> <dir>\n');
    process.exit(2);
  }
  runCell(engine as ConcurrentEngine, Number(writers), dir, { ops: Number(ops) }).then(
    (cell) => process.stdout.write(`acknowledged ${cell.ops}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
