/**
 * Corruption (issue 3): bit flips, zeroed 512-byte sectors, truncation and random bytes anywhere
 * in a small store file. Open must fall back to a valid commit or throw a MapleError (ECORRUPT
 * naming the page, or ENOTSTORE); once open, every read either returns the model's value for the
 * version the store reports or throws ECORRUPT; nothing may throw anything but a MapleError.
 * Plus fuzzing: random files, and node, value-record and value-area cells rewritten with random
 * bytes under a recomputed checksum so the decoders themselves see the garbage. A forged area is
 * held to more than clean refusals: unless its random bytes happen to spell another valid value
 * for a slot of its leaf (which no checksum can catch once it is forged), check() must refuse it
 * or every read must still return the right value.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/index.js';
import { Prng, SimulatedDisk } from '../../recovery/testing/simulatedDisk.js';
import { MAX_INDEX, CELL_BASE, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';
import { AreaSlot, NODE_INTERNAL, NODE_LEAF, OFF_NONCE, decodeNode, nodeChecksumOk, nodeNonce } from '../../storage/format/node.js';
import { AREA_HEADER_BYTES, AREA_TYPE } from '../../storage/format/valueArea.js';
import { ValueCodec } from '../../storage/format/valueCodec.js';
import { decodeStructures } from '../../storage/format/structures.js';
import { readRing } from '../../recovery/recover.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE, readRecordHeader, verifyRecord } from '../../storage/format/valueRecord.js';
import { describeError, openOn, readAll, type Store } from './crashRunner.js';
import { RangeModel, diffRanges, sameValue, type ModelRange } from './rangeModel.js';
import { bigValue } from './workloads.js';

interface Base {
  image: Uint8Array;
  /** Model state at each commit number the file went through. */
  byVersion: Map<number, RangeModel>;
}

/** Bigger than AREA_VALUE_MAX_BYTES once encoded, so it gets a value record of its own. */
function recordSized(i: number): { id: number; name: string; pad: string } {
  return { id: i, name: `range-${i}`, pad: 'p'.repeat(520 + i) };
}

/**
 * A small store with enough commits to fill the ring, height 2, and every kind of value: inline,
 * in leaves' value areas (one shared by both halves of a split range) and records.
 */
function buildBase(): Base {
  const disk = new SimulatedDisk();
  const store = openOn(disk, '/simulated/corruption-base');
  const model = new RangeModel();
  const byVersion = new Map<number, RangeModel>([[store.version, model.clone()]]);
  const commit = (fn: (m: { store(f: number, l: number, v: unknown): void }) => void) => {
    store.transaction((t) => fn(t));
    fn(model);
    byVersion.set(store.version, model.clone());
  };
  commit((m) => {
    for (let i = 0; i < 40; i++) m.store(i * 10, i * 10 + 5, i % 3 === 0 ? i : i % 4 === 1 ? recordSized(i) : { id: i, name: `range-${i}` });
  });
  commit((m) => m.store(500, 520, bigValue(3000, 9)));
  commit((m) => m.store(12, 47, 'spans'));
  commit((m) => m.store(600, 600, { deep: { nested: [1, 2, 3] } }));
  // Split the range [80, 85], whose value is in its leaf's area: both halves keep it.
  commit((m) => m.store(82, 83, 'mid'));
  commit((m) => {
    for (let i = 0; i < 24; i++) m.store(700 + i * 4, 702 + i * 4, { small: i, tag: 'in-an-area-of-commit-7' });
    m.store(800, 809, recordSized(99));
  });
  commit((m) => m.store(0, 3, 7));
  store.close();
  return { image: disk.currentImage(), byVersion };
}

const BASE = buildBase();

/** A value area's checksum (CRC-32 of bytes 8 .. 24 + length, then 0..3) holds. */
function areaChecksumHolds(bytes: Uint8Array): boolean {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const end = AREA_HEADER_BYTES + dv.getUint32(12, true);
  if (end > bytes.length) return false;
  return dv.getUint32(4, true) === zlib.crc32(bytes.subarray(0, 4), zlib.crc32(bytes.subarray(8, end))) >>> 0;
}

