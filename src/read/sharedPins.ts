/**
 * A reading thread's pins on a shared store (src/api/sharedStore.ts): which versions its snapshots,
 * iterators and current view read, counted per version, each distinct version published in a slot
 * of the reader table (storage/io/readerTable.ts) so the writer keeps what it reaches.
 *
 * Pinning the newest version (LMDB's re-check): read the published root, publish its version in a
 * slot, read the published root again; if it moved, publish the newer version and check again. Once
 * unchanged, the writer's next listing sees the slot before it can reuse anything the version
 * reaches (storage/io/readerTable.ts says why). A version this thread already pins is pinned again
 * by counting alone. No step waits for the writer; a retry happens only when it published between
 * two loads.
 *
 * Pins are released by their holder (close(), an iterator finishing) or, as a backstop, once the
 * holder is garbage-collected unreleased (counted as leaked; src/read/holderWatch.ts). The
 * last pin of a version idles its slot; a few idle slots are kept for the next versions, the rest
 * given back. A kept slot may be taken by another thread that finds the table full
 * (storage/io/readerTable.ts keepIdle): this thread then claims another.
 */
import { assert, busy } from '../common/errors.js';
import { IDLE_SLOTS_KEPT, SHARED_READ_RETRIES } from '../common/limits.js';
import { type PublishedRoot, readPublished } from '../../storage/io/publishedRoot.js';
import type { ReaderTable, SlotOwner } from '../../storage/io/readerTable.js';
import type { SharedArea } from '../../storage/io/sharedArea.js';
import type { HeldReader, HoldingRegistry, ReleasableToken } from './readerRegistry.js';
import { HolderWatch, type WatchedToken } from './holderWatch.js';

export type PinKind = 'snapshot' | 'iterator' | 'view';

/** Test hooks (never set in production). @internal */
export interface PinHooks {
  /** Runs after the published root is read and before the slot's version is published. */
  beforeSlotStore?: () => void;
  /** false: skip the re-check (to show what it prevents). */
  recheck?: boolean;
}

export class PinToken implements ReleasableToken, WatchedToken {
  released = false;
  watchIndex = -1;
  watchStrong: object | null = null;
  watchWeak: WeakRef<object> | null = null;
  constructor(
    private readonly pins: SharedPins,
    readonly version: number,
    readonly kind: PinKind,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.pins.unpin(this);
  }
}

interface Held {
  readonly slot: number;
  count: number;
}

export class SharedPins implements HoldingRegistry {
  private readonly held = new Map<number, Held>();
  private readonly idleSlots: number[] = [];
  private open = true;
  /** Snapshots open now. */
  snapshots = 0;
  /** Pins released by the garbage collector instead of their holder, by kind. */
  readonly leaked = { snapshot: 0, iterator: 0 };
  private readonly holders = new HolderWatch<PinToken>((token) => {
    if (token.kind !== 'view') this.leaked[token.kind]++;
    token.release();
  });

  constructor(
    private readonly area: SharedArea,
    private readonly table: ReaderTable,
    private readonly owner: SlotOwner,
    private readonly hooks: PinHooks = {},
  ) {}

  /** Pins the newest published version; returns the pin and that version's root. */
  pinNewest(kind: PinKind): { token: PinToken; root: PublishedRoot } {
    let root = this.published();
    const known = this.held.get(root.commit);
    if (known !== undefined) return { token: this.count(known, root.commit, kind), root };
    // A version this thread does not pin yet: now and then, collected holders release theirs.
    this.holders.tick();
    const slot = this.takeSlot();
    try {
      for (let attempt = 0; attempt < SHARED_READ_RETRIES; attempt++) {
        this.hooks.beforeSlotStore?.();
        this.table.set(slot, root.commit);
        const again = this.hooks.recheck === false ? root : this.published();
        if (again.commit === root.commit) {
          const held: Held = { slot, count: 0 };
          this.held.set(root.commit, held);
          return { token: this.count(held, root.commit, kind), root };
        }
        root = again;
        const other = this.held.get(root.commit);
        if (other !== undefined) {
          this.putBack(slot);
          return { token: this.count(other, root.commit, kind), root };
        }
      }
    } catch (err) {
      this.putBack(slot);
      throw err;
    }
    this.putBack(slot);
    throw busy(`the writer published a new version ${SHARED_READ_RETRIES} times while this thread pinned one`);
  }

  /** Another pin of `version`, which this thread pins already (an iterator of a pinned view). */
  pinHeld(version: number, kind: PinKind): PinToken {
    const held = this.held.get(version);
    assert(held !== undefined, `version ${version} is pinned by this thread`);
    return this.count(held, version, kind);
  }

  private count(held: Held, version: number, kind: PinKind): PinToken {
    held.count++;
    if (kind === 'snapshot') this.snapshots++;
    return new PinToken(this, version, kind);
  }

  private published(): PublishedRoot {
    const root = readPublished(this.area);
    // share() publishes before it returns a handle.
    assert(root !== undefined, 'the shared area has a published version');
    return root;
  }

  /** Releases `token` if `holder` is garbage-collected before the token is released. */
  watch(holder: object, token: PinToken): void {
    this.holders.watch(holder, token);
  }

  /** Holds an iterator's version until it finishes (or is collected unfinished). */
  hold(reader: HeldReader): void {
    const token = this.pinHeld(reader.version, 'iterator');
    reader.holdToken = token;
    this.holders.watch(reader, token);
  }

  releaseHeld(reader: HeldReader): void {
    const token = reader.holdToken;
    if (token === null) return;
    reader.holdToken = null;
    token.release();
  }

  /** @internal PinToken.release */
  unpin(token: PinToken): void {
    this.holders.forget(token);
    if (token.kind === 'snapshot') this.snapshots--;
    const held = this.held.get(token.version);
    if (held === undefined) return; // released by closeAll
    if (--held.count > 0) return;
    this.held.delete(token.version);
    this.putBack(held.slot);
  }

  /** A slot for a new version: one this thread kept idle, if no other thread took it meanwhile, else a new one. */
  private takeSlot(): number {
    for (let slot = this.idleSlots.pop(); slot !== undefined; slot = this.idleSlots.pop()) {
      if (this.table.reclaim(slot, this.owner)) return slot;
    }
    return this.table.claim(this.owner);
  }

  private putBack(slot: number): void {
    if (this.open && this.idleSlots.length < IDLE_SLOTS_KEPT) {
      this.table.keepIdle(slot, this.owner);
      this.idleSlots.push(slot);
    } else {
      this.table.free(slot);
    }
  }

  /** Every slot given back (the shared store closes); later releases do nothing. */
  closeAll(): void {
    this.open = false;
    for (const held of this.held.values()) this.table.free(held.slot);
    this.held.clear();
    for (const slot of this.idleSlots) this.table.freeIdle(slot, this.owner);
    this.idleSlots.length = 0;
  }

  /** Distinct versions pinned now. */
  get versions(): number {
    return this.held.size;
  }
}
