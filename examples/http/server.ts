/**
 * An HTTP server with one durable write per request, the way a request handler should write:
 * `await store.storeAsync(…)`. The handlers of concurrent requests share commits — every write
 * that arrives while one commit's fdatasync runs (on Node's thread pool) joins the next — so the
 * server acknowledges each write only once it is on disk, at the rate of many writes per
 * fdatasync, and never stalls its event loop on one.
 *
 *   PUT    /ranges/<first>-<last>   body: JSON value   → 204 once durable
 *   POST   /alloc/<size>            body: JSON value   → 201 {"first": n} once durable (the lowest gap)
 *   DELETE /ranges/<index>                             → 200 the erased value, 404 if none
 *   GET    /ranges/<index>                             → 200 {"first","last","value"}, 404 if none
 *   GET    /stats                                      → 200 the store's stats() and the event loop's delay
 *
 *   node dist/examples/http/server.js [store path] [port]
 *
 * MAPLE_HTTP_SYNC=1 writes with the synchronous store() instead (a commit and an fdatasync per
 * request, on the event loop), to compare: examples/http/load.ts drives either.
 *
 * SIGINT/SIGTERM: stop accepting connections, then closeAsync(), which commits the writes still
 * queued before the file is closed.
 */
import * as http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MAX_INDEX, MapleError, type MapleStore, open } from '../../src/index.js';

/** A request body larger than this is refused (413). */
const MAX_BODY_BYTES = 1024 * 1024;

/** The HTTP status a store refusal maps to. */
function statusOf(err: unknown): number {
  if (!(err instanceof MapleError)) return 500;
  switch (err.code) {
    case 'EINVAL':
      return 400;
    case 'EEXIST':
    case 'EBUSY':
      return 409;
    case 'ECLOSED':
      return 503;
    default:
      return 500;
  }
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) reject(Object.assign(new Error('body too large'), { status: 413 }));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(Object.assign(new Error('the body is not JSON'), { status: 400 }));
      }
    });
    req.on('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/**
 * The request handler over `store`: every write is awaited, so a 2xx means it is durable.
 * `synchronous`: PUT uses store() (the comparison), not storeAsync().
 */
export function handler(store: MapleStore<unknown>, synchronous = false): http.RequestListener {
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    if (req.method === 'PUT' && parts[0] === 'ranges' && parts.length === 2) {
      const [first, last] = (parts[1] ?? '').split('-').map(Number);
      const value = await readBody(req);
      if (synchronous) store.store(first!, last ?? first!, value);
      else await store.storeAsync(first!, last ?? first!, value);
      return reply(res, 204);
    }
    if (req.method === 'POST' && parts[0] === 'alloc' && parts.length === 2) {
      const first = await store.allocRangeAsync(Number(parts[1]), 0, MAX_INDEX, await readBody(req));
      return reply(res, 201, { first });
    }
    if (req.method === 'DELETE' && parts[0] === 'ranges' && parts.length === 2) {
      const erased = await store.eraseAsync(Number(parts[1]));
      return erased === undefined ? reply(res, 404) : reply(res, 200, erased);
    }
    if (req.method === 'GET' && parts[0] === 'ranges' && parts.length === 2) {
      const hit = store.entry(Number(parts[1]));
      return hit === undefined ? reply(res, 404) : reply(res, 200, hit);
    }
    if (req.method === 'GET' && parts[0] === 'stats' && parts.length === 1) {
      return reply(res, 200, { ...store.stats(), recovery: undefined, eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6 });
    }
    reply(res, 404);
  };
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = (err as { status?: number }).status ?? statusOf(err);
      if (!res.headersSent) reply(res, status, { error: err instanceof Error ? err.message : String(err) });
    });
  };
}

async function main(): Promise<void> {
  const [file = 'http-example.maple', port = '8080'] = process.argv.slice(2);
  const store = open<unknown>(file);
  const server = http.createServer({ keepAlive: true }, handler(store, process.env.MAPLE_HTTP_SYNC === '1'));
  server.listen(Number(port), () => console.log(`listening on http://localhost:${(server.address() as { port: number }).port}, store ${file}`));
  const stop = (): void => {
    server.close();
    server.closeIdleConnections();
    store.closeAsync().then(
      () => console.log('closed: every acknowledged write is on disk'),
      (err: unknown) => console.error(err),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
