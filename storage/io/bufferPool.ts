/**
 * The buffer pool: Node has no mmap, so the file is viewed through one slab of `cacheSize` bytes
 * cut into 4 KiB frames. A page table maps page numbers to frames; clock eviction picks victims;
 * pin counts keep a frame in use from being evicted. Committed cells are immutable until
 * reclaimed, so every reader shares frames; the writer refreshes a resident frame when it writes
 * a page (`update`), and while the pool still has never-used frames it installs the whole pages a
 * commit wrote, so the next reads of them cost no file read.
 *
 * Each frame also remembers which of its 16 cells have had their checksum verified since the page
 * was read, so a hot node is verified once, not on every visit.
 *
 * Eviction favours internal nodes: under random loads on a file much larger than the cache, every
 * load needs one leaf that is rarely wanted again, while each internal page is shared by many
 * leaves. The pager tells the pool when a verified cell is an internal node (markInternal: the
 * frame then survives INTERNAL_WEIGHT clock sweeps after its last use instead of one) or a leaf
 * in a page just read (markColdLeaf: the page is left unreferenced, the next victim unless used
 * again before the hand comes round). The hit paths are unchanged: a hit sets the reference bit.
 *
 * The slab starts at INITIAL_FRAMES and doubles whenever a miss finds every frame holding a page:
 * open allocates 128 KiB instead of 64 MiB (measured on a 1,000,000-range file right after loading
 * it: open + first load 14–15 ms with the whole slab, 0.7–4.8 ms with 1 MiB; 32 frames instead of
 * 256 then took open + load + close from ~0.45 to ~0.32 ms in a loop). Past WHOLE_SLAB_AFTER frames
 * it grows once more, to the whole `cacheSize`: each doubling copies every frame into memory the
 * process has never touched, and the copies of a pool doubling to 256 MiB add up to the pool
 * again — on a VM whose first touch of a page costs ~11 µs, a commit stalled 0.35–0.49 s for the step
 * (docs/design.md, section 9). The whole slab costs only its address space until frames are used.
 * Growing replaces `slab` and `words` (frame numbers and offsets stay valid), so code that keeps
 * them in locals must fetch them again after any call that can read a page (a miss).
 */
import { assert, ioFailed } from '../../src/common/errors.js';
import type { FileIO } from './fileIO.js';
import { CELL_BYTES, CELLS_PER_PAGE, INITIAL_FRAMES, INTERNAL_WEIGHT, MIN_FRAMES, PAGE_BYTES, READ_AHEAD_AFTER, READ_AHEAD_PAGES, WHOLE_SLAB_AFTER } from '../../src/common/limits.js';

/** Pages with a dense page-table entry: 2^22 pages = files up to 16 GiB, a 16 MiB table at most. */
const DENSE_PAGES = 1 << 22;
/** Every cell of a frame loaded. */
const FULL = (1 << CELLS_PER_PAGE) - 1;

export class BufferPool {
  /** The frames; replaced (same offsets, same contents) when the pool grows. */
  slab: Uint8Array;
  /** The slab as 32-bit words, for the read hot path (cells are 256-byte aligned). */
  words: Uint32Array;
  /** Frames allocated so far. */
  frameCount: number;
  /** Frames the cache budget allows. */
  readonly maxFrames: number;
  private pageOfFrame: Float64Array;
  private pins: Uint32Array;
  private referenced: Uint8Array;
  /** Extra clock sweeps a frame survives after its reference bit is cleared (0: leaf or data). */
  private weight: Uint8Array;
  /** Sweeps left of a frame's weight since the hand last cleared its reference bit. */
  private credit: Uint8Array;
  private verified: Uint16Array;
  /** Which of a frame's cells hold the file's bytes: FULL, or only cells read by frameForCell. */
  private loaded: Uint16Array;
  /**
   * Page → frame + 1 (0: not resident) for pages below DENSE_PAGES, grown by doubling: an array
   * index instead of a Map lookup on every node visit (measured: the Map was 13% of a warm load).
   * Pages beyond (files over 16 GiB) use the Map.
   */
  private dense = new Int32Array(1024);
  private readonly table = new Map<number, number>();
  private resident = 0;
  private hand = 0;
  hits = 0;
  misses = 0;
  /** Pages cached by fault-around (readAround) rather than asked for. */
  readAhead = 0;
  private aheadBuf: Uint8Array | undefined;

