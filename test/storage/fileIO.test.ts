/**
 * Unit tests of the real file (storage/io/fileIO.ts): large writes go to the kernel in pieces that
 * never cross a WRITE_PIECE_BYTES boundary of the file, and land whole.
 */
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeFileIO, writePiece } from '../../storage/io/fileIO.js';
import { WRITE_PIECE_BYTES } from '../../src/common/limits.js';

/** The pieces NodeFileIO.write cuts a write of `length` bytes at `at` into, as [start, length]. */
function pieces(at: number, length: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let done = 0; done < length; ) {
    const n = writePiece(at + done, length - done);
    out.push([at + done, n]);
    done += n;
  }
  return out;
}

describe('writePiece', () => {
  it('cuts at every WRITE_PIECE_BYTES boundary and nowhere else', () => {
    const P = WRITE_PIECE_BYTES;
    expect(pieces(0, 256)).toEqual([[0, 256]]);
    expect(pieces(P - 256, 256)).toEqual([[P - 256, 256]]);
    expect(pieces(P - 256, 512)).toEqual([
      [P - 256, 256],
      [P, 256],
    ]);
    expect(pieces(100, 3 * P)).toEqual([
      [100, P - 100],
      [P, P],
      [2 * P, P],
      [3 * P, 100],
    ]);
    expect(pieces(2 * P, 2 * P)).toEqual([
      [2 * P, P],
      [3 * P, P],
    ]);
    for (const [start, n] of pieces(12_345, 10 * P + 777)) {
      expect(n).toBeGreaterThan(0);
      expect(Math.floor(start / P)).toBe(Math.floor((start + n - 1) / P));
    }
  });
});

/** The (position, length) of every fs.writeSync call `fn` makes, through Node's own fs module. */
function writeCalls(fn: () => void): Array<[number, number]> {
  const calls: Array<[number, number]> = [];
  const cjs = (fs as unknown as { default: typeof fs }).default;
  const real = cjs.writeSync;
  cjs.writeSync = ((fd: number, buf: Uint8Array, offset: number, length: number, position: number) => {
    calls.push([position, length]);
    return real(fd, buf, offset, length, position);
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    fn();
  } finally {
    cjs.writeSync = real;
    syncBuiltinESMExports();
  }
  return calls;
}

describe('NodeFileIO.write', () => {
  it('hands the kernel no write larger than a piece, nor across a piece boundary', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-fileio-'));
    try {
      const io = new NodeFileIO(path.join(dir, 'f'), 'wx+');
      try {
        const P = WRITE_PIECE_BYTES;
        const calls = writeCalls(() => io.write(new Uint8Array(2 * P + 4096), P - 4096));
        expect(calls).toEqual([
          [P - 4096, 4096],
          [P, P],
          [2 * P, P],
        ]);
      } finally {
        io.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });


  it('writes a buffer larger than a piece, at an unaligned position, byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-fileio-'));
    try {
      const file = path.join(dir, 'f');
      const io = new NodeFileIO(file, 'wx+');
      try {
        const buf = new Uint8Array(3 * WRITE_PIECE_BYTES + 1234);
        for (let i = 0; i < buf.length; i++) buf[i] = (i * 31 + (i >>> 8)) & 0xff;
        const at = WRITE_PIECE_BYTES - 100;
        io.write(buf, at);
        expect(io.size()).toBe(at + buf.length);
        const back = new Uint8Array(buf.length);
        expect(io.read(back, at)).toBe(buf.length);
        expect(Buffer.from(back).equals(Buffer.from(buf))).toBe(true);
        const before = new Uint8Array(at);
        io.read(before, 0);
        expect(before.every((b) => b === 0)).toBe(true);
      } finally {
        io.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
