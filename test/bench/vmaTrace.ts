// Real VMA traces: the mmap/munmap/mprotect/mremap/brk calls of a few programs run on this machine,
// recorded with strace and turned into range operations (what the kernel's maple tree sees), then
// replayed against every engine.
//
// Each traced address space gets its own slice of the key space: key = space × 2^36 + page number
// (x86-64 user addresses are below 2^47, so pages fit in 36 bits and 2^17 spaces stay ≤ 2^53).
// Threads (CLONE_VM) share their parent's space; fork copies it; execve starts a fresh one.
// If strace can't trace here (ptrace restrictions), the trace is derived from snapshots of
// /proc/<pid>/maps taken while the programs run, and the output says so.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Writer } from './engines/engine.js';
import type { Digest } from './checksum.js';
import type { ValueShape } from './values.js';

const PAGE_BYTES = 4096;
const PAGES_PER_SPACE = 2 ** 36;
const MAX_SPACES = 2 ** 17 - 1;
const STRACE = '/usr/bin/strace';
const TRACED_CALLS = 'mmap,munmap,mprotect,mremap,brk,execve,clone,clone3,fork,vfork';

export type TraceOp =
  | { kind: 'map'; first: number; last: number; id: number; prot: number }
  | { kind: 'unmap'; first: number; last: number }
  | { kind: 'protect'; first: number; last: number; prot: number }
  | { kind: 'move'; fromFirst: number; fromLast: number; toFirst: number; toLast: number; id: number }
  | { kind: 'fork'; fromSpace: number; toSpace: number };

export interface TraceProgram {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
}

export interface TraceRecording {
  readonly source: 'strace' | 'proc-maps';
  readonly note: string;
  readonly programs: string[];
  readonly ops: TraceOp[];
  readonly callCounts: Record<string, number>;
}

/** Programs to trace: a JS runtime, a compiler driver (fork + exec), a sort, a Python start. */
export function defaultPrograms(workDir: string, quick: boolean): TraceProgram[] {
  const source = path.join(workDir, 'trace-input.c');
  fs.writeFileSync(source, 'int square(int x) { return x * x; }\nint main(void) { return square(3) - 9; }\n');
  const lines = path.join(workDir, 'trace-input.txt');
  fs.writeFileSync(lines, Array.from({ length: 200_000 }, (_, i) => `${(i * 7919) % 200_003}\n`).join(''));
  const node: TraceProgram = {
    label: 'node (allocating 200k objects and 64 MiB of buffers)',
    command: process.execPath,
    args: ['-e', 'const a=[];for(let i=0;i<2e5;i++)a.push({i,s:String(i)});const b=[];for(let i=0;i<64;i++)b.push(Buffer.alloc(1<<20));'],
  };
  const sort: TraceProgram = { label: 'sort (200k lines)', command: 'sort', args: ['-n', '-o', path.join(workDir, 'trace-sorted.txt'), lines] };
  if (quick) return [node, sort];
  return [
    node,
    sort,
    { label: 'gcc -O2 -c (driver, cc1, as)', command: 'gcc', args: ['-O2', '-c', source, '-o', path.join(workDir, 'trace-output.o')] },
    { label: 'python3 (import json, sqlite3)', command: 'python3', args: ['-c', 'import json, sqlite3; print(len(json.dumps(list(range(100000)))))'] },
  ];
}