  /**
   * @param readAheadPages the fault-around window in pages (READ_AHEAD_PAGES; 1 turns it off), a
   *   power of two
   */
  constructor(
    private readonly io: FileIO,
    cacheBytes: number,
    private readonly readAheadPages = READ_AHEAD_PAGES,
  ) {
    assert(readAheadPages >= 1 && (readAheadPages & (readAheadPages - 1)) === 0, 'read-ahead window is a power of two');
    this.maxFrames = Math.max(MIN_FRAMES, Math.floor(cacheBytes / PAGE_BYTES));
    this.frameCount = Math.min(this.maxFrames, INITIAL_FRAMES);
    this.slab = new Uint8Array(this.frameCount * PAGE_BYTES);
    this.words = new Uint32Array(this.slab.buffer);
    this.pageOfFrame = new Float64Array(this.frameCount).fill(-1);
    this.pins = new Uint32Array(this.frameCount);
    this.referenced = new Uint8Array(this.frameCount);
    this.weight = new Uint8Array(this.frameCount);
    this.credit = new Uint8Array(this.frameCount);
    this.verified = new Uint16Array(this.frameCount);
    this.loaded = new Uint16Array(this.frameCount);
  }

  get residentPages(): number {
    return this.resident;
  }

  private lookup(page: number): number | undefined {
    if (page < this.dense.length) {
      const f = this.dense[page]!;
      return f === 0 ? undefined : f - 1;
    }
    return page < DENSE_PAGES ? undefined : this.table.get(page);
  }

  private setPage(page: number, frame: number): void {
    this.resident++;
    if (page < DENSE_PAGES) {
      if (page >= this.dense.length) {
        let n = this.dense.length;
        while (n <= page) n *= 2;
        const grown = new Int32Array(Math.min(n, DENSE_PAGES));
        grown.set(this.dense);
        this.dense = grown;
      }
      this.dense[page] = frame + 1;
    } else {
      this.table.set(page, frame);
    }
  }

  private dropPage(page: number): void {
    this.resident--;
    if (page < DENSE_PAGES) this.dense[page] = 0;
    else this.table.delete(page);
  }

  /** The frame holding `page`, reading it from the file on a miss. Byte offset = frame × PAGE_BYTES. */
  frame(page: number): number {
    const found = this.lookup(page);
    if (found !== undefined) {
      if (this.loaded[found] !== FULL) {
        // Only some cells were read (frameForCell): read the whole page now, a miss.
        this.misses++;
        this.readInto(found, page, 0, PAGE_BYTES);
        this.loaded[found] = FULL;
        // The page is read afresh, so its cells are verified afresh.
        this.verified[found] = 0;
      } else {
        this.hits++;
      }
      this.referenced[found] = 1;
      return found;
    }
    this.misses++;
    const frame = this.freeFrame();
    if (this.readAheadPages > 1 && this.misses > READ_AHEAD_AFTER && this.resident + this.readAheadPages <= this.maxFrames) {
      this.readAround(frame, page);
      return frame;
    }
    this.readInto(frame, page, 0, PAGE_BYTES);
    this.install(frame, page, FULL);
    return frame;
  }

