/**
 * Unit tests of the buffer pool (storage/io/bufferPool.ts) over an in-memory file, with the smallest
 * pool (MIN_FRAMES = 16 frames) so eviction, the clock's second chance and pinning are easy to
 * drive page by page.
 */
import { describe, expect, it } from 'vitest';
import { MapleError, AssertionError } from '../../src/common/errors.js';
import { BufferPool } from '../../storage/io/bufferPool.js';
import { INITIAL_FRAMES, INTERNAL_WEIGHT, MIN_FRAMES, READ_AHEAD_AFTER, READ_AHEAD_PAGES, WHOLE_SLAB_AFTER } from '../../src/common/limits.js';
import { MemFile } from '../helpers.js';
import { encodeNode, newInternal, newLeaf } from '../../storage/format/node.js';
import { CellReader } from '../../storage/io/cellReader.js';
import { CELLS_PER_PAGE, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';

/** The shared in-memory file, counting reads per page (to tell hits from misses independently). */
class CountingFile extends MemFile {
  readsByPage = new Map<number, number>();
  failReads = false;
  /** Bytes asked for by the last read. */
  lastReadLength = 0;

  constructor() {
    super(new Uint8Array(0));
  }

  override read(buf: Uint8Array, positionBytes: number): number {
    if (this.failReads) throw new Error('injected read failure');
    this.lastReadLength = buf.length;
    this.count(positionBytes, buf.length);
    return super.read(buf, positionBytes);
  }

  reads(page: number): number {
    return this.readsByPage.get(page) ?? 0;
  }

  /** Counts a read of every page the `length` bytes at `positionBytes` touch. */
  protected count(positionBytes: number, length: number): void {
    const first = Math.floor(positionBytes / PAGE_BYTES);
    const last = Math.floor((positionBytes + length - 1) / PAGE_BYTES);
    for (let page = first; page <= last; page++) this.readsByPage.set(page, (this.readsByPage.get(page) ?? 0) + 1);
  }
}

/** Page p filled with a pattern that names p in every byte position. */
function pageContent(page: number, salt = 0): Uint8Array {
  const out = new Uint8Array(PAGE_BYTES);
  for (let i = 0; i < PAGE_BYTES; i++) out[i] = (page * 31 + i * 7 + salt) & 0xff;
  return out;
}

function fileWithPages(pages: number): CountingFile {
  const file = new CountingFile();
  for (let p = 0; p < pages; p++) file.write(pageContent(p), p * PAGE_BYTES);
  return file;
}

function frameBytes(pool: BufferPool, frame: number): Uint8Array {
  return pool.slab.subarray(frame * PAGE_BYTES, (frame + 1) * PAGE_BYTES);
}

function expectPage(pool: BufferPool, page: number, salt = 0): number {
  const frame = pool.frame(page);
  expect(Buffer.from(frameBytes(pool, frame)).equals(Buffer.from(pageContent(page, salt))), `content of page ${page}`).toBe(true);
  return frame;
}

function smallPool(file: CountingFile): BufferPool {
  // Asking for less than the minimum still gives MIN_FRAMES frames.
  const pool = new BufferPool(file, PAGE_BYTES);
  expect(pool.frameCount).toBe(MIN_FRAMES);
  expect(MIN_FRAMES).toBe(16);
  return pool;
}

describe('sizing', () => {
  it('cuts the cache into whole 4 KiB frames, at least MIN_FRAMES', () => {
    const file = new CountingFile();
    expect(new BufferPool(file, 0).maxFrames).toBe(MIN_FRAMES);
    expect(new BufferPool(file, 0).frameCount).toBe(MIN_FRAMES);
    expect(new BufferPool(file, 64 * PAGE_BYTES + 100).maxFrames).toBe(64);
    const n = Math.min(64, INITIAL_FRAMES);
    expect(new BufferPool(file, 64 * PAGE_BYTES + 100).frameCount).toBe(n);
    expect(new BufferPool(file, 64 * PAGE_BYTES).slab.length).toBe(n * PAGE_BYTES);
  });
});

describe('hits, misses and eviction', () => {
  it('a resident page is a hit and is not re-read', () => {
    const file = fileWithPages(4);
    const pool = smallPool(file);
    const f = expectPage(pool, 2);
    expect(pool.frame(2)).toBe(f);
    expect(pool.hits).toBe(1);
    expect(pool.misses).toBe(1);
    expect(file.reads(2)).toBe(1);
  });

  it('reading more pages than frames evicts, and every page reads back right', () => {
    const pages = 40;
    const file = fileWithPages(pages);
    const pool = smallPool(file);
    for (let p = 0; p < pages; p++) expectPage(pool, p);
    expect(pool.misses).toBe(pages);
    expect(pool.residentPages).toBe(MIN_FRAMES);
    // A second sweep in the same order misses every time: a sequential scan larger than the pool.
    for (let p = 0; p < pages; p++) expectPage(pool, p);
    expect(pool.misses).toBe(2 * pages);
    expect(pool.hits).toBe(0);
    for (let p = 0; p < pages; p++) expect(file.reads(p)).toBe(2);
    expect(pool.residentPages).toBe(MIN_FRAMES);
  });

  it('random access over more pages than frames always returns the right content', () => {
    const pages = 50;
    const file = fileWithPages(pages);
    const pool = smallPool(file);
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      expectPage(pool, x % pages);
    }
    expect(pool.hits + pool.misses).toBe(2000);
    expect(pool.misses).toBeGreaterThan(MIN_FRAMES);
    expect(pool.residentPages).toBeLessThanOrEqual(MIN_FRAMES);
  });

  it('the clock gives a referenced frame a second chance', () => {
    const file = fileWithPages(20);
    const pool = smallPool(file);
    for (let p = 0; p < 16; p++) pool.frame(p); // fills all frames; all referenced
    // Page 16: one full sweep clears every reference bit, then evicts the first frame (page 0).
    pool.frame(16);
    expect(pool.misses).toBe(17);
    // Touch page 1: a hit that sets its reference bit again; pages 2..15 stay unreferenced.
    pool.frame(1);
    expect(pool.hits).toBe(1);
    // Page 17: the hand reaches page 1 first, but it is referenced, so page 2 goes instead.
    pool.frame(17);
    const hitsBefore = pool.hits;
    expectPage(pool, 1);
    expect(pool.hits).toBe(hitsBefore + 1); // page 1 survived
    expect(file.reads(1)).toBe(1);
    const missesBefore = pool.misses;
    expectPage(pool, 2);
    expect(pool.misses).toBe(missesBefore + 1); // page 2 was evicted
    expect(file.reads(2)).toBe(2);
    // And page 0 went first.
    expectPage(pool, 0);
    expect(file.reads(0)).toBe(2);
  });
});

