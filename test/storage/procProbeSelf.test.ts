/**
 * ProcProbe.self()/selfProcess() read /proc once per probe (storage/io/liveness.ts) — but only a
 * whole answer may be kept: a read that failed for a passing reason (EMFILE, ENFILE, ENOMEM; here a
 * stat file that cannot be read at the first call) must not leave the thread unnamed for good, or
 * every lock it takes from then on names only its process (kept while the process lives, even after
 * the Worker that took it ended) and every registration it makes pins until the process exits.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { ProcProbe } from '../../storage/io/liveness.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('maple-proc-probe-');
afterAll(() => dir.cleanup());

/** A stat line whose field 22 (starttime) is `start`. */
function statLine(pid: number, start: number): string {
  return `${pid} (node) S ${Array.from({ length: 18 }, () => '0').join(' ')} ${start} 0 0\n`;
}

test('a failed first read of this thread is read again, not kept', () => {
  const pid = process.pid;
  const root = dir.file('proc');
  fs.mkdirSync(path.join(root, String(pid), 'task', String(pid)), { recursive: true });
  fs.symlinkSync(String(pid), path.join(root, 'self'));
  fs.symlinkSync(`${pid}/task/${pid}`, path.join(root, 'thread-self'));
  fs.writeFileSync(path.join(root, String(pid), 'stat'), statLine(pid, 777));
  // The thread's stat cannot be read (a directory: EISDIR, standing for EMFILE and the like).
  const taskStat = path.join(root, String(pid), 'task', String(pid), 'stat');
  fs.mkdirSync(taskStat);
  const probe = new ProcProbe(root);
  expect(probe.self().threadId).toBeUndefined();
  fs.rmdirSync(taskStat);
  fs.writeFileSync(taskStat, statLine(pid, 777));
  expect(probe.self()).toEqual({ pid, processStart: '777', threadId: pid, threadStart: '777' });
  // Whole now: kept (a later failure does not change it).
  fs.rmSync(taskStat);
  expect(probe.self()).toEqual({ pid, processStart: '777', threadId: pid, threadStart: '777' });
});

test('a failed first read of this process is read again, not kept', () => {
  const pid = process.pid;
  const root = dir.file('proc2');
  fs.mkdirSync(path.join(root, String(pid), 'stat'), { recursive: true });
  fs.symlinkSync(String(pid), path.join(root, 'self'));
  const probe = new ProcProbe(root);
  expect(probe.selfProcess()).toEqual({ pid });
  fs.rmdirSync(path.join(root, String(pid), 'stat'));
  fs.writeFileSync(path.join(root, String(pid), 'stat'), statLine(pid, 555));
  expect(probe.selfProcess()).toEqual({ pid, processStart: '555' });
});
