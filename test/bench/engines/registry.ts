// The engines a run can use, by name, in the order tables list them.

import type { EngineFactory } from './engine.js';
import { lmdbFactory } from './lmdb.js';
import { mapleFactoryDefault, mapleOneSyncFactory, mapleTwoSyncFactory } from './maple.js';
import { createReferenceFactory } from './reference.js';
import { sqliteFactory } from './sqlite.js';

export const ENGINE_NAMES = ['reference', 'maple', 'maple-1sync', 'maple-2sync', 'lmdb', 'sqlite'] as const;

/** Fresh factories for one run (the reference keeps its in-memory "files" per run). */
export function createFactories(): EngineFactory[] {
  return [createReferenceFactory(), mapleFactoryDefault, mapleOneSyncFactory, mapleTwoSyncFactory, lmdbFactory, sqliteFactory];
}
