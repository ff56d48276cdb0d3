/**
 * Recovery at open (DESIGN.md §5): take the newest commit record whose checksum holds, then
 * validate every cell that commit wrote by walking only FRESH pointers from its three roots (and
 * its shared-structures table, when it wrote one; and the value area of every leaf it validates,
 * which is always written with its leaf) —
 * each must carry that commit number and a valid checksum. If any fails, the commit never
 * completed: fall back to the next older record. Cost: O(cells written by the last commit),
 * independent of file size. The highest commit number seen in any record is never reused.
 *
 * Records written with `sync: 'none'` (VOLATILE) are trusted on the boot that wrote them only: on
 * that boot the page cache holds every write, and the newest commit's cells are all that needs
 * checking. After a reboot (a power loss, a kernel crash) the writes after the last sync may
 * have reached the disk in any subset and order — the newest record without the cells of the
 * commits before it — so only durable records are candidates: the checkpoints such a store makes
 * (src/api/store.ts), whose cells no later commit reused.
 *
 * Records of a store keeping a commit log (LOGGED, storage/commit/commitLog.ts) are written home
 * with no sync, after their entry in the log is durable. A writable open first replays the pass of
 * the newest durable record (the base) — every whole entry of its salt, in commit order, written
 * home again — and trusts LOGGED records up to the last entry replayed. A read-only open cannot
 * write: it trusts the LOGGED records of the boot that began the pass (the page cache holds them
 * whole); on a later boot it reads the file through the entries replayed in memory (readerIO).
 */
import { MapleError, corrupt } from '../src/common/errors.js';
import { ReplayOverlay, type ReplayEnd, replayBase, replayLog, replayPass } from './logReplay.js';
import type { BufferPool } from '../storage/io/bufferPool.js';
import { type CommitRecord, type TreeRoot, COMMIT_RECORD_MAX_BYTES, FLAG_CELLS_DURABLE, FLAG_LOGGED, FLAG_VOLATILE, decodeCommitRecord } from '../storage/format/commitRecord.js';
import type { DurableState } from '../storage/commit/commit.js';
import type { FileIO } from '../storage/io/fileIO.js';
import { NODE_LEAF, childAt, leafAreaAt, leafAreaCellsAt, nodeCountAt, nodeTypeAt, slotAt, slotTarget, nodeChecksumOk, nodeCommit, nodeNonce, pointerIsFresh } from '../storage/format/node.js';
import { AREA_HEADER_BYTES, AREA_TYPE, areaCells, areaChecksumAt, areaChecksumIn, areaCommitAt, areaLengthAt, areaNonceAt, areaOwnerAt } from '../storage/format/valueArea.js';
import { ringSlotOffsetBytes } from '../storage/format/pageFile.js';
import { RECORD_HEADER_BYTES, readRecordHeader, recordCells, verifyRecord } from '../storage/format/valueRecord.js';
import { CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../src/common/limits.js';

export interface RecoveryReport {
  /** The commit the store opened at. */
  commit: number;
  /** A newer commit record existed but its cells did not validate. */
  fellBack: boolean;
  /** Commit numbers of the records rejected, newest first. */
  rejected: number[];
  /** Cells of the newest commit open validated (its checksums, commit number and nonce). */
  cellsValidated: number;
  /** Time recovery took, in milliseconds. */
  ms: number;
  /**
   * A writer open that found a stale writer lock and took it over says which and why, e.g.
   * "/data/s.maple.lock: thread 4321 of process 4300 has ended" (several joined by "; "); null
   * when the lock was free, and on read-only opens (they take no lock).
   */
  lockTakenOver: string | null;
}

export interface Recovered {
  state: DurableState;
  highestCommit: number;
  /** Ring slot of the newest durable record (a commit log's pass base), −1 if none: keep it until a newer one is durable. */
  baseSlot: number;
  /**
   * A writable open of a store with a commit log that opened at the last commit the replay of its
   * pass reached, with no record rejected: where that pass's entries end and how many there are —
   * the writer may append to it (MapleStore.settleOpen). Null otherwise.
   */
  pass: { end: number; entries: number } | null;
  report: RecoveryReport;
}

export function readRing(io: FileIO): { rec: CommitRecord; slot: number }[] {
  const found: { rec: CommitRecord; slot: number }[] = [];
  // The slots are consecutive pages: one read for all of them (zeros past the end of the file).
  const first = ringSlotOffsetBytes(0);
  const span = new Uint8Array(ringSlotOffsetBytes(RING_SLOTS - 1) - first + COMMIT_RECORD_MAX_BYTES);
  io.read(span, first);
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    const at = ringSlotOffsetBytes(slot) - first;
    const rec = decodeCommitRecord(span.subarray(at, at + COMMIT_RECORD_MAX_BYTES));
    if (rec) found.push({ rec, slot });
  }
  // Newest first; of two records of one commit (a checkpoint wrote it again, durable), the durable one.
  const unsynced = FLAG_VOLATILE | FLAG_LOGGED;
  return found.sort((a, b) => b.rec.commit - a.rec.commit || (a.rec.flags & unsynced) - (b.rec.flags & unsynced));
}

