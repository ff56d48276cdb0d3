/**
 * close() of a read-only store finds its registration where the file is now after a rename of its
 * directory (src/api/store.ts) — also when it reads through the replayed commit log, as a read-only
 * open after a reboot does (recovery/logReplay.ts, ReplayOverlay): not a NodeFileIO.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { open } from '../src/index.js';
import { openWith } from '../src/api/open.js';
import { NodeLockEnv } from '../storage/io/lockEnv.js';
import type { ThreadIdentity } from '../storage/io/liveness.js';
import { ReplayOverlay } from '../recovery/logReplay.js';
import { tempDir } from './helpers.js';

const dir = tempDir('maple-review-');
afterAll(() => dir.cleanup());

/** This machine after a reboot: another boot id. */
class NextBootEnv extends NodeLockEnv {
  override self(): ThreadIdentity {
    return { ...super.self(), bootId: '00000000-0000-4000-8000-000000000001' };
  }
}

test('a read-only store reading a replayed log (after a reboot) whose directory was renamed while open leaves no registration behind', () => {
  const sub = dir.file('moved-replay');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'a.maple');
  const writer = open<string>(file, { commitProtocol: 'log' });
  for (let i = 0; i < 5; i++) writer.store(i, i, `v${i}`);
  writer.close();
  const reader = openWith<string>(file, { readOnly: true }, { lockEnv: new NextBootEnv() });
  expect((reader as unknown as { io: unknown }).io).toBeInstanceOf(ReplayOverlay);
  expect(reader.load(4)).toBe('v4');
  fs.renameSync(sub, `${sub}-2`);
  const moved = path.join(`${sub}-2`, 'a.maple');
  reader.close();
  expect(fs.existsSync(`${moved}.readers`) ? fs.readdirSync(`${moved}.readers`) : []).toEqual([]);
});
