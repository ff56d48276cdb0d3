/**
 * Unit tests of store creation (storage/io/creation.ts): a new store is published at its path whole,
 * never over anything that appeared there first, and leaves no temporary file behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MapleError, open } from '../../src/index.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { createStoreFile, tempOwner } from '../../storage/io/creation.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { readHeader } from '../../storage/format/pageFile.js';
import { openWith } from '../../src/api/open.js';

let dir: string;
let storePath: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-create-'));
  storePath = path.join(dir, 'store.maple');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createStoreFile', () => {
  it('publishes a complete store (header and commit 0) and nothing else', () => {
    for (const name of ['a', 'b']) {
      const p = path.join(dir, `s-${name}.maple`);
      expect(createStoreFile(p)).toBe(true);
      const io = new NodeFileIO(p, 'r');
      try {
        // The header and the four ring slots, every one written (no hole for a record to fill).
        expect(io.size()).toBe(5 * 4096);
        expect(() => readHeader(io, p)).not.toThrow();
      } finally {
        io.close();
      }
      const s = open(p, { readOnly: true });
      expect(s.version).toBe(0);
      s.check();
      s.close();
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['s-a.maple', 's-b.maple']);
  });

  it('never replaces what appeared at the path first: a file, an empty file, a dangling symlink', () => {
    fs.writeFileSync(storePath, 'someone else wrote this');
    expect(createStoreFile(storePath)).toBe(false);
    expect(fs.readFileSync(storePath, 'utf8')).toBe('someone else wrote this');

    const empty = path.join(dir, 'empty.maple');
    fs.writeFileSync(empty, '');
    expect(createStoreFile(empty)).toBe(false);
    expect(fs.statSync(empty).size).toBe(0);

    const link = path.join(dir, 'link.maple');
    fs.symlinkSync(path.join(dir, 'nowhere'), link);
    expect(createStoreFile(link)).toBe(false);
    expect(fs.readlinkSync(link)).toBe(path.join(dir, 'nowhere'));
    expect(fs.existsSync(path.join(dir, 'nowhere'))).toBe(false);

    expect(fs.readdirSync(dir).sort()).toEqual(['empty.maple', 'link.maple', 'store.maple']);
  });

  it('a failed creation leaves nothing behind', () => {
    const missing = path.join(dir, 'no-such-dir', 'store.maple');
    expect(() => createStoreFile(missing)).toThrow();
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('tempOwner', () => {
  it('reads the pid and process start of the temporary names of one path only', () => {
    expect(tempOwner(storePath, 'store.maple.creating-123-0123456789ab')).toEqual({ pid: 123, start: undefined });
    expect(tempOwner(storePath, 'store.maple.creating-123-0123456789abt4567')).toEqual({ pid: 123, start: '4567' });
    for (const name of ['store.maple', 'store.maple.lock', 'other.maple.creating-123-0123456789ab', 'store.maple.creating-123-0123456789', 'store.maple.creating--0123456789ab', 'store.maple.creating-123-0123456789ab.bak', 'xstore.maple.creating-123-0123456789ab']) {
      expect(tempOwner(storePath, name), name).toBeUndefined();
    }
  });
});

describe('a FileIO medium (no path: the crash simulator, the fault injector)', () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return err instanceof MapleError ? err.code : String(err);
    }
    return 'no error';
  };

  it('a blank medium is formatted only by an open that may create; others find no store there', () => {
    const disk = new SimulatedDisk();
    expect(codeOf(() => openWith('/simulated/blank', { create: false }, { fileIO: disk.fileIO() }))).toBe('ENOTSTORE');
    expect(codeOf(() => openWith('/simulated/blank', { readOnly: true }, { fileIO: disk.fileIO() }))).toBe('ENOTSTORE');
    expect(disk.fileIO().size()).toBe(0);
    const s = openWith('/simulated/blank', {}, { fileIO: disk.fileIO() });
    expect(s.version).toBe(0);
    s.store(1, 1, 'x');
    s.close();
    const again = openWith('/simulated/blank', { create: false }, { fileIO: disk.fileIO() });
    expect(again.load(1)).toBe('x');
    again.close();
  });
});