  /**
   * Fault-around (as Linux maps the neighbours of a faulting page): while the pool has room for
   * them, a miss reads the readAheadPages-aligned window holding `page` in one call and caches
   * every page of it that is not resident, in never-used frames only (nothing is evicted for
   * them). They are installed unreferenced and unverified: first to go once the pool is full,
   * checked on first use like any page read. `frame` (already taken) gets `page`.
   */
  private readAround(frame: number, page: number): void {
    const window = this.readAheadPages;
    const first = page - (page % window);
    const buf = (this.aheadBuf ??= new Uint8Array(window * PAGE_BYTES));
    let n: number;
    try {
      n = this.io.read(buf, first * PAGE_BYTES);
    } catch (err) {
      throw ioFailed(`reading pages ${first}..${first + window - 1} failed: ${(err as Error).message}`, err);
    }
    const at = (page - first) * PAGE_BYTES;
    const slabAt = frame * PAGE_BYTES;
    if (n >= at + PAGE_BYTES) this.slab.set(buf.subarray(at, at + PAGE_BYTES), slabAt);
    else {
      // The file ends inside the page (or before it): zeros past its end, as readInto.
      const have = Math.max(0, n - at);
      this.slab.set(buf.subarray(at, at + have), slabAt);
      this.slab.fill(0, slabAt + have, slabAt + PAGE_BYTES);
    }
    this.install(frame, page, FULL);
    // Neighbours wholly inside the file, not resident, while never-used frames last.
    const pages = Math.floor(n / PAGE_BYTES);
    for (let i = 0; i < pages; i++) {
      const p = first + i;
      if (p === page || this.lookup(p) !== undefined) continue;
      const f = this.neverUsedFrame(true);
      if (f < 0) break;
      this.slab.set(buf.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), f * PAGE_BYTES);
      this.install(f, p, FULL);
      this.referenced[f] = 0;
      this.readAhead++;
    }
  }

  /**
   * The frame at the clock hand, taken, when it has never held a page, else −1. With every frame
   * in use, `grow` says whether to grow the pool (within its budget) rather than give up.
   */
  private neverUsedFrame(grow: boolean): number {
    if (this.resident >= this.frameCount) {
      if (!grow || this.frameCount >= this.maxFrames) return -1;
      this.grow();
    }
    const f = this.hand;
    if (this.pageOfFrame[f]! >= 0 || this.pins[f]! > 0) return -1;
    this.hand = (f + 1) % this.frameCount;
    return f;
  }

  /**
   * frame(), except that when the page is not resident and the pool is full (caching it evicts
   * another page), only the page from cell `inPage` on is read: 256 bytes to 4 KiB instead of
   * 4 KiB from the page's start (measured: a pread of 256 bytes ~0.71 µs, of 4 KiB ~1.0 µs). For
   * the last level of a point lookup: a random load's leaf page is rarely wanted again, and the
   * cells after the leaf are most often its value area (storage/commit/allocate.ts), which
   * frameWithCells then finds read. A page read in part that holds cell `inPage` is used as it is;
   * frame() of it reads it whole.
   */
  frameForCell(page: number, inPage: number): number {
    const found = this.lookup(page);
    if (found !== undefined && (this.loaded[found]! & (1 << inPage)) !== 0) return this.hitFrame(found);
    if (this.resident < this.maxFrames || found !== undefined) return this.frame(page);
    this.misses++;
    const frame = this.freeFrame();
    this.readInto(frame, page, inPage * CELL_BYTES, PAGE_BYTES - inPage * CELL_BYTES);
    this.install(frame, page, FULL & ~((1 << inPage) - 1));
    return frame;
  }

  /** frame(), except that a page read in part (frameForCell) that holds cells [from, to) is used as it is. */
  frameWithCells(page: number, from: number, to: number): number {
    const found = this.lookup(page);
    if (found !== undefined) {
      const want = (FULL >>> (CELLS_PER_PAGE - to)) & ~((1 << from) - 1);
      if ((this.loaded[found]! & want) === want) return this.hitFrame(found);
    }
    return this.frame(page);
  }

  private hitFrame(frame: number): number {
    this.hits++;
    this.referenced[frame] = 1;
    return frame;
  }

  /** A frame for a page about to be read: a never-used one, or the clock's victim, its page dropped. */
  private freeFrame(): number {
    if (this.resident >= this.frameCount && this.frameCount < this.maxFrames) this.grow();
    const frame = this.victim();
    const old = this.pageOfFrame[frame]!;
    if (old >= 0) this.dropPage(old);
    this.pageOfFrame[frame] = -1;
    return frame;
  }

  /**
   * Reads `length` bytes at `offsetInPage` of `page` into its frame, zero-filling past the end
   * of the file. On a read error the frame is left holding no page.
   */
  private readInto(frame: number, page: number, offsetInPage: number, length: number): void {
    const start = frame * PAGE_BYTES + offsetInPage;
    const view = this.slab.subarray(start, start + length);
    let n: number;
    try {
      n = this.io.read(view, page * PAGE_BYTES + offsetInPage);
    } catch (err) {
      const old = this.pageOfFrame[frame]!;
      if (old >= 0) this.dropPage(old);
      this.pageOfFrame[frame] = -1;
      throw ioFailed(`reading page ${page} failed: ${(err as Error).message}`, err);
    }
    if (n < length) view.fill(0, n);
  }

  private install(frame: number, page: number, loaded: number): void {
    this.pageOfFrame[frame] = page;
    this.setPage(page, frame);
    this.referenced[frame] = 1;
    this.weight[frame] = 0;
    this.credit[frame] = 0;
    this.verified[frame] = 0;
    this.loaded[frame] = loaded;
  }

  /**
   * The read hot path's hit: the frame holding `page` when it is resident and its cell `inPage`
   * already verified, else −1 (the caller then goes through frame() and verifies). Counts as a
   * hit and marks the frame referenced, as frame() does.
   */
  verifiedFrame(page: number, inPage: number): number {
    const dense = this.dense;
    if (page >= dense.length) return -1;
    const f = dense[page]! - 1;
    if (f < 0 || (this.verified[f]! & (1 << inPage)) === 0) return -1;
    this.hits++;
    this.referenced[f] = 1;
    return f;
  }

  pin(frame: number): void {
    this.pins[frame]!++;
  }

  unpin(frame: number): void {
    if (!(this.pins[frame]! > 0)) assert(false, `unpin of unpinned frame ${frame}`);
    this.pins[frame]!--;
  }

  isVerified(frame: number, cellInPage: number): boolean {
    return (this.verified[frame]! & (1 << cellInPage)) !== 0;
  }

  setVerified(frame: number, cellInPage: number): void {
    this.verified[frame] = this.verified[frame]! | (1 << cellInPage);
  }

  /**
   * The frame holds an internal node (its checksum just verified): the clock keeps it
   * INTERNAL_WEIGHT sweeps instead of one after its last use.
   */
  markInternal(frame: number): void {
    this.weight[frame] = INTERNAL_WEIGHT - 1;
  }

  /**
   * The frame, just read for it, holds a leaf: it is not marked referenced, so unless it is used
   * again before the hand comes round, it is the next victim (a random load's leaf is rarely
   * wanted again; the internal nodes above it are).
   */
  markColdLeaf(frame: number): void {
    this.referenced[frame] = 0;
  }

  /**
   * The writer wrote `bytes` at `offsetInPage` of `page`: refresh the frame if resident. A whole
   * page that is not resident is installed when a never-used frame is at hand (the pool is still
   * filling), so reading what a commit just wrote costs no read. The cells written are verified
   * again on first use, like a page read from the file — unless `encodedHere`: the bytes are this
   * process's own encoding of whole cells, checksummed as it wrote them (a commit refreshing the
   * pool with its cells, storage/commit/writeCells.ts), so the cells they cover whole are marked
   * verified instead; a cell covered in part is verified again. No resident page is evicted.
   */
  update(page: number, offsetInPage: number, bytes: Uint8Array, encodedHere = false): void {
    const frame = this.lookup(page);
    if (frame === undefined) {
      if (offsetInPage !== 0 || bytes.length !== PAGE_BYTES) return;
      const f = this.neverUsedFrame(false);
      if (f < 0) return;
      this.slab.set(bytes, f * PAGE_BYTES);
      this.install(f, page, FULL);
      if (encodedHere) this.verified[f] = FULL;
      // Not referenced: written, not read; the first read marks it.
      this.referenced[f] = 0;
      return;
    }
    this.slab.set(bytes, frame * PAGE_BYTES + offsetInPage);
    const firstCell = Math.floor(offsetInPage / (PAGE_BYTES / CELLS_PER_PAGE));
    const lastCell = Math.floor((offsetInPage + bytes.length - 1) / (PAGE_BYTES / CELLS_PER_PAGE));
    let mask = 0;
    let whole = 0;
    for (let c = firstCell; c <= lastCell; c++) {
      mask |= 1 << c;
      if (c * CELL_BYTES >= offsetInPage && (c + 1) * CELL_BYTES <= offsetInPage + bytes.length) whole |= 1 << c;
    }
    this.verified[frame] = (this.verified[frame]! & ~mask) | (encodedHere ? whole : 0);
    // Cells the write covers whole now hold the file's bytes; a cell it covers in part and that
    // was not read is still not loaded.
    if (this.loaded[frame] !== FULL) this.loaded[frame] = this.loaded[frame]! | whole;
  }

  /**
   * Marks `page` stale if resident (another thread's commit wrote it: storage/io/pageLog.ts): its
   * next use reads the page again, 4 KiB into the same frame (a miss, as for a page frameForCell
   * read in part), keeping the frame's place in the clock. The bytes stay as they were until then,
   * so an iterator that found a cell there before keeps reading it (the cell is unchanged for its
   * version) until the miss count tells it to look again.
   */
  forget(page: number): void {
    const frame = this.lookup(page);
    if (frame === undefined) return;
    this.loaded[frame] = 0;
    this.verified[frame] = 0;
  }

  /** Whether `page` has a frame (whole, in part or stale). */
  holds(page: number): boolean {
    return this.lookup(page) !== undefined;
  }

  /** Drops every frame (after a failed write, the file is suspect: re-read everything). */
  invalidateAll(): void {
    this.table.clear();
    this.dense.fill(0);
    this.resident = 0;
    this.pageOfFrame.fill(-1);
    this.weight.fill(0);
    this.credit.fill(0);
    this.verified.fill(0);
  }

  /**
   * Doubles the frames, or past WHOLE_SLAB_AFTER takes every frame the budget allows, copying
   * every frame and its state.
   */
  private grow(): void {
    const old = this.frameCount;
    const count = old >= WHOLE_SLAB_AFTER ? this.maxFrames : Math.min(this.maxFrames, old * 2);
    const slab = new Uint8Array(count * PAGE_BYTES);
    slab.set(this.slab);
    this.slab = slab;
    this.words = new Uint32Array(slab.buffer);
    const pageOfFrame = new Float64Array(count).fill(-1);
    pageOfFrame.set(this.pageOfFrame);
    this.pageOfFrame = pageOfFrame;
    this.pins = grown(this.pins, new Uint32Array(count));
    this.referenced = grown(this.referenced, new Uint8Array(count));
    this.weight = grown(this.weight, new Uint8Array(count));
    this.credit = grown(this.credit, new Uint8Array(count));
    this.verified = grown(this.verified, new Uint16Array(count));
    this.loaded = grown(this.loaded, new Uint16Array(count));
    this.frameCount = count;
    // The clock goes on from the first new (empty) frame.
    this.hand = old;
  }

  private victim(): number {
    for (let step = 0; step < (INTERNAL_WEIGHT + 1) * this.frameCount + 1; step++) {
      const f = this.hand;
      this.hand = (this.hand + 1) % this.frameCount;
      if (this.pins[f]! > 0) continue;
      if (this.pageOfFrame[f]! < 0) return f;
      if (this.referenced[f]) {
        this.referenced[f] = 0;
        this.credit[f] = this.weight[f]!;
        continue;
      }
      if (this.credit[f]! > 0) {
        this.credit[f]!--;
        continue;
      }
      return f;
    }
    throw ioFailed(`buffer pool exhausted: all ${this.frameCount} frames are pinned`);
  }
}

/** `into` (longer, zeroed) with `from` copied to its start. */
function grown<T extends Uint8Array | Uint16Array | Uint32Array>(from: T, into: T): T {
  into.set(from);
  return into;
}
