/**
 * maple-store: the Linux kernel's maple tree, made durable. The public surface, exactly the
 * contract of the README's API section and docs/api.md; everything else is internal.
 */
export { open } from './api/open.js';
export { MapleStore } from './api/store.js';
export type { OpenOptions } from './api/options.js';
export type { StoreStats } from './api/store.js';
export { Snapshot } from './api/snapshot.js';
export { openShared, SharedStore } from './api/sharedStore.js';
export type { SharedHandle, SharedOptions, SharedStats } from './api/sharedStore.js';
export type { WriteTxn } from './api/txn.js';
export type { ReadView, Range } from './api/readView.js';
export { AssertionError, MapleError } from './common/errors.js';
export type { MapleErrorCode } from './common/errors.js';
export { MAX_INDEX } from './common/limits.js';
export type { RecoveryReport } from '../recovery/recover.js';
