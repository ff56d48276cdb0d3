/**
 * A snapshot: a committed version (root + commit number) registered with the reader registry.
 * Opening one is O(1) and takes no lock; it reads that version until closed, whatever is
 * committed later, and its cells are not reused while it is open.
 */
import { closed, invalid } from '../common/errors.js';
import type { ReleasableToken } from '../read/readerRegistry.js';
import { ReadViewBase } from './readView.js';
import type { Range, TreeReader } from '../read/treeReader.js';

export class Snapshot<V = unknown> extends ReadViewBase<V> {
  private closed = false;

  /** @internal */
  constructor(private readonly treeReader: TreeReader, private readonly token: ReleasableToken, private readonly storeOpen: () => boolean) {
    super();
    if (token === undefined) throw invalid('a Snapshot is made by snapshot() of a store, not by new Snapshot()');
  }

  /** The committed version this snapshot reads. */
  get version(): number {
    this.reader();
    return this.treeReader.version;
  }

  protected reader(): TreeReader {
    if (this.closed) throw closed('snapshot is closed');
    if (!this.storeOpen()) throw closed('the store this snapshot belongs to is closed');
    return this.treeReader;
  }

  protected iterator(reader: TreeReader, from: number, to: number, reverse: boolean): IterableIterator<Range<V>> {
    // A snapshot's version is always committed; every step first checks the snapshot is open.
    return reader.frameRanges(from, to, reverse, () => void this.reader())! as IterableIterator<Range<V>>;
  }

  /** Whether `close()` was called (not whether reads fail: once its store is closed they are `ECLOSED` either way). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Releases the version's cells for reuse (idempotent); later reads are `ECLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.token.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
