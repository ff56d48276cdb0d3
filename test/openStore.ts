/**
 * The one place the public-contract tests (model, errors, kernel) get the store from, so the
 * suite could be pointed at another implementation of API.md (e.g. a wrapper around
 * test/reference.ts when validating the harness itself) by changing this file only.
 */
import { MapleError, open } from '../src/index.js';
import type { MapleStore, OpenOptions } from '../src/index.js';
import { MAX_INDEX } from '../src/common/limits.js';

export { MAX_INDEX, MapleError };
export type { MapleStore, OpenOptions };

export function openStore<V = unknown>(path: string, opts?: OpenOptions): MapleStore<V> {
  return open<V>(path, opts);
}