describe('pinning', () => {
  it('a pinned frame is never evicted', () => {
    const file = fileWithPages(100);
    const pool = smallPool(file);
    const pinned = pool.frame(7);
    pool.pin(pinned);
    for (let p = 20; p < 100; p++) expectPage(pool, p);
    // Still resident, still page 7's bytes.
    const missesBefore = pool.misses;
    expect(pool.frame(7)).toBe(pinned);
    expect(pool.misses).toBe(missesBefore);
    expect(Buffer.from(frameBytes(pool, pinned)).equals(Buffer.from(pageContent(7)))).toBe(true);
    pool.unpin(pinned);
  });

  it('with every frame pinned the next miss throws EIO "exhausted"; unpinning one frees it', () => {
    const file = fileWithPages(17);
    const pool = smallPool(file);
    const frames: number[] = [];
    for (let p = 0; p < 16; p++) {
      const f = pool.frame(p);
      pool.pin(f);
      frames.push(f);
    }
    expect(new Set(frames).size).toBe(16);
    let caught: unknown;
    try {
      pool.frame(16);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MapleError);
    expect((caught as MapleError).code).toBe('EIO');
    expect((caught as MapleError).message).toMatch(/exhausted/);
    // Resident pages are still hits while exhausted, and their contents are intact.
    for (let p = 0; p < 16; p++) expect(pool.frame(p)).toBe(frames[p]);
    // Release page 5's frame: the next miss lands there and nothing else moves.
    pool.unpin(frames[5]!);
    expect(expectPage(pool, 16)).toBe(frames[5]);
    for (let p = 0; p < 16; p++) if (p !== 5) expect(pool.frame(p)).toBe(frames[p]);
    for (const [p, f] of frames.entries()) if (p !== 5) pool.unpin(f);
  });

  it('pins nest: a frame pinned twice stays pinned after one unpin', () => {
    const file = fileWithPages(40);
    const pool = smallPool(file);
    const f = pool.frame(3);
    pool.pin(f);
    pool.pin(f);
    pool.unpin(f);
    for (let p = 10; p < 40; p++) pool.frame(p);
    expect(pool.frame(3)).toBe(f);
    expect(file.reads(3)).toBe(1);
    pool.unpin(f);
  });

  it('unpinning an unpinned frame is an invariant failure', () => {
    const pool = smallPool(fileWithPages(1));
    const f = pool.frame(0);
    expect(() => pool.unpin(f)).toThrow(AssertionError);
  });
});

