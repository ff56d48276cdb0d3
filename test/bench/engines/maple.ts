// maple-store itself, through its public API (API.md); its `commitProtocol` option A/Bs the default
// commit log against one fdatasync per commit (one-sync) and the classic two-sync commit.
//
// The module is imported at run time, so that the other engines still run (`--engines lmdb,sqlite`)
// when the core fails to load.

import fs from 'node:fs';
import path from 'node:path';
import type { Engine, EngineFactory, EngineSnapshot, OpenSpec, RangeValue, RangeVisitor, ReadView, SortedRanges, Writer } from './engine.js';

// Types only (erased at run time): the bench compiles against the real contract.
type MapleOpen = typeof import('../../../src/index.js').open;
type MapleStore = import('../../../src/index.js').MapleStore<RangeValue>;
type MapleReadView = import('../../../src/index.js').ReadView<RangeValue>;
type MapleOpenOptions = import('../../../src/index.js').OpenOptions;

const FILE_NAME = 'store.maple';
/** Relative to this file once compiled (dist/test/bench/engines/ → dist/src/index.js). */
const MAPLE_MODULE = '../../../src/index.js';

let openMaple: MapleOpen | undefined;

async function loadMaple(): Promise<MapleOpen> {
  if (openMaple === undefined) {
    const module = (await import(MAPLE_MODULE)) as { open?: unknown };
    if (typeof module.open !== 'function') throw new Error(`maple-store module ${MAPLE_MODULE} exports no open()`);
    openMaple = module.open as MapleOpen;
  }
  return openMaple;
}

function visitAll(view: MapleReadView, from: number, to: number, visit: RangeVisitor): void {
  for (const range of view.ranges(from, to)) visit(range.first, range.last, range.value);
}

function readsOf(view: MapleReadView): ReadView {
  return {
    load: (index) => view.load(index),
    ranges: (from, to, visit) => visitAll(view, from, to, visit),
    emptyArea: (min, max, size) => view.emptyArea(min, max, size),
  };
}

class MapleEngine implements Engine {
  constructor(
    readonly name: string,
    private readonly store: MapleStore,
    private readonly filePath: string,
  ) {}

  load(index: number): RangeValue | undefined {
    return this.store.load(index);
  }

  ranges(from: number, to: number, visit: RangeVisitor): void {
    visitAll(this.store, from, to, visit);
  }

  emptyArea(min: number, max: number, size: number): number | undefined {
    return this.store.emptyArea(min, max, size);
  }

  transaction(body: (writer: Writer) => void): void {
    this.store.transaction((txn) => {
      body({
        ...readsOf(txn),
        store: (first, last, value) => txn.store(first, last, value),
        clear: (first, last) => txn.clear(first, last),
      });
    });
  }

  bulkLoad(input: SortedRanges): void {
    const shape = input.shape;
    this.store.transaction((txn) => {
      for (let i = 0; i < input.count; i++) {
        txn.store(input.firsts[i]!, input.lasts[i]!, shape.make(input.ids[i]!, input.prots[i]!));
      }
    });
  }

  snapshot(): EngineSnapshot {
    const snapshot = this.store.snapshot();
    return { ...readsOf(snapshot), close: () => snapshot.close() };
  }

  fileBytes(): number {
    return this.store.stats().fileBytes;
  }

  diskBytes(): number {
    return fs.statSync(this.filePath).size;
  }

  async close(): Promise<void> {
    this.store.close();
  }
}

/**
 * maple's cache outside workload 3: SQLite's warm cache_size (engines/sqlite.ts), LMDB's being the
 * whole file (mmap). The default 64 MiB holds a 1,000,000-range file of inline values, not one of
 * 10-byte or larger values (64–200 MB), whose "warm" loads would then read pages from the file.
 */
const WARM_CACHE_BYTES = 256 * 2 ** 20;

function mapleFactory(name: string, commitProtocol: 'one-sync' | 'two-sync' | 'log'): EngineFactory {
  const variant = commitProtocol !== 'log';
  return {
    name,
    ...(variant ? { onlyWorkloads: ['durable'], cloneOf: 'maple' } : {}),
    describe: (durable, cacheBytes) =>
      `maple-store, values msgpack (its own codec); sync '${durable ? 'full' : 'none'}'` +
      (durable ? `, ${commitProtocol} commits` : '') +
      `; cacheSize ${cacheBytes === undefined ? `${WARM_CACHE_BYTES / 2 ** 20} MiB (as SQLite's cache_size)` : `${Math.round(cacheBytes / 1024)} KiB`}` +
      (cacheBytes === undefined ? '' : ' (the OS page cache still holds the file)'),
    open: async (spec: OpenSpec) => {
      const open = await loadMaple();
      const filePath = path.join(spec.dir, FILE_NAME);
      // Non-durable runs (sync 'none') keep no commit log: its protocol is one-sync.
      const options: MapleOpenOptions = spec.durable ? { sync: 'full', commitProtocol } : { sync: 'none' };
      options.cacheSize = spec.cacheBytes ?? WARM_CACHE_BYTES;
      return new MapleEngine(name, open<RangeValue>(filePath, options), filePath);
    },
  };
}

/** The default commitProtocol, 'log': a commit's durable write is an append to the store's commit log. */
export const mapleFactoryDefault = mapleFactory('maple', 'log');
/** commitProtocol 'one-sync' (one fdatasync per commit) and 'two-sync', for the durable workload. */
export const mapleOneSyncFactory = mapleFactory('maple-1sync', 'one-sync');
export const mapleTwoSyncFactory = mapleFactory('maple-2sync', 'two-sync');

/** undefined when maple-store loads; otherwise why it doesn't (the core may not exist yet). */
export async function mapleUnavailable(): Promise<string | undefined> {
  try {
    await loadMaple();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
