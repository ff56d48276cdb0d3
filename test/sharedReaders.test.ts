/**
 * Shared readers (MapleStore.share / openShared) in the writer's own thread: the same mechanism a
 * Worker uses (shared area, reader slots, own file descriptor and buffer pool), made deterministic —
 * the re-check race through a hook, the page log's drops, pins, slots, refusals. Real Workers are in
 * workerReaders.test.ts.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { open, openShared, type MapleStore, type SharedStore } from '../src/index.js';
import { openSharedWith } from '../src/api/sharedStore.js';
import { MapleError } from '../src/common/errors.js';
import { BufferPool } from '../storage/io/bufferPool.js';
import { NodeFileIO } from '../storage/io/fileIO.js';
import { LoggingFileIO, PageLogWriter, dropWrittenPages } from '../storage/io/pageLog.js';
import { SharedArea } from '../storage/io/sharedArea.js';
import { putPage } from '../storage/io/pageRing.js';
import { ReaderTable } from '../storage/io/readerTable.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES, SHARED_READER_SLOTS } from '../src/common/limits.js';
import { expectMapleError, tempDir, withSilentFinalizers } from './helpers.js';

const dirs: { cleanup: () => void }[] = [];
const closers: { close(): void }[] = [];
function temp() {
  const t = tempDir('maple-shared-');
  dirs.push(t);
  return t;
}
afterEach(() => {
  for (const c of closers.splice(0).reverse()) c.close();
  for (const d of dirs.splice(0)) d.cleanup();
});

type Value = { i: number; gen: number; pad: string };

function writer(file: string): MapleStore<Value> {
  const s = open<Value>(file, { sync: 'none' });
  closers.push(s);
  return s;
}

function reader(s: MapleStore<Value>): SharedStore<Value> {
  const r = openShared<Value>(s.share());
  closers.push(r);
  return r;
}

/** Overwrites every range 0..n−1 with generation `gen` in one commit. */
function overwriteAll(s: MapleStore<Value>, n: number, gen: number, pad = 'p'.repeat(40)): void {
  s.transaction((tx) => {
    for (let i = 0; i < n; i++) tx.store(i * 10, i * 10 + 4, { i, gen, pad });
  });
}

/** Every range of a view, checked: all present, all of one generation; returns it. */
function generationOf(view: { ranges(): IterableIterator<{ first: number; last: number; value: Value }>; count(): number }, n: number): number {
  let gen = -1;
  let seen = 0;
  for (const r of view.ranges()) {
    expect(r.first).toBe(seen * 10);
    expect(r.value.i).toBe(seen);
    if (gen === -1) gen = r.value.gen;
    expect(r.value.gen).toBe(gen);
    seen++;
  }
  expect(seen).toBe(n);
  expect(view.count()).toBe(n);
  return gen;
}

