/**
 * Unit tests of commit records (storage/format/commitRecord.ts): a round trip of every field, and that
 * decodeCommitRecord turns any damage (a flipped byte anywhere, a short read) into "no record".
 */
import { describe, expect, it } from 'vitest';
import { COMMIT_RECORD_BYTES, COMMIT_RECORD_MAX_BYTES, FLAG_CELLS_DURABLE, FLAG_LOGGED, FLAG_VOLATILE, NO_LOG, decodeCommitRecord, encodeCommitRecord, type CommitRecord } from '../../storage/format/commitRecord.js';

/** Every field distinct and most above 2^32, so a swapped or truncated field shows. */
function sample(): CommitRecord {
  return {
    commit: 2 ** 40 + 17,
    flags: FLAG_CELLS_DURABLE,
    main: { cell: 0xfedc_ba98, fresh: true, height: 7, commit: 0xff_ffff },
    ranges: 2 ** 45 + 3,
    nodes: 2 ** 33 + 5,
    space: { cell: 1234, fresh: false, height: 2, commit: 0x12_3456 },
    pending: { cell: 99, fresh: true, height: 1, commit: 17 },
    highWaterCell: 2 ** 32 + 80,
    syncedCells: 0xffff_fff0,
    allocatedCells: 2 ** 32 + 60,
    pendingCells: 11,
    highestCommit: 2 ** 40 + 19,
    nonce: 0x9abc_def0,
    boot: 0x1234_5678,
    structures: { cell: 0xabcd_0123, fresh: true, count: 31, commit: 0xbeef },
    log: NO_LOG,
  };
}

/** A record of a store keeping a commit log: the longer form. */
function logged(): CommitRecord {
  return { ...sample(), flags: FLAG_LOGGED, log: { cell: 0x8765_4321, cells: 4096, salt: 0xdead_beef, start: 3_000_000 } };
}