describe('update and verified bits', () => {
  it('refreshes a resident frame and clears the verified bits of the cells written', () => {
    const file = fileWithPages(2);
    const pool = smallPool(file);
    const f = pool.frame(1);
    for (let c = 0; c < CELLS_PER_PAGE; c++) pool.setVerified(f, c);
    // 300 bytes from the middle of cell 3 into cell 4.
    const bytes = new Uint8Array(300).fill(0xab);
    const offset = 3 * CELL_BYTES + 100;
    pool.update(1, offset, bytes);
    const view = frameBytes(pool, f);
    expect(view.subarray(offset, offset + 300).every((b) => b === 0xab)).toBe(true);
    expect(view[offset - 1]).toBe(pageContent(1)[offset - 1]);
    expect(view[offset + 300]).toBe(pageContent(1)[offset + 300]);
    const verified = Array.from({ length: CELLS_PER_PAGE }, (_, c) => pool.isVerified(f, c));
    expect(verified).toEqual(verified.map((_, c) => c !== 3 && c !== 4));
    // The update did not go through the file.
    expect(file.reads(1)).toBe(1);
    expect(pool.frame(1)).toBe(f);
  });

  it('a whole-page update clears every verified bit; cell-aligned updates clear only their cells', () => {
    const pool = smallPool(fileWithPages(1));
    const f = pool.frame(0);
    for (let c = 0; c < CELLS_PER_PAGE; c++) pool.setVerified(f, c);
    pool.update(0, 15 * CELL_BYTES, new Uint8Array(CELL_BYTES));
    expect(pool.isVerified(f, 15)).toBe(false);
    expect(pool.isVerified(f, 14)).toBe(true);
    pool.update(0, 0, new Uint8Array(PAGE_BYTES));
    for (let c = 0; c < CELLS_PER_PAGE; c++) expect(pool.isVerified(f, c)).toBe(false);
  });

  it("a commit's own cells (encodedHere) are marked verified where covered whole; a cell covered in part is verified again", () => {
    const file = fileWithPages(5);
    const pool = smallPool(file);
    const f = pool.frame(1);
    pool.setVerified(f, 6);
    // Cells 3 and 4 whole, then the first half of cell 5, then a whole cell 6 rewritten in part.
    pool.update(1, 3 * CELL_BYTES, new Uint8Array(2 * CELL_BYTES + CELL_BYTES / 2).fill(1), true);
    pool.update(1, 6 * CELL_BYTES + 8, new Uint8Array(16).fill(2), true);
    const verified = Array.from({ length: CELLS_PER_PAGE }, (_, c) => pool.isVerified(f, c));
    expect(verified).toEqual(verified.map((_, c) => c === 3 || c === 4));
    // A whole page not resident, installed from the commit's own bytes: every cell verified.
    const written = pageContent(4, 3);
    file.write(written, 4 * PAGE_BYTES);
    pool.update(4, 0, written, true);
    const g = expectPage(pool, 4, 3);
    for (let c = 0; c < CELLS_PER_PAGE; c++) expect(pool.isVerified(g, c)).toBe(true);
  });

  it('updating a page that is not resident does nothing (no read, no frame)', () => {
    const file = fileWithPages(3);
    const pool = smallPool(file);
    pool.update(2, 0, new Uint8Array(10).fill(1));
    expect(pool.residentPages).toBe(0);
    expect(file.reads(2)).toBe(0);
    expectPage(pool, 2); // the file's bytes, untouched
  });

  it('a whole-page update of a page not resident installs it while a never-used frame is at hand', () => {
    const file = fileWithPages(4);
    const pool = smallPool(file);
    pool.frame(0);
    const written = pageContent(3, 5);
    file.write(written, 3 * PAGE_BYTES); // what the writer put in the file
    pool.update(3, 0, written);
    expect(pool.residentPages).toBe(2);
    const misses = pool.misses;
    const f = expectPage(pool, 3, 5);
    expect(file.reads(3)).toBe(0); // served from the frame the update filled
    expect(pool.misses).toBe(misses);
    // Installed, not verified: the first reader still checks every cell.
    for (let c = 0; c < CELLS_PER_PAGE; c++) expect(pool.isVerified(f, c)).toBe(false);
    expect(pool.verifiedFrame(3, 0)).toBe(-1);
  });

  it('a whole-page update never evicts a resident page: with every frame in use it does nothing', () => {
    const file = fileWithPages(MIN_FRAMES + 1);
    const pool = smallPool(file);
    for (let p = 0; p < MIN_FRAMES; p++) pool.frame(p);
    const misses = pool.misses;
    pool.update(MIN_FRAMES, 0, pageContent(MIN_FRAMES, 9));
    expect(pool.residentPages).toBe(MIN_FRAMES);
    expect(pool.misses).toBe(misses);
    for (let p = 0; p < MIN_FRAMES; p++) expectPage(pool, p);
    expect(pool.misses).toBe(misses); // every page is still where it was
    expectPage(pool, MIN_FRAMES); // the file's bytes, read afresh
    expect(file.reads(MIN_FRAMES)).toBe(1);
  });

  it('verifiedFrame is the frame of a resident page only once that cell is verified', () => {
    const file = fileWithPages(2);
    const pool = smallPool(file);
    expect(pool.verifiedFrame(1, 2)).toBe(-1); // not resident
    expect(pool.verifiedFrame(1 << 20, 2)).toBe(-1); // past the page table
    const f = pool.frame(1);
    expect(pool.verifiedFrame(1, 2)).toBe(-1); // resident, not verified
    pool.setVerified(f, 2);
    const hits = pool.hits;
    expect(pool.verifiedFrame(1, 2)).toBe(f);
    expect(pool.hits).toBe(hits + 1);
    expect(pool.verifiedFrame(1, 3)).toBe(-1);
    pool.update(1, 2 * CELL_BYTES, new Uint8Array(CELL_BYTES)); // rewritten: verify again
    expect(pool.verifiedFrame(1, 2)).toBe(-1);
    expect(file.reads(1)).toBe(1);
  });

  it('a page read afresh starts with no verified cells', () => {
    const file = fileWithPages(40);
    const pool = smallPool(file);
    const f = pool.frame(0);
    pool.setVerified(f, 2);
    expect(pool.isVerified(f, 2)).toBe(true);
    for (let p = 1; p < 40; p++) pool.frame(p); // evicts page 0
    const g = pool.frame(0);
    expect(pool.isVerified(g, 2)).toBe(false);
  });
});

