/**
 * The pending list's two entry kinds (storage/format/pendingList.ts) and the reader-set arithmetic that
 * decides when an entry is reusable (storage/io/readerSet.ts); check() on a damaged windowed entry.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { open, type MapleStore } from '../../src/index.js';
import { iterate } from '../../src/tree/walk.js';
import { MAX_INDEX, CELL_BYTES } from '../../src/common/limits.js';
import { TreeReader } from '../../src/read/treeReader.js';
import { treeOf, type DurableState } from '../../storage/commit/commit.js';
import { RecordSlot } from '../../storage/format/node.js';
import type { CellReader } from '../../storage/io/cellReader.js';
import { BY_COMMIT_CHUNK_RUNS, CHUNK_BYTES, MAX_COMMITS, WINDOWED_CHUNK_RUNS, WINDOWED_KEY_BASE, byCommitKey, decodePendingEntry, encodeChunk, freedByOf, isWindowedKey, windowedKey } from '../../storage/format/pendingList.js';
import { BirthBands, MAX_READER_BANDS, NO_READERS, horizonOf, mergeReaders, readerInWindow } from '../../storage/io/readerSet.js';
import { encodeRecord, readRecordHeader } from '../../storage/format/valueRecord.js';
import { tempDir } from '../helpers.js';

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

describe('pending-list keys and chunks', () => {
  test('keys: by-commit below 2^52, windowed above, every key a safe integer', () => {
    expect(WINDOWED_KEY_BASE).toBe(2 ** 52);
    const last = MAX_COMMITS - 1;
    expect(Number.isSafeInteger(windowedKey(last, 65535))).toBe(true);
    expect(windowedKey(last, 65535)).toBeLessThanOrEqual(MAX_INDEX);
    expect(byCommitKey(last, 65535)).toBeLessThan(WINDOWED_KEY_BASE);
    for (const commit of [1, 7, 2 ** 32 + 5, last]) {
      expect(isWindowedKey(byCommitKey(commit, 3))).toBe(false);
      expect(isWindowedKey(windowedKey(commit, 3))).toBe(true);
      expect(freedByOf(byCommitKey(commit, 3))).toBe(commit);
      expect(freedByOf(windowedKey(commit, 3))).toBe(commit);
    }
  });

  test('chunks round-trip, full ones fit one cell, lowBirth beyond 2^32', () => {
    // Decoded runs also carry the free-list source they are loaded from (−1 until then).
    const decode = (key: number, bytes: Uint8Array) => {
      const e = decodePendingEntry(key, bytes);
      return e && { ...e, runs: e.runs.map(({ start, count }) => ({ start, count })) };
    };
    const runs = Array.from({ length: BY_COMMIT_CHUNK_RUNS }, (_, i) => ({ start: 1000 + 3 * i, count: 1 + (i % 2) }));
    const byCommit = encodeChunk(runs, undefined);
    expect(byCommit.length).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(decode(byCommitKey(9, 0), byCommit)).toEqual({ freedBy: 9, lowBirth: 0, runs });
    const lowBirth = 2 ** 33 + 17;
    const windowed = encodeChunk(runs.slice(0, WINDOWED_CHUNK_RUNS), lowBirth);
    expect(windowed.length).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(decode(windowedKey(2 ** 33 + 20, 1), windowed)).toEqual({ freedBy: 2 ** 33 + 20, lowBirth, runs: runs.slice(0, WINDOWED_CHUNK_RUNS) });
    // Empty lists: one unused run, never an empty record.
    expect(decode(byCommitKey(3, 0), encodeChunk([], undefined))).toEqual({ freedBy: 3, lowBirth: 0, runs: [] });
    expect(decode(windowedKey(3, 0), encodeChunk([], 3))).toEqual({ freedBy: 3, lowBirth: 3, runs: [] });
    // A windowed record too short for its lowBirth.
    expect(decodePendingEntry(windowedKey(3, 0), new Uint8Array(4))).toBeUndefined();
  });
});

describe('reader sets', () => {
  test('a window is pinned exactly when a reader reads a version in it', () => {
    const readers = { versions: [5, 9], any: false };
    expect(readerInWindow(readers, 0, 5)).toBe(false);
    expect(readerInWindow(readers, 0, 6)).toBe(true);
    expect(readerInWindow(readers, 6, 9)).toBe(false);
    expect(readerInWindow(readers, 6, 10)).toBe(true);
    expect(readerInWindow(readers, 10, 20)).toBe(false);
    expect(readerInWindow(NO_READERS, 0, 100)).toBe(false);
    // A reader not yet at a version pins every window but an empty one (cells no version reaches).
    expect(readerInWindow({ versions: [], any: true }, 50, 51)).toBe(true);
    expect(readerInWindow({ versions: [], any: true }, 51, 51)).toBe(false);
    expect(horizonOf(readers, 12)).toBe(5);
    expect(horizonOf(NO_READERS, 12)).toBe(12);
    expect(horizonOf({ versions: [7], any: true }, 12)).toBe(0);
    expect(mergeReaders([3, 9], { versions: [4, 9, 11], any: true })).toEqual({ versions: [3, 4, 9, 11], any: true });
  });

  test('births are grouped with the readers that reach them', () => {
    // Readers at 10, 20, 30, 40: a cell written at B is reached by the readers at versions ≥ B.
    const bands = new BirthBands({ versions: [10, 20, 30, 40], any: false }, 50);
    expect(bands.needsBirths).toBe(true);
    expect(bands.groups).toBe(MAX_READER_BANDS + 2);
    expect(bands.groupOf(5)).toBe(-1); // every reader: by-commit
    // Beyond the band cap, readers between the oldest and the newest MAX_READER_BANDS share a band
    // (it waits for all of them), never the oldest reader's list: that one may be held for ever.
    expect(bands.groupOf(11)).toBe(0);
    expect(bands.groupOf(20)).toBe(0);
    expect(bands.groupOf(21)).toBe(1); // readers 30 and 40
    expect(bands.groupOf(35)).toBe(2); // reader 40
    expect(bands.groupOf(41)).toBe(3); // no reader: young
    expect(bands.unreachable).toBe(3);
    // The last durable version keeps a band of its own whatever the cap: released at a checkpoint.
    const durable = new BirthBands({ versions: [10, 20, 30, 40, 50], any: false, durableBase: 30 }, 60);
    expect([15, 25, 35, 45, 55].map((b) => durable.groupOf(b))).toEqual([0, 1, 2, 3, 4]);
    expect(durable.groupOf(10)).toBe(-1);
    const lowDurable = new BirthBands({ versions: [10, 20, 30, 40], any: false, durableBase: 20 }, 50);
    expect([15, 25, 35, 45].map((b) => lowDurable.groupOf(b))).toEqual([0, 1, 2, 3]);
    // Two readers: the newer one's band and the young group.
    expect(new BirthBands({ versions: [10, 20], any: false }, 50)).toMatchObject({ groups: 2, unreachable: 1 });
    // No reader: everything by-commit. Readers at the current version only: no birth matters.
    expect(new BirthBands(NO_READERS, 50)).toMatchObject({ groups: 0, needsBirths: false, unreachable: -1 });
    expect(new BirthBands({ versions: [50], any: false }, 50)).toMatchObject({ groups: 1, needsBirths: false, unreachable: 0 });
  });
});

describe('check() and windowed entries', () => {
  test('a windowed entry naming a lowest birth after the commit that freed it is ECORRUPT', () => {
    const t = tempDir('maple-pending-');
    dirs.push(t);
    const file = t.file();
    const s = open<{ i: number; pad: string }>(file, { sync: 'none' });
    s.transaction((tx) => {
      for (let i = 0; i < 50; i++) tx.store(i * 10, i * 10 + 4, { i, pad: 'x'.repeat(250) });
    });
    const snap = s.snapshot();
    s.store(0, 4, { i: 0, pad: 'y'.repeat(250) });
    s.store(0, 4, { i: 0, pad: 'z'.repeat(250) }); // frees what the commit before wrote: young
    s.check();
    const inner = s as unknown as { pager: CellReader; state: DurableState; tree: never };
    const rec = inner.state.rec;
    let found: { key: number; cell: number; commit: number } | undefined;
    for (const e of iterate(new TreeReader(inner.pager, inner.tree, rec.commit), treeOf(rec.pending), WINDOWED_KEY_BASE, MAX_INDEX, false)) {
      if (e.slot instanceof RecordSlot) found = { key: e.first, cell: e.slot.cell, commit: e.slot.commit };
    }
    expect(found, 'a windowed entry exists while the snapshot is held').toBeDefined();
    const { key, cell, commit: named } = found!;
    const entry = decodePendingEntry(key, inner.pager.recordBytes(cell, rec.commit, named).slice())!;
    snap.close();
    s.close();
    // Rewrite the chunk with a lowest birth after the commit that freed it (a valid record).
    const fd = fs.openSync(file, 'r+');
    const head = new Uint8Array(CELL_BYTES);
    fs.readSync(fd, head, 0, CELL_BYTES, cell * CELL_BYTES);
    const { commit, nonce } = readRecordHeader(head, cell);
    fs.writeSync(fd, encodeRecord(encodeChunk(entry.runs, entry.freedBy + 1), commit, nonce, cell), 0, CELL_BYTES, cell * CELL_BYTES);
    fs.closeSync(fd);
    const again: MapleStore = open(file);
    expect(() => again.check()).toThrow(/lowest birth/);
    again.close();
  });
});
