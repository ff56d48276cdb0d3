/**
 * The reader registry: which versions open snapshots and live iterators still read. The writer
 * keeps every cell one of these versions reaches (RCU's grace period, on disk; storage/io/readerSet.ts). Registering is
 * O(1) and takes no lock. Readers garbage-collected while still registered are released and
 * counted (src/read/holderWatch.ts).
 *
 * Store iterators are held more cheaply (most are created, drained and dropped between two
 * commits): `hold` appends the iterator to a plain list and `releaseHeld` swap-removes it, both
 * O(1) with no Map or FinalizationRegistry work. The list is strong, so a held iterator cannot be
 * collected unnoticed; `versions()` — what a commit asks for its reader set — first promotes every
 * held iterator to a full registration (a token, watched by the FinalizationRegistry), so an
 * iterator that outlives a commit pins its version exactly as before, and an abandoned one is
 * released and counted once collected. The list is also promoted when it grows past
 * HELD_LIMIT (src/common/limits.ts), so iterators abandoned on a store that never commits cannot
 * accumulate.
 */
import { HELD_LIMIT } from '../common/limits.js';
import { HolderWatch, type WatchedToken } from './holderWatch.js';

/** A reader's registration: releasing it (once) lets the writer reuse what only its version reaches. */
export interface ReleasableToken {
  release(): void;
}

/** An iterator held by the registry (src/read/frameRanges.ts); the fields belong to the registry. */
export interface HeldReader {
  readonly version: number;
  /** Position in the held list, −1 when not there. */
  holdIndex: number;
  /** Its full registration once promoted. */
  holdToken: ReleasableToken | null;
}

/** What holds iterators: this registry, or a worker thread's pins (src/read/sharedPins.ts). */
export interface HoldingRegistry {
  /** The iterator finished: its hold ends. */
  releaseHeld(reader: HeldReader): void;
}

export class ReaderRegistry implements HoldingRegistry {
  private readonly counts = new Map<number, number>();
  private open = 0;
  private readonly held: HeldReader[] = [];
  /** Readers released by the garbage collector instead of close(), by kind. */
  readonly leaked = { snapshot: 0, iterator: 0 };
  private readonly holders = new HolderWatch<ReaderToken>((token) => {
    this.leaked[token.kind]++;
    token.release();
  });
  private snapshotsOpen = 0;

  get snapshots(): number {
    return this.snapshotsOpen;
  }

  get size(): number {
    return this.open + this.held.length;
  }

  /** Holds `reader`'s version until releaseHeld(reader) or, once promoted, its collection. */
  hold(reader: HeldReader): void {
    reader.holdIndex = this.held.length;
    this.held.push(reader);
    if (this.held.length > HELD_LIMIT) this.promoteHeld();
  }

  releaseHeld(reader: HeldReader): void {
    if (reader.holdToken !== null) {
      reader.holdToken.release();
      reader.holdToken = null;
      return;
    }
    const i = reader.holdIndex;
    if (i < 0) return;
    reader.holdIndex = -1;
    const last = this.held.pop()!;
    if (last !== reader) {
      this.held[i] = last;
      last.holdIndex = i;
    }
  }

  /** Turns every held reader into a registered one, watched by the garbage collector. */
  private promoteHeld(): void {
    const held = this.held;
    for (let i = 0; i < held.length; i++) {
      const r = held[i]!;
      r.holdIndex = -1;
      r.holdToken = this.register(r.version, 'iterator', r);
    }
    held.length = 0;
  }

  /** Releases `token` if `holder` is garbage-collected before the token is released. */
  watch(holder: object, token: ReaderToken): void {
    this.holders.watch(holder, token);
  }

  register(version: number, kind: 'snapshot' | 'iterator', holder?: object): ReaderToken {
    this.counts.set(version, (this.counts.get(version) ?? 0) + 1);
    this.open++;
    if (kind === 'snapshot') this.snapshotsOpen++;
    const token = new ReaderToken(this, version, kind);
    if (holder) this.holders.watch(holder, token);
    return token;
  }

  /** @internal */
  unregister(token: ReaderToken): void {
    const n = (this.counts.get(token.version) ?? 0) - 1;
    if (n <= 0) this.counts.delete(token.version);
    else this.counts.set(token.version, n);
    this.open--;
    if (token.kind === 'snapshot') this.snapshotsOpen--;
    this.holders.forget(token);
  }

  /** The oldest version any reader holds, or undefined when none (promotes held readers first). */
  oldest(): number | undefined {
    return this.versions()[0];
  }

  /**
   * Every version a reader holds, distinct, ascending (promotes held readers first, and now and
   * then releases collected ones): a commit keeps what these versions reach
   * (storage/io/readerSet.ts). O(distinct versions), amortised.
   */
  versions(): number[] {
    if (this.held.length > 0) this.promoteHeld();
    this.holders.tick();
    const out: number[] = [];
    for (const v of this.counts.keys()) out.push(v);
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }
}

export class ReaderToken implements ReleasableToken, WatchedToken {
  released = false;
  watchIndex = -1;
  watchStrong: object | null = null;
  watchWeak: WeakRef<object> | null = null;
  constructor(private readonly registry: ReaderRegistry, readonly version: number, readonly kind: 'snapshot' | 'iterator') {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.registry.unregister(this);
  }
}
