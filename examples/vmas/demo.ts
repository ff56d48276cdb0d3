/**
 * `npm start`: this machine's real memory maps, kept the way the kernel keeps VMAs — one maple
 * tree per address space, key = byte address, value = { perms, path, offset } — in a durable
 * store. It answers the kernel's own questions (which mapping holds an address, where is the
 * largest hole, where would mmap put a new mapping), shows a snapshot outliving an munmap, then
 * closes, reopens and answers again by reads alone, so the version it ends on is the file's.
 *
 * MAPLE_DEMO_PROC=<dir> reads a /proc-like tree instead of /proc (the tests use it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ReadView, open } from '../../src/index.js';
import { type Mapping, type ProcessMaps, parseMaps, readAllMaps } from './procMaps.js';

interface Vma {
  perms: string;
  path: string;
  offset: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE_BYTES = 4 * KiB;
/** x86-64 user space ends below 2^47 (4-level page tables); larger machines are covered by taking the highest mapping too. */
const USER_TOP_MIN = 2 ** 47 - 1;
/** The kernel keeps at least this much room between the stack and mmap_base (mm/util.c's MIN_GAP). */
const MIN_STACK_GAP_BYTES = 128 * MiB;
/** The kernel's stack_guard_gap default: 256 pages. */
const STACK_GUARD_GAP_BYTES = 256 * PAGE_BYTES;
const NEW_MAPPING_BYTES = 1 * MiB;
/** Width of the labels ("the stack", "a null pointer", …) in the answers. */
const LABEL_WIDTH = 16;

/** Used only where no /proc/<pid>/maps can be read at all (not Linux): a small real-looking layout. */
const SAMPLE_MAPS = `55d0c1400000-55d0c1402000 r--p 00000000 fe:00 260131 /usr/bin/cat
55d0c1402000-55d0c1407000 r-xp 00002000 fe:00 260131 /usr/bin/cat
55d0c1407000-55d0c140a000 r--p 00007000 fe:00 260131 /usr/bin/cat
55d0c19f1000-55d0c1a12000 rw-p 00000000 00:00 0 [heap]
7f3c2a200000-7f3c2a228000 r--p 00000000 fe:00 262402 /usr/lib/x86_64-linux-gnu/libc.so.6
7f3c2a228000-7f3c2a3bd000 r-xp 00028000 fe:00 262402 /usr/lib/x86_64-linux-gnu/libc.so.6
7f3c2a3bd000-7f3c2a415000 r--p 001bd000 fe:00 262402 /usr/lib/x86_64-linux-gnu/libc.so.6
7f3c2a415000-7f3c2a419000 rw-p 00214000 fe:00 262402 /usr/lib/x86_64-linux-gnu/libc.so.6
7f3c2a5e0000-7f3c2a5e2000 r-xp 00000000 00:00 0 [vdso]
7ffd12c3e000-7ffd12c5f000 rw-p 00000000 00:00 0 [stack]
`;

// ---------------------------------------------------------------- formatting