/**
 * The file a read-only open reads (src/api/open.ts): `io` itself, or — when the machine restarted
 * since the pass of the newest durable record began and the log holds entries of it — `io` seen
 * through those entries replayed in memory (recovery/logReplay.ts). A read-only open reads the
 * version current at open only, and registers it before reading (storage/io/readerFiles.ts), so
 * no writer reuses a cell it reaches: the replayed cells stay what it reads.
 */
export function readerIO(io: FileIO, path: string, boot: number): FileIO {
  const base = replayBase(readRing(io), boot);
  if (base === undefined || base.rec.log.cell === 0 || base.rec.boot === boot) return io;
  const overlay = new ReplayOverlay(io);
  return replayLog(io, path, base.rec, (bytes, position) => overlay.hold(bytes, position)) > base.rec.commit ? overlay : io;
}

/**
 * `boot`: this boot's tag (storage/io/bootTag.ts). `maxCommit`: open at no newer commit (tools).
 * `readOnly`: the caller cannot write: `io` must be readerIO's (a commit log is replayed in memory).
 */
export function recover(io: FileIO, pool: BufferPool, path: string, boot: number, maxCommit = Infinity, readOnly = false): Recovered {
  // process.hrtime, not performance.now(): the first performance.now() in a process loads the
  // perf_hooks internals, measured at 0.6–0.8 ms — most of a fresh process's open.
  const started = process.hrtime.bigint();
  const before = readRing(io);
  refuseTruncated(io, path, before);
  let ring = before;
  const base = replayBase(ring, boot);
  // The last commit the log's replay reached (−1: none replayed).
  let replayedTo = -1;
  let replayed: ReplayEnd | null = null;
  // A writable open replays the pass of the newest durable record, whatever the boot (after a
  // failed sync even this boot's page cache may have lost writes): LOGGED records are trusted up
  // to the last entry replayed. A read-only open cannot write: on the boot the pass began, the page
  // cache holds every record a reader can see whole (each is written after its entry is durable);
  // on another boot it reads through the entries replayed in memory (readerIO, which open() gives it).
  let trustLogged = false;
  if (base !== undefined && base.rec.log.cell !== 0) {
    if (!readOnly) {
      // Held, then written run by run: the same bytes as writing entry after entry, in fewer calls.
      const image = new ReplayOverlay(io);
      replayed = replayPass(io, path, base.rec, (bytes, position) => image.hold(bytes, position));
      image.writeTo(io);
      replayedTo = replayed.commit;
      ring = readRing(io);
    } else if (base.rec.boot === boot) {
      trustLogged = true;
    } else {
      replayedTo = replayLog(io, path, base.rec, null);
    }
  }
  if (base !== undefined && replayedTo >= 0) refuseDamagedLog(path, base, before, replayedTo, maxCommit);
  let highestCommit = 0;
  const rejected: number[] = [];
  // Records the replay wrote over (an older entry's record into their slot) count as seen: their
  // numbers are never reused, and a newer one is a commit rejected.
  for (const { rec } of replayedTo < 0 ? [] : before) {
    highestCommit = Math.max(highestCommit, rec.commit, rec.highestCommit);
    if (rec.commit > replayedTo && rec.commit <= maxCommit && !ring.some((r) => r.rec.commit === rec.commit)) rejected.push(rec.commit);
  }
  for (const { rec } of ring) highestCommit = Math.max(highestCommit, rec.commit, rec.highestCommit);
  let cellsValidated = 0;
  for (const candidate of ring) {
    if (candidate.rec.commit > maxCommit) continue;
    // Written without a sync on another boot: the disk may hold it without what it builds on —
    // unless it is a logged commit the replay reached.
    const logged = (candidate.rec.flags & FLAG_LOGGED) !== 0;
    const untrusted = logged ? !(candidate.rec.commit <= replayedTo || (trustLogged && candidate.rec.boot === boot)) : (candidate.rec.flags & FLAG_VOLATILE) !== 0 && candidate.rec.boot !== boot;
    if (untrusted) {
      rejected.push(candidate.rec.commit);
      continue;
    }
    const counter = { cells: 0 };
    const ok = validateCommit(io, pool, candidate.rec, counter);
    cellsValidated += counter.cells;
    if (ok) {
      return {
        state: { rec: { ...candidate.rec, highestCommit }, slot: candidate.slot },
        highestCommit,
        baseSlot: base?.slot ?? -1,
        pass: continuable(base, replayed, candidate, rejected) ? { end: replayed!.end, entries: replayed!.entries } : null,
        report: { commit: candidate.rec.commit, fellBack: rejected.length > 0, rejected, cellsValidated, ms: Number(process.hrtime.bigint() - started) / 1e6, lockTakenOver: null },
      };
    }
    rejected.push(candidate.rec.commit);
  }
  const what = ring.length === 0 ? 'no commit record has a valid checksum' : `no commit record validates (tried ${rejected.join(', ')})`;
  throw corrupt(`${path}: ${what} in the commit ring (pages 1..${RING_SLOTS})`);
}

