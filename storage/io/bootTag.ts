/**
 * Which boot of the machine a commit record was written on, as a 32-bit tag (storage/format/
 * commitRecord.ts). A record written without a sync (`sync: 'none'`) is whole in the OS page cache
 * for as long as the machine runs, and may be lost, torn or reordered against the writes around it
 * after a power loss or a kernel crash — both of which reboot. Recovery trusts such a record only
 * on the boot that wrote it (recovery/recover.ts).
 *
 * Linux names each boot (/proc/sys/kernel/random/boot_id); elsewhere the boot is told by its start
 * time (the clock now less the uptime), to 16 seconds. A clock stepped by more than that between a
 * crash of the process and the reopen makes the boot look new: the reopen then keeps only what was
 * synced, and loses the commits since the last sync (never a wrong answer).
 */
import os from 'node:os';
import { crc32 } from '../../src/common/checksum.js';
import type { LockEnv } from './lockEnv.js';
import { PROC } from './liveness.js';

/** A boot tag, never 0 (0 marks records written before tags, and records of durable commits). */
export function bootTag(env?: LockEnv): number {
  // PROC reads the boot id once per process.
  const id = env !== undefined ? env.self().bootId : PROC.bootId();
  const name = id ?? `started ${Math.round((Date.now() - os.uptime() * 1000) / 16_000)}`;
  return crc32(Buffer.from(name, 'latin1'), 0, name.length) || 1;
}
