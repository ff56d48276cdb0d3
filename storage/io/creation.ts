/**
 * Making a new store: its first two pages, and publishing them at a path all at once.
 *
 * A new store is a header page and commit-record slot 0 holding commit 0 (an empty tree):
 *
 *   byte offset   size   contents
 *   0             4096   header page (storage/format/pageFile.ts)
 *   4096          4096   ring slot 0: the commit record of commit 0, zero padded (storage/format/commitRecord.ts)
 *
 * On a real path, `path` never names a half-made store: the file is built under a temporary name
 * in the same directory, synced, then given its name with link(2), which fails if `path` appeared
 * meanwhile (then that file is opened like any existing one, and never formatted). The directory
 * is synced after, so a power loss cannot take the new name away once open() returned. Hence an
 * existing file that is not a valid store is never "a creation that crashed": it is ENOTSTORE.
 *
 * Temporary names: `<path>.creating-<pid>-<12 hex digits>[t<process start>]` (the start time,
 * in clock ticks since boot, where /proc gives it, as in storage/io/lockFile.ts). A crash between
 * creating one and unlinking it leaves it behind, harmless (nothing opens it); the next creation of
 * a store at `path` removes those whose process is gone. Names of this form next to a store are
 * reserved for this.
 *
 * A FileIO given to open() (the crash simulator, the fault injector) has no directory to link in:
 * there the medium belongs to the store and creation is ordered instead — the commit record,
 * sync, then the header, sync — so the header's magic is creation's commit point and a medium with
 * no header yet is one whose creation never finished (unfinishedMedium).
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { NO_LOG, NO_STRUCTURES, encodeCommitRecord } from '../format/commitRecord.js';
import { type FileIO, NodeFileIO } from './fileIO.js';
import { PROC } from './liveness.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';
import { encodeHeader, headerIsWhole, ringSlotOffsetBytes } from '../format/pageFile.js';

const TEMP_INFIX = '.creating-';

/** Ring slot 0's page for commit 0 of an empty store. */
function firstRecordPage(): Uint8Array {
  const rec = encodeCommitRecord({
    commit: 0,
    flags: 0,
    main: { cell: 0, fresh: false, height: 0, commit: 0 },
    ranges: 0,
    nodes: 0,
    space: { cell: 0, fresh: false, height: 0, commit: 0 },
    pending: { cell: 0, fresh: false, height: 0, commit: 0 },
    highWaterCell: CELL_BASE,
    syncedCells: 0,
    allocatedCells: 0,
    pendingCells: 0,
    boot: 0,
    highestCommit: 0,
    nonce: 0,
    structures: NO_STRUCTURES,
    log: NO_LOG,
  });
  const page = new Uint8Array(PAGE_BYTES);
  page.set(rec);
  return page;
}

/**
 * The ring slots after the first, written as zeros (an empty slot): every slot is then a block the
 * file holds, so no commit record ever needs new space — on a full disk a store still commits
 * into its own free cells.
 */
function writeEmptySlots(io: FileIO): void {
  io.write(new Uint8Array((RING_SLOTS - 1) * PAGE_BYTES), ringSlotOffsetBytes(1));
}

/**
 * Writes a new empty store into `io`: the commit record, then the header, with a sync after each
 * (a crash in between leaves a medium unfinishedMedium recognises). Always synced, whatever the
 * store's `sync` option: commit 0 is every store's first durable version (its first checkpoint
 * under `sync: 'none'`), so a power loss after open() returned never leaves a file that is not a
 * store.
 */
export function formatMedium(io: FileIO): void {
  writeEmptySlots(io);
  io.write(firstRecordPage(), ringSlotOffsetBytes(0));
  io.sync();
  io.write(encodeHeader(), 0);
  io.sync();
}

/**
 * A FileIO medium whose creation never finished: no cells yet and a header page never written (all
 * zero, or nothing at all) or torn as it was written. Only for a FileIO given to open(): a file at a path is never this
 * (creation publishes it whole), and an empty or zeroed file there is ENOTSTORE.
 */
