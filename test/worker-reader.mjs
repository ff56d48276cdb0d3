// A worker_threads Worker for workerReaders.test.ts: reads a store shared by the test's main thread
// (MapleStore.share) through openShared, on a private build (workerData.indexJs). Modes:
//
//   verify  until stop[0] is set: open a snapshot and check every range (all N present, one
//           generation, the generation its version was written with: version − base), then load
//           random indices through the store's own reads (each reads the newest version: its
//           generation lies between the versions before and after); posts { snapshots, loads,
//           versions, errors } at the end.
//           With workerData.sized, range n's pad is sizedPad(n, gen) (values of every size: a leaf's
//           value area, a record of its own, nested shapes) and is checked whole.
//   hold    opens a snapshot, posts { held: version }, then stays alive until terminated.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const { indexJs, handle, mode, ranges, base, stop, sized } = workerData;

/** The pad of range n in generation gen for `sized` runs (workerReaders.test.ts writes the same). */
export function sizedPad(n, gen) {
  const len = n % 97 === 0 ? 700 + (gen % 50) : 3 + ((n * 7 + gen) % 180);
  return n % 5 === 0 ? { text: 'v'.repeat(len), list: [n, gen, 'x'.repeat(n % 13)], nested: { gen } } : String.fromCharCode(97 + (n % 26)).repeat(len);
}

function padOk(pad, n, gen) {
  return !sized || JSON.stringify(pad) === JSON.stringify(sizedPad(n, gen));
}
const lib = await import(pathToFileURL(indexJs).href);
const store = lib.openShared(handle);

function check(view, expectGen, errors) {
  let n = 0;
  for (const r of view.ranges()) {
    if (r.first !== n * 10 || r.value.i !== n || r.value.gen !== expectGen || !padOk(r.value.pad, n, expectGen)) {
      errors.push(`version ${view.version}: range ${n} is ${JSON.stringify(r)}, expected generation ${expectGen}`);
      return;
    }
    n++;
  }
  if (n !== ranges) errors.push(`version ${view.version}: ${n} ranges, expected ${ranges}`);
}

if (mode === 'verify') {
  const errors = [];
  const versions = new Set();
  let snapshots = 0;
  let loads = 0;
  let seed = 12345;
  parentPort.postMessage({ ready: true });
  while (Atomics.load(stop, 0) === 0 && errors.length < 5) {
    try {
      const snap = store.snapshot();
      versions.add(snap.version);
      check(snap, snap.version - base, errors);
      snap.close();
      snapshots++;
      for (let k = 0; k < 200; k++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        const i = seed % ranges;
        const before = store.version;
        const value = store.load(i * 10 + 3);
        const after = store.version;
        loads++;
        if (value?.i !== i || value.gen < before - base || value.gen > after - base || !padOk(value.pad, i, value.gen)) {
          errors.push(`own read between versions ${before} and ${after}: index ${i * 10 + 3} gave ${JSON.stringify(value)}`);
          break;
        }
      }
      await null;
    } catch (err) {
      errors.push(`${err?.code ?? ''} ${err?.message ?? err}`);
    }
  }
  store.close();
  parentPort.postMessage({ done: true, snapshots, loads, versions: versions.size, errors });
} else if (mode === 'hold') {
  const snap = store.snapshot();
  parentPort.postMessage({ held: snap.version, count: snap.count() });
  setInterval(() => snap.count(), 1000);
}
