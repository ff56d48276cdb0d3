// A worker_threads Worker for writerThreads.test.ts: a store in another thread of the test's
// process, driven by messages. workerData.indexJs is a compiled src/index.js; each message
// { id, op, ... } is answered with { id, ok: true, value } or { id, ok: false, code, message }.
//
//   open { path, noProc, barrier }  opens for writing (noProc: a lock environment without /proc;
//                                   barrier: an Int32Array on shared memory to wait on first)
//   openReadOnly { path }            opens read-only (a registered reader of the version it reads)
//   store { first, last, value } / load { index } / count / lockTakenOver / close
//   fill { ranges, gen }             one transaction storing range i as [i·10, i·10+5] = { i, gen, pad }
//   share                            the store's share() handle, for readers on the test's thread
//   tid                              this thread's kernel id (/proc/thread-self), or null
//   exit { code }                    process.exit in a Worker ends only the Worker
//   crash                            an uncaught exception ends the Worker
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const { indexJs } = workerData;
const lib = await import(pathToFileURL(indexJs).href);
const storage = path.join(path.dirname(indexJs), '..', 'storage', 'io');
let store;

const ops = {
  async open({ path: file, noProc, barrier }) {
    let lockEnv;
    if (noProc) {
      const { NodeLockEnv } = await import(pathToFileURL(path.join(storage, 'lockEnv.js')).href);
      const { ProcProbe } = await import(pathToFileURL(path.join(storage, 'liveness.js')).href);
      lockEnv = new NodeLockEnv(new ProcProbe('/nonexistent-proc'));
    }
    if (barrier) Atomics.wait(barrier, 0, 0);
    // The lock environment is a test hook (src/api/open.ts openWith), not a user's option.
    const { openWith } = await import(pathToFileURL(path.join(path.dirname(indexJs), 'api', 'open.js')).href);
    store = lockEnv ? openWith(file, { sync: 'full' }, { lockEnv }) : lib.open(file, { sync: 'full' });
    return store.version;
  },
  openReadOnly({ path: file }) {
    store = lib.open(file, { readOnly: true });
    return store.version;
  },
  count() {
    return store.count();
  },
  store({ first, last, value }) {
    store.store(first, last, value);
    return store.version;
  },
  fill({ ranges, gen }) {
    store.transaction((tx) => {
      for (let i = 0; i < ranges; i++) tx.store(i * 10, i * 10 + 5, { i, gen, pad: 'w'.repeat(100) });
    });
    return store.version;
  },
  share() {
    return store.share();
  },
  load({ index }) {
    return store.load(index);
  },
  lockTakenOver() {
    return store.stats().recovery.lockTakenOver;
  },
  close() {
    store.close();
    store = undefined;
    return null;
  },
  tid() {
    try {
      return Number(fs.readlinkSync('/proc/thread-self').split('/')[2]);
    } catch {
      return null;
    }
  },
  exit({ code }) {
    process.exit(code);
  },
  crash() {
    setImmediate(() => {
      throw new Error('worker crashed on purpose');
    });
    return null;
  },
};

parentPort.on('message', async (msg) => {
  try {
    const value = await ops[msg.op](msg);
    parentPort.postMessage({ id: msg.id, ok: true, value });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, code: err?.code, message: String(err?.message ?? err) });
  }
});
parentPort.postMessage({ ready: true });
