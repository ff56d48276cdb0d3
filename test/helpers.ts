/** Shared test helpers: temp directories, a seeded PRNG, refusal checks. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { MapleError, type MapleErrorCode } from '../src/errors.js';

export function tempDir(prefix = 'maple-test-'): { dir: string; file: (name?: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name = 'store.maple') => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A small deterministic PRNG (LCG); returns floats in [0, 1). */
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