describe('share() and openShared() in one thread', () => {
  test('reads the newest published version; a snapshot keeps its own through many overwrites of everything', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 300, 0);
    const r = reader(s);
    expect(r.version).toBe(s.version);
    expect(r.load(10)).toEqual(s.load(10));
    const snap = r.snapshot();
    const at = snap.version;
    for (let gen = 1; gen <= 40; gen++) {
      overwriteAll(s, 300, gen);
      expect(r.version).toBe(s.version);
      expect(generationOf(r, 300)).toBe(gen);
    }
    expect(snap.version).toBe(at);
    expect(generationOf(snap, 300)).toBe(0);
    expect(r.find(11)).toEqual(s.find(11));
    expect(r.findRev(11)).toEqual(s.findRev(11));
    expect(r.entry(2991)).toEqual(s.entry(2991));
    expect(r.emptyArea(0, 10_000, 5)).toBe(s.emptyArea(0, 10_000, 5));
    expect(r.emptyAreaRev(0, 10_000, 5)).toBe(s.emptyAreaRev(0, 10_000, 5));
    expect([...r.rangesRev(0, 50)]).toEqual([...s.rangesRev(0, 50)]);
    snap.close();
    s.check();
  });

  test('a page cached before later commits reused its cells is dropped, not read stale (page log)', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 500, 0);
    const r = reader(s);
    // The reader's pool now holds every page of generation 0.
    expect(generationOf(r, 500)).toBe(0);
    const dropsBefore = r.stats().pagesDropped;
    // No reader open: each overwrite reuses the cells the one before freed.
    for (let gen = 1; gen <= 6; gen++) overwriteAll(s, 500, gen);
    expect(generationOf(r, 500)).toBe(6);
    for (let i = 0; i < 500; i++) expect(r.load(i * 10 + 2)).toEqual({ i, gen: 6, pad: 'p'.repeat(40) });
    expect(r.stats().pagesDropped).toBeGreaterThan(dropsBefore);
  });

  test('the re-check: a reader that read the root before two commits reused its cells pins the newer version', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 400, 0);
    const first = s.version;
    let ran = false;
    const hook = () => {
      if (ran) return;
      ran = true;
      // Between reading the published root and publishing its slot: the writer frees everything
      // the version read reaches, then reuses it (nothing pins it yet).
      overwriteAll(s, 400, 1);
      overwriteAll(s, 400, 2);
    };
    const r = openSharedWith<Value>(s.share(), undefined, { beforeSlotStore: hook });
    closers.push(r);
    const snap = r.snapshot();
    expect(ran).toBe(true);
    expect(snap.version).toBe(first + 2);
    expect(generationOf(snap, 400)).toBe(2);
    // And the writer keeps it: more commits leave it readable.
    for (let gen = 3; gen < 8; gen++) overwriteAll(s, 400, gen);
    expect(generationOf(snap, 400)).toBe(2);
    snap.close();
  });

  test('without the re-check the same interleaving reads cells already reused (what the re-check prevents)', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 400, 0);
    let ran = false;
    const r = openSharedWith<Value>(s.share(), undefined, {
      recheck: false,
      beforeSlotStore: () => {
        if (ran) return;
        ran = true;
        overwriteAll(s, 400, 1);
        overwriteAll(s, 400, 2);
      },
    });
    closers.push(r);
    const snap = r.snapshot();
    let failed = false;
    try {
      generationOf(snap, 400);
    } catch (err) {
      failed = err instanceof MapleError && err.code === 'ECORRUPT';
    }
    expect(failed).toBe(true);
    snap.close();
  });

  test('a shared snapshot pins only what its version reaches: space cleared before it stays usable', () => {
    const t = temp();
    const s = writer(t.file());
    s.transaction((tx) => {
      for (let i = 0; i < 4000; i++) tx.store(i * 10, i * 10 + 5, { i, gen: 0, pad: 'x'.repeat(900) });
    });
    s.clear(0, 1e9);
    s.store(1, 1, { i: 1, gen: 0, pad: 'kept' });
    // sync 'none': flush() makes the current version the durable base, so what is pending below is
    // what the snapshot pins (the last durable version pins the rest until the next checkpoint).
    s.flush();
    const r = reader(s);
    const snap = r.snapshot();
    const before = s.stats();
    expect(before.sharedReaders).toBe(1);
    for (let i = 0; i < 3000; i++) s.store(100 + (i % 50), 100 + (i % 50), { i, gen: 1, pad: 'y'.repeat(20) });
    s.flush();
    const after = s.stats();
    expect(after.fileBytes).toBeLessThanOrEqual(1.5 * before.fileBytes);
    expect(after.pendingBytes).toBeLessThan(64 * CELL_BYTES);
    expect(after.freeBytes).toBeGreaterThan(3_500_000);
    expect([...snap.ranges()]).toEqual([{ first: 1, last: 1, value: { i: 1, gen: 0, pad: 'kept' } }]);
    snap.close();
    expect(s.stats().sharedReaders).toBe(0);
  });

  test('a held version keeps what it reaches pending; released, the space is reused', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 1000, 0, 'z'.repeat(300));
    const r = reader(s);
    const snap = r.snapshot();
    for (let gen = 1; gen <= 5; gen++) overwriteAll(s, 1000, gen, 'z'.repeat(300));
    const held = s.stats();
    expect(held.pendingBytes).toBeGreaterThan(1000 * 300);
    snap.close();
    overwriteAll(s, 1000, 6, 'z'.repeat(300));
    overwriteAll(s, 1000, 7, 'z'.repeat(300));
    const released = s.stats();
    expect(released.pendingBytes).toBeLessThan(held.pendingBytes / 2);
    for (let gen = 8; gen < 20; gen++) overwriteAll(s, 1000, gen, 'z'.repeat(300));
    expect(s.stats().fileBytes).toBe(released.fileBytes);
    expect(generationOf(r, 1000)).toBe(19);
  });

  test('own reads pin until the synchronous code ends; iterators until they finish', async () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 50, 0);
    const r = reader(s);
    expect(r.load(0)).toEqual({ i: 0, gen: 0, pad: 'p'.repeat(40) });
    expect(s.stats().sharedReaders).toBe(1);
    const it = r.ranges();
    expect(it.next().value!.value.gen).toBe(0);
    await Promise.resolve();
    // The view's pin is gone; the iterator's holds the same version.
    expect(s.stats().sharedReaders).toBe(1);
    for (let gen = 1; gen <= 4; gen++) overwriteAll(s, 50, gen);
    let n = 1;
    for (const x of it) {
      expect(x.value.gen).toBe(0);
      // Newer reads in between re-read the pages the commits wrote, in the frames the iterator
      // found its cells in: the cells it reads are unchanged.
      expect(r.load(n * 10)).toEqual({ i: n, gen: 4, pad: 'p'.repeat(40) });
      n++;
    }
    expect(n).toBe(50);
    await Promise.resolve();
    expect(s.stats().sharedReaders).toBe(0);
  });

  test('a dropped snapshot is released by the garbage collector and counted', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(typeof gc).toBe('function');
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 10, 0);
    const r = reader(s);
    (() => {
      r.snapshot();
    })();
    await Promise.resolve();
    expect(s.stats().sharedReaders).toBe(1);
    for (let round = 0; round < 20 && r.stats().snapshotsLeaked === 0; round++) {
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(r.stats().snapshotsLeaked).toBe(1);
    expect(s.stats().sharedReaders).toBe(0);
  });

  test('a dropped snapshot and iterator are released even if no finalization callback ever runs', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(typeof gc).toBe('function');
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 10, 0);
    // The engine may never run finalization callbacks (src/read/holderWatch.ts).
    const r = withSilentFinalizers(() => reader(s));
    (() => {
      r.snapshot();
      r.ranges()[Symbol.iterator]().next(); // unfinished
    })();
    await Promise.resolve();
    expect(s.stats().sharedReaders).toBe(1);
    // Each round: a new version, read by the shared store (its next pin).
    for (let round = 0; round < 40 && r.stats().iteratorsLeaked + r.stats().snapshotsLeaked < 2; round++) {
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 5));
      overwriteAll(s, 10, round + 1);
      expect(r.load(0)).toEqual({ i: 0, gen: round + 1, pad: 'p'.repeat(40) });
    }
    expect([r.stats().snapshotsLeaked, r.stats().iteratorsLeaked]).toEqual([1, 1]);
    // Left: the version the shared store's own reads are on (the newest), not the dropped ones'.
    expect(s.stats().sharedReaders).toBe(1);
    r.close();
    expect(s.stats().sharedReaders).toBe(0);
  });

  test('closing the shared store gives its slots back; closing the writer makes every shared read ECLOSED', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 10, 0);
    const handle = s.share();
    expect(s.share()).toBe(handle);
    const r = openShared<Value>(handle);
    const snap = r.snapshot();
    overwriteAll(s, 10, 1);
    const snap2 = r.snapshot();
    expect(s.stats().sharedReaders).toBe(2);
    r.close();
    expect(s.stats().sharedReaders).toBe(0);
    expectMapleError(() => snap.load(0), 'ECLOSED');
    expectMapleError(() => snap2.count(), 'ECLOSED');
    expectMapleError(() => r.load(0), 'ECLOSED');
    const r2 = openShared<Value>(handle);
    closers.push(r2);
    const snap3 = r2.snapshot();
    expect(snap3.load(0)).toEqual({ i: 0, gen: 1, pad: 'p'.repeat(40) });
    s.close();
    expectMapleError(() => snap3.load(0), 'ECLOSED', /store this snapshot belongs to is closed/);
    expectMapleError(() => r2.load(0), 'ECLOSED');
    expectMapleError(() => r2.snapshot(), 'ECLOSED');
    expectMapleError(() => openShared(handle), 'ECLOSED');
  });

  test('refusals: not a handle, a replaced file, bad options, a full reader table', () => {
    const t = temp();
    const file = t.file();
    const s = writer(file);
    overwriteAll(s, 10, 0);
    const handle = s.share();
    expectMapleError(() => openShared({} as never), 'EINVAL', /handle MapleStore.share\(\) returned/);
    expectMapleError(() => openShared({ ...handle, buffer: new SharedArrayBuffer(64) }), 'EINVAL', /shared area/);
    expectMapleError(() => openShared(handle, { cacheSize: -1 }), 'EINVAL', /cacheSize/);
    expectMapleError(() => openShared(handle, { cachesize: 1 } as never), 'EINVAL', /unknown option "cachesize" \(did you mean cacheSize\?\)/);
    expectMapleError(() => s.share({} as never), 'EINVAL', /Worker/);
    // A file put at the path later is another file.
    const moved = t.file('moved.maple');
    fs.renameSync(file, moved);
    fs.copyFileSync(moved, file);
    expectMapleError(() => openShared(handle), 'ENOTSTORE', /another file/);
    fs.rmSync(file);
    expectMapleError(() => openShared(handle), 'ENOENT');
    fs.renameSync(moved, file);
    const r = reader(s);
    const snaps = [];
    for (let i = 0; i < SHARED_READER_SLOTS; i++) {
      snaps.push(r.snapshot());
      s.store(1000 + i, 1000 + i, { i, gen: 0, pad: '' });
    }
    expect(s.stats().sharedReaders).toBe(SHARED_READER_SLOTS);
    const v = s.version;
    expectMapleError(() => r.snapshot(), 'EBUSY', /reader table is full/);
    // A version the thread pins already costs no slot.
    s.store(5000, 5000, { i: 0, gen: 0, pad: '' });
    snaps.pop()!.close();
    expect(r.snapshot().version).toBe(v + 1);
    for (const snap of snaps) snap.close();
  });
});

