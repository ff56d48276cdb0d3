#!/usr/bin/env node
/**
 * `maple`: the command-line tool for maple-store files (bbolt ships its checker the same way).
 *
 *   maple stats FILE [--json]        maple check FILE [--verbose]
 *   maple dump FILE [--from N] [--to N]        maple help [COMMAND]
 *
 * Exit codes: 0 success, 1 failure (a corrupt or unreadable store), 2 usage error.
 * Every command lives in the COMMANDS table below: adding one is adding an entry.
 * Argument parsing is hand-written on purpose: the package has no runtime dependency but msgpackr.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MapleError, open } from '../index.js';
import { rollBack, salvage } from '../../recovery/tools/surgery.js';
import { MAX_INDEX } from '../common/limits.js';

/** Where a command writes: injectable so main() can be driven without a child process. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  /** Arguments after the command name, as shown in the usage text. */
  readonly args: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Returns the exit code. Throw UsageError for bad arguments (exit 2 with the usage). */
  run(argv: string[], io: CliIO): number | Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {}

// ---------------------------------------------------------------- arguments

export interface ParsedArgs {
  positional: string[];
  flags: Set<string>;
  values: Map<string, string>;
}

/**
 * Splits argv into positionals, boolean `--flags` and `--name value` / `--name=value` options.
 * Anything not declared is a UsageError; `--` ends the options.
 */
export function parseArgs(argv: readonly string[], spec: { flags?: readonly string[]; values?: readonly string[] }): ParsedArgs {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.flags?.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (spec.values?.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { positional, flags, values };
}

/** Parses an index given in decimal or 0x-hex, 0 ≤ n ≤ MAX_INDEX. */
export function parseIndex(name: string, text: string): number {
  const t = text.trim().replace(/_/g, '');
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number(BigInt(t)) : /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_INDEX) throw new UsageError(`--${name} must be an integer from 0 to ${MAX_INDEX} (decimal or 0x hex); got ${JSON.stringify(text)}`);
  return n;
}

