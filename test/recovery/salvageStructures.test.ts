/**
 * Regression: salvage of a store whose shared-structures table is damaged decoded the values that
 * refer to a structure without it. A structure reference is a byte 0x40–0x5f, which msgpackr
 * without the structure reads as the integer 64 + id: `{}` (an object of no keys, a one-byte
 * structure reference) was copied as 64 and `[{}, 7]` as `[64, 7]`. Such values are skipped now.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { salvage } from '../../recovery/tools/surgery.js';
import { readRing } from '../../recovery/recover.js';
import { NodeFileIO } from '../../storage/io/fileIO.js';
import { CELL_BYTES } from '../../src/common/limits.js';
import { RECORD_HEADER_BYTES } from '../../storage/format/valueRecord.js';

it('salvage with a damaged shared-structures table skips the values that use it, and copies no other value wrong', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-salvage-'));
  try {
    const file = path.join(dir, 's.maple');
    const s = open<unknown>(file);
    s.store(1, 1, {});
    s.store(2, 2, [{}, 7]);
    s.store(3, 3, { id: 1, prot: 2 });
    s.store(4, 4, 'plain');
    s.store(5, 5, [64, 65, 127]);
    s.close();
    const io = new NodeFileIO(file, 'r');
    const table = readRing(io)[0]!.rec.structures;
    io.close();
    expect(table.count).toBe(2);
    // One byte of the table's msgpack changed: its checksum fails, the table is damaged.
    const fd = fs.openSync(file, 'r+');
    const at = table.cell * CELL_BYTES + RECORD_HEADER_BYTES + 1;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0]! ^= 0x01;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);

    const out = path.join(dir, 'out.maple');
    const res = salvage(file, out);
    expect(res.skippedValues).toBe(3);
    const o = open<unknown>(out, { readOnly: true });
    expect([...o.ranges()]).toEqual([
      { first: 4, last: 4, value: 'plain' },
      { first: 5, last: 5, value: [64, 65, 127] },
    ]);
    o.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
