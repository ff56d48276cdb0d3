// The values the bench stores, by shape. Every engine stores the same objects, made from a range's
// (id, prot) by `make`; the reference keeps only (id, prot) and makes the value again on a load,
// so a value must give both back (`idOf`, `protOf`).
//
// Sizes are msgpack bytes as maple-store and lmdb-js encode them (msgpackr with shared record
// structures: an object of a known shape costs a structure byte and its members, not its keys);
// `measureShape` measures them on the shape's own values, and the report states the mean. SQLite
// stores self-described msgpack maps (keys in every row), so its values are larger.
//
// Strings and arrays come from small pools made once, so that `make` allocates the value object and
// nothing else: the bench times the engines, not string building.

import { Packr } from 'msgpackr';

/** What an engine stores with a range. */
export type RangeValue = unknown;

export interface ValueShape {
  /** Short name used by --values / --sweep and in titles. */
  readonly name: string;
  /** What the values look like, for the report. */
  readonly describe: string;
  make(id: number, prot: number): RangeValue;
  idOf(value: RangeValue): number;
  protOf(value: RangeValue): number;
}

/** mmap-style permission strings by prot bits (1 read, 2 write, 4 exec). */
const PROT_NAMES: readonly string[] = ['---', 'r--', '-w-', 'rw-', '--x', 'r-x', '-wx', 'rwx'];

/** prot bits back from a permission string. */
function protBits(text: string): number {
  return (text.charCodeAt(0) === 114 ? 1 : 0) | (text.charCodeAt(1) === 119 ? 2 : 0) | (text.charCodeAt(2) === 120 ? 4 : 0);
}

const POOL = 1024;

/** POOL distinct ASCII strings of exactly `length` characters, path-like. */
function stringPool(length: number, salt: string): readonly string[] {
  const out: string[] = [];
  for (let i = 0; i < POOL; i++) {
    let s = `/usr/lib/${salt}${i}`;
    while (s.length < length) s += `-${(i * 7919 + s.length) % 97}`;
    out.push(s.slice(0, length));
  }
  return out;
}

const FLAGS: readonly string[] = ['private', 'read', 'exec'];
const OWNERS = stringPool(20, 'user');
const PATHS_29 = stringPool(29, 'lib');
const PATHS_60 = stringPool(60, 'lib');
const PATHS_68 = stringPool(68, 'lib');
const NOTES_50 = stringPool(50, 'note');
const NOTES_57 = stringPool(57, 'note');
const TEXT_2555 = stringPool(2555, 'blob');
const MIXED_PATHS = [stringPool(8, 'm'), stringPool(24, 'm'), stringPool(70, 'm'), stringPool(180, 'm')];
/** Arrays of numbers, shared by the values that use them (an encoder reads them the same way). */
const SAMPLES: readonly (readonly number[])[] = Array.from({ length: 256 }, (_, i) => Array.from({ length: 100 }, (_, k) => (k * 7919 + i * 31) % 100_000));

type Vma = { id: number; prot: number | string };

function objectId(value: RangeValue): number {
  return (value as Vma).id;
}

function objectProt(value: RangeValue): number {
  const prot = (value as Vma).prot;
  return typeof prot === 'number' ? prot : protBits(prot);
}