/** The single FILE argument of a command. */
function fileArg(parsed: ParsedArgs): string {
  if (parsed.positional.length === 0) throw new UsageError('missing FILE');
  if (parsed.positional.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positional[1])}`);
  return parsed.positional[0]!;
}

// ---------------------------------------------------------------- formatting

function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Flattens nested objects to dotted keys: { recovery: { commit: 3 } } → recovery.commit. */
function flatten(obj: object, prefix = '', out: [string, unknown][] = []): [string, unknown][] {
  for (const [key, value] of Object.entries(obj)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) flatten(value as object, `${prefix}${key}.`, out);
    else out.push([`${prefix}${key}`, value]);
  }
  return out;
}

/** `key: value` lines with the values aligned; byte counts also shown in KiB/MiB. */
export function formatKeyValues(obj: object): string {
  const rows = flatten(obj);
  const width = Math.max(0, ...rows.map(([k]) => k.length + 1));
  return rows
    .map(([key, value]) => {
      let text = typeof value === 'string' ? value : JSON.stringify(value);
      if (typeof value === 'number' && /Bytes$/.test(key) && value >= 1024) text += ` (${humanBytes(value)})`;
      return `${`${key}:`.padEnd(width)} ${text}`;
    })
    .join('\n');
}

/**
 * JSON for any value msgpackr round-trips: bytes become {"$hex"}, an ArrayBuffer or DataView
 * {"$ArrayBuffer"} or {"$DataView"} of hex (JSON.stringify prints them as {}, an empty object),
 * Set {"$set": items}, bigint {"$bigint": decimal}; Date keeps its ISO string. (Stored Maps load
 * as plain objects and print as such; {"$map": entries} is for a Map handed in directly.)
 */
export function valueToJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key]; // before toJSON: Buffer#toJSON would otherwise turn bytes into {type,data}
    if (raw instanceof Uint8Array) return { $hex: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex') };
    if (raw instanceof ArrayBuffer) return { $ArrayBuffer: Buffer.from(raw).toString('hex') };
    if (raw instanceof DataView) return { $DataView: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex') };
    if (raw instanceof Map) return { $map: [...raw.entries()] };
    if (raw instanceof Set) return { $set: [...raw] };
    if (typeof raw === 'bigint') return { $bigint: raw.toString() };
    // JSON has no NaN, Infinity, -0, dates or other typed arrays: printed plainly they would read
    // as null, 0, a string or an object of numbered keys.
    if (typeof raw === 'number' && (!Number.isFinite(raw) || Object.is(raw, -0))) return { $number: Object.is(raw, -0) ? '-0' : String(raw) };
    if (raw instanceof Date) return { $date: Number.isNaN(raw.getTime()) ? 'Invalid Date' : raw.toISOString() };
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) return { [`$${raw.constructor.name}`]: Array.from(raw as unknown as ArrayLike<number | bigint>) };
    if (raw instanceof RegExp) return { $regexp: String(raw) };
    if (raw instanceof Error) return { $error: { name: raw.name, message: raw.message } };
    if (raw === undefined && Object.prototype.hasOwnProperty.call(this, key)) return { $undefined: true };
    return v;
  }) ?? 'null';
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** ENOENT/EACCES/EISDIR…: the file could not be opened, as opposed to opened and found bad. */
function cannotRead(err: unknown): boolean {
  if (err instanceof MapleError) {
    if (err.code === 'ENOENT' || err.code === 'ELOCKED') return true;
    // open() wraps a failed system call in EIO with the original error as its cause.
    return err.code === 'EIO' && cannotRead(err.cause);
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- commands

/** Opens FILE read-only; a failure to open is reported by the caller. */
function openReadOnly(file: string) {
  return open(file, { readOnly: true, create: false });
}

const stats: Command = {
  args: 'FILE [--json]',
  summary: 'print the store\'s statistics (ranges, height, nodes, bytes, recovery)',
  run(argv, io) {
    const parsed = parseArgs(argv, { flags: ['json'] });
    const file = fileArg(parsed);
    const store = openReadOnly(file);
    try {
      const s = store.stats();
      io.out(parsed.flags.has('json') ? `${JSON.stringify(s, null, 2)}\n` : `${formatKeyValues(s)}\n`);
    } finally {
      store.close();
    }
    return EXIT_OK;
  },
};

const check: Command = {
  args: 'FILE [--verbose]',
  summary: 'verify every checksum and invariant: exit 0 "ok: …" or exit 1 "corrupt: …"',
  run(argv, io) {
    const parsed = parseArgs(argv, { flags: ['verbose'] });
    const file = fileArg(parsed);
    const verbose = parsed.flags.has('verbose');
    let store;
    try {
      store = openReadOnly(file);
    } catch (err) {
      // Opening reads the header and runs recovery, so ENOTSTORE and ECORRUPT surface here. A file
      // that cannot be read at all (missing, no permission) is not a verdict on its contents.
      if (cannotRead(err) || !isVerdict(err)) throw err;
      io.out(`corrupt: ${describeError(err)}\n`);
      return EXIT_FAILURE;
    }
    try {
      const s = store.stats();
      try {
        store.check();
      } catch (err) {
        // Only the file's own faults are a verdict; anything else (a bug, an I/O error) is reported as itself.
        if (!isVerdict(err)) throw err;
        io.out(`corrupt: ${describeError(err)}\n`);
        if (verbose) io.out(`${formatKeyValues(s)}\n`);
        return EXIT_FAILURE;
      }
      let verdict = `ok: ${s.ranges} ranges, ${s.nodes} nodes, commit ${s.version}`;
      if (s.recovery.fellBack) verdict += ` (recovered: newer commit ${s.recovery.rejected.join(', ')} did not validate and was ignored)`;
      io.out(`${verdict}\n`);
      if (verbose) io.out(`${formatKeyValues(s)}\n`);
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const dump: Command = {
  args: 'FILE [--from N] [--to N]',
  summary: 'print every range as "first-last 0xfirst-0xlast value" (value as JSON)',
  run(argv, io) {
    const parsed = parseArgs(argv, { values: ['from', 'to'] });
    const file = fileArg(parsed);
    const fromText = parsed.values.get('from');
    const toText = parsed.values.get('to');
    const from = fromText === undefined ? 0 : parseIndex('from', fromText);
    const to = toText === undefined ? MAX_INDEX : parseIndex('to', toText);
    if (from > to) throw new UsageError(`--from (${from}) must not be greater than --to (${to})`);
    const store = openReadOnly(file);
    // Batch writes: one syscall per line would dominate a dump of a million ranges.
    let chunk = '';
    try {
      for (const r of store.ranges(from, to)) {
        chunk += `${r.first}-${r.last} ${hex(r.first)}-${hex(r.last)} ${valueToJson(r.value)}\n`;
        if (chunk.length >= 1 << 16) {
          io.out(chunk);
          chunk = '';
        }
      }
    } finally {
      // On a corrupt node, everything before it is still printed (then the error, exit 1).
      if (chunk) io.out(chunk);
      store.close();
    }
    return EXIT_OK;
  },
};

const recover: Command = {
  args: 'FILE --to-commit N',
  summary: 'roll the store back to an older commit still in the commit ring (refused unless it checks out)',
  run(argv, io) {
    const parsed = parseArgs(argv, { values: ['to-commit'] });
    const file = fileArg(parsed);
    const text = parsed.values.get('to-commit');
    if (text === undefined) throw new UsageError('--to-commit N is required');
    const target = parseIndex('to-commit', text);
    try {
      const r = rollBack(file, target);
      io.out(`rolled back: commit ${r.to} (was ${r.from}) is now the newest, as commit ${r.newCommit}\n`);
      return EXIT_OK;
    } catch (err) {
      if (cannotRead(err) && !(err instanceof MapleError && (err.code === 'ECORRUPT' || err.code === 'EINVAL'))) throw err;
      io.out(`refused: ${describeError(err)}\n`);
      return EXIT_FAILURE;
    }
  },
};

const salvageCommand: Command = {
  args: 'FILE OUT',
  summary: 'copy every range that can still be read into a new store OUT',
  run(argv, io) {
    const parsed = parseArgs(argv, {});
    if (parsed.positional.length !== 2) throw new UsageError('salvage needs FILE and OUT');
    const [file, out] = parsed.positional as [string, string];
    // A refusal (exit 1), not a usage error: the command line is right, the file system is not
    // as it needs, as when OUT's directory is missing.
    if (fs.existsSync(out)) {
      io.err(`maple salvage: ${out} exists; salvage writes a new store\n`);
      return EXIT_FAILURE;
    }
    const r = salvage(file, out);
    io.out(`salvaged ${r.ranges} ranges from commit ${r.commit} into ${out}` + (r.skippedNodes || r.skippedValues ? ` (skipped ${r.skippedNodes} unreadable nodes, ${r.skippedValues} unreadable values)` : '') + '\n');
    return r.skippedNodes || r.skippedValues ? EXIT_FAILURE : EXIT_OK;
  },
};

const help: Command = {
  args: '[COMMAND]',
  summary: 'show this help, or one command\'s usage',
  run(argv, io) {
    const name = argv[0];
    if (name === undefined) {
      io.out(usage());
      return EXIT_OK;
    }
    const cmd = COMMANDS.get(name);
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    io.out(`usage: maple ${name} ${cmd.args}\n  ${cmd.summary}\n`);
    return EXIT_OK;
  },
};

/** The command table, in the order `maple help` lists them. Others add entries here. */
export const COMMANDS = new Map<string, Command>([
  ['stats', stats],
  ['check', check],
  ['dump', dump],
  ['recover', recover],
  ['salvage', salvageCommand],
  ['help', help],
]);

export function usage(): string {
  const rows = [...COMMANDS].map(([name, cmd]) => [`${name} ${cmd.args}`, cmd.summary] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    'maple: inspect maple-store files',
    '',
    'usage: maple <command> [arguments]',
    '',
    'commands:',
    ...rows.map(([left, summary]) => `  ${left.padEnd(width)}  ${summary}`),
    '',
    'N may be decimal or 0x hex. FILE is opened read-only, except by recover (which writes a commit record).',
    'exit status: 0 success, 1 corrupt or unreadable store or refused, 2 usage error',
    '',
  ].join('\n');
}

/** An error that says something about the file's contents: corrupt, or not a store at all. */
function isVerdict(err: unknown): boolean {
  return err instanceof MapleError && (err.code === 'ECORRUPT' || err.code === 'ENOTSTORE');
}

/** Runs one command line; returns the exit code. */
export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io.out(usage());
    return EXIT_OK;
  }
  const cmd = COMMANDS.get(name);
  if (!cmd) {
    io.err(`maple: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`maple ${name}: ${err.message}\nusage: maple ${name} ${cmd.args}\n`);
      return EXIT_USAGE;
    }
    io.err(`maple ${name}: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
}

const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** True when this file is the program being run (directly or through npm's bin symlink), not imported. */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    // The script path does not resolve (deleted, or not a file): not this module.
    return false;
  }
}

if (isMainModule()) {
  // `maple dump FILE | head` closes the pipe early: that is not an error worth a stack trace.
  // Any other failure to write the output (a full disk, `> /dev/full`) is exit 1 with a message,
  // not a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    process.stderr.write(`maple: cannot write the output: ${err.message}\n`);
    process.exit(EXIT_FAILURE);
  });
  process.exitCode = await main(process.argv.slice(2));
}
