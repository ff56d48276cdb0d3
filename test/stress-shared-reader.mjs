// Reader worker for readerStress.test.ts (a copy of repro/stress-worker.mjs): opens/closes/holds shared snapshots at random, iterates slowly, posts (version, digest) pairs.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
const { indexJs, handle, seed, stop, digests, mode, maxHeld } = workerData;
const lib = await import(pathToFileURL(indexJs).href);
let s = seed >>> 0;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const errors = [];
const checks = { full: 0, slow: 0, own: 0, loads: 0, pending: [] };
function hashStr(h, str) { for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 16777619) >>> 0; return h; }
function record(version, h, n, what) {
  const want = Atomics.load(digests, version * 3);
  const wantN = Atomics.load(digests, version * 3 + 1);
  if (Atomics.load(digests, version * 3 + 2) === 0) { checks.pending.push([version, h, n, what]); return; }
  if ((want >>> 0) !== (h >>> 0) || wantN !== n) errors.push(`${what} version ${version}: digest ${h >>> 0}/${n}, expected ${want >>> 0}/${wantN}`);
}
const step = (x) => `${x.first}-${x.last}=${JSON.stringify(x.value)};`;
const cacheChoice = rnd();
let store = lib.openShared(handle, cacheChoice < 0.4 ? { cacheSize: 65536 } : cacheChoice < 0.7 ? { cacheSize: 300000 } : undefined);
const held = [];
const slow = []; // { it, version, h, n, what, snap? }
const tick = () => new Promise((r) => setImmediate(r));
parentPort.postMessage({ ready: true });
let loops = 0;
while (Atomics.load(stop, 0) === 0 && errors.length < 5) {
  loops++;
  try {
    const p = rnd();
    if (p < 0.2 && held.length < maxHeld) held.push(store.snapshot());
    else if (p < 0.35 && held.length > 0) held.splice(Math.floor(rnd() * held.length), 1)[0].close();
    else if (p < 0.5 && held.length > 0) {
      const snap = held[Math.floor(rnd() * held.length)];
      let h = 2166136261, n = 0;
      for (const x of snap.ranges()) { h = hashStr(h, step(x)); n++; }
      record(snap.version, h, n, 'snapshot full'); checks.full++;
    } else if (p < 0.6 && slow.length < 4) {
      if (rnd() < 0.5 && held.length > 0) {
        const snap = held[Math.floor(rnd() * held.length)];
        slow.push({ it: snap.ranges(), version: snap.version, h: 2166136261, n: 0, what: 'snapshot slow', snap });
      } else {
        const it = rnd() < 0.5 ? (rnd() < 0.5 ? store.ranges() : store.ranges()) : null;
        if (it) slow.push({ it, version: it.version, h: 2166136261, n: 0, what: 'own iterator slow' });
        else {
          // own reads: whole traversal in one synchronous run reads one version
          let h = 2166136261, n = 0;
          const v = store.version;
          for (const x of store.ranges()) { h = hashStr(h, step(x)); n++; }
          const v2 = store.version;
          if (v2 === v) { record(v, h, n, 'own full'); checks.own++; }
        }
      }
    } else if (p < 0.7 && held.length > 0) {
      // random loads on a held snapshot compared with its own iteration
      const snap = held[Math.floor(rnd() * held.length)];
      const all = [...snap.ranges()];
      for (let k = 0; k < 20 && all.length > 0; k++) {
        const r = all[Math.floor(rnd() * all.length)];
        const idx = r.first + Math.floor(rnd() * (r.last - r.first + 1));
        const e = snap.entry(idx);
        if (!e || e.first !== r.first || e.last !== r.last || JSON.stringify(e.value) !== JSON.stringify(r.value)) errors.push(`entry(${idx}) at ${snap.version} = ${JSON.stringify(e)} vs ${JSON.stringify(r)}`);
        checks.loads++;
      }
      if (snap.count() !== all.length) errors.push(`count ${snap.count()} vs ${all.length} at ${snap.version}`);
    }
    // advance slow iterators a few steps
    for (let i = slow.length - 1; i >= 0; i--) {
      const sl = slow[i];
      if (sl.snap && sl.snap.isClosed) { slow.splice(i, 1); continue; }
      const k = 1 + Math.floor(rnd() * 30);
      let done = false;
      for (let j = 0; j < k; j++) {
        const r = sl.it.next();
        if (r.done) { done = true; break; }
        sl.h = hashStr(sl.h, step(r.value)); sl.n++;
      }
      if (done) { record(sl.version, sl.h, sl.n, sl.what); checks.slow++; slow.splice(i, 1); }
      else if (rnd() < 0.02) { sl.it.return?.(); slow.splice(i, 1); }
    }
    if (mode === 'exitmid' && rnd() < 0.01) process.exit(0); // exit without closing anything
    if (mode === 'throwmid' && rnd() < 0.01) throw Object.assign(new Error('bye'), { fatal: true });
    if (rnd() < 0.3) await tick();
  } catch (err) {
    if (err?.fatal) throw err;
    errors.push(`${err?.code ?? ''} ${err?.stack ?? err}`);
  }
}
for (const sn of held) sn.close();
store.close();
parentPort.postMessage({ done: true, errors, loops, checks });