let hexWidth = 12;
const addr = (n: number): string => n.toString(16).padStart(hexWidth, '0');
const span = (first: number, last: number): string => `${addr(first)}-${addr(last)}`;
const int = (n: number): string => n.toLocaleString('en-US');

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1).replace(/\.0$/, '')} ${units[u]}`;
}

function vma(v: Vma): string {
  const where = v.path || '(anonymous)';
  return `${v.perms} ${where}${v.offset ? ` +0x${v.offset.toString(16)}` : ''}`;
}

// ---------------------------------------------------------------- reading this machine

function readSmallNumber(file: string, fallback: number): number {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** The soft stack limit from /proc/<pid>/limits; 8 MiB (the usual default) when unreadable or unlimited. */
function stackLimitBytes(procRoot: string, pid: number): number {
  try {
    const text = fs.readFileSync(path.join(procRoot, String(pid), 'limits'), 'utf8');
    const m = /^Max stack size\s+(\d+)/m.exec(text);
    if (m) return Number(m[1]);
  } catch {
    // not readable: use the default below
  }
  return 8 * MiB;
}

// ---------------------------------------------------------------- the kernel's questions

/** The places the demo asks about, chosen once so the answers can be compared after reopening. */
interface Probes {
  labelled: [label: string, address: number][];
  /** Gap search window: [mmap_min_addr, top of user space]. */
  low: number;
  high: number;
  /** Top-down mmap searches below this (exclusive): the estimated mmap_base. */
  mmapBase: number;
}

function pickProbes(maps: ProcessMaps, mmapMin: number, stackLimit: number): Probes {
  const ms = maps.mappings;
  const stack = ms.find((m) => m.path === '[stack]');
  // A process without [heap] (static-pie, some runtimes) still has anonymous rw memory: take the largest.
  const heap = ms.find((m) => m.path === '[heap]') ?? largest(ms.filter((m) => m.path === '' && m.perms.startsWith('rw')));
  const labelled: [string, number][] = [];
  if (stack) labelled.push(['the stack', stack.last - 0x7ff]);
  if (heap) labelled.push([heap.path === '[heap]' ? 'the heap' : 'anonymous memory', heap.first + Math.floor(Math.random() * (heap.last - heap.first + 1))]);
  labelled.push(['a null pointer', 0x10]);
  const high = Math.max(USER_TOP_MIN, ms.at(-1)?.last ?? 0);
  // mm/util.c: gap = clamp(stack rlimit + guard gap, MIN_GAP, …); mmap_base = page-aligned stack top − gap (minus randomisation).
  const stackTop = stack ? stack.last + 1 : high + 1;
  const gap = Math.max(MIN_STACK_GAP_BYTES, stackLimit + STACK_GUARD_GAP_BYTES);
  const ceiling = Math.floor((stackTop - gap) / PAGE_BYTES) * PAGE_BYTES;
  // The kernel also subtracts a random offset (up to TiBs), and the process's first mmap landed
  // right under that mmap_base: the top of the highest mapping below the ceiling is the best estimate.
  let mmapBase = ceiling;
  for (let i = ms.length - 1; i >= 0; i--) {
    const m = ms[i]!;
    if (m.last < ceiling && m !== stack) {
      mmapBase = m.last + 1;
      break;
    }
  }
  return { labelled, low: mmapMin, high, mmapBase };
}

function largest(ms: Mapping[]): Mapping | undefined {
  let best: Mapping | undefined;
  for (const m of ms) if (!best || m.last - m.first > best.last - best.first) best = m;
  return best;
}

/**
 * The largest free gap in [low, high] by gap search alone: double the size while emptyArea still
 * finds room, then binary-search between the last success and the first failure. Each probe is
 * O(log n) thanks to the per-child gap fields, so the whole search is O(log n · log range).
 */
function largestGap(view: ReadView<Vma>, low: number, high: number): { first: number; sizeBytes: number; probes: number } | undefined {
  let probes = 0;
  const fits = (size: number): boolean => {
    probes++;
    return view.emptyArea(low, high, size) !== undefined;
  };
  const window = high - low + 1;
  if (!fits(1)) return undefined;
  let good = 1;
  let bad = window + 1; // no gap can be longer than the window
  for (let size = 2; size <= window; size *= 2) {
    if (!fits(size)) {
      bad = size;
      break;
    }
    good = size;
  }
  while (bad - good > 1) {
    const mid = good + Math.floor((bad - good) / 2);
    if (fits(mid)) good = mid;
    else bad = mid;
  }
  return { first: view.emptyArea(low, high, good)!, sizeBytes: good, probes };
}

/** The same answer by walking every range: the cross-check that the gap fields are right. */
function largestGapByWalk(view: ReadView<Vma>, low: number, high: number): { first: number; sizeBytes: number; ranges: number } {
  let best = { first: low, sizeBytes: 0 };
  let next = low; // lowest address not yet known to be mapped
  let ranges = 0;
  for (const r of view.ranges(low, high)) {
    ranges++;
    if (r.first > next && r.first - next > best.sizeBytes) best = { first: next, sizeBytes: r.first - next };
    next = Math.max(next, r.last + 1);
  }
  if (next <= high && high - next + 1 > best.sizeBytes) best = { first: next, sizeBytes: high - next + 1 };
  return { ...best, ranges };
}

/** Lines answering the questions, by reads alone (so asking again after reopening changes nothing). */
function answer(view: ReadView<Vma>, probes: Probes): { lines: string[]; newMapping?: number; ok: boolean } {
  const lines: string[] = ['which range holds an address (entry)'];
  let ok = true;
  for (const [label, at] of probes.labelled) {
    const r = view.entry(at);
    if (r) {
      lines.push(`  ${label.padEnd(LABEL_WIDTH)} 0x${addr(at)}  in ${span(r.first, r.last)} ${vma(r.value)}`);
    } else {
      const above = view.find(at);
      lines.push(`  ${label.padEnd(LABEL_WIDTH)} 0x${addr(at)}  unmapped; next mapping up: ${above ? `${span(above.first, above.last)} ${vma(above.value)}` : 'none'}`);
    }
  }
  const gap = largestGap(view, probes.low, probes.high);
  const walked = largestGapByWalk(view, probes.low, probes.high);
  if (gap) {
    const agrees = gap.sizeBytes === walked.sizeBytes && gap.first === walked.first;
    ok &&= agrees;
    lines.push(`largest free gap (emptyArea: ${gap.probes} searches, each O(log n))`);
    lines.push(`  ${span(gap.first, gap.first + gap.sizeBytes - 1)} ${bytes(gap.sizeBytes)}; a walk over all ${int(walked.ranges)} ranges ${agrees ? 'agrees' : `DISAGREES (${span(walked.first, walked.first + walked.sizeBytes - 1)})`}`);
  } else {
    ok &&= walked.sizeBytes === 0;
    lines.push('largest free gap: none, the whole window is mapped');
  }
  // mmap places a new mapping top-down, at the highest gap that fits below mmap_base.
  const newMapping = view.emptyAreaRev(probes.low, probes.mmapBase - 1, NEW_MAPPING_BYTES);
  lines.push(`where a new ${bytes(NEW_MAPPING_BYTES)} mapping goes, top-down as mmap places it (emptyAreaRev below mmap_base ≈ ${addr(probes.mmapBase)})`);
  if (newMapping === undefined) {
    lines.push('  nowhere: no gap that large below mmap_base');
  } else {
    const above = view.find(newMapping + NEW_MAPPING_BYTES);
    const touching = above && above.first === newMapping + NEW_MAPPING_BYTES;
    lines.push(`  ${span(newMapping, newMapping + NEW_MAPPING_BYTES - 1)}${touching ? `, right under ${vma(above.value)}` : ''}`);
  }
  return { lines, newMapping, ok };
}

// ---------------------------------------------------------------- the demo

function main(): number {
  const procRoot = process.env.MAPLE_DEMO_PROC ?? '/proc';
  const all = readAllMaps(procRoot);
  let chosen: ProcessMaps | undefined;
  for (const p of all.processes) if (!chosen || p.mappings.length > chosen.mappings.length) chosen = p;
  const out: string[] = [
    'maple-store demo: the memory maps of a process on this machine, kept in a file the way the Linux',
    'kernel keeps them in memory: each mapped address range with its permissions and file (a VMA),',
    'in one maple tree per process.',
    '',
  ];
  if (!chosen) {
    chosen = { pid: 0, command: 'sample', ...parseMaps(SAMPLE_MAPS) };
    out.push(`no /proc/<pid>/maps readable under ${procRoot}: using a built-in sample layout`);
  } else {
    const mappings = all.processes.reduce((n, p) => n + p.mappings.length, 0);
    const mapped = all.processes.reduce((n, p) => n + p.mappings.reduce((b, m) => b + m.last - m.first + 1, 0), 0);
    const how = all.selfOnly ? 'only /proc/self/maps was readable' : `${int(all.processes.length)} processes${all.unreadable ? `, ${int(all.unreadable)} unreadable skipped` : ''}`;
    out.push(`read ${how}: ${int(mappings)} mappings covering ${bytes(mapped)}`);
  }
  const maps = chosen;
  hexWidth = Math.max(12, (maps.mappings.at(-1)?.last ?? 0).toString(16).length);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-demo-'));
  const file = path.join(dir, `pid-${maps.pid}.maple`);
  let store = open<Vma>(file);
  store.transaction((txn) => {
    for (const m of maps.mappings) txn.insert(m.first, m.last, { perms: m.perms, path: m.path, offset: m.offset });
  });
  const left = maps.unaddressable.length ? ` (${maps.unaddressable.length} above 2^53 left out, e.g. [vsyscall])` : '';
  out.push(`stored pid ${maps.pid} (${maps.command || '?'}), the one with the most: ${int(maps.mappings.length)} ranges in one commit${left}`);
  out.push(`  file ${file}`);

  const mmapMin = readSmallNumber(path.join(procRoot, 'sys/vm/mmap_min_addr'), 64 * KiB);
  const probes = pickProbes(maps, mmapMin, stackLimitBytes(procRoot, maps.pid));
  const first = answer(store, probes);
  out.push('', ...first.lines);
  let ok = first.ok;

  if (first.newMapping !== undefined) {
    // mmap, then munmap, with a snapshot taken between them: it keeps reading the mapped version.
    const at = store.allocRangeRev(NEW_MAPPING_BYTES, probes.low, probes.mmapBase - 1, { perms: 'rw-p', path: '[demo mmap]', offset: 0 });
    const snap = store.snapshot();
    store.erase(at);
    const now = store.load(at);
    const then = snap.load(at);
    ok &&= at === first.newMapping && now === undefined && then !== undefined;
    out.push('', `a snapshot keeps reading its version: map that ${bytes(NEW_MAPPING_BYTES)} (allocRangeRev), take a snapshot, unmap it (erase)`);
    out.push(`  store    v${store.version} load(0x${addr(at)}) -> ${now ? vma(now) : 'nothing'}`);
    out.push(`  snapshot v${snap.version} load(0x${addr(at)}) -> ${then ? vma(then) : 'nothing'}`);
    snap.close();
  }
  store.close();

  store = open<Vma>(file);
  const s = store.stats();
  const again = answer(store, probes);
  const same = again.lines.join('\n') === first.lines.join('\n');
  let checked = 'ok';
  try {
    store.check();
  } catch (err) {
    checked = `FAILED: ${(err as Error).message}`;
    ok = false;
  }
  ok &&= again.ok && same;
  // Everything after reopening only reads: the version now is the file's version.
  const version = store.version;
  store.close();
  out.push('', `closed and reopened (recovery validated ${int(s.recovery.cellsValidated)} cells): same answers: ${same ? 'yes' : 'NO'}; check(): ${checked}`);
  out.push(`  ${int(s.ranges)} ranges in a tree of height ${s.height}, ${int(s.nodes)} node${s.nodes === 1 ? '' : 's'} of 256 bytes, file ${bytes(s.fileBytes)}`);
  out.push('', `the file ${file} is at version ${version}; inspect it: npx maple stats ${file}`);
  console.log(out.join('\n'));
  return ok ? 0 : 1;
}

process.exitCode = main();
