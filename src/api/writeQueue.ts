/**
 * Asynchronous writes (`write(fn)` and the *Async methods): a queue of transaction functions,
 * committed in groups — one commit and one fdatasync per group, the file operations off the main
 * thread (storage/commit/writeAsync.ts).
 *
 * A write's life: queued → run (its group's turn, on a savepoint: src/api/writeGroup.ts) →
 * committed with its group → published (readers of the store see it) → its promise settles.
 *
 * Groups. The first write into an idle queue starts a group at setImmediate, so the writes of the
 * same event-loop turn join it; no timer waits for more. While a group is in flight, writes queue;
 * once it is published, the next group takes everything queued, up to `groupWrites` functions or
 * `groupBytes` bytes of stored values (a group stops after the function that reaches either). A
 * group's functions run in call order, in one turn of the event loop; its commit is prepared in
 * the next turn (the two halves of its work on the main thread, each bounded by the caps, never
 * block the loop together), then its writes go to the page cache and its fdatasync to the thread
 * pool (storage/commit/writeAsync.ts).
 *
 * Failure isolation: a function that throws (EEXIST, EBUSY, its own error, a promise it returned)
 * rejects its own promise only; the rest of the group commits. A failed commit (I/O) rejects every
 * promise of its group and the store refuses writes from then on, as after a failed synchronous
 * commit; every write queued behind it is rejected with the same error.
 *
 * Backpressure: at most `queuedWrites` writes are queued; calls beyond wait, in call order, for
 * room before they are queued. No caller is ever blocked in Atomics.wait: waiting is the promise.
 *
 * drainSync() is how a synchronous call keeps order: it takes the group in flight over (preparing
 * its commit, or finishing its I/O, synchronously) and commits every write queued before it,
 * synchronously, group by group.
 */
import type { MapleError } from '../common/errors.js';
import type { AsyncCommitWrite } from '../../storage/commit/writeAsync.js';
import type { WriteGroup } from './writeGroup.js';
import type { WriteTxn } from './txn.js';

/** The caps of the queue and of each group (OpenOptions.writeQueue). */
export interface WriteLimits {
  /** Functions per group, at most. */
  groupWrites: number;
  /** Encoded value bytes per group: a group stops after the function that reaches this. */
  groupBytes: number;
  /** Writes queued, at most; more calls wait for room. */
  queuedWrites: number;
}

/** A group's commit, prepared: its file operations captured, nothing published. */
export interface PreparedGroup {
  readonly io: AsyncCommitWrite;
}

/** What the queue needs from the store. */
export interface GroupHost<V, P extends PreparedGroup> {
  /** Throws the refusal (ECLOSED, EREADONLY, the EIO of a failed commit) when no write may run now. */
  checkWritable(): void;
  /** Runs `body` on a new group over the published version (the store is in a transaction meanwhile). */
  inGroup<T>(body: (group: WriteGroup<V>) => T): T;
  /** The group's commit, its file operations captured (throws the store's refusal of a failed commit). */
  prepare(group: WriteGroup<V>): P;
  /** The group's commit, performed synchronously and published (throws as prepare). */
  commitSync(group: WriteGroup<V>): void;
  /** Makes a prepared commit whose I/O has completed the store's current version. */
  publish(prepared: P): void;
  /** A prepared commit's I/O failed: the store refuses writes; returns the error for its callers. */
  fail(err: unknown): MapleError | Error;
}

interface Job<V> {
  fn: (txn: WriteTxn<V>) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Once run: whether the function returned, and what it returned or threw. */
  ok: boolean;
  outcome: unknown;
}

/** A FIFO of jobs: an array consumed from `head`, compacted as it empties. */
class JobList<V> {
  private items: Job<V>[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(job: Job<V>): void {
    this.items.push(job);
  }

  shift(): Job<V> | undefined {
    if (this.head >= this.items.length) return undefined;
    const job = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Job<V>;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return job;
  }
}

/** A group between running its functions and being published. */
interface Flight<V, P> {
  jobs: Job<V>[];
  group: WriteGroup<V>;
  /** Its commit, once prepared (null: its functions have run, the commit is prepared next turn). */
  prepared: P | null;
}

export class WriteQueue<V, P extends PreparedGroup> {
  private readonly queued = new JobList<V>();
  /** Calls past `queuedWrites`, waiting for room. */
  private readonly waiting = new JobList<V>();
  private flight: Flight<V, P> | null = null;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly host: GroupHost<V, P>,
    private readonly limits: WriteLimits,
  ) {}

  /** Writes not yet run (queued or waiting for room). */
  get pending(): number {
    return this.queued.length + this.waiting.length;
  }

  /** Writes waiting for room in the queue. */
  get waitingForRoom(): number {
    return this.waiting.length;
  }

  /** Whether any write is queued, waiting or in flight. */
  get busy(): boolean {
    return this.flight !== null || this.pending > 0;
  }