describe('commit record', () => {
  it('round trips every field', () => {
    const rec = sample();
    const bytes = encodeCommitRecord(rec);
    expect(bytes.length).toBe(COMMIT_RECORD_BYTES);
    expect(decodeCommitRecord(bytes)).toEqual(rec);
  });

  it('round trips an empty store record (zero roots, no flags)', () => {
    const empty: CommitRecord = {
      commit: 1,
      flags: 0,
      main: { cell: 0, fresh: false, height: 0, commit: 0 },
      ranges: 0,
      nodes: 0,
      space: { cell: 0, fresh: false, height: 0, commit: 0 },
      pending: { cell: 0, fresh: false, height: 0, commit: 0 },
      highWaterCell: 80,
      syncedCells: 0,
      allocatedCells: 0,
      pendingCells: 0,
      highestCommit: 1,
      nonce: 0,
      boot: 0,
      structures: { cell: 0, fresh: false, count: 0, commit: 0 },
      log: NO_LOG,
    };
    expect(decodeCommitRecord(encodeCommitRecord(empty))).toEqual(empty);
  });

  it('keeps the synced cells at bytes 76..79; a record of an earlier release (zeros there) decodes with 0', () => {
    const bytes = encodeCommitRecord({ ...sample(), syncedCells: 0x0102_0304 });
    expect(new DataView(bytes.buffer).getUint32(76, true)).toBe(0x0102_0304);
    const older = encodeCommitRecord({ ...sample(), syncedCells: 0 });
    expect(Array.from(older.subarray(76, 80))).toEqual([0, 0, 0, 0]);
    expect(decodeCommitRecord(older)!.syncedCells).toBe(0);
  });

  it('decodes from a larger ring-slot page at a non-zero byte offset', () => {
    const page = new Uint8Array(4096 + 64);
    page.set(encodeCommitRecord(sample()), 64);
    expect(decodeCommitRecord(page.subarray(64))).toEqual(sample());
  });

  it('keeps the shared-structures reference at bytes 116..127, fresh as bit 0 of 120, its commit\'s low 16 bits in bits 8..23', () => {
    const bytes = encodeCommitRecord({ ...sample(), structures: { cell: 300, fresh: false, count: 2, commit: 0xabcd } });
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint32(116, true), dv.getUint32(120, true), dv.getUint32(124, true)]).toEqual([300, 0xab_cd00, 2]);
    expect(decodeCommitRecord(bytes)!.structures).toEqual({ cell: 300, fresh: false, count: 2, commit: 0xabcd });
  });

  it('keeps each root pointer\'s commit (low 24 bits) in bits 8..31 of its flags word, FRESH in bit 0', () => {
    const bytes = encodeCommitRecord(sample());
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint32(20, true), dv.getUint32(52, true), dv.getUint32(68, true)]).toEqual([0xffff_ff01, 0x1234_5600, (17 << 8) | 1]);
  });

  it('round trips the nonce across the u32 range, stored at byte 112', () => {
    for (const nonce of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
      const bytes = encodeCommitRecord({ ...sample(), nonce });
      expect(new DataView(bytes.buffer).getUint32(112, true)).toBe(nonce);
      expect(decodeCommitRecord(bytes)?.nonce).toBe(nonce);
    }
    // Bytes 116..127 hold the structures reference: zero when there is no table.
    const none = encodeCommitRecord({ ...sample(), structures: { cell: 0, fresh: false, count: 0, commit: 0 } });
    expect(none.subarray(116, COMMIT_RECORD_BYTES).every((b) => b === 0)).toBe(true);
  });

  it('keeps the boot tag of a volatile record at byte 60, the flag as bit 1 of byte 28', () => {
    const bytes = encodeCommitRecord({ ...sample(), flags: FLAG_VOLATILE, boot: 0xfeed_beef });
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint32(28, true), dv.getUint32(60, true)]).toEqual([2, 0xfeed_beef]);
    expect(decodeCommitRecord(bytes)).toMatchObject({ flags: FLAG_VOLATILE, boot: 0xfeed_beef });
  });

  it('starts with the magic "MCR1"', () => {
    expect(Buffer.from(encodeCommitRecord(sample()).subarray(0, 4)).toString('latin1')).toBe('MCR1');
  });

  it('any single flipped byte makes the record undefined, in either form', () => {
    for (const good of [encodeCommitRecord(sample()), encodeCommitRecord(logged())]) {
      for (let i = 0; i < good.length; i++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const bad = good.slice();
          bad[i] = bad[i]! ^ mask;
          expect(decodeCommitRecord(bad), `byte ${i} ^ ${mask}`).toBeUndefined();
        }
      }
    }
  });

  it('a truncated record is undefined, in either form', () => {
    for (const good of [encodeCommitRecord(sample()), encodeCommitRecord(logged())]) {
      for (const length of [0, 1, 4, 8, 64, COMMIT_RECORD_BYTES - 1, good.length - 1]) {
        expect(decodeCommitRecord(good.subarray(0, length))).toBeUndefined();
      }
    }
  });

  it('a store keeping a commit log writes the longer form "MCR2": the log at bytes 128..143', () => {
    const bytes = encodeCommitRecord(logged());
    expect(bytes.length).toBe(COMMIT_RECORD_MAX_BYTES);
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('MCR2');
    const dv = new DataView(bytes.buffer);
    expect([128, 132, 136, 140].map((at) => dv.getUint32(at, true))).toEqual([0x8765_4321, 4096, 0xdead_beef, 3_000_000]);
    expect(dv.getUint32(28, true)).toBe(4);
    expect(decodeCommitRecord(bytes)).toEqual(logged());
    // Read from a whole ring-slot page, as recovery does.
    const page = new Uint8Array(4096);
    page.set(bytes);
    expect(decodeCommitRecord(page)).toEqual(logged());
  });

  it('a never-written (all zero) slot is undefined', () => {
    expect(decodeCommitRecord(new Uint8Array(4096))).toBeUndefined();
  });
});