export function unfinishedMedium(io: FileIO): boolean {
  const sizeBytes = io.size();
  if (sizeBytes === 0) return true;
  if (sizeBytes > CELL_BASE * CELL_BYTES) return false;
  const page = new Uint8Array(PAGE_BYTES);
  io.read(page, 0);
  // The header is written once, by creation, while nothing lies past the ring: one a power loss
  // tore as it was written (its checksum fails) is a creation that never finished too. A whole
  // header of another version stays a file that is not this store (ENOTSTORE).
  return page.every((b) => b === 0) || !headerIsWhole(page);
}

/**
 * Creates a new empty store at `path`, atomically. Returns false, having changed nothing at
 * `path`, when a file (or anything else) appeared there before it could be published: the caller
 * opens that as an existing file. The file and its directory entry are synced whatever the store's
 * `sync` option (see formatMedium): ~0.7 ms a creation on the machine of docs/benchmarks.md.
 */
export function createStoreFile(path: string): boolean {
  removeStaleTemps(path);
  const start = PROC.selfProcess().processStart;
  const temp = `${path}${TEMP_INFIX}${process.pid}-${randomBytes(6).toString('hex')}${start === undefined ? '' : `t${start}`}`;
  const io = new NodeFileIO(temp, 'wx+');
  let published = false;
  try {
    try {
      // Not visible under `path` yet: no ordering needed between the pages, one sync.
      writeEmptySlots(io);
      io.write(firstRecordPage(), ringSlotOffsetBytes(0));
      io.write(encodeHeader(), 0);
      io.sync();
    } finally {
      io.close();
    }
    published = publish(temp, path);
  } finally {
    try {
      fs.unlinkSync(temp);
    } catch {
      // Left behind: removed by a later creation once this process is gone.
    }
  }
  if (published) syncDirectory(nodePath.dirname(path));
  return published;
}

/** Gives `temp`'s file the name `path` unless `path` exists; whether it did. */
function publish(temp: string, path: string): boolean {
  try {
    fs.linkSync(temp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links (FAT, some network file systems): rename still publishes
    // the file whole, but would replace a file created in the instant since this check.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      if (fs.existsSync(path) || isLink(path)) return false;
      fs.renameSync(temp, path);
      return true;
    }
    throw err;
  }
}

function isLink(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch {
    // ENOENT (nothing there) or no permission to look: not a link we could follow.
    return false;
  }
}

/**
 * Makes the directory entry just linked durable. File systems that cannot sync a directory
 * (EINVAL, EISDIR, ENOTSUP from fsync on it) give no stronger guarantee to ask for.
 */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return; // a directory that cannot be opened for reading (no permission): nothing to sync through
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EBADF') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/** The pid and process start a temporary name of `path` carries; undefined for any other name. */
export function tempOwner(path: string, name: string): { pid: number; start: string | undefined } | undefined {
  const prefix = `${nodePath.basename(path)}${TEMP_INFIX}`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(\d+)-[0-9a-f]{12}(?:t(\d+))?$/.exec(name.slice(prefix.length));
  if (m === null) return undefined;
  return { pid: Number.parseInt(m[1]!, 10), start: m[2] };
}

/** Best effort: removes the temporary files of creations at `path` whose process is gone. */
export function removeStaleTemps(path: string): void {
  const dir = nodePath.dirname(path);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    // The directory cannot be listed (no permission): stale temps stay, harmless.
    return;
  }
  for (const name of names) {
    const owner = tempOwner(path, name);
    // Removed only on evidence that its creator is gone (whyGone says why); a live or unknown one stays.
    if (owner === undefined || PROC.whyGone({ pid: owner.pid, processStart: owner.start }) === undefined) continue;
    try {
      fs.unlinkSync(nodePath.join(dir, name));
    } catch {
      // gone already, or not ours to remove
    }
  }
}