describe('end of file and failures', () => {
  it('reads past EOF are zero-filled, even in a frame that held other data', () => {
    const file = fileWithPages(16);
    file.write(new Uint8Array(100).fill(0xee), 16 * PAGE_BYTES); // page 16 is 100 bytes long
    const pool = smallPool(file);
    for (let p = 0; p < 16; p++) expectPage(pool, p); // every frame now holds non-zero data
    const partial = frameBytes(pool, pool.frame(16));
    expect(partial.subarray(0, 100).every((b) => b === 0xee)).toBe(true);
    expect(partial.subarray(100).every((b) => b === 0)).toBe(true);
    for (let p = 17; p < 40; p++) {
      expect(frameBytes(pool, pool.frame(p)).every((b) => b === 0), `page ${p}`).toBe(true);
    }
  });

  it('a failed read is EIO and leaves no stale page behind', () => {
    const file = fileWithPages(20);
    const pool = smallPool(file);
    for (let p = 0; p < 16; p++) pool.frame(p);
    file.failReads = true;
    let caught: unknown;
    try {
      pool.frame(17);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MapleError);
    expect((caught as MapleError).code).toBe('EIO');
    expect((caught as MapleError).message).toMatch(/page 17/);
    file.failReads = false;
    expect(pool.residentPages).toBe(15); // the victim's old page is gone, page 17 is not resident
    expectPage(pool, 17);
    for (let p = 0; p < 16; p++) expectPage(pool, p);
  });

  it('invalidateAll forces every page to be read again', () => {
    const file = fileWithPages(8);
    const pool = smallPool(file);
    for (let p = 0; p < 8; p++) expectPage(pool, p);
    const f = pool.frame(3);
    pool.setVerified(f, 0);
    // The file changes underneath without update(): the pool still serves the old bytes...
    for (let p = 0; p < 8; p++) file.write(pageContent(p, 99), p * PAGE_BYTES);
    expectPage(pool, 3);
    // ...until invalidated.
    pool.invalidateAll();
    expect(pool.residentPages).toBe(0);
    const missesBefore = pool.misses;
    for (let p = 0; p < 8; p++) expectPage(pool, p, 99);
    expect(pool.misses).toBe(missesBefore + 8);
    for (let p = 0; p < 8; p++) expect(file.reads(p)).toBe(2);
    expect(pool.isVerified(pool.frame(3), 0)).toBe(false);
  });
});

describe('page table', () => {
  /** A sparse file: page p reads as pageContent(p), whatever p, without storing anything. */
  class SparseFile extends CountingFile {
    override read(buf: Uint8Array, positionBytes: number): number {
      this.count(positionBytes, buf.length);
      const page = Math.floor(positionBytes / PAGE_BYTES);
      for (let at = 0; at < buf.length; at += PAGE_BYTES) buf.set(pageContent(page + at / PAGE_BYTES).subarray(0, buf.length - at), at);
      return buf.length;
    }
  }

  it('hits and evicts alike for low pages (dense table) and pages past 16 GiB (map)', () => {
    const file = new SparseFile();
    const pool = new BufferPool(file, 16 * PAGE_BYTES);
    // 2^22 pages = 16 GiB: the dense table's end; mix pages on both sides and far apart.
    const pages = [0, 5, 1023, 1024, 70_000, 2 ** 22 - 1, 2 ** 22, 2 ** 22 + 7, 2 ** 28 - 1];
    for (const p of pages) expectPage(pool, p);
    for (const p of pages) expectPage(pool, p);
    for (const p of pages) expect(file.reads(p), `page ${p} read once`).toBe(1);
    expect(pool.residentPages).toBe(pages.length);
    // Evict everything with 16 other pages, then each comes back with one more read.
    for (let p = 100; p < 116; p++) expectPage(pool, p);
    expect(pool.residentPages).toBe(16);
    for (const p of pages) expectPage(pool, p);
    for (const p of pages) expect(file.reads(p), `page ${p} re-read after eviction`).toBe(2);
    pool.invalidateAll();
    expect(pool.residentPages).toBe(0);
    expectPage(pool, 2 ** 22 + 7);
    expect(file.reads(2 ** 22 + 7)).toBe(3);
  });
});

