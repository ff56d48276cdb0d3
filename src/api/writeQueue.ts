/**
 * Asynchronous writes (`write(fn)` and the *Async methods): a queue of transaction functions,
 * committed in groups — one commit and one fdatasync per group, the file operations off the main
 * thread (storage/commit/writeAsync.ts).
 *
 * A write's life: queued → run (its group's turn, on a savepoint: src/api/writeGroup.ts) →
 * committed with its group → published (readers of the store see it) → its promise settles.
 *
 * Groups. The first write into an idle queue starts a group at setImmediate, so the writes of the
 * same event-loop turn join it; no timer waits for more. A group takes everything queued, up to
 * `groupWrites` functions or `groupBytes` bytes of stored values (a group stops after the
 * function that reaches either). A group's functions run in call order, in one turn of the event
 * loop; its commit is prepared in the next turn (the two halves of its work on the main thread,
 * each bounded by the caps, never block the loop together), then its writes go to the page cache
 * and its fdatasync to the thread pool (storage/commit/writeAsync.ts).
 *
 * Running ahead. While a group's fdatasync runs, the writes that arrive form the next group at
 * once: its functions run over the version the group in flight makes (not yet durable), and its
 * commit is planned on top of it, reusing no cell that the published version or the one in flight
 * reaches (MapleStore.plan). Its I/O waits until the group in flight is published; its promises
 * settle after that group's. So the main thread's work for one group overlaps the sync of the one
 * before it, and the file still sees one commit at a time, each written after the one before it
 * is durable. At most one group runs ahead; writes arriving meanwhile queue for the next.
 *
 * Failure isolation: a function that throws (EEXIST, EBUSY, its own error, a promise it returned)
 * rejects its own promise only; the rest of the group commits. A failed commit (I/O) rejects every
 * promise of its group and of the group ahead of it, and the store refuses writes from then on, as
 * after a failed synchronous commit; every write queued behind it is rejected with the same error.
 *
 * Backpressure: at most `queuedWrites` writes are queued; calls beyond wait, in call order, for
 * room before they are queued. No caller is ever blocked in Atomics.wait: waiting is the promise.
 *
 * drainSync() is how a synchronous call keeps order: it takes the group in flight over (preparing
 * its commit, or finishing its I/O, synchronously), then the group ahead, and commits every write
 * queued before it, synchronously, group by group.
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
  /**
   * Runs `body` on a new group over the published version — or, given `after`, over the version
   * that prepared commit makes, not yet durable (the store is in a transaction meanwhile).
   */
  inGroup<T>(body: (group: WriteGroup<V>) => T, after?: P): T;
  /**
   * The group's commit, its file operations captured (throws the store's refusal of a failed
   * commit). Given `after` (the prepared commit the group ran over, still in flight), planned on
   * top of it: its cells are then none that the published version, or `after`'s, reaches.
   */
  prepare(group: WriteGroup<V>, after?: P): P;
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
  /**
   * The group after the one in flight: its functions run, and its commit planned, over the
   * flight's version while the flight's fdatasync runs; its I/O starts once the flight is published.
   */
  private ahead: Flight<V, P> | null = null;
  private scheduled = false;
  /** Groups run ahead of a flight so far (stats().groupsAhead). */
  groupsAhead = 0;
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
    return this.flight !== null || this.ahead !== null || this.pending > 0;
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
    try {
      this.drain(all);
    } catch (err) {
      // A failed commit: the writes still queued settle too — at the next turn their group is
      // refused as the store now refuses writes (runGroup), and idle() waiters are woken.
      if (this.pending > 0) this.schedule();
      else if (!this.busy) this.wakeIdle();
      throw err;
    }
  }

  private drain(all: boolean): void {
    const flight = this.flight;
    const ahead = this.ahead;
    this.flight = null;
    this.ahead = null;
    if (flight !== null) {
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
          if (ahead !== null) this.rejectJobs(ahead.jobs, error);
          throw error;
        }
        this.host.publish(prepared);
      }
      this.settle(flight.jobs);
    }
    if (ahead !== null) this.commitAheadSync(ahead);
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

  /** The group ahead, its flight published: committed synchronously (as planned, or planned now). */
  private commitAheadSync(ahead: Flight<V, P>): void {
    if (ahead.group.changed) {
      const prepared = ahead.prepared;
      try {
        if (prepared === null) this.host.commitSync(ahead.group);
        else prepared.io.finishSync();
      } catch (err) {
        const error = prepared === null ? err : this.host.fail(err);
        this.rejectJobs(ahead.jobs, error);
        throw error;
      }
      if (prepared !== null) this.host.publish(prepared);
    }
    this.settle(ahead.jobs);
  }

  /**
   * Rejects every write not yet run with the error `reason` makes (the store is closed): made only
   * when one is queued (an error's stack costs microseconds, and most closes find none).
   */
  refuseAll(reason: () => unknown): void {
    let err: unknown;
    for (let job = this.take(); job !== undefined; job = this.take()) {
      if (err === undefined) err = reason();
      job.reject(err);
    }
    this.wakeIdle();
  }

  private schedule(): void {
    if (this.scheduled) return;
    // With a group in flight, the next one runs ahead of it once its I/O has started (one ahead).
    const flight = this.flight;
    if (flight !== null && (flight.prepared === null || this.ahead !== null)) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.next();
    });
  }

  /**
   * Runs the next group's functions; its commit is prepared at the next turn (prepare()). With a
   * group in flight, the group runs ahead of it (runAhead).
   */
  private next(): void {
    if (this.flight !== null) {
      this.runAhead();
      return;
    }
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

  /**
   * While the flight's fdatasync runs, the writes queued meanwhile run over its version, and their
   * commit is planned at the next turn: the main thread's work for a group overlaps the sync of the
   * one before it. Nothing of it reaches the file before the flight is published, and its promises
   * settle after the flight's (its functions saw the flight's writes).
   */
  private runAhead(): void {
    const flight = this.flight!;
    const after = flight.prepared;
    if (after === null || this.ahead !== null || this.pending === 0) return;
    const run = this.runGroup(Infinity, after);
    if (run === null) return;
    const ahead: Flight<V, P> = { jobs: run.jobs, group: run.group, prepared: null };
    this.ahead = ahead;
    this.groupsAhead++;
    if (!run.group.changed) return;
    setImmediate(() => {
      if (this.ahead !== ahead) return; // its flight settled first: planned then, or taken over
      try {
        ahead.prepared = this.host.prepare(ahead.group, after);
      } catch (err) {
        // The store refuses writes from now on; the flight still settles as its I/O does.
        this.ahead = null;
        this.rejectJobs(ahead.jobs, err);
      }
    });
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
    this.perform(flight, prepared);
  }

  /** Performs the flight's I/O; once durable it is published and the group ahead takes its place. */
  private perform(flight: Flight<V, P>, prepared: P): void {
    prepared.io.perform().then(
      () => {
        if (this.flight !== flight) return; // taken over by drainSync
        this.flight = null;
        this.host.publish(prepared);
        this.settle(flight.jobs);
        this.advance();
      },
      (err: unknown) => {
        if (this.flight !== flight) return;
        this.flight = null;
        const error = this.host.fail(err);
        this.rejectJobs(flight.jobs, error);
        const ahead = this.ahead;
        this.ahead = null;
        if (ahead !== null) this.rejectJobs(ahead.jobs, error);
        this.schedule();
        if (!this.busy) this.wakeIdle();
      },
    );
    // The next writes may run ahead of this flight now.
    this.schedule();
  }

  /** The flight was published: the group ahead becomes the flight (its I/O starts now). */
  private advance(): void {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null) {
      if (!ahead.group.changed) this.settle(ahead.jobs);
      else {
        const flight: Flight<V, P> = { jobs: ahead.jobs, group: ahead.group, prepared: ahead.prepared };
        this.flight = flight;
        if (flight.prepared !== null) this.perform(flight, flight.prepared);
        else this.prepare(flight); // not planned yet: planned now, over the version just published
      }
    }
    this.schedule();
    if (!this.busy) this.wakeIdle();
  }

  /**
   * Takes the next group's jobs (at most `max`) and runs their functions; null when the store
   * refuses writes (then every pending job has been rejected with the refusal).
   */
  private runGroup(max: number, after?: P): { jobs: Job<V>[]; group: WriteGroup<V> } | null {
    try {
      this.host.checkWritable();
    } catch (err) {
      this.refuseAll(() => err);
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
    }, after);
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
