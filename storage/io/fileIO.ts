/**
 * All file access goes through this small interface, so the crash simulator and the
 * fault injector (recovery/) can stand in for the real file.
 */
import * as fs from 'node:fs';
import { WRITE_PIECE_BYTES } from '../../src/common/limits.js';
import { notStore } from '../../src/common/errors.js';

export interface FileIO {
  /** Reads up to `buf.length` bytes at `positionBytes`; returns the number read (short at EOF). */
  read(buf: Uint8Array, positionBytes: number): number;
  /** Writes all of `buf` at `positionBytes` (the file grows as needed). */
  write(buf: Uint8Array, positionBytes: number): void;
  /** Makes every earlier write durable (fdatasync). */
  sync(): void;
  /** The file's size in bytes. */
  size(): number;
  truncate(sizeBytes: number): void;
  close(): void;
  /**
   * sync() off the calling thread (Node's thread pool): settles once every write completed before
   * the call is durable. Optional: a FileIO without it is synced with sync() (storage/commit/writeAsync.ts).
   */
  syncAsync?(): Promise<void>;
  /**
   * Writes all of `buf` at `positionBytes` and returns once those bytes are durable — not
   * necessarily any other write (an `O_DSYNC` write: Linux flushes the pages it touches and the
   * device cache). The commit log's append (storage/commit/commitLog.ts). Optional: without it,
   * write() then sync().
   */
  writeDurable?(buf: Uint8Array, positionBytes: number): void;
  /**
   * Where the open file is now (NodeFileIO.currentPath), for close() to find what sits beside it
   * after a rename. Optional: a FileIO without it (a test's) is never renamed.
   */
  currentPath?(): string | undefined;
}

/** `io`'s writeDurable, else a write and a sync. */
export function writeDurable(io: FileIO, buf: Uint8Array, positionBytes: number): void {
  if (io.writeDurable !== undefined) io.writeDurable(buf, positionBytes);
  else {
    io.write(buf, positionBytes);
    io.sync();
  }
}

/**
 * How many of `remaining` bytes to write at byte `at` in one call: up to the next WRITE_PIECE_BYTES
 * boundary of the file (src/common/limits.ts says why).
 */
export function writePiece(at: number, remaining: number): number {
  return Math.min(remaining, WRITE_PIECE_BYTES - (at % WRITE_PIECE_BYTES));
}

/**
 * ENOTSTORE when something other than a regular file is at `path` (followed through symbolic
 * links): a directory, a FIFO, a socket, a device. Opening a FIFO for reading blocks until a writer
 * comes (forever, in a synchronous open), a socket cannot be opened, reading a directory fails; a
 * store is a regular file. Nothing at `path`: no refusal here (the caller decides).
 */
export function refuseNonRegularFile(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return;
  }
  if (st.isFile()) return;
  const kind = st.isDirectory()
    ? 'a directory'
    : st.isFIFO()
      ? 'a FIFO (named pipe)'
      : st.isSocket()
        ? 'a socket'
        : st.isCharacterDevice()
          ? 'a character device'
          : st.isBlockDevice()
            ? 'a block device'
            : 'not a regular file';
  throw notStore(`${path} is ${kind}, not a store file`);
}

/** The real file, through synchronous fs calls. */
export class NodeFileIO implements FileIO {
  private fd: number;
  /** A second descriptor of the same file, opened O_DSYNC on the first writeDurable (−1: none yet). */
  private dsyncFd = -1;

  /** flags as fs.open's: 'wx+' creates the file, failing if it exists. */
  constructor(
    private readonly path: string,
    flags: 'r' | 'r+' | 'wx+',
  ) {
    this.fd = fs.openSync(path, flags);
  }

  writeDurable(buf: Uint8Array, positionBytes: number): void {
    // A platform without O_DSYNC (Windows): the write, then a sync of the whole file.
    if (fs.constants.O_DSYNC === undefined) {
      this.write(buf, positionBytes);
      this.sync();
      return;
    }
    // Opened through /proc/self/fd where it exists, so it is this file even if `path` was renamed
    // or replaced since; the path otherwise.
    if (this.dsyncFd < 0) {
      const flags = fs.constants.O_WRONLY | fs.constants.O_DSYNC;
      let fd: number;
      try {
        fd = fs.openSync(`/proc/self/fd/${this.fd}`, flags);
      } catch {
        fd = fs.openSync(this.path, flags);
      }
      // Only this very file will do (a path may name another one by now).
      const a = fs.fstatSync(fd, { bigint: true });
      const b = fs.fstatSync(this.fd, { bigint: true });
      if (a.dev !== b.dev || a.ino !== b.ino) {
        fs.closeSync(fd);
        this.write(buf, positionBytes);
        this.sync();
        return;
      }
      this.dsyncFd = fd;
    }
    let done = 0;
    while (done < buf.length) {
      done += fs.writeSync(this.dsyncFd, buf, done, buf.length - done, positionBytes + done);
    }
  }

  read(buf: Uint8Array, positionBytes: number): number {
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, positionBytes + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  write(buf: Uint8Array, positionBytes: number): void {
    let done = 0;
    while (done < buf.length) {
      const at = positionBytes + done;
      done += fs.writeSync(this.fd, buf, done, writePiece(at, buf.length - done), at);
    }
  }

  sync(): void {
    fs.fdatasyncSync(this.fd);
  }

  size(): number {
    return fs.fstatSync(this.fd).size;
  }

  truncate(sizeBytes: number): void {
    fs.ftruncateSync(this.fd, sizeBytes);
  }

  /**
   * Where the open file is now (`/proc/self/fd`): another path than the one it was opened by when
   * it or a directory above it was renamed since. Undefined where /proc does not say, or when the
   * file was removed.
   */
  currentPath(): string | undefined {
    if (this.fd < 0) return undefined;
    try {
      const now = fs.readlinkSync(`/proc/self/fd/${this.fd}`);
      return now.startsWith('/') && !now.endsWith(' (deleted)') ? now : undefined;
    } catch {
      return undefined;
    }
  }

  /** Device and inode of the open file (to tell it from another file at the same path). */
  identity(): { device: bigint; inode: bigint } {
    const st = fs.fstatSync(this.fd, { bigint: true });
    return { device: st.dev, inode: st.ino };
  }

  close(): void {
    if (this.dsyncFd >= 0) fs.closeSync(this.dsyncFd);
    this.dsyncFd = -1;
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  syncAsync(): Promise<void> {
    const fd = this.fd;
    return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }
}
