/**
 * Lost writes: a disk that acknowledged a write it never made leaves the cell's older content in
 * place — a cell that passes its own checksum, written at that very address by an earlier commit.
 * Commits reuse freed cells (the hottest nodes cycle through the few cells the commits before them
 * freed), so that older content is often an older version of the same node, at the same level and
 * with the same bounds, or an older value area of the leaf beside it. Every pointer to a node names
 * the low bits of its child's commit and every slot naming a value record its record's, and a value
 * area must be its leaf's commit's (storage/format/node.ts), so such a cell is ECORRUPT wherever it
 * is read, never an old answer.
 *
 * The test records every content each cell held over a store's life, then puts each older content
 * of a cell back into the final file, one at a time, and reads everything.
 */
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MapleError, open } from '../../src/index.js';
import { salvage } from '../../recovery/tools/surgery.js';
import { tempDir } from '../helpers.js';
import { openWith } from '../../src/api/open.js';
import { Prng, SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { NODE_INTERNAL, NODE_LEAF } from '../../storage/format/node.js';
import { AREA_TYPE } from '../../storage/format/valueArea.js';
import { RECORD_TYPE } from '../../storage/format/valueRecord.js';
import { CELL_BASE, CELL_BYTES } from '../../src/common/limits.js';

const PATH = '/sim/lost';
const openOn = (disk: SimulatedDisk, packValues: boolean, readOnly = false) => openWith<unknown>(PATH, { commitProtocol: 'one-sync', packValues, readOnly, cacheSize: 256 * 1024 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });

const dir = tempDir('maple-lost-');
afterAll(() => dir.cleanup());

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

describe('a lost write (an older cell where a newer one was written)', () => {
  // packValues: false puts every value of more than 7 bytes in a record of its own.
  it.each([true, false])('is ECORRUPT wherever the cell is read, never an older answer (packValues %s)', (packValues) => {
    const rng = new Prng(41);
    const disk = new SimulatedDisk();
    const db = openOn(disk, packValues);
    const model = new Map<number, unknown>();
    const keys: number[] = [];
    // The model at each commit: an open whose newest commit's cells fail falls back to an older one.
    const models = new Map<number, Map<number, unknown>>();
    // Every content each cell that starts a node, an area or a record held, oldest first.
    const history = new Map<number, Uint8Array[]>();
    const record = (): void => {
      const image = disk.currentImage();
      for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= image.length; c++) {
        const bytes = image.subarray(c * CELL_BYTES, (c + 1) * CELL_BYTES);
        const type = bytes[0];
        if (type !== NODE_LEAF && type !== NODE_INTERNAL && type !== AREA_TYPE && type !== RECORD_TYPE) continue;
        const seen = history.get(c);
        if (seen === undefined) history.set(c, [bytes.slice()]);
        else if (!same(seen[seen.length - 1]!, bytes)) seen.push(bytes.slice());
      }
    };
    db.transaction((t) => {
      for (let i = 0; i < 1500; i++) {
        const value = !packValues && i < 200 ? `${i}`.padEnd(100, 'q') : i % 5 === 0 ? { i, pad: 'v'.repeat(20) } : i;
        t.store(i * 10, i * 10 + 4, value);
        model.set(i * 10, value);
        keys.push(i * 10);
      }
    });
    record();
    models.set(db.version, new Map(model));
    for (let k = 0; k < (packValues ? 120 : 300); k++) {
      const i = rng.below(packValues ? 1500 : 200);
      // Inline, in the leaf's area, or a record of its own (over 512 bytes); without packValues,
      // strings of one length, each a one-cell record, so records reuse each other's cells.
      const value = !packValues ? `${k}`.padEnd(100, 'r') : k % 3 === 0 ? { k, pad: 'w'.repeat(rng.below(40)) } : k % 5 === 1 ? { k, big: 'b'.repeat(600 + rng.below(300)) } : 100_000 + k;
      db.store(i * 10, i * 10 + 4, value);
      model.set(i * 10, value);
      record();
      models.set(db.version, new Map(model));
    }
    db.close();
    const final = disk.currentImage();

    let cases = 0;
    let detected = 0;
    const wrong: string[] = [];
    for (const [cell, versions] of history) {
      const now = final.subarray(cell * CELL_BYTES, (cell + 1) * CELL_BYTES);
      if (versions.length < 2 || !same(versions[versions.length - 1]!, now)) continue;
      // The content just before the last: what a lost last write leaves.
      const image = final.slice();
      image.set(versions[versions.length - 2]!, cell * CELL_BYTES);
      cases++;
      let corrupt = false;
      try {
        const s = openOn(SimulatedDisk.fromImage(image), packValues, true);
        try {
          const expected = models.get(s.version)!;
          for (const key of keys) {
            const got = s.load(key + 2);
            if (JSON.stringify(got) !== JSON.stringify(expected.get(key))) wrong.push(`cell ${cell}: load(${key + 2}) = ${JSON.stringify(got)} at commit ${s.version}, stored ${JSON.stringify(expected.get(key))}`);
          }
          s.check();
        } finally {
          s.close();
        }
      } catch (err) {
        if (!(err instanceof MapleError) || err.code !== 'ECORRUPT') throw err;
        expect(err.message).toMatch(/cell \d+/);
        corrupt = true;
      }
      if (corrupt) detected++;
      // `maple salvage` of the same file copies no older value either: it skips what fails.
      if (cases % 4 === 0) {
        const damaged = dir.file('damaged.maple');
        const out = dir.file('out.maple');
        fs.rmSync(out, { force: true });
        fs.writeFileSync(damaged, image);
        const result = salvage(damaged, out);
        const copied = open<unknown>(out, { readOnly: true });
        try {
          const expected = models.get(result.commit)!;
          for (const r of copied.ranges()) {
            if (JSON.stringify(r.value) !== JSON.stringify(expected.get(r.first))) wrong.push(`salvage, cell ${cell}: [${r.first}, ${r.last}] = ${JSON.stringify(r.value)} at commit ${result.commit}, stored ${JSON.stringify(expected.get(r.first))}`);
          }
        } finally {
          copied.close();
        }
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    // Cells whose last write was lost and that the final version still reaches.
    expect(cases).toBeGreaterThan(50);
    expect(detected).toBeGreaterThan(cases / 2);
  });
});
