/**
 * Unit tests of commit-log entries (storage/format/logEntry.ts) and of the simulated disk's durable
 * write (FileIO.writeDurable), which the commit log's crash proofs rest on.
 */
import { describe, expect, it } from 'vitest';
import { ENTRY_ALIGN_BYTES, ENTRY_HEADER_BYTES, decodeEntry, encodeEntry, entryBytes } from '../../storage/format/logEntry.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { tempDir } from '../helpers.js';

function entry(salt: number, commit: number): { log: Uint8Array; length: number; buf: Uint8Array; record: Uint8Array } {
  const buf = new Uint8Array(5 * 256).map((_, i) => (i * 7 + commit) & 0xff);
  const record = new Uint8Array(160).map((_, i) => (i + 1) & 0xff);
  const runs = [
    { cell: 1000, cells: 2, at: 0 },
    { cell: 2 ** 31 + 5, cells: 3, at: 512 },
  ];
  const log = new Uint8Array(entryBytes(2, 5, record.length) + 512);
  const length = encodeEntry(log, salt, commit, 0x1234_5678, 2, record, runs, buf);
  return { log, length, buf, record };
}

describe('commit-log entries', () => {
  it('round trip: runs, record, slot, nonce; aligned length', () => {
    const { log, length, buf, record } = entry(0xabcd_ef01, 2 ** 40 + 3);
    expect(length % ENTRY_ALIGN_BYTES).toBe(0);
    expect(length).toBe(entryBytes(2, 5, 160));
    expect(length).toBeGreaterThanOrEqual(ENTRY_HEADER_BYTES + 16 + 160 + 5 * 256);
    const e = decodeEntry(log, 0, 0xabcd_ef01, 2 ** 40 + 3)!;
    expect(e).toMatchObject({ length, commit: 2 ** 40 + 3, nonce: 0x1234_5678, slot: 2 });
    expect([...e.record]).toEqual([...record]);
    expect(e.runs.map((r) => [r.cell, r.cells])).toEqual([
      [1000, 2],
      [2 ** 31 + 5, 3],
    ]);
    expect([...log.subarray(e.runs[0]!.at, e.runs[0]!.at + 512)]).toEqual([...buf.subarray(0, 512)]);
    expect([...log.subarray(e.runs[1]!.at, e.runs[1]!.at + 768)]).toEqual([...buf.subarray(512, 1280)]);
  });

  it('another salt, another commit number, a flipped byte, a cut: no entry', () => {
    const { log, length } = entry(77, 9);
    expect(decodeEntry(log, 0, 78, 9)).toBeUndefined();
    expect(decodeEntry(log, 0, 77, 10)).toBeUndefined();
    for (let i = 0; i < length; i += 13) {
      const bad = log.slice();
      bad[i] = bad[i]! ^ 0x40;
      expect(decodeEntry(bad, 0, 77, 9), `byte ${i}`).toBeUndefined();
    }
    expect(decodeEntry(log.subarray(0, length - 1), 0, 77, 9)).toBeUndefined();
    expect(decodeEntry(new Uint8Array(4096), 0, 0, 1)).toBeUndefined();
  });
});

describe('SimulatedDisk.writeDurable', () => {
  it('makes the pages it touches durable, with every pending write in them, and nothing else', () => {
    const disk = new SimulatedDisk();
    const io = disk.fileIO();
    io.write(new Uint8Array(3 * 4096).fill(1), 0);
    io.sync();
    io.write(new Uint8Array(100).fill(2), 4096 + 10); // page 1: pending
    io.write(new Uint8Array(100).fill(3), 2 * 4096 + 10); // page 2: pending
    io.writeDurable!(new Uint8Array(50).fill(4), 4096 + 500); // page 1, durably
    const lost = disk.crashImage({ mode: 'drop-all', seed: 1 });
    expect(lost[4096 + 10]).toBe(2); // flushed with its page
    expect(lost[4096 + 500]).toBe(4);
    expect(lost[2 * 4096 + 10]).toBe(1); // another page: still pending, lost
    expect(disk.pendingCount).toBe(1);
  });

  it('a pending write straddling the page keeps its other part pending', () => {
    const disk = new SimulatedDisk();
    const io = disk.fileIO();
    io.write(new Uint8Array(3 * 4096).fill(1), 0);
    io.sync();
    io.write(new Uint8Array(8192).fill(5), 2048); // pages 0, 1 and 2
    io.writeDurable!(new Uint8Array(10).fill(6), 4096); // page 1
    const lost = disk.crashImage({ mode: 'drop-all', seed: 1 });
    expect([lost[2048], lost[4096], lost[4106], lost[8191], lost[8192]]).toEqual([1, 6, 5, 5, 1]);
    const kept = disk.crashImage({ mode: 'keep-all', seed: 1 });
    expect([kept[2048], kept[4096], kept[8192]]).toEqual([5, 6, 5]);
  });
});

describe('NodeFileIO.writeDurable', () => {
  it('writes into the open file (not whatever its path names by then), readable through the other descriptor', () => {
    const t = tempDir();
    try {
      const file = t.file('a.bin');
      fs.writeFileSync(file, new Uint8Array(8192));
      const io = new NodeFileIO(file, 'r+');
      // The path names another file before the first durable write opens its O_DSYNC descriptor:
      // that descriptor is still the open file's.
      fs.renameSync(file, path.join(path.dirname(file), 'moved.bin'));
      fs.writeFileSync(file, new Uint8Array(8192));
      io.writeDurable!(new Uint8Array(100).fill(9), 4000);
      io.writeDurable!(new Uint8Array(10).fill(7), 100);
      const back = new Uint8Array(8192);
      io.read(back, 0);
      expect([back[99], back[100], back[109], back[110], back[3999], back[4000], back[4099], back[4100]]).toEqual([0, 7, 7, 0, 0, 9, 9, 0]);
      expect(fs.readFileSync(file).every((b) => b === 0)).toBe(true);
      io.close();
    } finally {
      t.cleanup();
    }
  });
});