describe('the page log', () => {
  test('a pool drops the pages noted since it caught up, and all of them when the ring was overrun', () => {
    const t = temp();
    const file = t.file('pages.bin');
    fs.writeFileSync(file, Buffer.alloc(64 * PAGE_BYTES, 1));
    const io = new NodeFileIO(file, 'r');
    closers.push(io);
    const pool = new BufferPool(io, 64 * PAGE_BYTES, 1);
    const area = SharedArea.create(4, 8);
    ReaderTable.format(area);
    const log = new PageLogWriter(area);
    const first = CELL_BASE / 16;
    for (let p = first; p < first + 10; p++) pool.frame(p);
    const resident = () => {
      const out: number[] = [];
      for (let p = first; p < first + 10; p++) if (poolHas(pool, p)) out.push(p);
      return out;
    };
    const from = log.end;
    log.note(first + 2, first + 3);
    log.note(0, 1); // header and ring pages: never noted
    expect(dropWrittenPages(area, pool, from, log.end)).toBe(2);
    expect(resident()).toEqual([first, first + 1, first + 4, first + 5, first + 6, first + 7, first + 8, first + 9]);
    // More than a ring behind: the whole pool goes.
    const from2 = log.end;
    for (let i = 0; i < 9; i++) log.note(first + 9, first + 9);
    expect(dropWrittenPages(area, pool, from2, log.end)).toBe(-1);
    expect(resident()).toEqual([]);
    // Within a ring when the reader started, but overrun while it read (the reserve moved on).
    for (let p = first; p < first + 10; p++) pool.frame(p);
    const from3 = log.end;
    log.note(first, first);
    const end3 = log.end;
    for (let i = 0; i < 8; i++) log.note(first + 1, first + 1);
    expect(dropWrittenPages(area, pool, from3, end3)).toBe(-1);
    expect(resident()).toEqual([]);
  });
});

