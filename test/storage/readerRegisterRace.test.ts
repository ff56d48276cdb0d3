/**
 * ReaderFile.register names its path's reader directory once: the store's directory renamed while
 * it registers (between two spellings of the path) must not leave it holding another directory than
 * the one its registration is in — setVersion would then leave the registration at 0 ("any": every
 * cell pinned) and release would leave it behind, pinning everything while the process runs.
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { open } from '../../src/index.js';
import { ReaderFile, readersDir } from '../../storage/io/readerFiles.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('maple-register-race-');
afterAll(() => dir.cleanup());

const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;

test('the path re-pointed while a reader registers: its registration still moves to the version it reads, and goes at release', () => {
  // `link` names d1 when the reader registers there, then d2 (a symbolic link re-pointed).
  const d1 = dir.file('d1');
  const d2 = dir.file('d2');
  fs.mkdirSync(d1);
  fs.mkdirSync(d2);
  const link = dir.file('link');
  fs.symlinkSync(d1, link);
  const file = path.join(link, 'a.maple');
  open(file).close();
  const st = fs.statSync(file, { bigint: true });
  const registered = `${path.join(d1, 'a.maple')}.readers`;
  const real = cjsFs.realpathSync;
  let repointed = false;
  const spy = ((p: fs.PathLike, o?: unknown) => {
    if (!repointed && fs.existsSync(registered) && fs.readdirSync(registered).length > 0) {
      repointed = true;
      fs.unlinkSync(link);
      fs.symlinkSync(d2, link);
    }
    return (real as (p: fs.PathLike, o?: unknown) => string)(p, o);
  }) as typeof fs.realpathSync;
  Object.assign(spy, { native: real.native });
  cjsFs.realpathSync = spy;
  syncBuiltinESMExports();
  let reg: ReaderFile | undefined;
  try {
    reg = ReaderFile.register(file, { device: st.dev, inode: st.ino });
  } finally {
    cjsFs.realpathSync = real;
    syncBuiltinESMExports();
  }
  // Without a second look inside register(), re-pointed now: the same for the registration.
  if (!repointed) {
    fs.unlinkSync(link);
    fs.symlinkSync(d2, link);
  }
  reg!.setVersion(5);
  // Left at 0 it would mean "any version": every cell pinned while the reader is open.
  expect(fs.readdirSync(registered).map((n) => n.split('.')[2])).toEqual(['5']);
  reg!.release();
  expect(fs.existsSync(registered) ? fs.readdirSync(registered) : []).toEqual([]);
  expect(readersDir(path.join(d2, 'a.maple'))).not.toBe(registered);
});