/** The shapes, smallest first. */
export const SHAPES: readonly ValueShape[] = [
  {
    name: 'inline',
    describe: '{ id, prot } with prot a number: 7 bytes',
    make: (id, prot) => ({ id, prot }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: '10B',
    describe: "{ id, prot: 'r-x' }: 10 bytes",
    make: (id, prot) => ({ id, prot: PROT_NAMES[prot]! }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: '40B',
    describe: "{ id, prot: 'r-x', path } with a 29-character path: 40 bytes",
    make: (id, prot) => ({ id, prot: PROT_NAMES[prot]!, path: PATHS_29[id & (POOL - 1)]! }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: '120B',
    describe: "{ id, prot, path (68 chars), offset, dev, inode, flags: ['private', 'read', 'exec'], anon, seq, huge }: about 120 bytes",
    make: (id, prot) => ({
      id,
      prot: PROT_NAMES[prot]!,
      path: PATHS_68[id & (POOL - 1)]!,
      offset: (id & 0xffff) * 4096,
      dev: 'fd:01',
      inode: (id % 1_000_000) + 1_000_000,
      flags: FLAGS,
      anon: (id & 1) === 1,
      seq: id & 0xfff,
      huge: false,
    }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: '300B',
    describe: 'the 120-byte object plus a nested owner { uid, gid, name } and three notes: about 300 bytes',
    make: (id, prot) => ({
      id,
      prot: PROT_NAMES[prot]!,
      path: PATHS_60[id & (POOL - 1)]!,
      offset: (id & 0xffff) * 4096,
      dev: 'fd:01',
      inode: (id % 1_000_000) + 1_000_000,
      flags: FLAGS,
      anon: (id & 1) === 1,
      owner: { uid: 1000 + (id & 7), gid: 1000, name: OWNERS[id & (POOL - 1)]! },
      notes: [NOTES_50[id & (POOL - 1)]!, NOTES_50[(id + 1) & (POOL - 1)]!, NOTES_57[id & (POOL - 1)]!],
    }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: '3KB',
    describe: '{ id, prot, path, samples: 100 numbers, text: 2,555 characters }: about 3 KB',
    make: (id, prot) => ({ id, prot: PROT_NAMES[prot]!, path: PATHS_60[id & (POOL - 1)]!, samples: SAMPLES[id & 255]!, text: TEXT_2555[id & (POOL - 1)]! }),
    idOf: objectId,
    protOf: objectProt,
  },
  {
    name: 'mixed',
    describe: 'by id mod 4: an object with a string (8–180 chars), an object holding a nested object and an array, a top-level array, a top-level string: 10–200 bytes',
    make: (id, prot) => {
      switch (id & 3) {
        case 0:
          return { id, prot: PROT_NAMES[prot]!, path: MIXED_PATHS[(id >>> 2) & 3]![id & (POOL - 1)]! };
        case 1:
          return { id, prot, map: { start: (id & 0xffff) * 4096, flags: FLAGS, shared: (id & 4) === 4 } };
        case 2:
          return [id, prot, MIXED_PATHS[1]![id & (POOL - 1)]!, [id & 0xff, 2, 3]];
        default:
          return `${prot}:${id}:${MIXED_PATHS[(id >>> 2) & 1]![id & (POOL - 1)]!}`;
      }
    },
    idOf: (value) => {
      if (typeof value === 'string') return Number(value.slice(2, value.indexOf(':', 2)));
      if (Array.isArray(value)) return value[0] as number;
      return objectId(value);
    },
    protOf: (value) => {
      if (typeof value === 'string') return value.charCodeAt(0) - 48;
      if (Array.isArray(value)) return value[1] as number;
      return objectProt(value);
    },
  },
];

export const SHAPE_NAMES: readonly string[] = SHAPES.map((shape) => shape.name);

export function shapeNamed(name: string): ValueShape {
  const shape = SHAPES.find((candidate) => candidate.name === name);
  if (shape === undefined) throw new Error(`unknown value shape '${name}' (known: ${SHAPE_NAMES.join(', ')})`);
  return shape;
}

/**
 * Mean msgpack bytes of the shape's values (ids from `firstId`, prot 5), as maple-store and lmdb-js
 * encode them: msgpackr with shared structures, the shapes' structures already known.
 */
export function measureShape(shape: ValueShape, firstId = 500_000, count = 1000): number {
  const packr = new Packr({ structures: [], mapsAsObjects: true, moreTypes: true, saveStructures: () => true });
  for (let i = 0; i < 16; i++) packr.pack(shape.make(firstId + i, 5)); // every structure known
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += packr.pack(shape.make(firstId + i * 37, 5)).length;
  return bytes / count;
}
