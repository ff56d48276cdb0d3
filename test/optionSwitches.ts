/**
 * The harness of test/optionSwitches.test.ts: sessions on one SimulatedDisk, each opened with different options (protocol, sync,
 * packValues, sharedStructures, cacheSize), read-only opens in between, crash images at every disk
 * event checked against the reference at the acknowledged version.
 */
import { CRASH_MODES, SimulatedDisk, isSimulatedCrash } from '../recovery/testing/simulatedDisk.js';
import { openWith } from '../src/api/open.js';
import type { OpenOptions } from '../src/api/options.js';
import type { MapleStore } from '../src/api/store.js';
import { MapleError } from '../src/index.js';
import { Reference, RefError } from './reference.js';
import { MAX_INDEX } from '../src/common/limits.js';
import { stream } from './crash/crashRunner.js';

export const PATH = '/simulated/switches';

/** The crash suite's xorshift32 stream in [0, 1). */
export const rng = stream;

type S = MapleStore<unknown>;

export function dumpOf(v: { ranges(): IterableIterator<{ first: number; last: number; value: unknown }> }): string {
  const out: unknown[] = [];
  for (const r of v.ranges()) out.push([r.first, r.last, r.value]);
  return JSON.stringify(out, (_k, x) => (x instanceof Uint8Array ? `u8:${Buffer.from(x).toString('hex')}` : x));
}
export function refDump(ref: Reference<unknown>): string {
  return JSON.stringify(
    ref.all().map((r) => [r.first, r.last, r.value]),
    (_k, x) => (x instanceof Uint8Array ? `u8:${Buffer.from(x).toString('hex')}` : x),
  );
}

export function optionsFor(r: () => number): { opts: OpenOptions; logCells?: number } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const sync = r() < 0.25 ? 'none' : 'full';
  const protocol = sync === 'none' ? pick(['one-sync', 'two-sync'] as const) : pick(['log', 'log', 'one-sync', 'two-sync'] as const);
  const opts: OpenOptions = {
    sync,
    commitProtocol: protocol,
    packValues: r() < 0.7,
    sharedStructures: r() < 0.6,
    cacheSize: pick([64 * 1024, 256 * 1024, 4 << 20]),
  };
  const logCells = pick([256, 512, undefined]);
  return { opts, ...(logCells === undefined ? {} : { logCells }) };
}

export function openS(disk: SimulatedDisk, o: { opts: OpenOptions; logCells?: number }): S {
  return openWith<unknown>(PATH, o.opts, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv(), ...(o.logCells === undefined ? {} : { logCells: o.logCells }) });
}

export function valueOf(r: () => number, tag: string): unknown {
  const k = r();
  if (k < 0.25) return Math.floor(r() * 1000);
  if (k < 0.4) return `${tag}-${'a'.repeat(Math.floor(r() * 40))}`;
  if (k < 0.55) return { id: Math.floor(r() * 1e6), prot: r() < 0.5 ? 'r-x' : 'rw-' };
  if (k < 0.65) return { id: Math.floor(r() * 1e6), path: `${tag}/${'p'.repeat(Math.floor(r() * 200))}`, flags: ['a', 'b'] };
  if (k < 0.75) return `${tag}-${'y'.repeat(480 + Math.floor(r() * 60))}`;
  if (k < 0.85) return `${tag}-${'x'.repeat(3000 + Math.floor(r() * 12000))}`;
  if (k < 0.9) return new Uint8Array(Math.floor(r() * 5000)).map((_, i) => (i * 7 + tag.length) & 255);
  if (k < 0.93) return `${tag}-${'z'.repeat(100_000 + Math.floor(r() * 200_000))}`;
  return [tag, Math.floor(r() * 99), { n: tag }];
}

export type W = Pick<S, 'store' | 'insert' | 'erase' | 'clear' | 'allocRange' | 'allocRangeRev'>;

