/**
 * Load for examples/http/server.ts: starts the server in a child process on a fresh store, runs C
 * keep-alive clients that each PUT a small JSON value to a new key and wait for the answer before
 * the next (a closed loop) for some seconds, then prints requests/s, latency p50/p99, the server's
 * event-loop delay p99 and fdatasyncs per request (from GET /stats).
 *
 *   node dist/examples/http/load.js [clients=64] [seconds=5] [sync]
 *
 * `sync` runs the server with MAPLE_HTTP_SYNC=1 (store() per request) for comparison.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

function request(agent: http.Agent, port: number, method: string, pathname: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathname, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const [clientsText = '64', secondsText = '5', mode] = process.argv.slice(2);
  const clients = Number(clientsText);
  const seconds = Number(secondsText);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maple-http-'));
  const server = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.js'), path.join(dir, 'store.maple'), '0'], {
    env: { ...process.env, MAPLE_HTTP_SYNC: mode === 'sync' ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.setEncoding('utf8');
    server.stdout.once('data', (line: string) => {
      const m = /localhost:(\d+)/.exec(line);
      if (m === null) reject(new Error(`unexpected server output: ${line}`));
      else resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const latencies: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  let failures = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async (_, id) => {
      for (let seq = 0; Date.now() < deadline; seq++) {
        const key = id * 1_000_000 + seq;
        const t0 = process.hrtime.bigint();
        const r = await request(agent, port, 'PUT', `/ranges/${key}-${key}`, JSON.stringify({ id: key, note: 'hello' }));
        if (r.status !== 204) failures++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = JSON.parse((await request(agent, port, 'GET', '/stats')).text) as { syncs: number; commits: number; eventLoopDelayP99Ms: number };
  agent.destroy();
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  console.log(
    `${mode === 'sync' ? 'store()' : 'storeAsync()'} per request, ${clients} clients, ${seconds} s: ${(latencies.length / elapsed).toFixed(0)} requests/s, latency p50 ${at(0.5).toFixed(2)} ms p99 ${at(0.99).toFixed(2)} ms, server event-loop delay p99 ${stats.eventLoopDelayP99Ms.toFixed(2)} ms, ${(stats.syncs / latencies.length).toFixed(3)} fdatasyncs per request${failures > 0 ? `, ${failures} FAILED` : ''}`,
  );
}

void main();
