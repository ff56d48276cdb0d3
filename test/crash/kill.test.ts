/**
 * Real processes (issue 3): a child writes commits with sync: 'full' and prints each counter after
 * its commit returns; the parent SIGKILLs it at random moments (at least 50 times), then reopens
 * the file, runs check(), and verifies that every reported commit is present and nothing else
 * changed (the commit in flight may or may not be there). The child then restarts on the same
 * file and continues from the counter it finds.
 *
 * The same with sync: 'none' (nothing synced but at checkpoints): the page cache holds every
 * write of a killed process, so every reported commit must survive too.
 *
 * The same with asynchronous writers (issue 12): 16 loops in the child await write() calls that
 * commit in groups; a counter is printed when its promise resolves. Every printed counter must
 * survive; the writes queued or in flight (at most 16) may or may not.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { Prng } from '../../recovery/testing/simulatedDisk.js';
import { privateBuild, tempDir } from '../helpers.js';
import { describeError } from './crashRunner.js';
import { sameValue, describeValue } from './rangeModel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'child-writer.mjs');
const KILLS = 60;
const ASYNC_KILLS = 30;
/** Must match child-writer.mjs: the writes an async child has outstanding at most. */
const ASYNC_WRITERS = 16;

/** Must match child-writer.mjs. */
const valueOf = (c: number) => ({ c, pad: 'p'.repeat(c % 37) });

let indexJs = '';
let cleanupBuild = (): void => {};
const dir = tempDir('maple-kill-');

beforeAll(() => {
  ({ indexJs, cleanup: cleanupBuild } = privateBuild('maple-kill-'));
});

afterAll(() => {
  cleanupBuild();
  dir.cleanup();
});

/** sync: transactions with sync 'full'; async: awaited write() calls; none: transactions with sync 'none'; log, log-async: the same as sync and async with commitProtocol 'log'. */
type Mode = 'sync' | 'async' | 'none' | 'log' | 'log-async';

interface Life {
  start: number;
  reported: number;
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

/**
 * Runs the child and SIGKILLs it `killAfterMs` after its first line, or, with `fromSpawn`,
 * that long after it was spawned (possibly while it is still opening the store).
 */
function live(storePath: string, killAfterMs: number, fromSpawn: boolean, mode: Mode): Promise<Life> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, indexJs, storePath, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let start = -1;
    let reported = -1;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith('ready ')) {
          start = Number(line.slice(6));
          reported = start;
          if (!fromSpawn) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else {
          const c = Number(line);
          if (c !== reported + 1) reject(new Error(`child reported ${line} after ${reported}`));
          reported = c;
        }
      }
    });
    if (fromSpawn) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ start, reported, stderr, signal, code });
    });
    // A child that never gets ready (crashes at open) must not hang the test.
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/**
 * Reopens the store and checks it against the reported counter; returns the counter it holds. Up
 * to `unreported` counters past the last reported may be there (committed, not yet printed).
 */
function verify(storePath: string, reported: number, life: number, unreported: number): number {
  const store = open<unknown>(storePath, { sync: 'full' });
  try {
    store.check();
    const held = store.load(0);
    const last = held === undefined ? 0 : (held as number);
    if (!(last >= reported && last <= reported + unreported)) {
      throw new Error(`life ${life}: the child reported commit ${reported}; the store holds counter ${describeValue(held)}`);
    }
    let n = last > 0 ? 1 : 0;
    for (const r of store.ranges(1)) {
      const c = r.first / 10;
      if (!Number.isInteger(c) || c < 1 || c > last || r.last !== r.first + 4 || !sameValue(r.value, valueOf(c))) {
        throw new Error(`life ${life}: unexpected range [${r.first}, ${r.last}] = ${describeValue(r.value)} (counter ${last})`);
      }
      n++;
    }
    if (store.count() !== n || n !== (last > 0 ? last + 1 : 0)) {
      throw new Error(`life ${life}: counter ${last} but ${store.count()} ranges (iterated ${n}); a reported commit is missing`);
    }
    return last;
  } finally {
    store.close();
  }
}

async function killLoop(storePath: string, kills: number, mode: Mode, seed: number): Promise<void> {
  const rng = new Prng(seed);
  const unreported = mode === 'async' || mode === 'log-async' ? ASYNC_WRITERS : 1;
  let counter = 0;
  let inFlightSeen = 0;
  let commits = 0;
  let killedAtStartup = 0;
  for (let life = 1; life <= kills; life++) {
    // Mostly short lives (a handful of commits), sometimes longer ones, sometimes a kill
    // during start-up (while the store is being opened or created).
    const duringStartup = life === 1 || rng.chance(0.15);
    const delay = duringStartup ? rng.below(200) : rng.chance(0.2) ? 50 + rng.below(250) : rng.below(30);
    const l = await live(storePath, delay, duringStartup, mode);
    expect(l.signal, `life ${life}: the child died on its own (exit ${l.code}): ${l.stderr}`).toBe('SIGKILL');
    if (l.start < 0) {
      if (!duringStartup) throw new Error(`life ${life}: the child never got ready: ${l.stderr}`);
      killedAtStartup++;
      l.reported = counter;
      if (!fs.existsSync(storePath)) continue; // killed before it created the file
    } else {
      expect(l.start, `life ${life}: the child started from ${l.start}, the store held ${counter}`).toBe(counter);
    }
    let held: number;
    try {
      held = verify(storePath, l.reported, life, unreported);
    } catch (err) {
      throw new Error(describeError(err));
    }
    if (held > l.reported) inFlightSeen++;
    commits += held - counter;
    counter = held;
  }
  console.log(`kill test (${mode}): ${kills} kills (${killedAtStartup} before the child was ready), ${commits} commits survived, unreported commits present after ${inFlightSeen} kills`);
  expect(commits).toBeGreaterThan(kills);
}

describe('SIGKILL of a committing child process', () => {
  it(`survives ${KILLS} kills with every reported commit intact`, async () => {
    await killLoop(dir.file('killed.maple'), KILLS, 'sync', Number(process.env.MAPLE_KILL_SEED ?? 12345));
  }, 120_000);

  it(`survives ${ASYNC_KILLS} kills of asynchronous writers with every resolved write intact`, async () => {
    await killLoop(dir.file('killed-async.maple'), ASYNC_KILLS, 'async', Number(process.env.MAPLE_KILL_SEED ?? 12345) + 1);
  }, 120_000);

  it(`survives ${ASYNC_KILLS} kills of a writer with sync: 'none' with every reported commit intact`, async () => {
    await killLoop(dir.file('killed-none.maple'), ASYNC_KILLS, 'none', Number(process.env.MAPLE_KILL_SEED ?? 12345) + 2);
  }, 120_000);

  it(`survives ${ASYNC_KILLS} kills of a writer with commitProtocol 'log', synchronous and asynchronous, with every reported commit intact`, async () => {
    await killLoop(dir.file('killed-log.maple'), ASYNC_KILLS / 2, 'log', Number(process.env.MAPLE_KILL_SEED ?? 12345) + 3);
    await killLoop(dir.file('killed-log-async.maple'), ASYNC_KILLS / 2, 'log-async', Number(process.env.MAPLE_KILL_SEED ?? 12345) + 4);
  }, 120_000);
});
