/** `maple recover --to-commit N` and `maple salvage FILE OUT`, driven through the CLI's main(). */
import * as fs from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import { open } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { CELL_BASE, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { readRing } from '../../recovery/recover.js';
import { FLAG_VOLATILE, encodeCommitRecord } from '../../storage/format/commitRecord.js';
import { ringSlotOffsetBytes } from '../../storage/format/pageFile.js';

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (out += t) });
  return { code, out };
}

describe('maple recover --to-commit', () => {
  test('rolls back one commit: the older version becomes the newest, under a new number', async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<string>(t.file());
    for (let i = 1; i <= 5; i++) s.store(i * 10, i * 10 + 5, `v${i}`);
    const atFour = [...s.snapshot().ranges()].slice(0, 4);
    s.close();
    const r = await run('recover', t.file(), '--to-commit', '4');
    expect(r.out).toMatch(/rolled back: commit 4 \(was 5\)/);
    expect(r.code).toBe(0);
    const back = open<string>(t.file());
    expect([...back.ranges()]).toEqual(atFour);
    expect(back.version).toBe(6);
    back.check();
    back.store(100, 100, 'after');
    back.check();
    back.close();
  });

  test('is refused while a writer holds the store, under its name or through a hard link', async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<number>(t.file());
    for (let i = 1; i <= 5; i++) s.store(i, i, i);
    const hard = t.file('hard.maple');
    fs.linkSync(t.file(), hard);
    const before = fs.readFileSync(t.file());
    for (const name of [t.file(), hard]) {
      const r = await run('recover', name, '--to-commit', '4');
      expect(r.code, name).not.toBe(0);
      expect(r.out, name).toMatch(/ELOCKED/);
      expect(fs.readFileSync(t.file()).equals(before)).toBe(true);
    }
    s.store(6, 6, 6);
    s.close();
    // Released by the refusals: the rollback goes through now.
    expect((await run('recover', hard, '--to-commit', '5')).code).toBe(0);
  });

  test('refuses a commit that is not in the ring, and leaves the file unchanged', async () => {
    const t = tempDir();
    dirs.push(t);
    // One-sync: each commit's record takes the next slot (a commit log keeps its pass's first record).
    const s = open<number>(t.file(), { commitProtocol: 'one-sync' });
    for (let i = 1; i <= 8; i++) s.store(i, i, i);
    s.close();
    const before = fs.readFileSync(t.file());
    const r = await run('recover', t.file(), '--to-commit', '1');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/refused: .*commit 1 is not in the commit ring/);
    expect(fs.readFileSync(t.file()).equals(before)).toBe(true);
  });

  test("refuses a sync: 'none' commit written before the machine last booted", async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<number>(t.file(), { sync: 'none' });
    for (let i = 1; i <= 6; i++) s.store(i, i, i);
    // The file as the page cache holds it, the writer still open: its newest records are volatile.
    const image = fs.readFileSync(t.file());
    s.close();
    const copy = t.file('copy.maple');
    fs.writeFileSync(copy, image);
    const io = new NodeFileIO(copy, 'r+');
    const ring = readRing(io);
    const volatile = ring.find((r) => (r.rec.flags & FLAG_VOLATILE) !== 0)!;
    expect(volatile).toBeDefined();
    // As if written on another boot.
    const page = new Uint8Array(PAGE_BYTES);
    page.set(encodeCommitRecord({ ...volatile.rec, boot: (volatile.rec.boot ^ 1) || 2 }));
    io.write(page, ringSlotOffsetBytes(volatile.slot));
    io.close();
    const before = fs.readFileSync(copy);
    const r = await run('recover', copy, '--to-commit', String(volatile.rec.commit));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`refused: .*commit ${volatile.rec.commit} .* written with sync: 'none' before the machine last booted.*durable commits are 0`));
    expect(fs.readFileSync(copy).equals(before)).toBe(true);
  });

  test('a rollback past reused cells is refused or yields exactly that version', async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<string>(t.file());
    const versions: { first: number; last: number; value: string }[][] = [];
    for (let v = 0; v < 6; v++) {
      s.transaction((tx) => {
        for (let i = 0; i < 200; i++) tx.store(i * 4, i * 4 + 2, `round ${v} value ${i} padded to need a record`);
      });
      versions[s.version] = [...s.ranges()].map((r) => ({ ...r }));
    }
    const oldest = s.version - 3;
    s.close();
    const r = await run('recover', t.file(), '--to-commit', String(oldest));
    if (r.code === 0) {
      const back = open<string>(t.file());
      expect([...back.ranges()]).toEqual(versions[oldest]);
      back.check();
      back.close();
    } else {
      expect(r.out).toMatch(/refused: /);
    }
  });
});

describe('maple salvage', () => {
  test('copies every range of an intact store', async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<{ n: number }>(t.file());
    s.transaction((tx) => {
      for (let i = 0; i < 3000; i++) tx.store(i * 3, i * 3 + 1, { n: i });
    });
    const all = [...s.ranges()];
    s.close();
    const r = await run('salvage', t.file(), t.file('out.maple'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/salvaged 3000 ranges/);
    const out = open(t.file('out.maple'), { readOnly: true });
    expect([...out.ranges()]).toEqual(all);
    out.check();
    out.close();
  });

  test('skips what a damaged file cannot give, and everything it copies is right', async () => {
    const t = tempDir();
    dirs.push(t);
    const s = open<{ n: number; pad: string }>(t.file());
    s.transaction((tx) => {
      for (let i = 0; i < 3000; i++) tx.store(i * 3, i * 3 + 1, { n: i, pad: 'xxxxxxxxxxxx' });
    });
    const all = new Map([...s.ranges()].map((r) => [r.first, r]));
    s.close();
    // Overwrite a stretch of cells in the middle of the file with garbage.
    const fd = fs.openSync(t.file(), 'r+');
    const size = fs.fstatSync(fd).size;
    const at = Math.floor((CELL_BASE * CELL_BYTES + size) / 2 / CELL_BYTES) * CELL_BYTES;
    fs.writeSync(fd, Buffer.alloc(16 * CELL_BYTES, 0xa5), 0, 16 * CELL_BYTES, at);
    fs.closeSync(fd);
    const r = await run('salvage', t.file(), t.file('out.maple'));
    expect(r.out).toMatch(/salvaged \d+ ranges .*skipped/);
    expect(r.code).toBe(1);
    const out = open(t.file('out.maple'), { readOnly: true });
    const copied = [...out.ranges()];
    expect(copied.length).toBeGreaterThan(0);
    expect(copied.length).toBeLessThan(3000);
    for (const c of copied) expect(c).toEqual(all.get(c.first));
    out.close();
  });
});
