/**
 * The reader registry: which versions open snapshots and live iterators still read. The writer's
 * reclaim horizon is the oldest registered version (RCU's grace period, on disk). Registering is
 * O(1) and takes no lock. Readers garbage-collected while still registered are released by a
 * FinalizationRegistry and counted.
 */
export class ReaderRegistry {
  private readonly counts = new Map<number, number>();
  private open = 0;
  /** Readers released by the garbage collector instead of close(), by kind. */
  readonly leaked = { snapshot: 0, iterator: 0 };
  private readonly finalizer = new FinalizationRegistry<ReaderToken>((token) => {
    if (!token.released) {
      this.leaked[token.kind]++;
      token.release();
    }
  });
  private snapshotsOpen = 0;

  get snapshots(): number {
    return this.snapshotsOpen;
  }

  get size(): number {
    return this.open;
  }

  /** Releases `token` if `holder` is garbage-collected before the token is released. */
  watch(holder: object, token: ReaderToken): void {
    this.finalizer.register(holder, token, token);
  }

  register(version: number, kind: 'snapshot' | 'iterator', holder?: object): ReaderToken {
    this.counts.set(version, (this.counts.get(version) ?? 0) + 1);
    this.open++;
    if (kind === 'snapshot') this.snapshotsOpen++;
    const token = new ReaderToken(this, version, kind);
    if (holder) this.finalizer.register(holder, token, token);
    return token;
  }

  /** @internal */
  unregister(token: ReaderToken): void {
    const n = (this.counts.get(token.version) ?? 0) - 1;
    if (n <= 0) this.counts.delete(token.version);
    else this.counts.set(token.version, n);
    this.open--;
    if (token.kind === 'snapshot') this.snapshotsOpen--;
    this.finalizer.unregister(token);
  }

  /** The oldest version any reader holds, or undefined when none. */
  oldest(): number | undefined {
    let min: number | undefined;
    for (const v of this.counts.keys()) if (min === undefined || v < min) min = v;
    return min;
  }
}

export class ReaderToken {
  released = false;
  constructor(private readonly registry: ReaderRegistry, readonly version: number, readonly kind: 'snapshot' | 'iterator') {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.registry.unregister(this);
  }
}
