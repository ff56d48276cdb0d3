/**
 * The pending list: cells freed by commits, still allocated in the space map, that some version
 * may reach. It is the pending tree (a maple tree like the main tree), whose entries are one-cell
 * value records (storage/format/valueRecord.ts) listing runs of cells. An entry is reusable — it is then
 * the free list a commit allocates from first (storage/commit/freeList.ts) — once no open reader reads a
 * version in its window: its cells were written at or after `lowBirth` and freed by commit D, so
 * only the versions in [lowBirth, D) reach them (storage/io/readerSet.ts).
 *
 * Keys (commits < MAX_COMMITS = 2^36, so every key stays below 2^53):
 *
 *   range           key                                  kind
 *   [0, 2^52)       D × 65,536 + chunk                   by-commit: freed by commit D, lowBirth 0
 *                                                        (any version before D may reach them);
 *                                                        reusable once no reader is older than D
 *   [2^52, 2^53)    2^52 + D × 65,536 + chunk            windowed: freed by commit D, written at or
 *                                                        after lowBirth (in the record)
 *
 * Record bytes (the msgpack area of the record; a chunk is one cell, so at most CHUNK_BYTES):
 *
 *   kind        offset  size  meaning
 *   windowed    0       4     lowBirth, low 32 bits
 *   windowed    4       4     lowBirth, high bits
 *   both        …       8×n   runs: u32 first cell, u32 count (a count of 0 is unused room, skipped)
 *
 * Files written before windowed entries existed hold only by-commit keys, read as before.
 *
 * Cells reached by the oldest reader go to by-commit entries, found as a key prefix (every D up
 * to the horizon). A commit puts what it frees that only newer readers reach — or no reader:
 * cells written after the newest reader's version — in windowed entries. The cells it took for
 * reuse but did not use reach no version: a large leftover goes back under the key of the entry
 * it came from (a windowed one then gets lowBirth = D, an empty window), the rest joins its own
 * windowed entry of cells no reader reaches (or its by-commit entry when no reader is open).
 */
import { CELL_BYTES } from '../../src/common/limits.js';
import { RECORD_HEADER_BYTES } from './valueRecord.js';
import { type CellRun } from './pageFile.js';
import { TWO32, highWord, joinU64 } from '../../src/common/u64.js';

/** Commit numbers stay below this (pending-list keys hold them with 16 chunk bits and a kind bit). */
export const MAX_COMMITS = 2 ** 36;
/** Pending-list keys per commit and kind: a commit's list may take this many chunks of each kind. */
export const PENDING_KEYS_PER_COMMIT = 65536;
/** The first key of the windowed kind. */
export const WINDOWED_KEY_BASE = MAX_COMMITS * PENDING_KEYS_PER_COMMIT;
/** Bytes of a chunk's list: what one cell holds after the record header. */
export const CHUNK_BYTES = CELL_BYTES - RECORD_HEADER_BYTES;
/** Runs per by-commit chunk. */
export const BY_COMMIT_CHUNK_RUNS = Math.floor(CHUNK_BYTES / 8);
/** Runs per windowed chunk (its first 8 bytes hold lowBirth). */
export const WINDOWED_CHUNK_RUNS = BY_COMMIT_CHUNK_RUNS - 1;
/** The bytes of a chunk until it is filled in (only its length is read: one cell). */
export const CHUNK_PLACEHOLDER = new Uint8Array(CHUNK_BYTES);

export function byCommitKey(commit: number, chunk: number): number {
  return commit * PENDING_KEYS_PER_COMMIT + chunk;
}

export function windowedKey(commit: number, chunk: number): number {
  return WINDOWED_KEY_BASE + commit * PENDING_KEYS_PER_COMMIT + chunk;
}

export function isWindowedKey(key: number): boolean {
  return key >= WINDOWED_KEY_BASE;
}

/** The commit that freed the cells of the entry at `key`. */
export function freedByOf(key: number): number {
  return Math.floor((isWindowedKey(key) ? key - WINDOWED_KEY_BASE : key) / PENDING_KEYS_PER_COMMIT);
}

/** A listed run, with the free-list source it was loaded from (storage/commit/release.ts; −1 until loaded). */
export interface PendingRun extends CellRun {
  source: number;
}

export interface PendingEntry {
  /** The commit that freed the cells. */
  freedBy: number;
  /** No cell of the entry was written before this commit (0 for by-commit entries). */
  lowBirth: number;
  runs: PendingRun[];
}

/** Decodes a list of runs (8 bytes each, from byte `from`). */
export function pendingRuns(bytes: Uint8Array, from = 0): PendingRun[] {
  const runs: PendingRun[] = [];
  for (let at = from; at + 8 <= bytes.length; at += 8) {
    const count = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
    if (count > 0) runs.push({ start: (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0, count, source: -1 });
  }
  return runs;
}

/** The entry at `key` whose record holds `bytes`; undefined when a windowed record is too short. */
export function decodePendingEntry(key: number, bytes: Uint8Array): PendingEntry | undefined {
  const freedBy = freedByOf(key);
  if (!isWindowedKey(key)) return { freedBy, lowBirth: 0, runs: pendingRuns(bytes) };
  if (bytes.length < 8) return undefined;
  const lowBirth = joinU64(getU32(bytes, 0), getU32(bytes, 4));
  return { freedBy, lowBirth, runs: pendingRuns(bytes, 8) };
}

/**
 * A chunk's record bytes: `runs` (at most the kind's capacity), after lowBirth for a windowed one.
 * An empty by-commit list is one unused run (8 zero bytes), not an empty record.
 */
export function encodeChunk(runs: readonly CellRun[], lowBirth: number | undefined): Uint8Array {
  const header = lowBirth === undefined ? 0 : 8;
  const n = runs.length;
  const out = new Uint8Array(header + (n > 0 ? n : 1) * 8);
  const words = new DataView(out.buffer);
  if (lowBirth !== undefined) {
    words.setUint32(0, lowBirth % TWO32, true);
    words.setUint32(4, highWord(lowBirth), true);
  }
  for (let i = 0; i < n; i++) {
    const run = runs[i]!;
    words.setUint32(header + 8 * i, run.start, true);
    words.setUint32(header + 8 * i + 4, run.count, true);
  }
  return out;
}

function getU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
