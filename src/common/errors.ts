/**
 * Errors. Two kinds, never mixed:
 *
 *  - MapleError: a refusal or a fault outside the code — bad input, a corrupt or foreign file, a
 *    lock held elsewhere, a failed I/O call. It has a stable string `code` and a message that says
 *    what was wrong and where. Every one is built by a factory below (one per code, plus
 *    corruptCell and ioError), so messages share one shape and codes one list.
 *  - AssertionError: a broken internal invariant — a bug in this library, never a property of the
 *    file or of the caller's input. It is never caught and turned into something else: `check()`
 *    does not report it as ECORRUPT, a commit does not report it as EIO, recovery does not take it
 *    for an incomplete commit. Code that catches errors rethrows it (rethrowIfBug).
 *
 * What the disk says is checked with MapleError (corrupt/corruptCell), never with assert: a
 * corrupted file must give ECORRUPT naming the cell, not a crash.
 */
import { CELL_BYTES, CELLS_PER_PAGE_SHIFT } from './limits.js';

export type MapleErrorCode =
  | 'EINVAL'
  | 'EEXIST'
  | 'EBUSY'
  | 'ECORRUPT'
  | 'ELOCKED'
  | 'EREADONLY'
  | 'ECLOSED'
  | 'ENOTSTORE'
  | 'ENOENT'
  | 'EIO';

export class MapleError extends Error {
  /** Stable, machine-readable: see the README's table of codes. */
  readonly code: MapleErrorCode;
  /** @internal use the factories below */
  constructor(code: MapleErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'MapleError';
    this.code = code;
  }
}

/** A broken internal invariant: a bug report, never caught (see the header). */
export class AssertionError extends Error {
  /** @internal thrown by assert() */
  constructor(message: string) {
    super(`maple-store internal invariant failed: ${message} (this is a bug; please report it)`);
    this.name = 'AssertionError';
  }
}

/** Throws AssertionError unless `condition` holds. For invariants of the code, never of the file. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** In a catch block: a failed assertion passes through untouched, whatever the block does with other errors. */
export function rethrowIfBug(err: unknown): void {
  if (err instanceof AssertionError) throw err;
}

/** EINVAL: an argument or option is of the wrong type or out of range. */
export function invalid(message: string): MapleError {
  return new MapleError('EINVAL', message);
}

/** EEXIST: insert over an occupied index. */
export function exists(message: string): MapleError {
  return new MapleError('EEXIST', message);
}

/** EBUSY: allocRange found no gap. */
export function busy(message: string): MapleError {
  return new MapleError('EBUSY', message);
}

/** ECORRUPT: a checksum or structural invariant of the file fails. */
export function corrupt(message: string): MapleError {
  return new MapleError('ECORRUPT', message);
}

/** ECORRUPT naming the cell, its page and its byte offset. */
export function corruptCell(cell: number, what: string): MapleError {
  return new MapleError('ECORRUPT', `cell ${cell} (page ${cellPage(cell)}, byte offset ${cell * CELL_BYTES}): ${what}`);
}

/** "cell N (page P)", for messages about a cell. */
export function cellPlace(cell: number): string {
  return `cell ${cell} (page ${cellPage(cell)})`;
}

function cellPage(cell: number): number {
  return Math.floor(cell / 2 ** CELLS_PER_PAGE_SHIFT);
}

/** ELOCKED: another writer holds the store. */
export function locked(message: string): MapleError {
  return new MapleError('ELOCKED', message);
}

/** EREADONLY: a write on a read-only store. */
export function readOnly(message: string): MapleError {
  return new MapleError('EREADONLY', message);
}

/** ECLOSED: use after close(). */
export function closed(message: string): MapleError {
  return new MapleError('ECLOSED', message);
}

/** ENOTSTORE: the file is not a maple-store file, or of an unknown format version. */
export function notStore(message: string): MapleError {
  return new MapleError('ENOTSTORE', message);
}

/** ENOENT: the file does not exist and may not be created. */
export function notFound(message: string): MapleError {
  return new MapleError('ENOENT', message);
}

/** EIO with a message of our own (the store refuses writes after a failed commit, …). */
export function ioFailed(message: string, cause?: unknown): MapleError {
  return new MapleError('EIO', message, cause === undefined ? undefined : { cause });
}

/**
 * EIO for a failed I/O call: `what` failed, with the system error's code and message; the
 * original error is `cause`. A MapleError passes through unchanged, and a bug is rethrown.
 */
export function ioError(what: string, err: unknown): MapleError {
  rethrowIfBug(err);
  if (err instanceof MapleError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? 'unknown';
  return new MapleError('EIO', `${what} failed (${code}): ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