/** Whether `page` is resident in `pool` (frame() would not miss). */
function poolHas(pool: BufferPool, page: number): boolean {
  const misses = pool.misses;
  const hits = pool.hits;
  pool.frame(page);
  const hit = pool.misses === misses;
  if (!hit) pool.forget(page);
  pool.hits = hits;
  pool.misses = misses;
  return hit;
}

describe('the writer\'s file when shared', () => {
  test('asynchronous writes are noted when issued, as synchronous ones', async () => {
    const t = temp();
    const file = t.file('pages.bin');
    fs.writeFileSync(file, Buffer.alloc(64 * PAGE_BYTES));
    const io = new NodeFileIO(file, 'r+');
    closers.push(io);
    const area = SharedArea.create(4, 64);
    const log = new PageLogWriter(area);
    const logged = new LoggingFileIO(io, log);
    const first = CELL_BASE / 16;
    const written = logged.writeAsync(new Uint8Array(2 * PAGE_BYTES).fill(7), (first + 3) * PAGE_BYTES);
    // Noted before the write can land: a reader catching up now drops both pages.
    expect(log.end).toBe(2);
    await written;
    await logged.syncAsync();
    logged.write(new Uint8Array(10).fill(9), (first + 9) * PAGE_BYTES + 4090);
    expect(log.end).toBe(4);
    const back = new Uint8Array(PAGE_BYTES);
    io.read(back, (first + 4) * PAGE_BYTES);
    expect(back.every((b) => b === 7)).toBe(true);
  });
});

