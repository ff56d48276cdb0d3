/**
 * A FileIO wrapper that fails on purpose (SQLite's test_vfs, bbolt's failpoints): the Nth counted
 * call throws EIO or ENOSPC, or a write lands only half its bytes and then throws. Errors look
 * like Node's own (`code`, `errno`, `syscall`), so the store handles them exactly as real ones.
 *
 * Counting: `counting: 'all'` counts read, write, truncate and sync calls; 'mutations' counts
 * write, truncate and sync. The fault fires on the first call at or after number `at` that the
 * fault can apply to: EIO on any counted call, ENOSPC on write/truncate/sync (a read never runs out
 * of space), a short write on write only. Run a workload once with no plan to learn how many calls
 * it makes (`calls`), then once per N.
 */
import { type FileIO, writeDurable } from '../../storage/io/fileIO.js';

export type FaultKind = 'EIO' | 'ENOSPC' | 'short-write';
export type FaultCounting = 'all' | 'mutations';
type Op = 'read' | 'write' | 'truncate' | 'sync';

export interface FaultPlan {
  kind: FaultKind;
  /** 1-based number of the counted call at (or after) which the fault fires. */
  at: number;
  counting?: FaultCounting;
  /** After firing, keep failing every call the fault applies to (a dead device). Default false. */
  persistent?: boolean;
}

export interface FaultRecord {
  kind: FaultKind;
  op: Op;
  call: number;
  positionBytes: number;
  lengthBytes: number;
}

const ERRNO: Record<'EIO' | 'ENOSPC', number> = { EIO: -5, ENOSPC: -28 };

/** A Node-style system error. */
export function systemError(code: 'EIO' | 'ENOSPC', syscall: string, detail = ''): Error {
  const text = code === 'EIO' ? 'i/o error' : 'no space left on device';
  return Object.assign(new Error(`${code}: ${text}, ${syscall}${detail}`), { code, errno: ERRNO[code], syscall });
}

export class FaultyIO implements FileIO {
  /** Counted calls so far. */
  calls = 0;
  /** Every fault injected, in order. */
  readonly fired: FaultRecord[] = [];
  private plan: FaultPlan | undefined;
  private planFired = false;

  constructor(
    private readonly inner: FileIO,
    plan?: FaultPlan,
  ) {
    this.plan = plan;
  }

  /** Replaces the plan (undefined: no more faults). The call count keeps running. */
  arm(plan: FaultPlan | undefined): void {
    this.plan = plan;
    this.planFired = false;
  }

  read(buf: Uint8Array, positionBytes: number): number {
    this.maybeFail('read', positionBytes, buf.length, () => undefined);
    return this.inner.read(buf, positionBytes);
  }

  write(buf: Uint8Array, positionBytes: number): void {
    this.maybeFail('write', positionBytes, buf.length, () => {
      // Half the bytes reach the file before the error, as when a device fills mid-write.
      const half = Math.floor(buf.length / 2);
      if (half > 0) this.inner.write(buf.subarray(0, half), positionBytes);
    });
    this.inner.write(buf, positionBytes);
  }

  /** A write that is durable when it returns: fails (or writes half) as write(). */
  writeDurable(buf: Uint8Array, positionBytes: number): void {
    this.maybeFail('write', positionBytes, buf.length, () => {
      const half = Math.floor(buf.length / 2);
      if (half > 0) writeDurable(this.inner, buf.subarray(0, half), positionBytes);
    });
    writeDurable(this.inner, buf, positionBytes);
  }

  truncate(sizeBytes: number): void {
    this.maybeFail('truncate', sizeBytes, 0, () => undefined);
    this.inner.truncate(sizeBytes);
  }

  sync(): void {
    this.maybeFail('sync', 0, 0, () => undefined);
    this.inner.sync();
  }

  size(): number {
    return this.inner.size();
  }

  /** sync() on a later turn of the event loop (when the inner file syncs asynchronously), counted and failed as sync(). */
  async syncAsync(): Promise<void> {
    if (this.inner.syncAsync) await new Promise<void>((resolve) => setImmediate(resolve));
    this.sync();
  }

  close(): void {
    this.inner.close();
  }

  private maybeFail(op: Op, positionBytes: number, lengthBytes: number, shortWrite: () => void): void {
    const plan = this.plan;
    const counting = plan?.counting ?? 'all';
    if (op === 'read' && counting === 'mutations') return;
    const call = ++this.calls;
    if (plan === undefined || call < plan.at || !applies(plan.kind, op)) return;
    if (this.planFired && !plan.persistent) return;
    this.planFired = true;
    this.fired.push({ kind: plan.kind, op, call, positionBytes, lengthBytes });
    if (plan.kind === 'short-write') {
      shortWrite();
      throw systemError('EIO', op, ` (short write: ${Math.floor(lengthBytes / 2)} of ${lengthBytes} bytes at ${positionBytes})`);
    }
    throw systemError(plan.kind, op);
  }
}

function applies(kind: FaultKind, op: Op): boolean {
  if (kind === 'EIO') return true;
  if (kind === 'ENOSPC') return op !== 'read';
  return op === 'write';
}