describe('growth', () => {
  it('starts at INITIAL_FRAMES and doubles on a miss with every frame full, keeping pages, pins and checks', () => {
    const budget = 4 * INITIAL_FRAMES;
    const file = fileWithPages(budget + 100);
    // Without fault-around: each miss then caches exactly its page.
    const pool = new BufferPool(file, budget * PAGE_BYTES, 1);
    expect(pool.frameCount).toBe(INITIAL_FRAMES);
    expect(pool.maxFrames).toBe(budget);
    expect(pool.slab.length).toBe(INITIAL_FRAMES * PAGE_BYTES);
    const frames: number[] = [];
    for (let p = 0; p < INITIAL_FRAMES; p++) frames.push(expectPage(pool, p));
    expect(pool.frameCount).toBe(INITIAL_FRAMES);
    const pinned = frames[3]!;
    pool.pin(pinned);
    pool.setVerified(frames[5]!, 2);
    const before = pool.slab;
    // One more page: the pool doubles instead of evicting.
    expectPage(pool, INITIAL_FRAMES);
    expect(pool.frameCount).toBe(2 * INITIAL_FRAMES);
    expect(pool.slab).not.toBe(before);
    expect(pool.words.buffer).toBe(pool.slab.buffer);
    expect(pool.residentPages).toBe(INITIAL_FRAMES + 1);
    // Every earlier page is still a hit, in the same frame, with its content and state.
    for (let p = 0; p < INITIAL_FRAMES; p++) expect(expectPage(pool, p)).toBe(frames[p]);
    for (let p = 0; p <= INITIAL_FRAMES; p++) expect(file.reads(p), `page ${p} read once`).toBe(1);
    expect(pool.isVerified(frames[5]!, 2)).toBe(true);
    expect(pool.isVerified(frames[5]!, 3)).toBe(false);
    pool.unpin(pinned);
    expect(() => pool.unpin(pinned)).toThrow(/unpin of unpinned frame/);
    // Up to the budget, and no further: then the clock evicts.
    for (let p = 0; p < budget + 100; p++) expectPage(pool, p);
    expect(pool.frameCount).toBe(budget);
    expect(pool.residentPages).toBe(budget);
    expect(pool.slab.length).toBe(budget * PAGE_BYTES);
  });

  it('doubles only up to WHOLE_SLAB_AFTER frames, then takes the whole budget in one step', () => {
    const budget = 4 * WHOLE_SLAB_AFTER + 3;
    const file = fileWithPages(budget + 10);
    const pool = new BufferPool(file, budget * PAGE_BYTES, 1);
    const sizes = [pool.frameCount];
    for (let p = 0; p < budget + 10; p++) {
      expectPage(pool, p);
      if (pool.frameCount !== sizes[sizes.length - 1]) sizes.push(pool.frameCount);
    }
    const doublings: number[] = [];
    for (let n = INITIAL_FRAMES; n <= WHOLE_SLAB_AFTER; n *= 2) doublings.push(n);
    expect(sizes).toEqual([...doublings, budget]);
    expect(pool.slab.length).toBe(budget * PAGE_BYTES);
    expect(pool.residentPages).toBe(budget);
    // Every page the pool still holds reads back right after the last step and the evictions.
    for (let p = budget + 9; p > budget - 200; p--) expectPage(pool, p);
  });

  it('a budget below INITIAL_FRAMES is allocated whole and never grows', () => {
    const budget = INITIAL_FRAMES - 5;
    expect(budget).toBeGreaterThanOrEqual(MIN_FRAMES);
    const file = fileWithPages(2 * budget);
    const pool = new BufferPool(file, budget * PAGE_BYTES);
    expect(pool.frameCount).toBe(budget);
    for (let p = 0; p < 2 * budget; p++) expectPage(pool, p);
    expect(pool.frameCount).toBe(budget);
    expect(pool.residentPages).toBe(budget);
  });

  it('frames holding internal nodes outlive a stream of leaf pages, for INTERNAL_WEIGHT sweeps', () => {
    // Pages 0..7 hold internal nodes, pages 8.. leaves; every cell a valid node. Through the
    // pager (which tells the pool a verified node's type), pages 0..7 are read once, then a
    // stream of leaf pages each read once must not push them out for many sweeps (a plain clock
    // evicts them on its second sweep), yet they do age out in the end.
    const file = new CountingFile();
    const cell = new Uint8Array(CELL_BYTES);
    const LEAF_PAGES = 8 * (2 * INTERNAL_WEIGHT + 2);
    for (let p = 0; p < 8 + LEAF_PAGES; p++) {
      for (let c = 0; c < CELLS_PER_PAGE; c++) {
        cell.fill(0);
        const node = p < 8 ? newInternal([5], [1, 2], [0, 0], 0, [0, 0]) : newLeaf([5], [null, null]);
        node.cell = p * CELLS_PER_PAGE + c; // its checksum starts from its address
        encodeNode(node, 1, cell);
        file.write(cell, p * PAGE_BYTES + c * CELL_BYTES);
      }
    }
    const pool = smallPool(file);
    const pager = new CellReader(file, pool);
    const visit = (page: number): void => {
      pager.verifiedNodeOffset(page * CELLS_PER_PAGE);
    };
    for (let p = 0; p < 8; p++) visit(p);
    // Leaf pages read once each: 8 evictable frames, so 8 misses per sweep of the hand.
    let next = 8;
    const stream = (count: number): void => {
      for (let i = 0; i < count; i++) visit(next++);
    };
    stream(8 * (INTERNAL_WEIGHT - 2));
    expect(pool.misses).toBe(8 + 8 * (INTERNAL_WEIGHT - 2));
    for (let p = 0; p < 8; p++) visit(p);
    for (let p = 0; p < 8; p++) expect(file.reads(p), `internal page ${p} still resident`).toBe(1);
    expect(pool.misses).toBe(8 + 8 * (INTERNAL_WEIGHT - 2));
    // Far more sweeps than the weight: the unused internal pages go.
    stream(8 * (INTERNAL_WEIGHT + 4));
    for (let p = 0; p < 8; p++) visit(p);
    for (let p = 0; p < 8; p++) expect(file.reads(p), `internal page ${p} evicted at last`).toBe(2);
  });

  it('a leaf page just read is left unreferenced: the next victim unless used again', () => {
    const file = new CountingFile();
    const cell = new Uint8Array(CELL_BYTES);
    for (let p = 0; p < 20; p++) {
      cell.fill(0);
      const leaf = newLeaf([5], [null, null]);
      leaf.cell = p * CELLS_PER_PAGE;
      encodeNode(leaf, 1, cell);
      file.write(cell, p * PAGE_BYTES);
    }
    const pool = smallPool(file);
    const pager = new CellReader(file, pool);
    for (let p = 0; p < 15; p++) pool.frame(p); // plain page reads: referenced
    pager.verifiedNodeOffset(15 * CELLS_PER_PAGE); // page 15, a leaf read for the pager: cold
    // Page 16: the hand clears the reference bits of pages 0..14 and takes page 15's frame.
    pool.frame(16);
    expect(pool.frame(0)).toBeGreaterThanOrEqual(0);
    expect(file.reads(0)).toBe(1);
    pager.verifiedNodeOffset(15 * CELLS_PER_PAGE);
    expect(file.reads(15)).toBe(2); // it was evicted
    // A hit on the cold leaf before the hand comes round keeps it, as for any page.
    pager.verifiedNodeOffset(15 * CELLS_PER_PAGE);
    expect(file.reads(15)).toBe(2);
  });
});

