import { test, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open, MAX_INDEX } from '../src/index.js';

test('smoke', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-'));
  const p = path.join(dir, 's.maple');
  const s = open<any>(p, { sync: 'none' });
  s.store(10, 20, 'a');
  s.store(15, 16, { big: 'xxxxxxxxxxxxxxxxxxx' });
  expect(s.load(10)).toBe('a');
  expect(s.load(15)).toEqual({ big: 'xxxxxxxxxxxxxxxxxxx' });
  expect(s.load(17)).toBe('a');
  expect([...s.ranges()].map(r => [r.first, r.last])).toEqual([[10,14],[15,16],[17,20]]);
  s.check();
  const model = new Map<number, number>();
  s.transaction(t => { for (let i = 0; i < 5000; i++) t.store(100 + i * 10, 105 + i * 10, i); });
  s.check();
  console.log(s.stats());
  expect(s.load(100 + 4999*10 + 3)).toBe(4999);
  for (let i = 0; i < 3000; i++) { const a = Math.floor(Math.random() * 60000); s.store(a, a + Math.floor(Math.random()*50), i); }
  s.check();
  const snap = s.snapshot();
  s.clear(0, MAX_INDEX);
  expect(s.count()).toBe(0);
  s.check();
  expect(snap.count()).toBeGreaterThan(100);
  snap.close();
  s.store(5, 5, 1);
  s.check();
  s.close();
  const s2 = open<any>(p);
  expect(s2.load(5)).toBe(1);
  s2.check();
  console.log(s2.stats());
  s2.close();
});
