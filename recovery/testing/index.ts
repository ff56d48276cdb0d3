/**
 * `maple-store/testing`: the crash-testing tools the store's own suite uses, for crash-recovery
 * tests of your code on top of the store.
 *
 *  - SimulatedDisk: a file (and its lock directory) that remembers what has been synced. At any
 *    write, truncate or sync, `crashImage({ mode, seed })` gives a file a power loss at that moment
 *    could leave — unsynced writes dropped, reordered or torn at 512 B / 4 KiB — and
 *    `SimulatedDisk.fromImage(...)` (or `new SimulatedDisk(image)`) boots a machine on it.
 *  - FaultyIO: wraps a FileIO and fails its Nth call with EIO, ENOSPC or a short write.
 *  - openOnDisk / openOnFile: open a store on those instead of a real file.
 *
 * Everything here is for tests: a store opened on a SimulatedDisk lives in memory.
 */
import { openWith } from '../../src/api/open.js';
import type { OpenOptions } from '../../src/api/options.js';
import type { MapleStore } from '../../src/api/store.js';
import type { FileIO } from '../../storage/io/fileIO.js';
import type { SimulatedDisk } from './simulatedDisk.js';

export { CRASH_MODES, SimulatedCrash, SimulatedDisk, isSimulatedCrash, type CrashChoice, type CrashMode, type DiskEvent, type DiskEventKind } from './simulatedDisk.js';
export { FaultyIO, type FaultCounting, type FaultKind, type FaultPlan, type FaultRecord } from './faultyIO.js';
export type { FileIO } from '../../storage/io/fileIO.js';

/**
 * Opens a store on a simulated disk: its file, and its lock directory (so the writer lock is taken
 * and, after a simulated crash, taken over like a real one). `path` names the store in messages
 * and locks; nothing is created on the real file system. A disk made from a crash image with that
 * crash's lock files (`SimulatedDisk.fromImage(image, disk.crashLockFiles(choice))`) runs on the
 * next boot, as after a power loss: a store written with `sync: 'none'` opens there at its last
 * checkpoint.
 */
export function openOnDisk<V = unknown>(disk: SimulatedDisk, path: string, options?: OpenOptions): MapleStore<V> {
  return openWith<V>(path, options, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
}

/**
 * Opens a store on any FileIO — a FaultyIO wrapping a disk's `fileIO()`, or your own — with no
 * writer lock. A blank medium is formatted when `create` is on (the default).
 */
export function openOnFile<V = unknown>(io: FileIO, path: string, options?: OpenOptions): MapleStore<V> {
  return openWith<V>(path, options, { fileIO: io });
}
