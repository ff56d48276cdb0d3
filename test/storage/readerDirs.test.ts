/**
 * The writer lists two reader directories (storage/io/readerFiles.ts): `<path>.readers/` and
 * `<os temp dir>/maple-store-locks/<dev>-<ino>.readers/`. The second is in a directory shared by
 * every user, which this user may be unable to search (another user made it private: EACCES) or
 * which may not be a directory at all (ENOTDIR): the writer then sees no reader there — as for a
 * temp directory it cannot write, where hard links go unguarded — and its commits go on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { open } from '../../src/index.js';
import { OtherReaders } from '../../storage/io/readerFiles.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('maple-reader-dirs-');
const tmpBefore = process.env.TMPDIR;
afterEach(() => {
  if (tmpBefore === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = tmpBefore;
});
afterAll(() => dir.cleanup());

test('a reader directory that cannot be looked at counts no reader, and throws nothing', () => {
  const file = dir.file('not-a-dir');
  fs.writeFileSync(file, '');
  const readers = new OtherReaders([path.join(file, '1-2.readers')]);
  expect(readers.list()).toEqual({ versions: [], any: false });
  expect(readers.count).toBe(0);
});

test('a writer whose shared lock directory is unusable commits all the same', () => {
  const tmp = dir.file('tmp');
  fs.mkdirSync(tmp);
  // Not a directory: the device-and-inode lock and reader directory cannot be made there.
  fs.writeFileSync(path.join(tmp, 'maple-store-locks'), '');
  process.env.TMPDIR = tmp;
  const store = open<string>(dir.file('a.maple'));
  try {
    store.store(1, 1, 'x');
    store.store(1, 1, 'y');
    expect(store.load(1)).toBe('y');
  } finally {
    store.close();
  }
});