describe('frameForCell: reading a page from one cell on', () => {
  function cellBytes(pool: BufferPool, frame: number, inPage: number): Buffer {
    return Buffer.from(pool.slab.subarray(frame * PAGE_BYTES + inPage * CELL_BYTES, frame * PAGE_BYTES + (inPage + 1) * CELL_BYTES));
  }
  function fileCell(page: number, inPage: number): Buffer {
    return Buffer.from(pageContent(page).subarray(inPage * CELL_BYTES, (inPage + 1) * CELL_BYTES));
  }
  /** A 16-frame pool with pages 0..15 resident (full). */
  function fullPool(file: CountingFile): BufferPool {
    const pool = smallPool(file);
    for (let p = 0; p < MIN_FRAMES; p++) pool.frame(p);
    expect(pool.residentPages).toBe(MIN_FRAMES);
    return pool;
  }

  it('reads the whole page while the pool has room', () => {
    const file = fileWithPages(4);
    const pool = smallPool(file);
    const f = pool.frameForCell(2, 5);
    expect(file.lastReadLength).toBe(PAGE_BYTES);
    expect(Buffer.from(frameBytes(pool, f)).equals(Buffer.from(pageContent(2)))).toBe(true);
    expect(pool.frame(2)).toBe(f);
    expect(file.reads(2)).toBe(1);
  });

  it('with the pool full, a page not resident is read from the cell on; a cell before it reads the page whole', () => {
    const file = fileWithPages(20);
    const pool = fullPool(file);
    const misses = pool.misses;
    const f = pool.frameForCell(17, 5);
    expect(pool.misses).toBe(misses + 1);
    expect(file.lastReadLength).toBe(PAGE_BYTES - 5 * CELL_BYTES);
    for (let c = 5; c < CELLS_PER_PAGE; c++) expect(cellBytes(pool, f, c).equals(fileCell(17, c)), `cell ${c}`).toBe(true);
    expect(pool.residentPages).toBe(MIN_FRAMES);
    pool.setVerified(f, 5);
    expect(pool.verifiedFrame(17, 5)).toBe(f);
    expect(file.reads(17)).toBe(1);
    // A later cell of the page was read with it: a hit.
    const hits = pool.hits;
    expect(pool.frameForCell(17, 9)).toBe(f);
    expect(pool.hits).toBe(hits + 1);
    expect(file.reads(17)).toBe(1);
    // An earlier one: the whole page is read, and verified afresh.
    expect(pool.frameForCell(17, 2)).toBe(f);
    expect(file.reads(17)).toBe(2);
    expect(file.lastReadLength).toBe(PAGE_BYTES);
    expect(Buffer.from(frameBytes(pool, f)).equals(Buffer.from(pageContent(17)))).toBe(true);
    expect(pool.isVerified(f, 5)).toBe(false);
    // Now whole: frame() is a hit.
    expect(pool.frame(17)).toBe(f);
    expect(file.reads(17)).toBe(2);
  });

  it('frameWithCells uses a page read in part when it holds the cells asked for, else reads it whole', () => {
    const file = fileWithPages(20);
    const pool = fullPool(file);
    const f = pool.frameForCell(17, 6);
    // A leaf in cell 6, its value area in cells 7..9: read with it.
    expect(pool.frameWithCells(17, 7, 10)).toBe(f);
    expect(pool.frameWithCells(17, 6, CELLS_PER_PAGE)).toBe(f);
    expect(file.reads(17)).toBe(1);
    // Cells 5..7: cell 5 was not read.
    expect(pool.frameWithCells(17, 5, 8)).toBe(f);
    expect(file.reads(17)).toBe(2);
    expect(file.lastReadLength).toBe(PAGE_BYTES);
    expect(Buffer.from(frameBytes(pool, f)).equals(Buffer.from(pageContent(17)))).toBe(true);
    // A stale page (forget) holds none of its cells.
    pool.forget(17);
    expect(pool.frameWithCells(17, 7, 10)).toBe(f);
    expect(file.reads(17)).toBe(3);
    // A page not resident: read whole, as frame() does.
    const g = pool.frameWithCells(18, 3, 4);
    expect(file.lastReadLength).toBe(PAGE_BYTES);
    expect(Buffer.from(frameBytes(pool, g)).equals(Buffer.from(pageContent(18)))).toBe(true);
  });

  it('frame() of a page read in part reads the whole page (every other read path sees whole pages)', () => {
    const file = fileWithPages(20);
    const pool = fullPool(file);
    const f = pool.frameForCell(18, 1);
    pool.setVerified(f, 1);
    const misses = pool.misses;
    expect(expectPage(pool, 18)).toBe(f);
    expect(pool.misses).toBe(misses + 1);
    expect(file.reads(18)).toBe(2);
    expect(pool.isVerified(f, 1)).toBe(false);
    expect(pool.verifiedFrame(18, 1)).toBe(-1);
    // Read from its first cell on, a page is whole: frame() is a hit.
    const g = pool.frameForCell(19, 0);
    expect(expectPage(pool, 19)).toBe(g);
    expect(file.reads(19)).toBe(1);
  });

  it('a whole-page update of a page read in part makes it whole: no read later', () => {
    const file = fileWithPages(20);
    const pool = fullPool(file);
    const f = pool.frameForCell(19, 3);
    file.write(pageContent(19, 7), 19 * PAGE_BYTES);
    pool.update(19, 0, pageContent(19, 7));
    expect(expectPage(pool, 19, 7)).toBe(f);
    expect(file.reads(19)).toBe(1);
    // A cell-aligned update of a part leaves the rest unread: frame() still reads the page.
    const g = pool.frameForCell(16, 12);
    const half = pageContent(16, 9).subarray(0, PAGE_BYTES / 2);
    file.write(half, 16 * PAGE_BYTES);
    pool.update(16, 0, half);
    expect(pool.frame(16)).toBe(g);
    expect(file.reads(16)).toBe(2);
  });

  it('a cell past the end of the file reads as zeros; a failed read is EIO and leaves no page behind', () => {
    const file = fileWithPages(16);
    const pool = fullPool(file);
    const f = pool.frameForCell(30, 4);
    expect(cellBytes(pool, f, 4).equals(Buffer.alloc(CELL_BYTES))).toBe(true);
    file.failReads = true;
    expect(() => pool.frameForCell(31, 2)).toThrow(MapleError);
    file.failReads = false;
    expect(pool.residentPages).toBe(MIN_FRAMES - 1); // the victim's page is gone, page 31 not resident
    for (let p = 40; pool.residentPages < MIN_FRAMES; p++) pool.frame(p); // full again
    const before = file.reads(31);
    pool.frameForCell(31, 2);
    expect(file.reads(31)).toBe(before + 1);
    expect(file.lastReadLength).toBe(PAGE_BYTES - 2 * CELL_BYTES);
    // A failed whole-page read of a page held one cell only drops the page.
    file.failReads = true;
    expect(() => pool.frame(31)).toThrow(/EIO|reading page 31/);
    file.failReads = false;
    const misses = pool.misses;
    pool.frameForCell(31, 2);
    expect(pool.misses).toBe(misses + 1);
  });
});

