// A child process for otherProcessReaders.test.ts: a read-only store in another process than the
// writer. It opens the store, prints "ready <version> <digest>", then answers each line on stdin:
// "read" → "digest <digest>" of every range it sees (or "error <code> <message>"), "exit" → closes
// the store and exits.
//
//   node child-reader.mjs <compiled index.js path> <store path>
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [indexPath, storePath] = process.argv.slice(2);
if (!indexPath || !storePath) {
  process.stderr.write('usage: child-reader.mjs <index.js> <store path>\n');
  process.exit(2);
}
const { open } = await import(pathToFileURL(indexPath).href);

/** Every range the store sees, in one string (cheap to compare, exact). */
function digest(store) {
  let out = '';
  for (const r of store.ranges()) out += `${r.first}-${r.last}=${JSON.stringify(r.value)};`;
  return `${out.length}:${hash(out)}`;
}

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

const store = open(storePath, { readOnly: true });
process.stdout.write(`ready ${store.version} ${digest(store)}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'exit') break;
  try {
    process.stdout.write(`digest ${digest(store)}\n`);
  } catch (err) {
    process.stdout.write(`error ${err.code} ${String(err.message).split('\n')[0]}\n`);
  }
}
store.close();
process.exit(0);