  /** Queues `fn`; the promise settles once its group is durable and published (or it is refused). */
  add<T>(fn: (txn: WriteTxn<V>) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job: Job<V> = { fn, resolve: resolve as (value: unknown) => void, reject, ok: false, outcome: undefined };
      if (this.queued.length < this.limits.queuedWrites && this.waiting.length === 0) this.queued.push(job);
      else this.waiting.push(job);
      this.schedule();
    });
  }

  /** Settles once nothing is queued, waiting or in flight. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Takes over the group in flight and commits every write queued before this call,
   * synchronously, in order (`all`: also those that functions queue meanwhile, until none is
   * left). Throws the failure of a commit, after rejecting its callers.
   */
  drainSync(all = false): void {
    const flight = this.flight;
    if (flight !== null) {
      this.flight = null;
      const prepared = flight.prepared;
      if (prepared === null) {
        try {
          this.host.commitSync(flight.group);
        } catch (err) {
          this.rejectJobs(flight.jobs, err);
          throw err;
        }
      } else {
        try {
          prepared.io.finishSync();
        } catch (err) {
          const error = this.host.fail(err);
          this.rejectJobs(flight.jobs, error);
          throw error;
        }
        this.host.publish(prepared);
      }
      this.settle(flight.jobs);
    }
    let left = this.pending;
    while ((all ? this.pending : left) > 0) {
      const jobs = this.runGroup(all ? Infinity : left);
      if (jobs === null) break;
      left -= jobs.jobs.length;
      if (jobs.group.changed) {
        try {
          this.host.commitSync(jobs.group);
        } catch (err) {
          this.rejectJobs(jobs.jobs, err);
          throw err;
        }
      }
      this.settle(jobs.jobs);
    }
    if (this.pending > 0) this.schedule();
    else this.wakeIdle();
  }

  /** Rejects every write not yet run with `err` (the store is closed). */
  refuseAll(err: unknown): void {
    for (let job = this.take(); job !== undefined; job = this.take()) job.reject(err);
    this.wakeIdle();
  }

  private schedule(): void {
    if (this.scheduled || this.flight !== null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.next();
    });
  }

  /** Runs the next group's functions; its commit is prepared at the next turn (prepare()). */
  private next(): void {
    if (this.flight !== null) return;
    if (this.pending === 0) {
      this.wakeIdle();
      return;
    }
    const run = this.runGroup(Infinity);
    if (run === null) {
      this.wakeIdle();
      return;
    }
    const { jobs, group } = run;
    if (!group.changed) {
      this.settle(jobs);
      this.schedule();
      return;
    }
    const flight: Flight<V, P> = { jobs, group, prepared: null };
    this.flight = flight;
    setImmediate(() => this.prepare(flight));
  }

  /** Prepares the commit of the group in flight and performs its I/O (asynchronously). */
  private prepare(flight: Flight<V, P>): void {
    if (this.flight !== flight) return; // taken over by drainSync
    const { jobs, group } = flight;
    let prepared: P;
    try {
      prepared = this.host.prepare(group);
    } catch (err) {
      this.flight = null;
      this.rejectJobs(jobs, err);
      this.schedule();
      if (!this.busy) this.wakeIdle();
      return;
    }
    flight.prepared = prepared;
    prepared.io.perform().then(
      () => {
        if (this.flight !== flight) return; // taken over by drainSync
        this.flight = null;
        this.host.publish(prepared);
        this.settle(jobs);
        this.schedule();
        if (!this.busy) this.wakeIdle();
      },
      (err: unknown) => {
        if (this.flight !== flight) return;
        this.flight = null;
        this.rejectJobs(jobs, this.host.fail(err));
        this.schedule();
        if (!this.busy) this.wakeIdle();
      },
    );
  }

  /**
   * Takes the next group's jobs (at most `max`) and runs their functions; null when the store
   * refuses writes (then every pending job has been rejected with the refusal).
   */
  private runGroup(max: number): { jobs: Job<V>[]; group: WriteGroup<V> } | null {
    try {
      this.host.checkWritable();
    } catch (err) {
      this.refuseAll(err);
      return null;
    }
    const limits = this.limits;
    const jobs: Job<V>[] = [];
    const group = this.host.inGroup((g) => {
      while (jobs.length < max && g.writes < limits.groupWrites && g.valueBytes < limits.groupBytes) {
        const job = this.take();
        if (job === undefined) break;
        jobs.push(job);
        try {
          job.outcome = g.run(job.fn);
          job.ok = true;
        } catch (err) {
          job.outcome = err;
        }
      }
      return g;
    });
    return { jobs, group };
  }

  /** The next job in call order, moving a waiting call into the room it leaves. */
  private take(): Job<V> | undefined {
    const job = this.queued.shift();
    const moved = this.waiting.shift();
    if (moved !== undefined) this.queued.push(moved);
    return job;
  }

  /** Settles every job as its function did. */
  private settle(jobs: Job<V>[]): void {
    for (const job of jobs) {
      if (job.ok) job.resolve(job.outcome);
      else job.reject(job.outcome);
    }
  }

  /** The commit failed: jobs whose function returned get `err`, the others what they threw. */
  private rejectJobs(jobs: Job<V>[], err: unknown): void {
    for (const job of jobs) job.reject(job.ok ? err : job.outcome);
  }

  private wakeIdle(): void {
    if (this.busy) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
