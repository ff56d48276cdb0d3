/**
 * The shared-structures table (storage/valueCodec.ts) on disk: one value record holding the
 * self-described msgpack of the key lists, `[["id", "prot"], ["a"], …]`, referenced from the
 * commit record. A commit that stores a value of a new shape writes the whole table again (it is
 * small: at most 32 key lists) and frees the old record like any other, so readers of older
 * versions keep theirs through the grace period. Tables only grow, so the newest decodes all.
 */
import { MapleError } from '../src/errors.js';
import type { StructuresRef } from './commitRecord.js';
import type { Pager } from './pager.js';
import { Packr } from 'msgpackr';
import { type Structure, ValueCodec } from './valueCodec.js';

const plain = new Packr({ useRecords: false });

export function encodeStructures(table: Structure[]): Uint8Array {
  return new Uint8Array(plain.pack(table));
}

/** Parses a table; ECORRUPT naming the cell when it is not a list of key lists of `count`. */
export function decodeStructures(bytes: Uint8Array, cell: number, count: number): Structure[] {
  let table: unknown;
  try {
    table = plain.unpack(bytes);
  } catch (err) {
    throw corrupt(cell, `does not decode as msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(table) || table.length !== count) throw corrupt(cell, `should list ${count} structures`);
  for (const keys of table) {
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' && typeof k !== 'number')) throw corrupt(cell, 'holds an entry that is not a key list');
  }
  return table as Structure[];
}

function corrupt(cell: number, what: string): MapleError {
  return new MapleError('ECORRUPT', `the shared-structures table at cell ${cell} (page ${Math.floor(cell / 16)}) ${what}`);
}

/** The codec for a store whose newest commit references `ref`, read at `version`. */
export function loadCodec(pager: Pager, ref: StructuresRef, version: number, shared: boolean): ValueCodec {
  if (ref.cell === 0) {
    if (ref.count !== 0) throw new MapleError('ECORRUPT', `commit ${version} counts ${ref.count} shared structures but has no table`);
    return new ValueCodec([], shared);
  }
  const table = decodeStructures(pager.recordBytes(ref.cell, version).slice(), ref.cell, ref.count);
  return new ValueCodec(table, shared);
}