/**
 * ECORRUPT when the file is shorter than a commit record says it was at a sync before the record
 * was written (its synced cells, storage/format/commitRecord.ts): no crash loses a size a sync
 * made durable, and the store never shrinks its file — the file was truncated (a copy cut short,
 * a full disk). Checked before the log's replay writes anything, so a refused open leaves the file
 * as it was; without it, an open fell back to an older commit whose cells were gone too, or a
 * writer's replay grew the file back with zeros between the replayed cells.
 */
function refuseTruncated(io: FileIO, path: string, ring: ReadonlyArray<{ rec: CommitRecord }>): void {
  const size = io.size();
  for (const { rec } of ring) {
    const synced = rec.syncedCells * CELL_BYTES;
    if (synced <= size) continue;
    const page = Math.floor(size / PAGE_BYTES);
    const where = size % PAGE_BYTES === 0 ? `page ${page} on is missing` : `it ends inside page ${page}`;
    throw corrupt(
      `${path}: the file is ${size} bytes, but commit ${rec.commit} was written after ${synced} bytes of it were on disk (${where}): the file was truncated. \`maple salvage\` copies what is left into a new store`,
    );
  }
}

/**
 * ECORRUPT when the replay of the pass `base` starts stopped at `replayedTo` although the ring holds
 * a record of that pass for a later commit. A logged commit writes its record home only after its
 * entry is durable, and entries are appended one after another, so that record proves the entry
 * after `replayedTo` was durable: it no longer decodes because the log was damaged, not because a
 * crash cut it short. Falling back would not do: the commits after it reused cells the older
 * versions reach (written home before their entries), so the version the replay stopped at no
 * longer reads, and writes on top of it turn the damage into wrong answers.
 */
function refuseDamagedLog(path: string, base: { rec: CommitRecord }, ring: ReadonlyArray<{ rec: CommitRecord; slot: number }>, replayedTo: number, maxCommit: number): void {
  const log = base.rec.log;
  const proof = ring.find(({ rec }) => (rec.flags & FLAG_LOGGED) !== 0 && rec.commit > replayedTo && rec.commit <= maxCommit && rec.log.cell === log.cell && rec.log.salt === log.salt);
  if (proof === undefined) return;
  throw corrupt(
    `${path}: the commit log (cells ${log.cell}..${log.cell + log.cells - 1}, pages ${Math.floor((log.cell * CELL_BYTES) / PAGE_BYTES)}..${Math.floor(((log.cell + log.cells) * CELL_BYTES - 1) / PAGE_BYTES)}) replays only to commit ${replayedTo}, but the record of commit ${proof.rec.commit} (ring page ${proof.slot + 1}), written after its entry was durable, is in the ring: the entry of commit ${replayedTo + 1} is damaged`,
  );
}

/**
 * Whether the writer may go on appending to the pass `base` starts: the replay reached the
 * candidate the store opens at and rejected nothing, so every entry of the pass is replayed and the
 * next goes just past them — the pass's salt is its own, and its entries are contiguous from its
 * start, so no older entry can follow the new ones in a later replay.
 */
