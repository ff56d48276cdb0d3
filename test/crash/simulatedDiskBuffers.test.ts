/**
 * Regression: SimulatedDisk kept a view of a Node Buffer given to write() (Buffer#slice is a view),
 * and crashImage(tear-*) tore that view in place, changing what the disk later made durable.
 */
import { expect, it } from 'vitest';
import { SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { openWith } from '../../src/api/open.js';

it('a torn crash image taken at a write does not change what the disk later makes durable', () => {
  const disk = new SimulatedDisk();
  const io = disk.fileIO();
  const page = Buffer.alloc(4096, 0xab);
  io.write(page, 0);
  for (let seed = 0; seed < 20; seed++) disk.crashImage({ mode: 'tear-4k', seed }); // just looking
  io.sync();
  expect(disk.durableImage().subarray(0, 4096).every((b) => b === 0xab)).toBe(true);
});

it('the caller reusing its Buffer after write() does not change the pending write', () => {
  const disk = new SimulatedDisk();
  const io = disk.fileIO();
  const page = Buffer.alloc(4096, 1);
  io.write(page, 0);
  page.fill(2); // the caller reuses its buffer
  io.sync();
  expect(disk.durableImage()[0]).toBe(1);
});

it('a store created on a SimulatedDisk: a tear-4k image at the header sync leaves later crash images opening', () => {
  const disk = new SimulatedDisk();
  const later: Uint8Array[] = [];
  const off = disk.onEvent((ev, d) => {
    if (ev.seq === 4) d.crashImage({ mode: 'tear-4k', seed: 125 }); // only looking at one possible crash
    if (ev.seq > 4) later.push(d.crashImage({ mode: 'drop-all', seed: 1 }));
  });
  const s = openWith('/simulated/x', { commitProtocol: 'one-sync' }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
  s.store(1, 2, 'a');
  off();
  s.close();
  for (const image of later) {
    const d2 = SimulatedDisk.fromImage(image);
    const r = openWith('/simulated/x', {}, { fileIO: d2.fileIO(), lockEnv: d2.lockEnv() }); // was ENOTSTORE (bad magic in page 0)
    r.close();
  }
});
