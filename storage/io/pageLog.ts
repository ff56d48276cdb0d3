/**
 * The page log: which pages the writer's commits wrote, for the buffer pools of worker threads.
 *
 * A worker reads the file through its own pool (storage/io/bufferPool.ts). A page it cached stays
 * right for every version it holds open (the writer never rewrites a cell an open reader reaches),
 * but a newer version may reach cells written since — reused cells, or cells that held nothing when
 * the page was read. So before a worker reads a newer version, it drops the pages written by the
 * commits between the version its pool last caught up with and that one.
 *
 * The writer notes every page it writes (LoggingFileIO) in a ring, before writing it, and the
 * published root of each commit carries the log's end after the commit's pages
 * (storage/io/publishedRoot.ts). A page a worker read while a commit was writing it is noted at a
 * position past the published end of the version it was read under, so it is dropped before the
 * worker reads any version that commit's cells belong to.
 *
 * The ring (in the shared area, storage/io/sharedArea.ts): PAGE_LOG_ENTRIES 32-bit page numbers;
 * positions count notes modulo 2^32 (the ring index is position mod entries). The reserve word is
 * the position after the note being written, stored before the entry: a reader that finds the
 * reserve more than a ring ahead of where it started may have read an overwritten entry, and drops
 * its whole pool instead — as it does when it is more than a ring behind.
 *
 * Pages of the header and the commit ring are not noted: workers never read them.
 *
 * With each note the writer puts the bytes it writes in the page in the page ring
 * (storage/io/pageRing.ts): a worker catching up refreshes a page it holds from there — a copy,
 * its written cells checksummed again on first use — and marks it stale only when the ring no
 * longer holds those bytes (a ring of notes later, or refilled while it copied).
 */
import { CELL_BASE, CELLS_PER_PAGE, PAGE_BYTES } from '../../src/common/limits.js';
import type { BufferPool } from './bufferPool.js';
import { type FileIO, writeDurable } from './fileIO.js';
import { putPage, takePage } from './pageRing.js';
import { type SharedArea, W_LOG_RESERVE } from './sharedArea.js';

const FIRST_CELL_PAGE = CELL_BASE / CELLS_PER_PAGE;

/** The writer's side: notes pages, in order, into the ring. */
export class PageLogWriter {
  /** Position after the last note (mod 2^32). */
  private position: number;

  constructor(private readonly area: SharedArea) {
    this.position = Atomics.load(area.words, W_LOG_RESERVE) >>> 0;
  }

  /** The log's end: what a version published now carries. */
  get end(): number {
    return this.position;
  }

  /** Notes pages `first` … `last` (inclusive) as being written. */
  note(first: number, last: number): void {
    const w = this.area.words;
    const mask = this.area.logEntries - 1;
    for (let page = Math.max(first, FIRST_CELL_PAGE); page <= last; page++) {
      const at = this.position;
      const next = (at + 1) >>> 0;
      Atomics.store(w, W_LOG_RESERVE, next | 0);
      Atomics.store(w, this.area.logWord + (at & mask), page);
      this.position = next;
    }
  }

  /** Notes the pages `buf` (written at `positionBytes`) covers, and puts its bytes in the page ring. */
  noteWrite(buf: Uint8Array, positionBytes: number): void {
    const end = positionBytes + buf.length;
    for (let page = Math.max(Math.floor(positionBytes / PAGE_BYTES), FIRST_CELL_PAGE); page * PAGE_BYTES < end; page++) {
      const from = Math.max(positionBytes, page * PAGE_BYTES);
      const to = Math.min(end, (page + 1) * PAGE_BYTES);
      const at = this.position;
      this.note(page, page);
      putPage(this.area, at, page, from - page * PAGE_BYTES, buf.subarray(from - positionBytes, to - positionBytes));
    }
  }
}

/** A worker's refreshing of stale pages from the page ring (dropWrittenPages). */
export interface PageRefresh {
  /** One page of scratch (ring bytes are validated there before they reach a frame). */
  readonly scratch: Uint8Array;
  /** Pages refreshed from the ring so far. */
  copied: number;
  /** Test hook: runs as a copy from the ring starts (storage/io/pageRing.ts takePage). */
  duringCopy?: (position: number) => void;
}

/** The writer's file: every write notes its pages in the log first. */
export class LoggingFileIO implements FileIO {
  constructor(
    private readonly inner: FileIO,
    private readonly log: PageLogWriter,
  ) {}

  read(buf: Uint8Array, positionBytes: number): number {
    return this.inner.read(buf, positionBytes);
  }

  write(buf: Uint8Array, positionBytes: number): void {
    this.note(buf, positionBytes);
    this.inner.write(buf, positionBytes);
  }

  private note(buf: Uint8Array, positionBytes: number): void {
    if (buf.length > 0) this.log.noteWrite(buf, positionBytes);
  }

  /** write() off the calling thread when the file can (asynchronous commits): noted when issued. */
  writeAsync(buf: Uint8Array, positionBytes: number): Promise<void> {
    this.note(buf, positionBytes);
    const inner = this.inner as FileIO & { writeAsync?(buf: Uint8Array, positionBytes: number): Promise<void> };
    if (inner.writeAsync !== undefined) return inner.writeAsync(buf, positionBytes);
    return new Promise((resolve) => resolve(inner.write(buf, positionBytes)));
  }

  syncAsync(): Promise<void> {
    const inner = this.inner as FileIO & { syncAsync?(): Promise<void> };
    if (inner.syncAsync !== undefined) return inner.syncAsync();
    return new Promise((resolve) => resolve(inner.sync()));
  }

  sync(): void {
    this.inner.sync();
  }

  /** The commit log's appends: not pages a reader reads, so not noted. */
  writeDurable(buf: Uint8Array, positionBytes: number): void {
    writeDurable(this.inner, buf, positionBytes);
  }

  size(): number {
    return this.inner.size();
  }

  truncate(sizeBytes: number): void {
    this.inner.truncate(sizeBytes);
  }

  close(): void {
    this.inner.close();
  }
}

/**
 * A worker catching its pool up from log position `from` to `to` (a published root's logEnd):
 * drops every page noted in between, or the whole pool when the ring no longer holds them all.
 * With `refresh`, a page the pool holds is refreshed from the page ring instead where it can be.
 * Returns the pages noted in between (−1: the whole pool was dropped).
 */
export function dropWrittenPages(area: SharedArea, pool: BufferPool, from: number, to: number, refresh?: PageRefresh): number {
  const behind = (to - from) >>> 0;
  if (behind === 0) return 0;
  const entries = area.logEntries;
  if (behind > entries) {
    pool.invalidateAll();
    return -1;
  }
  const w = area.words;
  const mask = entries - 1;
  for (let i = 0; i < behind; i++) {
    const position = (from + i) >>> 0;
    const page = Atomics.load(w, area.logWord + (position & mask)) >>> 0;
    if (refresh === undefined || !pool.holds(page)) {
      pool.forget(page);
      continue;
    }
    const span = takePage(area, position, page, refresh.scratch, refresh.duringCopy);
    if (span < 0) {
      pool.forget(page);
      continue;
    }
    const offset = span >>> 16;
    pool.update(page, offset, refresh.scratch.subarray(offset, offset + (span & 0xffff)));
    refresh.copied++;
  }
  // The writer stores the reserve before overwriting an entry: if it reached a ring past `from`,
  // an entry read above may be a newer note than the one wanted.
  if (((Atomics.load(w, W_LOG_RESERVE) >>> 0) - from) >>> 0 > entries) {
    pool.invalidateAll();
    return -1;
  }
  return behind;
}