describe('fault-around', () => {
  /** A pool of `frames` that has already taken READ_AHEAD_AFTER misses on pages at and above `from`. */
  function warmedPool(file: CountingFile, frames: number, from: number): BufferPool {
    const pool = new BufferPool(file, frames * PAGE_BYTES);
    for (let p = from; p < from + READ_AHEAD_AFTER; p++) expectPage(pool, p);
    expect(pool.readAhead).toBe(0);
    return pool;
  }

  it('the first READ_AHEAD_AFTER misses read one page each', () => {
    const file = fileWithPages(200);
    const pool = new BufferPool(file, 128 * PAGE_BYTES);
    for (let p = 0; p < READ_AHEAD_AFTER; p++) {
      expectPage(pool, 3 * p);
      expect(file.lastReadLength).toBe(PAGE_BYTES);
    }
    expect(pool.residentPages).toBe(READ_AHEAD_AFTER);
  });

  it('then a miss reads its aligned window in one call and caches every neighbour, unreferenced', () => {
    expect(READ_AHEAD_PAGES).toBe(16);
    const file = fileWithPages(300);
    const pool = warmedPool(file, 256, 200);
    const reads = file.readsByPage.size;
    expectPage(pool, 37);
    expect(file.lastReadLength).toBe(16 * PAGE_BYTES);
    expect(pool.readAhead).toBe(15);
    expect(pool.residentPages).toBe(READ_AHEAD_AFTER + 16);
    expect(file.readsByPage.size).toBe(reads + 16);
    // Every page of 32..47 is now a hit with the file's bytes, and was read once.
    const misses = pool.misses;
    for (let p = 32; p < 48; p++) expectPage(pool, p);
    expect(pool.misses).toBe(misses);
    for (let p = 32; p < 48; p++) expect(file.reads(p), `page ${p}`).toBe(1);
    expect(file.reads(31)).toBe(0);
    expect(file.reads(48)).toBe(0);
  });

  it('keeps resident pages as they are (the frame may hold a newer write) and never evicts for the window', () => {
    const file = fileWithPages(300);
    const pool = warmedPool(file, 256, 200);
    // Page 40 resident with bytes the file does not have (a write installs it).
    pool.update(40, 0, pageContent(40, 9));
    expect(pool.residentPages).toBe(READ_AHEAD_AFTER + 1);
    expectPage(pool, 33);
    expectPage(pool, 40, 9);
    expect(pool.readAhead).toBe(14);
  });

  it('stops once the window would not fit in the budget: misses read one page again', () => {
    const frames = READ_AHEAD_AFTER + 2 * READ_AHEAD_PAGES;
    const file = fileWithPages(400);
    const pool = warmedPool(file, frames, 300);
    expectPage(pool, 0);
    expectPage(pool, 16);
    expect(pool.residentPages).toBe(frames);
    expect(pool.readAhead).toBe(30);
    const misses = pool.misses;
    for (let p = 100; p < 140; p++) {
      expectPage(pool, p);
      expect(file.lastReadLength).toBe(PAGE_BYTES);
    }
    expect(pool.misses).toBe(misses + 40);
    expect(pool.residentPages).toBe(frames);
    expect(pool.readAhead).toBe(30);
  });

  it('neighbours never used are the first victims once the pool is full', () => {
    const frames = READ_AHEAD_AFTER + READ_AHEAD_PAGES;
    const file = fileWithPages(400);
    const pool = warmedPool(file, frames, 300);
    // Pages 300.. referenced by the warm-up; 0..15 come in by one miss on page 0.
    expectPage(pool, 0);
    expect(pool.residentPages).toBe(frames);
    // The next misses take the never-used neighbours' frames, not the warm-up pages'.
    for (let p = 100; p < 110; p++) expectPage(pool, p);
    for (let p = 300; p < 300 + READ_AHEAD_AFTER; p++) expect(file.reads(p), `page ${p} still resident`).toBe(1);
  });

  it('caches only the pages inside the file, zero-filling a demanded page past its end', () => {
    const file = fileWithPages(36);
    const pool = warmedPool(file, 256, 0);
    // Window 32..47 of a 36-page file: pages 32..35 exist.
    expectPage(pool, 33);
    expect(pool.readAhead).toBe(3);
    expect(pool.residentPages).toBe(READ_AHEAD_AFTER + 4);
    const frame = pool.frame(44);
    expect(frameBytes(pool, frame).every((b) => b === 0)).toBe(true);
    // A file ending inside the demanded page: the rest of it reads as zeros.
    file.truncate(50 * PAGE_BYTES + 100);
    const f = pool.frame(50);
    expect(frameBytes(pool, f).subarray(100).every((b) => b === 0)).toBe(true);
    expect(frameBytes(pool, f).subarray(0, 100)).toEqual(new Uint8Array(100));
  });

  it('a failed window read is EIO and caches nothing', () => {
    const file = fileWithPages(100);
    const pool = warmedPool(file, 256, 0);
    const resident = pool.residentPages;
    file.failReads = true;
    expect(() => pool.frame(64)).toThrow(MapleError);
    expect(() => pool.frame(64)).toThrow(/EIO|reading pages 64\.\.79 failed/);
    expect(pool.residentPages).toBe(resident);
    file.failReads = false;
    expectPage(pool, 64);
    expectPage(pool, 70);
  });

  it('off with a window of one page', () => {
    const file = fileWithPages(100);
    const pool = new BufferPool(file, 256 * PAGE_BYTES, 1);
    for (let p = 0; p < 60; p++) {
      expectPage(pool, p);
      expect(file.lastReadLength).toBe(PAGE_BYTES);
    }
    expect(pool.readAhead).toBe(0);
    expect(pool.residentPages).toBe(60);
    expect(() => new BufferPool(file, 256 * PAGE_BYTES, 3)).toThrow(/power of two/);
  });
});