function commandExists(command: string): boolean {
  if (command.includes('/')) return fs.existsSync(command);
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function straceWorks(workDir: string): boolean {
  if (!fs.existsSync(STRACE)) return false;
  const out = path.join(workDir, 'strace-probe.txt');
  const probe = spawnSync(STRACE, ['-f', '-qq', '-e', 'trace=brk', '-o', out, 'true'], { stdio: 'ignore', timeout: 10_000 });
  return probe.status === 0 && fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('brk(');
}

/** `useStrace` can be forced off to exercise the /proc maps fallback. */
export async function recordTrace(programs: TraceProgram[], workDir: string, useStrace = straceWorks(workDir)): Promise<TraceRecording> {
  const available = programs.filter((program) => commandExists(program.command));
  const builder = new TraceBuilder();
  if (useStrace) {
    available.forEach((program, index) => {
      const out = path.join(workDir, `strace-${index}.txt`);
      spawnSync(STRACE, ['-f', '-qq', '-e', `trace=${TRACED_CALLS}`, '-o', out, program.command, ...program.args], {
        stdio: 'ignore',
        timeout: 60_000,
      });
      if (fs.existsSync(out)) builder.addStraceLog(fs.readFileSync(out, 'utf8'));
    });
    return {
      source: 'strace',
      note: `recorded with ${STRACE} -f (${TRACED_CALLS})`,
      programs: available.map((program) => program.label),
      ops: builder.ops,
      callCounts: builder.callCounts,
    };
  }
  for (const program of available) await builder.addMapsSnapshots(program);
  return {
    source: 'proc-maps',
    note: 'strace could not trace here (ptrace restricted): trace DERIVED from snapshots of /proc/<pid>/maps every ~2 ms, so short-lived mappings are missed',
    programs: available.map((program) => program.label),
    ops: builder.ops,
    callCounts: builder.callCounts,
  };
}

interface SpaceState {
  id: number;
  users: number;
  brkStart: number | undefined;
  brkCurrent: number | undefined;
}

/** Turns system calls (or maps snapshots) into range operations on per-space key slices. */
class TraceBuilder {
  readonly ops: TraceOp[] = [];
  readonly callCounts: Record<string, number> = {};
  private nextSpace = 1;
  private spaceOfPid = new Map<number, SpaceState>();

  private newSpace(): SpaceState {
    if (this.nextSpace > MAX_SPACES) throw new Error('trace has too many address spaces for the key layout');
    return { id: this.nextSpace++, users: 1, brkStart: undefined, brkCurrent: undefined };
  }

  private spaceOf(pid: number): SpaceState {
    let space = this.spaceOfPid.get(pid);
    if (space === undefined) {
      space = this.newSpace();
      this.spaceOfPid.set(pid, space);
    }
    return space;
  }

  /** Keys of the pages covering [address, address + lengthBytes). */
  private pages(space: SpaceState, address: number, lengthBytes: number): [number, number] | undefined {
    if (lengthBytes <= 0 || address + lengthBytes > PAGES_PER_SPACE * PAGE_BYTES) return undefined;
    const base = space.id * PAGES_PER_SPACE;
    return [base + Math.floor(address / PAGE_BYTES), base + Math.floor((address + lengthBytes - 1) / PAGE_BYTES)];
  }

  private count(call: string): void {
    this.callCounts[call] = (this.callCounts[call] ?? 0) + 1;
  }

  addStraceLog(text: string): void {
    const pending = new Map<number, string>();
    for (const rawLine of text.split('\n')) {
      const head = /^(\d+)\s+(.*)$/.exec(rawLine);
      if (head === null) continue;
      const pid = Number(head[1]);
      let body = head[2]!;
      if (body.endsWith('<unfinished ...>')) {
        pending.set(pid, body.slice(0, -'<unfinished ...>'.length).trimEnd());
        continue;
      }
      const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(body);
      if (resumed !== null) {
        body = (pending.get(pid) ?? '') + resumed[1]!;
        pending.delete(pid);
      }
      const call = /^(\w+)\((.*)\)\s*=\s*(-?\w+)/.exec(body);
      if (call !== null) this.applyCall(pid, call[1]!, call[2]!, call[3]!);
    }
  }

  private applyCall(pid: number, name: string, args: string, result: string): void {
    if (result.startsWith('-') || result === '?') return; // failed calls change nothing
    const value = Number(result); // Number() reads both decimal and 0x… results
    const parts = args.split(', ');
    const number = (at: number): number => (parts[at] === 'NULL' ? 0 : Number(parts[at]));
    this.count(name);
    const space = this.spaceOf(pid);
    switch (name) {
      case 'mmap': {
        const keys = this.pages(space, value, number(1));
        if (keys) this.ops.push({ kind: 'map', first: keys[0], last: keys[1], id: this.ops.length, prot: protBits(parts[2] ?? '') });
        return;
      }
      case 'munmap': {
        const keys = this.pages(space, number(0), number(1));
        if (keys) this.ops.push({ kind: 'unmap', first: keys[0], last: keys[1] });
        return;
      }
      case 'mprotect': {
        const keys = this.pages(space, number(0), number(1));
        if (keys) this.ops.push({ kind: 'protect', first: keys[0], last: keys[1], prot: protBits(parts[2] ?? '') });
        return;
      }
      case 'mremap': {
        const from = this.pages(space, number(0), number(1));
        const to = this.pages(space, value, number(2));
        if (from && to) this.ops.push({ kind: 'move', fromFirst: from[0], fromLast: from[1], toFirst: to[0], toLast: to[1], id: this.ops.length });
        return;
      }
      case 'brk':
        this.applyBrk(space, number(0), value);
        return;
      case 'execve':
        this.leaveSpace(pid);
        this.spaceOfPid.set(pid, this.newSpace());
        return;
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork':
        this.applyClone(space, name === 'vfork' || /CLONE_VM\b/.test(args), value);
        return;
      default:
        return;
    }
  }

  private applyBrk(space: SpaceState, requested: number, result: number): void {
    if (space.brkStart === undefined || space.brkCurrent === undefined) {
      space.brkStart = result; // the first brk (normally brk(NULL)) reports the heap start
      space.brkCurrent = result;
      if (requested === 0) return;
    }
    const base = space.id * PAGES_PER_SPACE;
    if (result > space.brkCurrent) {
      const keys = this.pages(space, space.brkStart, result - space.brkStart);
      if (keys) this.ops.push({ kind: 'map', first: keys[0], last: keys[1], id: this.ops.length, prot: 3 });
    } else if (result < space.brkCurrent) {
      const firstFreed = base + Math.ceil(result / PAGE_BYTES);
      const lastFreed = base + Math.floor((space.brkCurrent - 1) / PAGE_BYTES);
      if (lastFreed >= firstFreed) this.ops.push({ kind: 'unmap', first: firstFreed, last: lastFreed });
    }
    space.brkCurrent = result;
  }

  private applyClone(parent: SpaceState, sharesMemory: boolean, childPid: number): void {
    if (!(childPid > 0)) return;
    if (sharesMemory) {
      parent.users++;
      this.spaceOfPid.set(childPid, parent);
      return;
    }
    const child = this.newSpace();
    child.brkStart = parent.brkStart;
    child.brkCurrent = parent.brkCurrent;
    this.spaceOfPid.set(childPid, child);
    this.ops.push({ kind: 'fork', fromSpace: parent.id, toSpace: child.id });
  }

  /** execve: the old space dies with its last user. */
  private leaveSpace(pid: number): void {
    const space = this.spaceOfPid.get(pid);
    if (space === undefined) return;
    space.users--;
    if (space.users === 0) {
      const base = space.id * PAGES_PER_SPACE;
      this.ops.push({ kind: 'unmap', first: base, last: base + PAGES_PER_SPACE - 1 });
    }
  }

  /** Fallback: diff successive /proc/<pid>/maps snapshots of a running program. */
  async addMapsSnapshots(program: TraceProgram): Promise<void> {
    const child = spawn(program.command, [...program.args], { stdio: 'ignore' });
    const pid = child.pid;
    if (pid === undefined) return;
    const space = this.newSpace();
    let previous = new Map<string, [number, number, number]>();
    let running = true;
    child.on('exit', () => {
      running = false;
    });
    while (running) {
      let text: string;
      try {
        text = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      } catch {
        break;
      }
      const current = new Map<string, [number, number, number]>();
      for (const line of text.split('\n')) {
        const match = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})/.exec(line);
        if (match === null) continue;
        const start = parseInt(match[1]!, 16);
        const keys = this.pages(space, start, parseInt(match[2]!, 16) - start);
        if (keys) current.set(`${keys[0]}:${keys[1]}:${match[3]}`, [keys[0], keys[1], protFromPerms(match[3]!)]);
      }
      for (const [key, [first, last]] of previous) if (!current.has(key)) this.ops.push({ kind: 'unmap', first, last });
      for (const [key, [first, last, prot]] of current) {
        if (!previous.has(key)) this.ops.push({ kind: 'map', first, last, id: this.ops.length, prot });
      }
      this.count('maps-snapshot');
      previous = current;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await new Promise<void>((resolve) => (running ? child.on('exit', () => resolve()) : resolve()));
  }
}

