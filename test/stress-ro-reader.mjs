// Read-only opens in a worker thread for readerStress.test.ts (registered through reader files, as another process):
// open, digest its version several times while the writer commits, close; repeat.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
const { indexJs, file, seed, stop, digests } = workerData;
const lib = await import(pathToFileURL(indexJs).href);
let s = seed >>> 0;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
function hashStr(h, str) { for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 16777619) >>> 0; return h; }
const errors = [], pending = [];
let opens = 0, checks = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (Atomics.load(stop, 0) === 0 && errors.length < 5) {
  let db;
  try {
    db = lib.open(file, { readOnly: true });
    opens++;
    const reps = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < reps && Atomics.load(stop, 0) === 0; k++) {
      let h = 2166136261, n = 0;
      const it = db.ranges();
      for (const x of it) {
        h = hashStr(h, `${x.first}-${x.last}=${JSON.stringify(x.value)};`); n++;
        if (rnd() < 0.003) await sleep(1); // slow iteration across commits
      }
      const v = db.version;
      const want = Atomics.load(digests, v * 3) >>> 0, wantN = Atomics.load(digests, v * 3 + 1);
      if (Atomics.load(digests, v * 3 + 2) === 0) pending.push([v, h, n]);
      else if (want !== h || wantN !== n) errors.push(`ro version ${v}: ${h}/${n} expected ${want}/${wantN}`);
      checks++;
      await sleep(Math.floor(rnd() * 20));
    }
  } catch (err) {
    errors.push(`${err?.code ?? ''} ${err?.stack ?? err}`);
  } finally {
    try { db?.close(); } catch {}
  }
}
parentPort.postMessage({ done: true, errors, opens, checks, pending });