/** One random write applied to both; refusals must match. */
export function randomWrite(r: () => number, w: W, ref: Reference<unknown>, tag: string): void {
  const space = 2000;
  const edge = (): number => {
    const k = r();
    if (k < 0.08) return 0;
    if (k < 0.16) return MAX_INDEX - Math.floor(r() * 4);
    return Math.floor(r() * space);
  };
  const k = r();
  const a = edge();
  const len = r() < 0.3 ? 0 : Math.floor(r() * 30);
  const b = Math.min(MAX_INDEX, a + len);
  const v = valueOf(r, tag);
  const call = (fn: (x: W | Reference<unknown>) => unknown): void => {
    let refOut: unknown;
    let refErr: string | undefined;
    try {
      refOut = fn(ref);
    } catch (e) {
      if (!(e instanceof RefError)) throw e;
      refErr = e.code;
    }
    let out: unknown;
    let err: string | undefined;
    try {
      out = fn(w);
    } catch (e) {
      if (!(e instanceof MapleError)) throw e;
      err = e.code;
    }
    if (err !== refErr) throw new Error(`${tag}: refusal ${err} vs reference ${refErr} in ${fn.toString()}`);
    if (err === undefined && JSON.stringify(out) !== JSON.stringify(refOut)) throw new Error(`${tag}: result ${JSON.stringify(out)?.slice(0, 100)} vs ${JSON.stringify(refOut)?.slice(0, 100)}`);
  };
  if (k < 0.4) call((x) => x.store(a, b, v));
  else if (k < 0.5) call((x) => x.insert(a, b, v));
  else if (k < 0.62) call((x) => x.erase(a));
  else if (k < 0.7) call((x) => x.clear(a, b));
  else if (k < 0.8) {
    const size = r() < 0.1 ? MAX_INDEX : 1 + Math.floor(r() * 50);
    const min = edge();
    const max = r() < 0.2 ? MAX_INDEX : Math.max(min, Math.min(MAX_INDEX, min + Math.floor(r() * 400)));
    call((x) => x.allocRange(size, min, max, v));
  } else if (k < 0.9) {
    const size = r() < 0.1 ? MAX_INDEX : 1 + Math.floor(r() * 50);
    const min = edge();
    const max = r() < 0.2 ? MAX_INDEX : Math.max(min, Math.min(MAX_INDEX, min + Math.floor(r() * 400)));
    call((x) => x.allocRangeRev(size, min, max, v));
  } else if (k < 0.93) call((x) => x.clear(0, MAX_INDEX));
  else call((x) => x.store(a, a, v));
}

export function compare(view: { ranges(): IterableIterator<{ first: number; last: number; value: unknown }>; count(): number; emptyArea(a: number, b: number, s: number): number | undefined; emptyAreaRev(a: number, b: number, s: number): number | undefined }, ref: Reference<unknown>, where: string): void {
  const got = dumpOf(view);
  const want = refDump(ref);
  if (got !== want) throw new Error(`${where}: contents differ\n got ${got.slice(0, 600)}\nwant ${want.slice(0, 600)}`);
  if (view.count() !== ref.count()) throw new Error(`${where}: count ${view.count()} vs ${ref.count()}`);
  for (const [mn, mx, sz] of [
    [0, MAX_INDEX, 1],
    [0, MAX_INDEX, 5],
    [0, 100, 101],
    [MAX_INDEX - 10, MAX_INDEX, 3],
    [0, MAX_INDEX, MAX_INDEX],
    [100, 2000, 17],
  ] as const) {
    if (view.emptyArea(mn, mx, sz) !== ref.emptyArea(mn, mx, sz)) throw new Error(`${where}: emptyArea(${mn},${mx},${sz}) ${view.emptyArea(mn, mx, sz)} vs ${ref.emptyArea(mn, mx, sz)}`);
    if (view.emptyAreaRev(mn, mx, sz) !== ref.emptyAreaRev(mn, mx, sz)) throw new Error(`${where}: emptyAreaRev(${mn},${mx},${sz}) ${view.emptyAreaRev(mn, mx, sz)} vs ${ref.emptyAreaRev(mn, mx, sz)}`);
  }
}

export { CRASH_MODES, SimulatedDisk, isSimulatedCrash };
