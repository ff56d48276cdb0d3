/**
 * Reads Linux /proc/<pid>/maps: each line is one VMA of the process's address space,
 *
 *   start-end perms offset dev inode [path]
 *   7f3c2a000000-7f3c2a021000 rw-p 00000000 00:00 0          [heap]
 *
 * start/end/offset are hex, inode decimal, end is exclusive; path is the rest of the line and may
 * be empty or contain spaces. The demo stores these as closed ranges [first, last = end − 1], the
 * way the kernel's maple tree keys VMAs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Mapping {
  /** First byte address of the mapping. */
  readonly first: number;
  /** Last byte address (inclusive): the kernel's `end − 1`. */
  readonly last: number;
  /** `rwxp` / `rwxs` flags as printed by the kernel, e.g. `r-xp`. */
  readonly perms: string;
  /** File offset in bytes (0 for anonymous memory). */
  readonly offset: number;
  /** Device `major:minor` in hex, e.g. `fe:00`. */
  readonly dev: string;
  /** Inode number, kept as its decimal text: some filesystems use all 64 bits. */
  readonly inode: string;
  /** File path, `[heap]`/`[stack]`/`[vdso]`…, or '' for anonymous memory. */
  readonly path: string;
}

export interface ParsedMaps {
  mappings: Mapping[];
  /** Lines whose addresses lie above 2^53 − 1 (e.g. x86-64's `[vsyscall]` page in kernel space). */
  unaddressable: string[];
}

export interface ProcessMaps extends ParsedMaps {
  pid: number;
  /** The process's command name from /proc/<pid>/comm ('' if unreadable). */
  command: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+([-rwxsp]{4})\s+([0-9a-f]+)\s+([0-9a-f]+:[0-9a-f]+)\s+(\d+)(?:\s+(.*))?$/i;

/** Parses one maps line; throws on a line that is not in the kernel's format. */
export function parseMapsLine(line: string): Mapping | 'unaddressable' {
  const m = LINE.exec(line.trimEnd());
  if (!m) throw new Error(`not a /proc/<pid>/maps line: ${JSON.stringify(line)}`);
  const [, startHex, endHex, perms, offsetHex, dev, inode, rest] = m as unknown as [string, string, string, string, string, string, string, string | undefined];
  // BigInt first: a 64-bit address must not be silently rounded into a wrong key.
  const start = BigInt(`0x${startHex}`);
  const end = BigInt(`0x${endHex}`);
  if (end <= start) throw new Error(`maps line has end ≤ start: ${JSON.stringify(line)}`);
  if (end - 1n > BigInt(Number.MAX_SAFE_INTEGER)) return 'unaddressable';
  return {
    first: Number(start),
    last: Number(end - 1n),
    perms,
    // Offsets of real files are far below 2^53; a device offset above it would only lose low bits of a displayed number.
    offset: Number(BigInt(`0x${offsetHex}`)),
    dev,
    inode,
    path: rest ?? '',
  };
}

/** Parses a whole maps file's text. Blank lines are ignored. */
export function parseMaps(text: string): ParsedMaps {
  const mappings: Mapping[] = [];
  const unaddressable: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = parseMapsLine(line);
    if (parsed === 'unaddressable') unaddressable.push(line);
    else mappings.push(parsed);
  }
  return { mappings, unaddressable };
}

/** Errors that mean "this process is not ours to read or has just exited": skipped quietly. */
const RACE_CODES = new Set(['EACCES', 'EPERM', 'ENOENT', 'ESRCH', 'ENOTDIR']);

function isRace(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RACE_CODES.has(String((err as { code?: unknown }).code));
}

/** The text of /proc/<pid>/maps, or undefined when it is not ours to read or the process just exited. */
function readMapsText(pid: number | 'self', procRoot: string): string | undefined {
  try {
    return fs.readFileSync(path.join(procRoot, String(pid), 'maps'), 'utf8');
  } catch (err) {
    if (isRace(err)) return undefined;
    throw err;
  }
}

function toProcessMaps(pid: number | 'self', text: string, procRoot: string): ProcessMaps {
  let command = '';
  try {
    command = fs.readFileSync(path.join(procRoot, String(pid), 'comm'), 'utf8').trim();
  } catch (err) {
    if (!isRace(err)) throw err;
  }
  return { pid: pid === 'self' ? process.pid : pid, command, ...parseMaps(text) };
}

/** Reads one process's maps; undefined when it is unreadable, gone, or has no address space (kernel threads). */
export function readProcessMaps(pid: number | 'self', procRoot = '/proc'): ProcessMaps | undefined {
  const text = readMapsText(pid, procRoot);
  if (text === undefined || text.trim() === '') return undefined;
  return toProcessMaps(pid, text, procRoot);
}

export interface AllMaps {
  /** Every process with at least one mapping, by ascending pid. */
  processes: ProcessMaps[];
  /** Processes whose maps could not be read (permission denied, or exited while we listed). */
  unreadable: number;
  /** True when /proc could not be listed or nothing in it was readable and only /proc/self/maps was used. */
  selfOnly: boolean;
}

/**
 * Reads every readable /proc/<pid>/maps. Kernel threads (empty maps) are left out. When /proc
 * cannot be listed or no process is readable, falls back to /proc/self/maps, so the demo works
 * inside tight sandboxes.
 */
export function readAllMaps(procRoot = '/proc'): AllMaps {
  const processes: ProcessMaps[] = [];
  let unreadable = 0;
  let names: string[] = [];
  try {
    names = fs.readdirSync(procRoot);
  } catch (err) {
    if (!isRace(err)) throw err;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const text = readMapsText(pid, procRoot);
    if (text === undefined) unreadable++;
    else if (text.trim() !== '') processes.push(toProcessMaps(pid, text, procRoot));
  }
  let selfOnly = false;
  if (processes.length === 0) {
    const self = readProcessMaps('self', procRoot);
    if (self) {
      processes.push(self);
      selfOnly = true;
    }
  }
  processes.sort((a, b) => a.pid - b.pid);
  return { processes, unreadable, selfOnly };
}
