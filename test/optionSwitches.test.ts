/**
 * Sessions on one simulated disk, each opened with other options (commit protocol, sync,
 * packValues, sharedStructures, cache size, commit-log size), with read-only opens in between and
 * during: a crash image at every disk event is opened read-only, opened writable with other
 * options, and given a commit and a reopen, and each must read as the reference did at a version
 * no older than the last acknowledged one. Longer runs: MAPLE_SWITCH_SEEDS=1,2,3
 * MAPLE_SWITCH_SESSIONS=20 npx vitest run test/optionSwitches.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { openWith } from '../src/api/open.js';
import { Reference } from './reference.js';
import { CRASH_MODES, PATH, SimulatedDisk, compare, dumpOf, openS, optionsFor, randomWrite, refDump, rng, valueOf } from './optionSwitches.js';

const SEEDS = (process.env.MAPLE_SWITCH_SEEDS ?? '5,8,15').split(',').map(Number);
const SESSIONS = Number(process.env.MAPLE_SWITCH_SESSIONS ?? 12);
const EVERY = Number(process.env.MAPLE_SWITCH_EVERY ?? 1);

interface Img {
  image: Uint8Array;
  locks: ReturnType<SimulatedDisk['crashLockFiles']>;
  ack: number;
  where: string;
}

async function run(seed: number): Promise<{ failures: string[]; images: number; sessions: string[] }> {
  const r = rng(seed);
  const disk = new SimulatedDisk();
  const ref = new Reference<unknown>();
  const states = new Map<number, string>([[0, refDump(ref)]]);
  const failures: string[] = [];
  let ack = 0;
  let pending: Img[] = [];
  let where = 'open';
  let nImages = 0;
  const sessionsDesc: string[] = [];
  let collecting = false;
  const off = disk.onEvent((event, d) => {
    if (!collecting || event.seq % EVERY !== 0) return;
    const choice = { mode: CRASH_MODES[(event.seq + seed) % CRASH_MODES.length]!, seed: event.seq * 31 + seed };
    pending.push({ image: d.crashImage(choice), locks: d.crashLockFiles(choice), ack, where: `seed ${seed} ${where} event ${event.seq} ${event.kind} ${choice.mode}` });
  });
  const checkImages = async (): Promise<void> => {
    const imgs = pending;
    pending = [];
    for (const im of imgs) {
      nImages++;
      const rr = rng(im.image.length ^ nImages);
      try {
        const d2 = SimulatedDisk.fromImage(im.image, im.locks);
        if (rr() < 0.3) {
          const ro = openWith<unknown>(PATH, { readOnly: true, cacheSize: 64 * 1024 }, { fileIO: d2.fileIO(), lockEnv: d2.lockEnv() });
          try {
            const want = states.get(ro.version);
            if (ro.version < im.ack) failures.push(`${im.where}: readOnly opened ${ro.version} < ack ${im.ack}`);
            else if (want !== undefined && dumpOf(ro) !== want) failures.push(`${im.where}: readOnly version ${ro.version} reads wrong`);
            ro.check();
          } finally {
            ro.close();
          }
        }
        const o = optionsFor(rr);
        const s = openS(d2, o);
        try {
          const want = states.get(s.version);
          const v0 = s.version;
          if (s.version < im.ack) failures.push(`${im.where}: opened ${s.version} < ack ${im.ack} (${JSON.stringify(o)})`);
          else if (want !== undefined && dumpOf(s) !== want) failures.push(`${im.where}: version ${s.version} reads wrong (${JSON.stringify(o)})`);
          try {
            s.check();
          } catch (e) {
            throw new Error(`check after open with ${JSON.stringify(o)} at version ${s.version} (ack ${im.ack}, known ${want !== undefined}): ${(e as Error).message}`);
          }
          // a follow-up commit on the recovered store, then reopen
          s.store(5000, 5010, { after: im.where });
          try {
            s.check();
          } catch (e) {
            if (process.env.MAPLE_SWITCH_SAVE) {
              const fs = await import('node:fs');
              fs.writeFileSync(`${process.env.MAPLE_SWITCH_SAVE}.bin`, im.image);
              fs.writeFileSync(`${process.env.MAPLE_SWITCH_SAVE}.json`, JSON.stringify({ o, where: im.where, ack: im.ack, version: v0 }));
              process.env.MAPLE_SWITCH_SAVE = '';
            }
            throw new Error(`check after follow-up, opened with ${JSON.stringify(o)} at version ${v0}: ${(e as Error).message}`);
          }
          const v = s.version;
          s.close();
          const s2 = openS(d2, optionsFor(rr));
          if (s2.version !== v) failures.push(`${im.where}: after follow-up, reopened at ${s2.version} not ${v}`);
          s2.check();
          s2.close();
        } catch (e) {
          try {
            s.close();
          } catch {}
          throw e;
        }
      } catch (e) {
        failures.push(`${im.where}: threw ${(e as Error).stack?.slice(0, 1500)} magic ${Buffer.from(im.image.subarray(0, 8)).toString("hex")} len ${im.image.length}`);
      }
      if (failures.length > 10) throw new Error(failures.join('\n'));
    }
  };
  try {
    for (let sess = 0; sess < SESSIONS; sess++) {
      const o = optionsFor(r);
      sessionsDesc.push(JSON.stringify(o));
      where = `session ${sess} ${JSON.stringify(o)} open`;
      const s = openS(disk, o);
      collecting = true;
      const noneSync = o.opts.sync === 'none';
      const bump = (): void => {
        states.set(s.version, refDump(ref));
        ack = noneSync ? Math.max(ack, s.stats().durableVersion) : s.version;
      };
      bump();
      compare(s, ref, `${where} (fresh open)`);
      await checkImages();
      const nOps = 3 + Math.floor(r() * 8);
      for (let op = 0; op < nOps; op++) {
        const tag = `s${sess}o${op}`;
        where = `session ${sess} ${JSON.stringify(o)} op ${op}`;
        const k = r();
        if (k < 0.45) {
          randomWrite(r, s, ref, tag);
        } else if (k < 0.65) {
          // transaction: commit or throw
          const scratch = ref.clone();
          const throwIt = r() < 0.3;
          const n = 1 + Math.floor(r() * (r() < 0.2 ? 200 : 8));
          try {
            s.transaction((t) => {
              for (let i = 0; i < n; i++) randomWrite(r, t, scratch, `${tag}t${i}`);
              if (throwIt) throw new Error('rollback');
            });
            expect(throwIt).toBe(false);
            for (const x of scratch.all()) void x;
            // adopt scratch
            (ref as unknown as { items: unknown }).items = (scratch as unknown as { items: unknown }).items;
          } catch (e) {
            if ((e as Error).message !== 'rollback') throw e;
          }
        } else if (k < 0.85) {
          // write group with some functions throwing after writing
          const ps: Promise<unknown>[] = [];
          const n = 1 + Math.floor(r() * 12);
          for (let i = 0; i < n; i++) {
            const throwIt = r() < 0.35;
            const m = 1 + Math.floor(r() * 4);
            const seedI = Math.floor(r() * 1e9);
            ps.push(
              s
                .write((t) => {
                  const rr = rng(seedI);
                  const scratch = ref.clone();
                  for (let j = 0; j < m; j++) randomWrite(rr, t, scratch, `${tag}g${i}w${j}`);
                  if (throwIt) throw new Error('sp-rollback');
                  (ref as unknown as { items: unknown }).items = (scratch as unknown as { items: unknown }).items;
                  return 1;
                })
                .catch((e) => {
                  if ((e as Error).message !== 'sp-rollback') throw e;
                }),
            );
          }
          await Promise.all(ps);
        } else if (k < 0.9) {
          // readOnly open while the writer is open
          const ro = openWith<unknown>(PATH, { readOnly: true, cacheSize: 64 * 1024 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
          compare(ro, ref, `${where} readOnly during writer`);
          ro.close();
        } else if (k < 0.95) {
          if (noneSync) s.flush();
          else randomWrite(r, s, ref, tag);
        } else {
          // snapshot held across writes
          const snap = s.snapshot();
          const frozen = ref.clone();
          for (let i = 0; i < 3; i++) {
            randomWrite(r, s, ref, `${tag}sn${i}`);
            bump();
          }
          compare(snap, frozen, `${where} snapshot`);
          snap.close();
        }
        bump();
        compare(s, ref, where);
        await checkImages();
      }
      s.check();
      where = `session ${sess} close`;
      s.close();
      ack = states.has(ack) ? Math.max(ack, [...states.keys()].reduce((a, b) => Math.max(a, b), 0)) : ack;
      await checkImages();
      if (r() < 0.5) {
        const ro = openWith<unknown>(PATH, { readOnly: true, cacheSize: 64 * 1024 }, { fileIO: disk.fileIO(), lockEnv: disk.lockEnv() });
        compare(ro, ref, `after session ${sess} readOnly`);
        ro.check();
        ro.close();
      }
    }
  } finally {
    off();
  }
  await checkImages();
  return { failures, images: nImages, sessions: sessionsDesc };
}

describe('sessions that switch options, with crashes at every disk event', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const res = await run(seed);
      console.log(`seed ${seed}: ${res.images} images, sessions ${res.sessions.length}`);
      expect(res.failures).toEqual([]);
    });
  }
});
