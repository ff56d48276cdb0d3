/**
 * Hand-built crash states for the one rule the random suite keeps tripping over: a commit number
 * whose cells may be on disk must never be used again. If commit N's cells land but its record
 * does not, the reopened store sees N−1 as newest; if it then numbers its next commit N and writes
 * a record for it whose cells do not all land, recovery must not accept the abandoned commit's
 * leftover cells (carrying the same number, with valid checksums) as the new commit's.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedDisk, type DiskEvent } from '../../recovery/testing/simulatedDisk.js';
import { openOn, readAll } from './crashRunner.js';
import { PAGE_BYTES, RING_SLOTS } from '../../src/common/limits.js';

const isRecordWrite = (e: DiskEvent) => e.kind === 'write' && e.positionBytes >= PAGE_BYTES && e.positionBytes < (1 + RING_SLOTS) * PAGE_BYTES;

/** Runs `work` on `disk` and returns the crash image `keep` picks at its last sync (the commit's last event). */
function imageAtSync(disk: SimulatedDisk, work: () => void, keep: (e: DiskEvent) => boolean): Uint8Array {
  let image: Uint8Array | undefined;
  const off = disk.onEvent((e, d) => {
    if (e.kind === 'sync') image = d.crashImageKeeping(keep);
  });
  try {
    work();
  } finally {
    off();
  }
  if (image === undefined) throw new Error('the work issued no sync');
  return image;
}

describe('abandoned commit numbers', () => {
  for (const protocol of ['one-sync', 'two-sync'] as const) {
    it(`cells of an abandoned commit never validate as a later commit's (${protocol})`, () => {
      const disk = new SimulatedDisk();
      const first = openOn(disk, '/simulated/abandoned-1', protocol);
      first.store(1, 1, 'one');
      const v1 = first.version;
      // Commit "N": every cell lands, the record does not.
      const image1 = imageAtSync(disk, () => first.store(2, 2, 'old'), (e) => !isRecordWrite(e));
      first.close();

      const disk2 = SimulatedDisk.fromImage(image1);
      const second = openOn(disk2, '/simulated/abandoned-2', protocol);
      expect(readAll(second)).toEqual([{ first: 1, last: 1, value: 'one' }]);
      expect(second.version).toBe(v1);
      // The next commit, shaped like the abandoned one so it is given the same cells: only its
      // record lands, none of its cells.
      const image2 = imageAtSync(disk2, () => second.store(2, 2, 'new'), (e) => isRecordWrite(e));
      second.close();

      const third = openOn(SimulatedDisk.fromImage(image2), '/simulated/abandoned-3', protocol);
      third.check();
      const contents = readAll(third);
      // Either the follow-up commit's state or the one before it; never the abandoned commit's.
      expect([
        [{ first: 1, last: 1, value: 'one' }],
        [
          { first: 1, last: 1, value: 'one' },
          { first: 2, last: 2, value: 'new' },
        ],
      ]).toContainEqual(contents);
      third.close();
    });
  }
});
