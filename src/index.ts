/**
 * maple-store: the Linux kernel's maple tree, made durable. The public surface, exactly the
 * contract of API.md; everything else is internal.
 */
export { open, MapleStore } from './store.js';
export type { OpenOptions, StoreStats } from './store.js';
export { Snapshot } from './snapshot.js';
export type { WriteTxn } from './txn.js';
export type { ReadView, Range } from './readView.js';
export { MapleError } from './errors.js';
export type { MapleErrorCode } from './errors.js';
export { MAX_INDEX } from './limits.js';
export type { RecoveryReport } from '../recovery/recover.js';
