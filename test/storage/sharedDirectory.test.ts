/**
 * The shared lock directory and the device-and-inode reader directories (storage/io/lockEnv.ts,
 * sharedDirectory) sit where every user writes: a symbolic link another user put there must not
 * make us chmod (1777) the directory it points at, nor register in it.
 */
import * as fs from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { sharedDirectory } from '../../storage/io/lockEnv.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('maple-shared-dir-');
afterAll(() => dir.cleanup());

test('a symbolic link in place of a shared directory is refused, and what it points at keeps its mode', () => {
  const victim = dir.file('private');
  fs.mkdirSync(victim, { mode: 0o700 });
  fs.chmodSync(victim, 0o700);
  const link = dir.file('123-456.readers');
  fs.symlinkSync(victim, link);
  expect(() => sharedDirectory(link)).toThrow();
  expect(fs.statSync(victim).mode & 0o7777).toBe(0o700);
});

test('a shared directory is made mode 1777 (the umask cuts the mode mkdir gives)', () => {
  const made = dir.file('made.readers');
  sharedDirectory(made);
  expect(fs.lstatSync(made).isDirectory()).toBe(true);
  expect(fs.statSync(made).mode & 0o7777).toBe(0o1777);
  // Again on an existing one: nothing changes.
  sharedDirectory(made);
  expect(fs.statSync(made).mode & 0o7777).toBe(0o1777);
});
