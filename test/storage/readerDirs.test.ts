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

test('in the shared directory only registrations of trusted users count (any user can make a file there)', () => {
  const own = dir.file('own.readers');
  const shared = dir.file('shared.readers');
  fs.mkdirSync(own);
  fs.mkdirSync(shared);
  // Live readers (this process) at versions 7 and 9: one in each directory.
  const stem = `${process.pid}.abcdef`;
  fs.writeFileSync(path.join(own, `${stem}1.7`), '');
  fs.writeFileSync(path.join(shared, `${stem}2.9`), '');
  const owner = fs.statSync(path.join(shared, `${stem}2.9`)).uid;
  // The owner trusted: both count.
  expect(new OtherReaders([own, shared], undefined, [owner]).list()).toEqual({ versions: [7, 9], any: false });
  // Not trusted (another user's file, as far as the writer knows): the shared one does not count,
  // the store's own directory's still does.
  const stranger = new OtherReaders([own, shared], undefined, [owner + 1]);
  expect(stranger.list()).toEqual({ versions: [7], any: false });
  expect(stranger.count).toBe(1);
});
