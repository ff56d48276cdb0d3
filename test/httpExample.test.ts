/**
 * examples/http/server.ts: concurrent requests each await one durable write; their writes share
 * commits, every 2xx is on disk, refusals map to HTTP statuses, and closeAsync() on shutdown
 * keeps what was acknowledged.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { handler } from '../examples/http/server.js';
import { tempDir } from './helpers.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('maple-http-');
});
afterEach(() => {
  dir.cleanup();
});

async function call(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe('the HTTP example', () => {
  it('acknowledges concurrent writes once durable, many per commit', async () => {
    const file = dir.file();
    const store = open<unknown>(file);
    const server = http.createServer(handler(store));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const puts = await Promise.all(Array.from({ length: 64 }, (_, i) => call(port, 'PUT', `/ranges/${i * 10}-${i * 10 + 4}`, { i })));
      expect(puts.map((r) => r.status)).toEqual(Array(64).fill(204));
      expect(store.stats().commits).toBeLessThan(64);
      expect((await call(port, 'GET', '/ranges/632')).body).toEqual({ first: 630, last: 634, value: { i: 63 } });
      expect((await call(port, 'POST', '/alloc/5', 'five')).body).toEqual({ first: 5 });
      expect((await call(port, 'POST', '/alloc/0', 'none')).status).toBe(400);
      expect((await call(port, 'DELETE', '/ranges/3')).body).toEqual({ i: 0 });
      expect((await call(port, 'GET', '/ranges/3')).status).toBe(404);
      expect((await call(port, 'PUT', '/ranges/9-1', {})).status).toBe(400);
      const stats = (await call(port, 'GET', '/stats')).body as { syncs: number; eventLoopDelayP99Ms: number };
      expect(stats.syncs).toBeGreaterThan(0);
      expect(stats.eventLoopDelayP99Ms).toBeGreaterThanOrEqual(0);
    } finally {
      server.close();
      await store.closeAsync();
    }
    const again = open<unknown>(file);
    expect(again.count()).toBe(64);
    expect(again.load(5)).toBe('five');
    again.close();
  });
});