describe('the page ring', () => {
  test('a reader refreshes the pages commits wrote from the ring, without reading the file, and reads every value right', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 400, 0);
    const r = reader(s);
    expect(generationOf(r, 400)).toBe(0);
    const before = r.stats();
    for (let gen = 1; gen <= 30; gen++) {
      // Single ranges here and there: commits that write a few cells of a few pages.
      s.store((gen * 37 % 400) * 10, (gen * 37 % 400) * 10 + 4, { i: gen * 37 % 400, gen, pad: 'q' });
      // Each commit durable (sync 'none' otherwise keeps the last durable version's cells until a
      // checkpoint): the next one reuses the cells it freed, on pages the reader holds.
      s.flush();
      const v = r.load((gen * 37 % 400) * 10) as Value;
      expect(v.gen).toBe(gen);
      for (let i = 0; i < 400; i += 7) expect(r.load(i * 10)).toEqual(s.load(i * 10));
    }
    const after = r.stats();
    const refreshed = after.pagesRefreshed - before.pagesRefreshed;
    expect(refreshed).toBeGreaterThan(30);
    // Pages the pool held came from the ring; the file is read only for pages it never held
    // (cells the commits put on pages not read before).
    expect(after.cacheMisses - before.cacheMisses).toBeLessThan(refreshed / 4);
  });

  test('a slot the writer refills while a reader copies it is detected: the page is read from the file instead', () => {
    const t = temp();
    const s = writer(t.file());
    overwriteAll(s, 400, 0);
    const handle = s.share();
    const area = SharedArea.attach(handle.buffer);
    let refills = 0;
    const r = openSharedWith<Value>(handle, undefined, {
      // The writer, one ring of notes later, fills the same slot with another page's bytes.
      duringRingCopy: (position) => {
        refills++;
        putPage(area, (position + area.ringSlots) >>> 0, CELL_BASE / 16, 0, new Uint8Array(PAGE_BYTES).fill(0xab));
      },
    });
    closers.push(r);
    expect(generationOf(r, 400)).toBe(0);
    const before = r.stats();
    for (let gen = 1; gen <= 10; gen++) {
      s.store(50 * 10, 50 * 10 + 4, { i: 50, gen, pad: 'q' });
      expect((r.load(500) as Value).gen).toBe(gen);
      for (let i = 0; i < 400; i++) expect(r.load(i * 10)).toEqual(s.load(i * 10));
    }
    const after = r.stats();
    expect(refills).toBeGreaterThan(0);
    expect(after.pagesRefreshed).toBe(before.pagesRefreshed);
    expect(after.cacheMisses).toBeGreaterThan(before.cacheMisses);
  });
});
