/**
 * Releasing what a garbage-collected reader held: a snapshot or iterator dropped without close()
 * (or unfinished) must not pin its version for ever, or the writer could never reuse the space
 * that version reaches — the file would grow without end.
 *
 * Two ways, either enough: a FinalizationRegistry, which releases a holder's token soon after the
 * collection; and a sweep of weak references, run from the owner's regular work (a commit's
 * reader set, a worker thread's next pin, the next reader watched). The sweep is there because
 * finalization callbacks are only tasks the engine posts to the event loop, with no promise of
 * when, or that they run at all: in seeded fuzz runs under `--expose-gc` (again and again for one
 * seed, not in every run), a collected iterator's callback never ran, nor did any later callback
 * of any registry in that process, while a weak reference to it was cleared. The collection
 * itself clears a weak reference.
 *
 * A weak reference made in a synchronous loop costs more than the rest of a snapshot's open and
 * close together (measured: 0.97 → 2.7 µs a snapshot opened, read once and closed, in a loop; the
 * engine keeps each new weak reference's target until the loop's turn ends), so a holder is held
 * strongly until the end of the event loop's turn it was watched in (setImmediate), and only then
 * weakly: a reader opened and closed within one turn — most of them — never gets one. At most
 * FRESH_HELD_LIMIT are held so in a turn; past that, those of the turn are left to the finalizer
 * alone. The sweep for collected holders visits every watched one once per
 * max(LEAK_SWEEP_TICKS, watched) ticks, so a tick costs O(1) amortised.
 */
import { FRESH_HELD_LIMIT, LEAK_SWEEP_TICKS } from '../common/limits.js';

/** A registration a watched holder owns; the watch* fields belong to the HolderWatch. */
export interface WatchedToken {
  readonly released: boolean;
  /** Position in the watch's list, −1 when not watched. */
  watchIndex: number;
  /** The holder, held strongly until the turn it was watched in ends (then null). */
  watchStrong: object | null;
  /** The holder, held weakly from the turn after (null before, or when left to the finalizer). */
  watchWeak: WeakRef<object> | null;
}

export class HolderWatch<T extends WatchedToken> {
  private readonly finalizer: FinalizationRegistry<T>;
  private readonly list: T[] = [];
  /** Tokens watched this turn: their holders are held weakly from the next (weaken). */
  private fresh: T[] = [];
  private weakenQueued = false;
  private ticks = 0;

  /** `collected(token)`: `token`'s holder was garbage-collected while the token was held. */
  constructor(private readonly collected: (token: T) => void) {
    this.finalizer = new FinalizationRegistry<T>((token) => {
      // Not unregistered here: the engine has dropped the registration it calls back for.
      this.remove(token);
      if (!token.released) this.collected(token);
    });
  }

  /** Calls `collected(token)` once `holder` is garbage-collected, unless forget(token) comes first. */
  watch(holder: object, token: T): void {
    this.tick();
    token.watchIndex = this.list.length;
    token.watchStrong = holder;
    token.watchWeak = null;
    this.list.push(token);
    // Tokens released within the turn stay in `fresh` until weaken(): dropped now and then, so
    // a synchronous loop of short-lived readers keeps few.
    if (this.fresh.length >= 64 && this.fresh.length > 2 * this.list.length) this.fresh = this.fresh.filter((t) => t.watchStrong !== null);
    // A turn that leaves many readers unreleased (a synchronous loop that drops unfinished
    // iterators) must not keep them all alive: past FRESH_HELD_LIMIT, those of this turn are left
    // to the finalizer alone, as before there was a sweep.
    if (this.fresh.length >= FRESH_HELD_LIMIT) {
      for (const t of this.fresh) t.watchStrong = null;
      this.fresh = [];
    }
    this.fresh.push(token);
    this.finalizer.register(holder, token, token);
    if (!this.weakenQueued) {
      this.weakenQueued = true;
      // unref: a pending turn of this never keeps the process alive.
      setImmediate(() => this.weaken()).unref();
    }
  }

  /** The holders watched in the turn before, still watched, are held weakly from now on. */
  private weaken(): void {
    this.weakenQueued = false;
    const fresh = this.fresh;
    this.fresh = [];
    for (let i = 0; i < fresh.length; i++) {
      const token = fresh[i]!;
      if (token.watchStrong === null) continue; // released, or left to the finalizer
      token.watchWeak = new WeakRef(token.watchStrong);
      token.watchStrong = null;
    }
  }

  /** `token` was released by its holder: no longer watched. */
  forget(token: T): void {
    if (token.watchIndex < 0) return;
    this.remove(token);
    this.finalizer.unregister(token);
  }

  /** Part of the owner's regular work: now and then, a sweep. */
  tick(): void {
    if (++this.ticks < Math.max(LEAK_SWEEP_TICKS, this.list.length)) return;
    this.ticks = 0;
    this.sweep();
  }

  /** Releases the token of every holder collected by now (held strongly still: not collected). */
  sweep(): void {
    const list = this.list;
    // Backwards: a removal moves the last token into the place just visited.
    for (let i = list.length - 1; i >= 0; i--) {
      const token = list[i]!;
      if (token.watchWeak !== null && token.watchWeak.deref() === undefined) {
        this.remove(token);
        this.finalizer.unregister(token);
        if (!token.released) this.collected(token);
      }
    }
  }

  private remove(token: T): void {
    const i = token.watchIndex;
    if (i < 0) return;
    token.watchIndex = -1;
    token.watchStrong = null;
    token.watchWeak = null;
    const last = this.list.pop()!;
    if (last !== token) {
      this.list[i] = last;
      last.watchIndex = i;
    }
  }
}
