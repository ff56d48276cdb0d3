/**
 * The options of open(), their defaults and their checks.
 */
import { invalid } from '../common/errors.js';
import { DEFAULT_CACHE_BYTES, DEFAULT_GROUP_BYTES, DEFAULT_GROUP_WRITES, DEFAULT_QUEUED_WRITES } from '../common/limits.js';
import type { CommitProtocol } from '../../storage/commit/commit.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import type { LockEnv } from '../../storage/io/lockEnv.js';
import { describe } from './args.js';

export interface OpenOptions {
  /**
   * Create the file when missing (default true), atomically: the new store appears at `path`
   * whole or not at all. An existing file is never formatted — one that is not a store (an empty
   * file too) is ENOTSTORE.
   */
  create?: boolean;
  /** Open for reading only (default false): no writer lock, writes throw EREADONLY. */
  readOnly?: boolean;
  /** 'full' (default): a commit returns once durable. 'none': no fsync. */
  sync?: 'full' | 'none';
  /** Buffer-pool budget in bytes (default 64 MiB), in whole 4 KiB pages; less than 64 KiB is taken as 64 KiB (16 pages). */
  cacheSize?: number;
  /**
   * 'log' (the default with `sync: 'full'`): a commit appends its cells and record to a commit log
   * in the file with one durable (`O_DSYNC`) write instead of syncing its scattered pages; every so
   * often a commit syncs everything and starts the log over (docs/design.md, section 5). Needs
   * `sync: 'full'`. 'one-sync' (the default with `sync: 'none'`): one fdatasync per commit,
   * validated at open. 'two-sync': cells, sync, record, sync.
   */
  commitProtocol?: CommitProtocol;
  /**
   * Keep values of 8..512 msgpack bytes in their leaf's value area (default true): cells owned by
   * that leaf alone, written and freed with it, so a value costs its bytes, not a cell, whatever
   * the commit's size (docs/design.md, section 4). false gives every value over 7 bytes a record
   * of its own (whole 256-byte cells).
   */
  packValues?: boolean;
  /**
   * Encode objects with shared record structures (default true, as lmdb-js does): each object
   * shape's key list is kept once in the file, and `{ id: 7, prot: 3 }` takes 3 bytes instead of
   * 12 — small enough to sit inline in its leaf. false: every new value is self-described msgpack
   * (values already written with structures still read).
   */
  sharedStructures?: boolean;
  /**
   * Asynchronous writes (`write()`, `storeAsync()`, …) are committed in groups: everything queued
   * while the previous group's commit is in flight, up to this many functions (default 256) …
   */
  maxGroupWrites?: number;
  /** … or this many encoded value bytes (default 4 MiB; a group stops after the write that reaches it). */
  maxGroupBytes?: number;
  /** Asynchronous writes queued at most (default 100,000): calls beyond wait for room before they are queued. */
  maxQueuedWrites?: number;
}

/**
 * What tests and `maple-store/testing` open a store on instead of a real file (not options: a
 * user's options never change where the bytes go).
 * @internal
 */
export interface OpenHooks {
  /**
   * The file implementation to use instead of opening `path`. The medium is the store's alone: a
   * blank one (or one whose creation crashed before its header was written) is formatted when
   * `create` and not `readOnly` (storage/io/creation.ts). No writer lock is taken unless `lockEnv`
   * is given too.
   */
  fileIO?: FileIO;
  /**
   * The machine the writer lock lives on (storage/io/lockEnv.ts) instead of the real file system
   * and /proc: the crash simulator's lock directory, or a machine without /proc.
   */
  lockEnv?: LockEnv;
  /** The size in cells of a commit log the store makes (commitProtocol 'log'): tests fill small ones. */
  logCells?: number;
}

/** Every option open() knows. */
const OPEN_OPTIONS: readonly (keyof OpenOptions)[] = ['create', 'readOnly', 'sync', 'cacheSize', 'commitProtocol', 'packValues', 'sharedStructures', 'maxGroupWrites', 'maxGroupBytes', 'maxQueuedWrites'];

/**
 * EINVAL for an option name not in `known`, naming the known one it differs from only in case
 * (`readonly` would otherwise open for writing, silently).
 */
export function refuseUnknownOptions(o: object, known: readonly string[]): void {
  for (const name of Object.keys(o)) {
    if (known.includes(name)) continue;
    const near = known.find((k) => k.toLowerCase() === name.toLowerCase());
    throw invalid(`unknown option ${JSON.stringify(name)}${near === undefined ? `; the options are ${known.join(', ')}` : ` (did you mean ${near}?)`}`);
  }
}

/** The options with their defaults, each checked (EINVAL names the option and the value). */
export type CheckedOptions = Required<OpenOptions>;

/** @internal */
export function checkOptions(options: unknown): CheckedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalid(`options must be an object; got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  refuseUnknownOptions(o, OPEN_OPTIONS);
  const bool = (name: string, dflt: boolean): boolean => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw invalid(`option ${name} must be a boolean; got ${describe(v)}`);
    return v;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], dflt: T): T => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v as T)) throw invalid(`option ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${describe(v)}`);
    return v as T;
  };
  const count = (name: string, dflt: number): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid(`option ${name} must be a positive integer; got ${describe(v)}`);
    return v;
  };
  const cache = o.cacheSize;
  if (cache !== undefined && (typeof cache !== 'number' || !Number.isFinite(cache) || cache <= 0)) {
    throw invalid(`option cacheSize must be a positive number of bytes; got ${describe(cache)}`);
  }
  const sync = oneOf('sync', ['full', 'none'] as const, 'full');
  const commitProtocol = oneOf('commitProtocol', ['one-sync', 'two-sync', 'log'] as const, sync === 'none' ? 'one-sync' : 'log');
  if (commitProtocol === 'log' && sync === 'none') throw invalid("option commitProtocol 'log' makes every commit durable, which sync: 'none' does not ask for: use one or the other");
  return {
    create: bool('create', true),
    readOnly: bool('readOnly', false),
    sync,
    cacheSize: (cache as number | undefined) ?? DEFAULT_CACHE_BYTES,
    commitProtocol,
    packValues: bool('packValues', true),
    sharedStructures: bool('sharedStructures', true),
    maxGroupWrites: count('maxGroupWrites', DEFAULT_GROUP_WRITES),
    maxGroupBytes: count('maxGroupBytes', DEFAULT_GROUP_BYTES),
    maxQueuedWrites: count('maxQueuedWrites', DEFAULT_QUEUED_WRITES),
  };
}

