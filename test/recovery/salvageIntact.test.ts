/**
 * Regression: salvage checked every FRESH pointer against the salvaged commit, so the values and
 * subtrees that older commits wrote (FRESH relative to their own node) were skipped on intact stores.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { salvage } from '../../recovery/tools/surgery.js';
import { ValueCodec } from '../../storage/format/valueCodec.js';

it('salvage of an intact store copies every range', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-salvage-'));
  const file = path.join(dir, 's.maple');
  const s = open<string>(file);
  // values of 600 bytes: a value record each, pointed at FRESH by the leaves of this commit
  s.transaction((t) => {
    for (let i = 0; i < 200; i++) t.store(i * 10, i * 10 + 5, `${i}:${'x'.repeat(600)}`);
  });
  s.store(5000, 5000, 'newest'); // rewrites the rightmost leaf only; the other leaves are older
  s.check();
  const want = [...s.ranges()];
  s.close();
  const out = path.join(dir, 'out.maple');
  const res = salvage(file, out);
  expect(res.skippedValues).toBe(0); // was: 195
  expect(res.skippedNodes).toBe(0);
  const o = open<string>(out, { readOnly: true });
  expect([...o.ranges()]).toEqual(want);
  o.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('salvage of an intact store does not skip older subtrees under FRESH pointers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-salvage-'));
  const file = path.join(dir, 's.maple');
  const s = open<number>(file);
  s.transaction((t) => {
    for (let i = 0; i < 20000; i++) t.store(i * 3, i * 3 + 1, i); // height ≥ 3: internal nodes with FRESH children
  });
  s.store(1_000_000, 1_000_000, 1); // rewrites only the rightmost path
  const want = s.count();
  s.close();
  const res = salvage(file, path.join(dir, 'out.maple'));
  expect(res.skippedNodes).toBe(0);
  expect(res.ranges).toBe(want);
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a salvage that stops (not on damage: an I/O error, a bug) removes the store it created, so it can run again', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-salvage-'));
  const file = path.join(dir, 's.maple');
  const s = open<{ i: number }>(file);
  s.transaction((t) => {
    for (let i = 0; i < 100; i++) t.store(i * 10, i * 10 + 5, { i });
  });
  s.close();
  const out = path.join(dir, 'out.maple');
  // A decoder that fails as a bug would: not ECORRUPT, so salvage stops.
  const decode = ValueCodec.prototype.decode;
  ValueCodec.prototype.decode = function (this: ValueCodec, ...args: Parameters<ValueCodec['decode']>) {
    if ((args[0] as Uint8Array).length > 0) throw new TypeError('a decoder bug');
    return decode.apply(this, args);
  };
  try {
    expect(() => salvage(file, out)).toThrow(/a decoder bug/);
  } finally {
    ValueCodec.prototype.decode = decode;
  }
  expect(fs.existsSync(out)).toBe(false);
  const res = salvage(file, out);
  expect(res.ranges).toBe(100);
  fs.rmSync(dir, { recursive: true, force: true });
});
