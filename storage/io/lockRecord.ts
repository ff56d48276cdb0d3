/**
 * The content of a writer lock file (and of a takeover marker, storage/io/lockFile.ts): one line of
 * ASCII naming the thread that holds it, with a checksum.
 *
 *   field          form                                   meaning
 *   pid            decimal, 1..2147483647                 the holder's process
 *   timeMs         decimal                                when it was taken (Date.now(); for people)
 *   processStart   decimal, or "-"                        starttime of the process (/proc/<pid>/stat)
 *   threadId       decimal, or "-"                        the holder's thread (tid, /proc/thread-self)
 *   threadStart    decimal, or "-"                        starttime of the thread
 *   bootId         8-4-4-4-12 lowercase hex, or "-"       /proc/sys/kernel/random/boot_id
 *   nonce          16 lowercase hex                       random: no two locks have the same bytes
 *   crc            8 lowercase hex                        CRC-32 (src/common/checksum.ts) of every byte
 *                                                         before the space that precedes it
 *
 * Fields are separated by one space; the line ends with "\n" and nothing follows. Decimals have no
 * leading zeros (so a line decodes to exactly one record and encodes back to the same bytes).
 * processStart, threadId and threadStart are all "-" (no /proc), or only the thread fields are "-"
 * (no /proc/thread-self), or none is. "-" marks what the writer's machine could not tell.
 *
 * The pid comes first and the process start third, as in the lock files of maple-store 0.1 (which
 * read only those two fields): an older copy of the library reading this lock still sees its pid.
 *
 * Anything that is not exactly such a line — empty, torn, zero-filled, one byte changed — decodes to
 * undefined: a power loss can leave a lock file holding anything, and only a whole, checksummed
 * line can make the store refuse a writer.
 */
import { crc32 } from '../../src/common/checksum.js';
import { type ThreadIdentity, isBootId } from './liveness.js';

export interface LockRecord {
  owner: ThreadIdentity;
  timeMs: number;
  /** 16 lowercase hex digits. */
  nonce: string;
}

/** Longer than any valid line (about 150 bytes at most). */
export const MAX_LOCK_BYTES = 256;

const NONCE = /^[0-9a-f]{16}$/;
const CRC = /^[0-9a-f]{8}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function encodeLockRecord(rec: LockRecord): Uint8Array {
  const o = rec.owner;
  const dash = (v: string | number | undefined): string => (v === undefined ? '-' : String(v));
  const body = [o.pid, rec.timeMs, dash(o.processStart), dash(o.threadId), dash(o.threadStart), dash(o.bootId), rec.nonce].join(' ');
  const bytes = Buffer.from(body, 'latin1');
  return Buffer.from(`${body} ${hex8(crc32(bytes, 0, bytes.length))}\n`, 'latin1');
}

/** The record `bytes` hold, or undefined unless they are exactly one valid line. */
export function decodeLockRecord(bytes: Uint8Array): LockRecord | undefined {
  if (bytes.length < 2 || bytes.length > MAX_LOCK_BYTES || bytes[bytes.length - 1] !== 0x0a) return undefined;
  for (let i = 0; i < bytes.length - 1; i++) if (bytes[i]! < 0x20 || bytes[i]! > 0x7e) return undefined;
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length - 1).toString('latin1');
  const fields = line.split(' ');
  if (fields.length !== 8) return undefined;
  const [pidText, timeText, pStart, tidText, tStart, boot, nonce, crc] = fields as [string, string, string, string, string, string, string, string];
  if (!CRC.test(crc) || !NONCE.test(nonce)) return undefined;
  const bodyBytes = line.length - crc.length - 1;
  if (hex8(crc32(bytes, 0, bodyBytes)) !== crc) return undefined;
  const decimal = (text: string, max: number): number | undefined => {
    if (!DECIMAL.test(text) || text.length > 20) return undefined;
    const n = Number(text);
    return n <= max ? n : undefined;
  };
  const pid = decimal(pidText, 2 ** 31 - 1);
  const timeMs = decimal(timeText, Number.MAX_SAFE_INTEGER);
  if (pid === undefined || pid === 0 || timeMs === undefined) return undefined;
  const owner: ThreadIdentity = { pid };
  const known = [pStart, tidText, tStart].map((f) => f !== '-');
  const shape = known.join();
  if (shape !== 'false,false,false' && shape !== 'true,false,false' && shape !== 'true,true,true') return undefined;
  if (known[0]) {
    if (!DECIMAL.test(pStart) || pStart.length > 20) return undefined;
    owner.processStart = pStart;
  }
  if (known[1]) {
    const tid = decimal(tidText, 2 ** 31 - 1);
    if (tid === undefined || tid === 0 || !DECIMAL.test(tStart) || tStart.length > 20) return undefined;
    owner.threadId = tid;
    owner.threadStart = tStart;
  }
  if (boot !== '-') {
    if (!isBootId(boot)) return undefined;
    owner.bootId = boot;
  }
  return { owner, timeMs, nonce };
}

/** "thread 12 of process 10" / "process 10", for messages. */
export function describeOwner(owner: ThreadIdentity): string {
  return owner.threadId === undefined ? `process ${owner.pid}` : `thread ${owner.threadId} of process ${owner.pid}`;
}
