/**
 * Regression: values written with sharedStructures: false held the integers 64..127 as fixints
 * 0x40..0x7f, which the decoder reads as shared-structure references once the table has them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { open } from '../../src/index.js';

it('sharedStructures: false values load as themselves on a store whose table has entries', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-fixint-'));
  const file = path.join(dir, 's.maple');
  let s = open<unknown>(file);
  s.store(100, 100, { id: 1, prot: 'r-x' }); // the table gets structure 0 (id 0x40)
  s.close();
  s = open<unknown>(file, { sharedStructures: false });
  s.store(1, 1, 64);
  s.store(2, 2, [64, 65, 'x']);
  s.store(3, 3, { a: 64 });
  expect(s.load(1)).toBe(64); // was: ECORRUPT the inline value of [1, 1] does not decode as msgpack
  expect(s.load(2)).toEqual([64, 65, 'x']);
  expect(s.load(3)).toEqual({ a: 64 });
  s.check();
  s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('values written with sharedStructures: false still load after a later session adds shapes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-fixint-'));
  const file = path.join(dir, 's.maple');
  let s = open<unknown>(file, { sharedStructures: false });
  for (let n = 64; n < 96; n++) s.store(n, n, n);
  s.close();
  s = open<unknown>(file, { sharedStructures: true });
  for (let k = 0; k < 40; k++) s.store(1000 + k, 1000 + k, { [`k${k}`]: k });
  for (let n = 64; n < 96; n++) expect(s.load(n)).toBe(n);
  s.check();
  s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
