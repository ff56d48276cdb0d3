/**
 * The two kinds of error stay apart (src/common/errors.ts): a failed assertion is a bug and is
 * thrown as itself — never reported as ECORRUPT by check, never turned into EIO by a commit,
 * never taken by recovery for an incomplete commit — and every MapleError is made by a factory.
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { AssertionError, MapleError, assert, corruptCell, ioError } from '../../src/common/errors.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { openWith } from '../../src/api/open.js';
import { LIBRARY, readSource, sources } from './sources.js';
import { ForwardingIO } from '../helpers.js';

/** A FileIO that throws `make()` from its next write (after `armed` is set), or its next read. */
class BuggyIO extends ForwardingIO {
  failWrites = false;
  failReads = false;
  constructor(
    inner: FileIO,
    private readonly make: () => Error,
  ) {
    super(inner, false);
  }
  override read(buf: Uint8Array, positionBytes: number): number {
    if (this.failReads) throw this.make();
    return this.inner.read(buf, positionBytes);
  }
  override write(buf: Uint8Array, positionBytes: number): void {
    if (this.failWrites) throw this.make();
    this.inner.write(buf, positionBytes);
  }
}

describe('assertions are bugs, not disk faults', () => {
  it('assert throws AssertionError, which is not a MapleError', () => {
    let caught: unknown;
    try {
      assert(false, 'two plus two is four');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AssertionError);
    expect(caught).not.toBeInstanceOf(MapleError);
    expect((caught as Error).message).toMatch(/two plus two is four/);
  });

  it('ioError passes a failed assertion through instead of calling it EIO', () => {
    const bug = new AssertionError('x');
    expect(() => ioError('commit', bug)).toThrow(bug);
    expect(ioError('reading', Object.assign(new Error('disk gone'), { code: 'EIO' })).code).toBe('EIO');
  });

  it('a commit that meets a failed assertion throws it as itself, and the store then refuses writes', () => {
    const disk = new SimulatedDisk();
    const io = new BuggyIO(disk.fileIO(), () => new AssertionError('planted in a write'));
    const db = openWith<number>('/simulated/bug.maple', {}, { fileIO: io });
    db.store(1, 2, 3);
    io.failWrites = true;
    expect(() => db.store(5, 6, 7)).toThrow(AssertionError);
    io.failWrites = false;
    const refusal = (() => {
      try {
        db.store(8, 9, 10);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(refusal).toBeInstanceOf(MapleError);
    expect((refusal as MapleError).code).toBe('EIO');
    db.close();
  });

  it('recovery does not take a failed assertion for an incomplete commit', () => {
    const disk = new SimulatedDisk();
    const db = openWith<number>('/simulated/bug.maple', {}, { fileIO: disk.fileIO() });
    db.store(1, 2, 3);
    db.close();
    const io = new BuggyIO(disk.fileIO(), () => new AssertionError('planted in a read'));
    io.failReads = true;
    // Falling back to an older commit would hide the bug: open must fail with it instead.
    expect(() => openWith('/simulated/bug.maple', {}, { fileIO: io })).toThrow(AssertionError);
  });

  it('corruptCell names the cell, its page and its byte offset', () => {
    const err = corruptCell(35, 'checksum mismatch');
    expect(err.code).toBe('ECORRUPT');
    expect(err.message).toBe('ECORRUPT: cell 35 (page 2, byte offset 8960): checksum mismatch');
  });
});

describe('MapleErrors are made in one module', () => {
  it('no library module but src/common/errors.ts constructs a MapleError', () => {
    const offenders: string[] = [];
    for (const top of LIBRARY) {
      for (const file of sources(top)) if (file !== 'src/common/errors.ts' && /new MapleError\(/.test(readSource(file))) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
