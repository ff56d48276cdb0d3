/**
 * The shared-structures table (storage/format/valueCodec.ts) on disk: one value record holding the
 * self-described msgpack of the key lists, `[["id", "prot"], ["a"], …]`, referenced from the
 * commit record. A commit that stores a value of a new shape writes the whole table again (it is
 * small: at most 32 key lists) and frees the old record like any other, so readers of older
 * versions keep theirs through the grace period. Tables only grow, so the newest decodes all.
 */
import { type MapleError, cellPlace, corrupt } from '../../src/common/errors.js';
import { Packr } from 'msgpackr';
import type { Structure } from './valueCodec.js';

const plain = new Packr({ useRecords: false });

export function encodeStructures(table: Structure[]): Uint8Array {
  return new Uint8Array(plain.pack(table));
}

/** Parses a table; ECORRUPT naming the cell when it is not a list of key lists of `count`. */
export function decodeStructures(bytes: Uint8Array, cell: number, count: number): Structure[] {
  let table: unknown = readKeyLists(bytes);
  if (table === undefined) {
    try {
      table = plain.unpack(bytes);
    } catch (err) {
      throw corruptTable(cell, `does not decode as msgpack: ${(err as Error).message}`);
    }
  }
  if (!Array.isArray(table) || table.length !== count) throw corruptTable(cell, `should list ${count} structures`);
  for (const keys of table) {
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' && typeof k !== 'number')) throw corruptTable(cell, 'holds an entry that is not a key list');
  }
  return table as Structure[];
}

/**
 * The table when it is what encodeStructures writes in the usual case — an array of arrays of
 * ASCII strings (fixarray/array16, fixstr/str8/str16) and nothing after it — decoded without
 * msgpackr; undefined for anything else, which msgpackr then decodes (or rejects). At open this
 * is the first msgpack a process decodes, and msgpackr's decoder, not yet optimized, took ~0.4 ms
 * of a fresh process's ~2.4 ms open (measured).
 */
export function readKeyLists(bytes: Uint8Array): Structure[] | undefined {
  let at = 0;
  const length = (): number => {
    const b = bytes[at++];
    if (b === undefined) return -1;
    if (b >= 0x90 && b <= 0x9f) return b - 0x90;
    if (b === 0xdc && at + 2 <= bytes.length) {
      at += 2;
      return (bytes[at - 2]! << 8) | bytes[at - 1]!;
    }
    return -1;
  };
  const lists = length();
  if (lists < 0) return undefined;
  const table: Structure[] = [];
  for (let l = 0; l < lists; l++) {
    const count = length();
    if (count < 0) return undefined;
    const keys: string[] = [];
    for (let k = 0; k < count; k++) {
      const b = bytes[at++];
      let n: number;
      if (b === undefined) return undefined;
      if (b >= 0xa0 && b <= 0xbf) n = b - 0xa0;
      else if (b === 0xd9 && at + 1 <= bytes.length) n = bytes[at++]!;
      else if (b === 0xda && at + 2 <= bytes.length) {
        n = (bytes[at]! << 8) | bytes[at + 1]!;
        at += 2;
      } else return undefined;
      if (at + n > bytes.length) return undefined;
      // ASCII only: any other text is msgpackr's to decode (how it decodes malformed UTF-8 is its own).
      for (let i = at; i < at + n; i++) if (bytes[i]! >= 0x80) return undefined;
      keys.push(Buffer.from(bytes.buffer, bytes.byteOffset + at, n).toString('latin1'));
      at += n;
    }
    table.push(keys);
  }
  return at === bytes.length ? table : undefined;
}

function corruptTable(cell: number, what: string): MapleError {
  return corrupt(`the shared-structures table at ${cellPlace(cell)} ${what}`);
}