function continuable(base: { rec: CommitRecord; slot: number } | undefined, replayed: ReplayEnd | null, candidate: { rec: CommitRecord; slot: number }, rejected: readonly number[]): boolean {
  if (base === undefined || replayed === null || rejected.length > 0 || base.rec.log.cell === 0) return false;
  if (candidate.rec.commit !== replayed.commit) return false;
  // No entry: the base itself. Else the last entry's record, of the same pass.
  if (replayed.entries === 0) return candidate.slot === base.slot;
  const a = candidate.rec.log;
  const b = base.rec.log;
  return (candidate.rec.flags & FLAG_LOGGED) !== 0 && a.cell === b.cell && a.cells === b.cells && a.salt === b.salt && a.start === b.start;
}

/** True when every cell written by `rec.commit` is intact. */
export function validateCommit(io: FileIO, pool: BufferPool, rec: CommitRecord, counter: { cells: number }): boolean {
  if ((rec.flags & FLAG_CELLS_DURABLE) !== 0) return true;
  try {
    for (const root of [rec.main, rec.space, rec.pending]) {
      if (!validRoot(io, pool, root, rec.commit, rec.nonce, counter)) return false;
    }
    const table = rec.structures;
    return !table.fresh || (table.cell !== 0 && validRecord(io, table.cell, rec.commit, rec.nonce, counter));
  } catch (err) {
    if (err instanceof MapleError && err.code === 'ECORRUPT') return false;
    throw err;
  }
}

function validRoot(io: FileIO, pool: BufferPool, root: TreeRoot, commit: number, nonce: number, counter: { cells: number }): boolean {
  if (root.cell === 0) return root.height === 0;
  if (!root.fresh) return true;
  return validNode(io, pool, root.cell, commit, nonce, counter, 0);
}

function validNode(io: FileIO, pool: BufferPool, cell: number, commit: number, nonce: number, counter: { cells: number }, depth: number): boolean {
  if (depth > 64) return false;
  const frame = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
  const offset = frame * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
  const bytes = pool.slab.slice(offset, offset + CELL_BYTES);
  counter.cells++;
  if (!nodeChecksumOk(bytes, cell) || nodeCommit(bytes) !== commit || nodeNonce(bytes) !== nonce) return false;
  const leaf = nodeTypeAt(bytes, 0) === NODE_LEAF;
  const count = nodeCountAt(bytes, 0);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, CELL_BYTES >>> 2);
  if (leaf && leafAreaAt(words, 0) !== 0 && !validArea(io, leafAreaAt(words, 0), leafAreaCellsAt(bytes, 0), cell, commit, nonce, counter)) return false;
  for (let i = 0; i < count; i++) {
    if (!pointerIsFresh(bytes, leaf, i)) continue;
    if (leaf) {
      if (!validRecord(io, slotTarget(bytes, slotAt(0, i)), commit, nonce, counter)) return false;
    } else if (!validNode(io, pool, childAt(words, 0, i), commit, nonce, counter, depth + 1)) {
      return false;
    }
  }
  return true;
}

/** A leaf's value area: written by the leaf's commit (so with its nonce), owned by it, intact. */
function validArea(io: FileIO, cell: number, cells: number, leaf: number, commit: number, nonce: number, counter: { cells: number }): boolean {
  if (cells < 1) return false;
  const bytes = new Uint8Array(cells * CELL_BYTES);
  if (io.read(bytes, cell * CELL_BYTES) < bytes.length) return false;
  counter.cells += cells;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  if (bytes[0] !== AREA_TYPE || areaCommitAt(bytes, words, 0) !== commit || areaNonceAt(words, 0) !== nonce || areaOwnerAt(words, 0) !== leaf) return false;
  const length = areaLengthAt(words, 0);
  if (areaCells(length) !== cells || AREA_HEADER_BYTES + length > bytes.length) return false;
  // The whole area lies in `bytes` from byte 0: one span, no further pages.
  return areaChecksumAt(words, 0) === areaChecksumIn(bytes, 0, bytes.length, length, NO_FRAMES, 0);
}

const NO_FRAMES: number[] = [];

function validRecord(io: FileIO, cell: number, commit: number, nonce: number, counter: { cells: number }): boolean {
  const head = new Uint8Array(RECORD_HEADER_BYTES);
  if (io.read(head, cell * CELL_BYTES) < RECORD_HEADER_BYTES) return false;
  const header = readRecordHeader(head, cell);
  if (header.commit !== commit || header.nonce !== nonce) return false;
  const cells = new Uint8Array(recordCells(header.lengthBytes) * CELL_BYTES);
  if (io.read(cells, cell * CELL_BYTES) < RECORD_HEADER_BYTES + header.lengthBytes) return false;
  verifyRecord(cells, cell);
  counter.cells += cells.length / CELL_BYTES;
  return true;
}
