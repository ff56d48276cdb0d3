/** Shared test helpers: temp directories, a seeded PRNG, refusal checks. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { MapleError, type MapleErrorCode } from '../src/common/errors.js';
import type { FileIO } from '../storage/io/fileIO.js';

export function tempDir(prefix = 'maple-test-'): { dir: string; file: (name?: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name = 'store.maple') => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A private build of the package for child processes (tsc into a temporary directory), so a test
 * never races another build of the shared dist/. Returns the compiled src/index.js.
 */
export function privateBuild(prefix: string): { indexJs: string; cleanup: () => void } {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
  const tsc = path.join(repo, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['-p', path.join(repo, 'tsconfig.json'), '--outDir', path.join(tmp, 'dist')], { encoding: 'utf8' });
  const indexJs = path.join(tmp, 'dist', 'src', 'index.js');
  if (!fs.existsSync(indexJs)) throw new Error(`tsc produced no ${indexJs}: ${r.stdout}${r.stderr}`);
  return { indexJs, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/** A small deterministic PRNG (LCG); returns floats in [0, 1). */
/**
 * What `open()` returns when it runs with a FinalizationRegistry whose callbacks never run (the
 * engine gives no promise that they do: src/read/holderWatch.ts).
 */
export function withSilentFinalizers<T>(open: () => T): T {
  const Real = globalThis.FinalizationRegistry;
  class Silent {
    register(): void {}
    unregister(): boolean {
      return false;
    }
  }
  (globalThis as { FinalizationRegistry: unknown }).FinalizationRegistry = Silent;
  try {
    return open();
  } finally {
    globalThis.FinalizationRegistry = Real;
  }
}

export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Runs `fn`, which must throw a MapleError with `code` (and a message matching `pattern`); returns it. */
export function expectMapleError(fn: () => unknown, code: MapleErrorCode, pattern?: RegExp): MapleError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MapleError);
  const err = caught as MapleError;
  expect(err.code).toBe(code);
  if (pattern) expect(err.message).toMatch(pattern);
  return err;
}

/** An in-memory file: enough FileIO for the format and buffer-pool tests. */
/**
 * A FileIO passing every call to `inner` — and its O_DSYNC write when `inner` has one and
 * `durable` is on; off, the store makes a commit log's appends with write() and sync(), which the
 * wrapper then sees. The base of the tests' wrappers, which override the calls they change.
 */
export class ForwardingIO implements FileIO {
  writeDurable?: (buf: Uint8Array, positionBytes: number) => void;
  constructor(
    protected readonly inner: FileIO,
    durable = true,
  ) {
    if (durable && inner.writeDurable) this.writeDurable = (buf, at) => inner.writeDurable!(buf, at);
  }
  read(buf: Uint8Array, positionBytes: number): number {
    return this.inner.read(buf, positionBytes);
  }
  write(buf: Uint8Array, positionBytes: number): void {
    this.inner.write(buf, positionBytes);
  }
  sync(): void {
    this.inner.sync();
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

export class MemFile implements FileIO {
  constructor(public bytes: Uint8Array) {}
  read(buf: Uint8Array, positionBytes: number): number {
    const n = Math.max(0, Math.min(buf.length, this.bytes.length - positionBytes));
    buf.set(this.bytes.subarray(positionBytes, positionBytes + n));
    return n;
  }
  write(buf: Uint8Array, positionBytes: number): void {
    const end = positionBytes + buf.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(end);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(buf, positionBytes);
  }
  sync(): void {}
  size(): number {
    return this.bytes.length;
  }
  truncate(sizeBytes: number): void {
    // As ftruncate: shorter keeps the start, longer adds zeros.
    const next = new Uint8Array(sizeBytes);
    next.set(this.bytes.subarray(0, Math.min(sizeBytes, this.bytes.length)));
    this.bytes = next;
  }
  close(): void {}
}
