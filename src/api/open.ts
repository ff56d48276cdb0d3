/**
 * Opening a store: the file (created atomically when missing), the writer lock or the reader
 * registration, the header, recovery — then a MapleStore.
 */
import * as fs from 'node:fs';
import { dirname, sep } from 'node:path';
import { MapleError, invalid, ioError, notFound } from '../common/errors.js';
import { readerIO, recover } from '../../recovery/recover.js';
import { readHeader } from '../../storage/format/pageFile.js';
import { BufferPool } from '../../storage/io/bufferPool.js';
import { bootTag } from '../../storage/io/bootTag.js';
import { createStoreFile, formatMedium, unfinishedMedium } from '../../storage/io/creation.js';
import { type FileIO, NodeFileIO, refuseNonRegularFile } from '../../storage/io/fileIO.js';
import { WriterLock } from '../../storage/io/lockFile.js';
import { ReaderFile } from '../../storage/io/readerFiles.js';
import { describe } from './args.js';
import { type OpenHooks, type OpenOptions, checkOptions } from './options.js';
import { MapleStore } from './store.js';

/** Opens (or creates) the store at `path`. */
export function open<V = unknown>(path: string, options?: OpenOptions): MapleStore<V> {
  return openWith<V>(path, options, {});
}

/**
 * open() on a file implementation of the caller's (tests, `maple-store/testing`).
 * @internal
 */
export function openWith<V = unknown>(path: string, options: OpenOptions | undefined, hooks: OpenHooks): MapleStore<V> {
  if (typeof path !== 'string' || path.length === 0) throw invalid(`path must be a non-empty string; got ${describe(path)}`);
  if (path.includes('\0')) throw invalid(`path must not contain a NUL character; got ${JSON.stringify(path)}`);
  const opts = checkOptions(options);
  if (hooks.fileIO !== undefined && (typeof hooks.fileIO !== 'object' || typeof hooks.fileIO.read !== 'function')) throw invalid('fileIO must implement FileIO');
  let io: FileIO | undefined = hooks.fileIO;
  let lock: WriterLock | undefined;
  let readerFile: ReaderFile | undefined;
  try {
    if (!io) {
      const exists = fs.existsSync(path);
      if (!exists && (!opts.create || opts.readOnly)) throw notFound(`${path} does not exist${opts.readOnly ? ' (read-only open never creates)' : ' and create is false'}`);
      // A directory, FIFO, socket or device is ENOTSTORE before anything is made beside it (a
      // read-only open of a FIFO would block forever).
      if (exists) refuseNonRegularFile(path);
      if (!exists) {
        const parent = dirname(path);
        if (!fs.existsSync(parent)) throw notFound(`the directory of ${path} does not exist (open() creates the store file, not its directory)`);
        if (!fs.statSync(parent).isDirectory()) throw notFound(`the directory of ${path}, ${parent}, is not a directory`);
        if (path.endsWith('/') || path.endsWith(sep)) throw notFound(`${path} could not be created: a path ending in a slash names a directory, and a store is a file`);
      }
      if (!opts.readOnly) lock = WriterLock.acquire(path, hooks.lockEnv);
      // Created whole or not at all (storage/io/creation.ts). When a file appeared at `path` since the
      // check, it is opened below like any existing file: checked, never formatted.
      if (!exists && !createStoreFile(path) && !fs.existsSync(path)) {
        throw notFound(`${path} could not be created: something without a file behind it is at that path (a symbolic link to a missing file?); open() creates a store only where nothing exists`);
      }
      const file = new NodeFileIO(path, opts.readOnly ? 'r' : 'r+');
      io = file;
      lock?.lockInode(path);
      // A reader registers before it reads which version is current (storage/io/readerFiles.ts).
      if (opts.readOnly) readerFile = ReaderFile.register(path, file.identity());
    } else {
      if (hooks.lockEnv && !opts.readOnly) {
        lock = WriterLock.acquire(path, hooks.lockEnv);
        lock.lockInode(path);
      }
      // A FileIO medium is the store's alone: with no header it is blank, or its creation crashed.
      if (unfinishedMedium(io) && opts.create && !opts.readOnly) formatMedium(io);
    }
    readHeader(io, path);
    const boot = bootTag(hooks.lockEnv);
    // A read-only open after a reboot reads a commit log's last commits replayed in memory.
    if (opts.readOnly) io = readerIO(io, path, boot);
    const pool = new BufferPool(io, opts.cacheSize);
    const recovered = recover(io, pool, path, boot, Infinity, opts.readOnly);
    const report = { ...recovered.report, lockTakenOver: lock && lock.takenOver.length > 0 ? lock.takenOver.join('; ') : null };
    const store = new MapleStore<V>(path, io, pool, recovered.state, report, opts, hooks.fileIO === undefined, lock, boot, readerFile, hooks.logCells);
    readerFile?.setVersion(recovered.state.rec.commit);
    // A failure here is thrown as it is: the catch below releases the lock and the file.
    store.settleOpen(recovered.baseSlot, recovered.pass);
    return store;
  } catch (err) {
    lock?.release();
    readerFile?.release();
    if (io && !hooks.fileIO) io.close();
    if (err instanceof MapleError) throw err;
    throw ioError(`opening ${path}`, err);
  }
}

