// A child process for kill.test.ts: commits forever to a store with sync: 'full' until SIGKILLed.
// After each commit returns it prints the commit's counter on stdout (a synchronous write on a
// pipe under Linux), so every counter the parent reads was acknowledged before it was printed.
//
// Commit c is one transaction: [c*10, c*10+4] = { c, pad } and [0, 0] = c (an overwrite, so
// every commit also frees cells). On start it continues from the counter stored at index 0.
//
// With `async`, WRITERS loops each await write() calls of the same transaction, grouped by the
// store (some a turn or two late, so groups also run ahead of the one syncing); a counter is
// printed when its promise resolves. Counters are taken in call order and a
// group runs its functions in that order, so [0, 0] holds the newest counter committed, and the
// promises resolve — and print — in counter order too.
//
// With `log` and `log-async`, the same loops on a store opened with commitProtocol 'log' (each
// commit's durable write is an append to its commit log).
//
//   node child-writer.mjs <compiled index.js path> <store path> [async|none|log|log-async]
import { pathToFileURL } from 'node:url';

const [indexPath, storePath, mode] = process.argv.slice(2);
const WRITERS = 16;
if (!indexPath || !storePath) {
  process.stderr.write('usage: child-writer.mjs <index.js> <store path>\n');
  process.exit(2);
}
const { open } = await import(pathToFileURL(indexPath).href);

/** The deterministic value of commit c's range (the parent computes the same). */
function valueOf(c) {
  return { c, pad: 'p'.repeat(c % 37) };
}

// With `none`, the synchronous loop on a store opened with sync: 'none' (a killed process loses
// nothing: the page cache holds every write).
const store = open(storePath, { sync: mode === 'none' ? 'none' : 'full', commitProtocol: mode === 'log' || mode === 'log-async' ? 'log' : 'one-sync' });
let c = store.load(0) ?? 0;
process.stdout.write(`ready ${c}\n`);
if (mode === 'async' || mode === 'log-async') {
  const writer = async () => {
    for (let i = 0; ; i++) {
      // Now and then a writer comes back a turn or two late, so writes arrive while a group
      // syncs and run ahead of it (src/api/writeQueue.ts) as well as joining the next group.
      for (let k = (i * 7 + c) % 3; k > 0; k--) await new Promise((resolve) => setImmediate(resolve));
      const mine = ++c;
      await store.write((t) => {
        t.store(mine * 10, mine * 10 + 4, valueOf(mine));
        t.store(0, 0, mine);
      });
      process.stdout.write(`${mine}\n`);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
}
for (;;) {
  c++;
  store.transaction((t) => {
    t.store(c * 10, c * 10 + 4, valueOf(c));
    t.store(0, 0, c);
  });
  process.stdout.write(`${c}\n`);
}