/** Why `err` is not an acceptable refusal, or undefined when it is. */
function badError(err: unknown, allowed: readonly string[]): string | undefined {
  if (!(err instanceof MapleError)) return `a non-MapleError: ${describeError(err)}`;
  if (!allowed.includes(err.code)) return `MapleError ${err.code} (allowed: ${allowed.join(', ')}): ${err.message}`;
  if (err.code === 'ECORRUPT' && !/\b(page|pages|cell)\s+\d/.test(err.message)) return `ECORRUPT without naming a page or cell: ${err.message}`;
  // Cell 0 is in the header page: no node or value lives there, so naming it names nothing.
  if (err.code === 'ECORRUPT' && /\bcell 0 \(/.test(err.message)) return `ECORRUPT naming cell 0: ${err.message}`;
  return undefined;
}

/**
 * Opens `image` and checks that it refuses cleanly or reads only right values. Returns a failure
 * message or undefined; `strict` (non-adversarial damage) also demands right values.
 */
function judge(image: Uint8Array, strict: boolean): string | undefined {
  let store: Store;
  try {
    store = openOn(SimulatedDisk.fromImage(image), '/simulated/corrupted');
  } catch (err) {
    const bad = badError(err, ['ECORRUPT', 'ENOTSTORE']);
    return bad ? `open threw ${bad}` : undefined;
  }
  try {
    const version = store.version;
    const model = BASE.byVersion.get(version);
    if (strict && model === undefined) return `opened at version ${version}, which the file never committed`;
    let checked = false;
    try {
      store.check();
      checked = true;
    } catch (err) {
      const bad = badError(err, ['ECORRUPT']);
      if (bad) return `check() threw ${bad}`;
    }
    // Full iteration: every range yielded before a refusal must be the model's.
    const got: ModelRange[] = [];
    try {
      for (const r of store.ranges()) got.push({ first: r.first, last: r.last, value: r.value });
      if (strict && model) {
        const d = diffRanges(got, model.ranges);
        if (d) return `version ${version} reads wrong: ${d}`;
      }
    } catch (err) {
      const bad = badError(err, ['ECORRUPT']);
      if (bad) return `ranges() threw ${bad}`;
      if (checked) return `check() passed but ranges() threw ${describeError(err)}`;
      if (strict && model) {
        const d = diffRanges(got, model.ranges.slice(0, got.length));
        if (d) return `version ${version} yields a wrong range before refusing: ${d}`;
      }
    }
    // Point reads and gap searches, each right or refused.
    const probes = model ? model.ranges.flatMap((r) => [r.first, r.last, r.last + 1]) : [0, 5, 500, 600];
    for (const index of probes) {
      try {
        const v = store.load(index);
        if (strict && model && !sameValue(v, model.load(index))) return `version ${version}: load(${index}) returned a wrong value`;
      } catch (err) {
        const bad = badError(err, ['ECORRUPT']);
        if (bad) return `load(${index}) threw ${bad}`;
        if (checked) return `check() passed but load(${index}) threw ${describeError(err)}`;
      }
    }
    for (const size of [1, 4, 50]) {
      try {
        const s = store.emptyArea(0, 10_000, size);
        if (strict && model && s !== model.emptyArea(0, 10_000, size)) return `version ${version}: emptyArea(0, 10000, ${size}) is ${s}`;
      } catch (err) {
        const bad = badError(err, ['ECORRUPT']);
        if (bad) return `emptyArea threw ${bad}`;
      }
    }
    // A write on a damaged file either commits or refuses with a MapleError.
    try {
      store.store(5000, 5000, 'after damage');
    } catch (err) {
      const bad = badError(err, ['ECORRUPT', 'EIO']);
      if (bad) return `a commit threw ${bad}`;
    }
    // Erases read the value through the write path's decoded nodes: right, or refused.
    const erased = model?.clone();
    for (const index of probes.slice(0, 12)) {
      try {
        const v = store.erase(index);
        if (strict && erased && !sameValue(v, erased.erase(index))) return `version ${version}: erase(${index}) returned a wrong value`;
      } catch (err) {
        const bad = badError(err, ['ECORRUPT', 'EIO']);
        if (bad) return `erase(${index}) threw ${bad}`;
      }
    }
    return undefined;
  } catch (err) {
    return `unexpected throw ${describeError(err)}`;
  } finally {
    try {
      store.close();
    } catch (err) {
      // close must not fail either
      return `close threw ${describeError(err)}`;
    }
  }
}

function runAll(name: string, variants: Iterable<[string, Uint8Array]>, strict: boolean): void {
  const failures: string[] = [];
  let n = 0;
  for (const [what, image] of variants) {
    n++;
    const f = judge(image, strict);
    if (f) failures.push(`${name} ${what}: ${f}`);
    if (failures.length >= 20) break;
  }
  console.log(`${name}: ${n} damaged files judged, ${failures.length} failures`);
  expect(failures).toEqual([]);
  expect(n).toBeGreaterThan(0);
}

describe('corruption of a small store file', () => {
  const size = BASE.image.length;

  it('the undamaged base opens at its last commit and reads right', () => {
    expect(size).toBeGreaterThan(CELL_BASE * CELL_BYTES);
    expect(judge(BASE.image, true)).toBeUndefined();
  });

  it('a bit flip anywhere', () => {
    const rng = new Prng(1);
    function* variants(): Generator<[string, Uint8Array]> {
      // Every 64-byte stretch of the file gets one flipped bit at a random place within it.
      for (let at = 0; at < size; at += 64) {
        const image = BASE.image.slice();
        const byte = Math.min(size - 1, at + rng.below(64));
        const bit = rng.below(8);
        image[byte] = (image[byte] as number) ^ (1 << bit);
        yield [`bit ${bit} of byte ${byte}`, image];
      }
    }
    runAll('bit flip', variants(), true);
  });

  it('a zeroed 512-byte sector anywhere', () => {
    function* variants(): Generator<[string, Uint8Array]> {
      for (let at = 0; at < size; at += 512) {
        const image = BASE.image.slice();
        image.fill(0, at, at + 512);
        yield [`sector at ${at}`, image];
      }
    }
    runAll('zeroed sector', variants(), true);
  });

  it('truncation anywhere', () => {
    function* variants(): Generator<[string, Uint8Array]> {
      const cuts = new Set<number>([0, 1, 31, 32, 100, 4095, 4096, 4097, size - 1]);
      for (let at = 512; at < size; at += 512) cuts.add(at);
      for (let at = CELL_BASE * CELL_BYTES; at < size; at += CELL_BYTES) cuts.add(at + 17);
      for (const cut of cuts) yield [`to ${cut} bytes`, BASE.image.slice(0, cut)];
    }
    runAll('truncation', variants(), true);
  });

  it('random bytes over a single cell, for every cell', () => {
    const rng = new Prng(2);
    function* variants(): Generator<[string, Uint8Array]> {
      for (let at = 0; at + CELL_BYTES <= size; at += CELL_BYTES) {
        const image = BASE.image.slice();
        rng.fill(image.subarray(at, at + CELL_BYTES));
        yield [`cell at byte ${at}`, image];
      }
    }
    runAll('random cell', variants(), true);
  });
});

describe('fuzzing', () => {
  it('open on random files never throws anything but a MapleError', () => {
    const rng = new Prng(3);
    function* variants(): Generator<[string, Uint8Array]> {
      for (let i = 0; i < 150; i++) {
        const length = [0, 1, 100, 4096, 5 * 4096, 8 * 4096, 20_000 + rng.below(60_000)][i % 7] as number;
        const image = new Uint8Array(length);
        rng.fill(image);
        // Half keep the real header page (and sometimes the ring), so decoding goes deeper.
        if (i % 2 === 1) image.set(BASE.image.subarray(0, Math.min(length, i % 4 === 1 ? PAGE_BYTES : CELL_BASE * CELL_BYTES)));
        yield [`random file #${i} of ${length} bytes`, image];
      }
    }
    // Random bytes make no claim about values: only clean refusals are demanded.
    runAll('random file', variants(), false);
  });

  it('node and value cells rewritten with random bytes under a valid checksum', () => {
    const rng = new Prng(4);
    const cells: Array<{ at: number; kind: 'node' | 'record' | 'area' }> = [];
    for (let at = CELL_BASE * CELL_BYTES; at + CELL_BYTES <= BASE.image.length; at += CELL_BYTES) {
      const cell = BASE.image.subarray(at, at + CELL_BYTES);
      if ((cell[0] === NODE_LEAF || cell[0] === NODE_INTERNAL) && nodeChecksumOk(cell, at / CELL_BYTES)) cells.push({ at, kind: 'node' });
      else if (cell[0] === RECORD_TYPE) cells.push({ at, kind: 'record' });
      else if (cell[0] === AREA_TYPE) cells.push({ at, kind: 'area' });
    }
    expect(cells.filter((c) => c.kind === 'node').length).toBeGreaterThan(3);
    expect(cells.filter((c) => c.kind === 'record').length).toBeGreaterThan(3);
    expect(cells.filter((c) => c.kind === 'area').length).toBeGreaterThan(3);
    const unforged: string[] = [];
    // Forgeries that keep the header must keep the commit nonce too: recovery matches it against
    // the commit record, so a garbled nonce would be refused before any decoder saw the cell.
    const lostNonce: string[] = [];
    const verifies = (bytes: Uint8Array, address: number) => {
      try {
        verifyRecord(bytes, address);
        return true;
      } catch {
        return false;
      }
    };
    function* variants(): Generator<[string, Uint8Array]> {
      for (let round = 0; round < 12; round++) {
        for (const { at, kind } of cells) {
          const image = BASE.image.slice();
          const cell = image.subarray(at, at + CELL_BYTES);
          // Keep the header (type, commit, nonce) most of the time so the decoder gets past the basics.
          const from = round % 3 === 0 ? 0 : 16;
          const to = round % 2 === 0 ? CELL_BYTES : from + 1 + rng.below(CELL_BYTES - from - 1);
          rng.fill(cell.subarray(from, to));
          const originalCell = BASE.image.subarray(at, at + CELL_BYTES);
          if (kind === 'node') {
            // The nonce sits at the end of the node (bytes 248..251), inside the garbled span.
            if (from !== 0) cell.set(originalCell.subarray(OFF_NONCE, OFF_NONCE + 4), OFF_NONCE);
            if (round % 4 === 1) cell[1] = 1 + rng.below(15); // a plausible slot count
            // A node's checksum starts from its cell's address.
            const crc = zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, CELL_BYTES), at / CELL_BYTES));
            new DataView(cell.buffer, cell.byteOffset).setUint32(4, crc, true);
            if (from === 0 && cell[0] !== NODE_LEAF && cell[0] !== NODE_INTERNAL) cell[0] = round % 2 === 0 ? NODE_LEAF : NODE_INTERNAL;
            const fixed = zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, CELL_BYTES), at / CELL_BYTES));
            new DataView(cell.buffer, cell.byteOffset).setUint32(4, fixed, true);
          } else {
            // Keep the header (type, commit, length, nonce, and an area's owner) so the record or
            // area passes every check but its checksum, then garble its msgpack bytes (across all
            // its cells) and re-checksum: both have the same header layout and checksum span.
            const original = BASE.image.subarray(at, at + RECORD_HEADER_BYTES);
            cell.set(original);
            const length = new DataView(original.buffer, original.byteOffset).getUint32(12, true);
            const data = image.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length);
            const keepFrom = round % 2 === 0 ? 0 : rng.below(Math.max(1, length));
            rng.fill(data.subarray(keepFrom));
            if (round % 3 === 2 && length > 0) data[0] = [0x80, 0x90, 0xa0, 0xdc, 0xde, 0xc7, 0xd4][rng.below(7)] as number;
            // The CRC covers bytes 8 .. 24+length (nonce included), then bytes 0..3; a record's
            // starts from its cell's address.
            const seed = kind === 'record' ? at / CELL_BYTES : 0;
            const crc = zlib.crc32(image.subarray(at, at + 4), zlib.crc32(image.subarray(at + 8, at + RECORD_HEADER_BYTES + length), seed));
            new DataView(cell.buffer, cell.byteOffset).setUint32(4, crc, true);
          }
          // Records and areas keep the nonce at bytes 16..19.
          const keptNonce = kind === 'node' ? from === 0 || nodeNonce(cell) === nodeNonce(originalCell) : cell.subarray(16, 20).every((b, i) => b === originalCell[16 + i]);
          if (!keptNonce) lostNonce.push(`${kind} cell at byte ${at}, round ${round}`);
          // The forgery must pass the store's own checksum test, or the decoders never see it.
          const passes = kind === 'node' ? nodeChecksumOk(cell, at / CELL_BYTES) : kind === 'record' ? verifies(image.subarray(at), at / CELL_BYTES) : areaChecksumHolds(image.subarray(at));
          if (!passes) unforged.push(`${kind} cell at byte ${at}, round ${round}`);
          yield [`${kind} cell at byte ${at}, round ${round}`, image];
        }
      }
    }
    // A forged checksum can make any value "valid": only clean refusals are demanded.
    runAll('forged cell', variants(), false);
    expect(unforged, 'forged cells the store\'s checksum rejects (the forger no longer matches the format)').toEqual([]);
    expect(lostNonce, 'forged cells whose commit nonce changed (recovery would refuse them unseen)').toEqual([]);
  });
  it('value areas rewritten with random value bytes under a valid checksum', () => {
    const rng = new Prng(5);
    const image = BASE.image;
    // Every (area, offset, length) some leaf in the file points at — reachable or stale, an
    // over-estimate that only makes the strict judgement below rarer, never wrong.
    const referenced = new Map<number, Array<[number, number]>>();
    const areas: number[] = [];
    for (let c = CELL_BASE; (c + 1) * CELL_BYTES <= image.length; c++) {
      const cell = image.subarray(c * CELL_BYTES, (c + 1) * CELL_BYTES);
      if (cell[0] === AREA_TYPE && areaChecksumHolds(image.subarray(c * CELL_BYTES))) areas.push(c);
      if (cell[0] !== NODE_LEAF || !nodeChecksumOk(cell, c)) continue;
      for (const slot of decodeNode(cell, c, MAX_INDEX).slots) {
        if (!(slot instanceof AreaSlot)) continue;
        const list = referenced.get(slot.area) ?? [];
        list.push([slot.offset, slot.length]);
        referenced.set(slot.area, list);
      }
    }
    expect(areas.length).toBeGreaterThan(3);
    // The split in the base left one area value that two slots of one leaf share.
    expect([...referenced.values()].some((list) => list.some(([o, l], i) => list.findIndex(([o2, l2]) => o2 === o && l2 === l) !== i))).toBe(true);

    // Values decode through the base's shared-structures table, as the store decodes them.
    const newest = readRing(SimulatedDisk.fromImage(image).fileIO())[0]!.rec;
    const tableAt = newest.structures.cell * CELL_BYTES;
    const codec = new ValueCodec(decodeStructures(verifyRecord(image.subarray(tableAt), newest.structures.cell), newest.structures.cell, newest.structures.count));
    const valueAt = (bytes: Uint8Array, at: number, offset: number, length: number): { ok: true; value: unknown } | { ok: false } => {
      try {
        const start = at + AREA_HEADER_BYTES + offset;
        return { ok: true, value: codec.decode(bytes.subarray(start, start + length)) };
      } catch (err) {
        if (!(err instanceof MapleError)) throw err;
        return { ok: false };
      }
    };

    let strictCount = 0;
    let detectable = 0;
    const undetectable: string[] = [];
    const unforged: string[] = [];
    const failures: string[] = [];
    for (let round = 0; round < 40; round++) {
      for (const address of areas) {
        const forged = image.slice();
        const at = address * CELL_BYTES;
        const length = new DataView(image.buffer, image.byteOffset + at).getUint32(12, true);
        const data = forged.subarray(at + AREA_HEADER_BYTES, at + AREA_HEADER_BYTES + length);
        const mode = round % 4;
        if (mode === 0) {
          rng.fill(data);
        } else if (mode === 1) {
          // Each referenced value's bytes, a msgpack type byte now and then.
          for (const [off, len] of referenced.get(address) ?? []) {
            rng.fill(data.subarray(off, off + len));
            if (round % 8 === 5 && len > 0) data[off] = [0x80, 0x90, 0xa0, 0xdc, 0xde, 0xc7, 0xd4, 0xc1][rng.below(8)] as number;
          }
        } else if (mode === 2) {
          // Only bytes no value uses: the zero byte of the header and the last cell's tail.
          forged[at + 1] = 1 + rng.below(255);
          const cells = Math.ceil((AREA_HEADER_BYTES + length) / CELL_BYTES);
          rng.fill(forged.subarray(at + AREA_HEADER_BYTES + length, at + cells * CELL_BYTES));
        } else {
          const from = rng.below(Math.max(1, length));
          rng.fill(data.subarray(from, from + 1 + rng.below(Math.max(1, length - from))));
        }
        const end = at + AREA_HEADER_BYTES + length;
        const crc = zlib.crc32(forged.subarray(at, at + 4), zlib.crc32(forged.subarray(at + 8, end))) >>> 0;
        new DataView(forged.buffer, forged.byteOffset + at).setUint32(4, crc, true);
        const what = `area at cell ${address}, round ${round} (mode ${mode})`;
        if (!areaChecksumHolds(forged.subarray(at))) unforged.push(what);
        // Does any referenced value now spell a different valid value? Then no reader can tell.
        let spoofed = false;
        let broken = false;
        for (const [offset, len] of referenced.get(address) ?? []) {
          const before = valueAt(image, at, offset, len);
          const after = valueAt(forged, at, offset, len);
          if (!after.ok) broken = true;
          else if (!before.ok || !sameValue(after.value, before.value)) spoofed = true;
        }
        if (spoofed) {
          undetectable.push(what);
          const f = judge(forged, false);
          if (f) failures.push(`${what} (undetectable): ${f}`);
        } else {
          strictCount++;
          if (broken) detectable++;
          const f = judge(forged, true);
          if (f) failures.push(`${what}: ${f}`);
        }
        if (failures.length >= 20) break;
      }
    }
    console.log(`forged area: ${strictCount} judged strictly (${detectable} with a broken value), ${undetectable.length} spelled another valid value (clean refusals only), ${failures.length} failures`);
    expect(failures).toEqual([]);
    expect(unforged).toEqual([]);
    expect(strictCount).toBeGreaterThan(undetectable.length);
    expect(detectable).toBeGreaterThan(areas.length);
  });
});