function protBits(text: string): number {
  let prot = 0;
  if (text.includes('PROT_READ')) prot |= 1;
  if (text.includes('PROT_WRITE')) prot |= 2;
  if (text.includes('PROT_EXEC')) prot |= 4;
  return prot;
}

function protFromPerms(perms: string): number {
  return (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0);
}

/** Replays one operation as its own transaction, folding what it read into `digest`. */
export function replayOp(op: TraceOp, writer: Writer, digest: Digest, shape: ValueShape): void {
  switch (op.kind) {
    case 'map':
      writer.store(op.first, op.last, shape.make(op.id, op.prot));
      return;
    case 'unmap':
      writer.clear(op.first, op.last);
      return;
    case 'protect': {
      // mprotect splits the mappings it covers; holes stay holes.
      const pieces: [number, number, number][] = [];
      writer.ranges(op.first, op.last, (first, last, value) => {
        pieces.push([Math.max(first, op.first), Math.min(last, op.last), shape.idOf(value)]);
      });
      for (const [first, last, id] of pieces) {
        writer.store(first, last, shape.make(id, op.prot));
        digest.add(first);
      }
      digest.add(pieces.length);
      return;
    }
    case 'move': {
      const moved = writer.load(op.fromFirst);
      digest.addValue(moved);
      writer.clear(op.fromFirst, op.fromLast);
      writer.store(op.toFirst, op.toLast, moved ?? shape.make(op.id, 3));
      return;
    }
    case 'fork': {
      const from = op.fromSpace * PAGES_PER_SPACE;
      const shift = (op.toSpace - op.fromSpace) * PAGES_PER_SPACE;
      const copies: [number, number, unknown][] = [];
      writer.ranges(from, from + PAGES_PER_SPACE - 1, (first, last, value) => copies.push([first, last, value]));
      for (const [first, last, value] of copies) writer.store(first + shift, last + shift, shape.make(shape.idOf(value), shape.protOf(value)));
      digest.add(copies.length);
      return;
    }
  }
}
