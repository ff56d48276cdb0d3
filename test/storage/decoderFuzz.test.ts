/**
 * Decoder fuzzing: garbage fed to the node and value-record decoders must come back as a decoded
 * value or a MapleError — never another error type (a RangeError from an out-of-bounds DataView,
 * a TypeError from a missing slot) and never a hang. (Value areas: test/storage/valueArea.test.ts.) Random mutations of valid nodes get their
 * CRC recomputed so the structural checks behind the checksum see the garbage too. A seeded PRNG
 * makes any failure reproducible from the printed iteration.
 */
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MapleError } from '../../src/common/errors.js';
import { MAX_INDEX, INTERNAL_SLOTS, LEAF_SLOTS, MAX_INLINE_BYTES, NODE_BYTES, CELL_BASE, CELL_BYTES } from '../../src/common/limits.js';
import { AreaSlot, InlineSlot, NewValue, OFF_CRC, RecordSlot, decodeNode, encodeNode, newInternal, newLeaf, type MemNode, type Slot } from '../../storage/format/node.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE, encodeRecord, readRecordHeader, verifyRecord } from '../../storage/format/valueRecord.js';

const ITERATIONS = 20_000;

/** mulberry32: small, seedable, good enough to spread bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

function randomInt(rand: () => number, below: number): number {
  return Math.floor(rand() * below);
}

/** The checksum of the node `cell` at address `at` recomputed (CRC-32 from the address). */
function fixNodeCrc(cell: Uint8Array, at: number): void {
  const crc = zlib.crc32(cell.subarray(0, 4), zlib.crc32(cell.subarray(8, NODE_BYTES), at)) >>> 0;
  new DataView(cell.buffer, cell.byteOffset, NODE_BYTES).setUint32(OFF_CRC, crc, true);
}

/** The record CRC covers bytes 8 .. 24+length (nonce included), then bytes 0..3. */
function fixRecordCrc(cells: Uint8Array, cell: number): void {
  const dv = new DataView(cells.buffer, cells.byteOffset, cells.length);
  const end = Math.min(cells.length, RECORD_HEADER_BYTES + dv.getUint32(12, true));
  dv.setUint32(4, zlib.crc32(cells.subarray(0, 4), zlib.crc32(cells.subarray(8, end), cell)) >>> 0, true);
}

/** Runs `fn`; returns a description of a forbidden outcome, or undefined when it was fine. */
function outcome<T>(fn: () => T, accept?: (value: T) => string | undefined): string | undefined {
  let value: T;
  try {
    value = fn();
  } catch (err) {
    if (err instanceof MapleError) return err.code === 'ECORRUPT' ? undefined : `MapleError ${err.code}: ${err.message}`;
    return `${(err as Error)?.constructor?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`;
  }
  return accept?.(value);
}

/** What a successfully decoded node must satisfy, whatever bytes it came from. */
function nodeInvariants(node: MemNode, max: number): string | undefined {
  const count = node.lasts.length;
  if (count < 1 || count > (node.leaf ? LEAF_SLOTS : INTERNAL_SLOTS)) return `count ${count}`;
  if (node.lasts[count - 1] !== max) return 'last pivot is not the max';
  for (let i = 1; i < count; i++) if (!(node.lasts[i]! > node.lasts[i - 1]!)) return `pivot ${i} does not ascend`;
  if (node.leaf) {
    if (node.slots.length !== count || node.children.length !== 0) return 'leaf arrays';
    for (const slot of node.slots) {
      if (slot === null) continue;
      if (slot instanceof InlineSlot) {
        if (slot.bytes.length < 1 || slot.bytes.length > MAX_INLINE_BYTES) return `inline length ${slot.bytes.length}`;
      } else if (slot instanceof AreaSlot) {
        if (slot.area !== node.area || slot.area === 0 || slot.cells !== node.areaCells || slot.cells === 0) return `area slot of area ${slot.area} (${slot.cells} cells), leaf's ${node.area} (${node.areaCells})`;
        if (!Number.isInteger(slot.offset) || slot.offset < 0 || slot.offset > 0xffff) return `area offset ${slot.offset}`;
        if (!Number.isInteger(slot.length) || slot.length < 0 || slot.length > 0xffff) return `area length ${slot.length}`;
      } else if (!(slot instanceof RecordSlot) || !Number.isInteger(slot.cell)) {
        return 'slot of unknown kind';
      }
    }
  } else {
    if (node.children.length !== count || node.gaps.length !== count || node.slots.length !== 0) return 'internal arrays';
    for (const c of node.children) if (typeof c !== 'number' || !Number.isInteger(c) || c < 0) return `child ${String(c)}`;
    for (const g of node.gaps) if (!Number.isFinite(g) || g < 0) return `gap ${g}`;
  }
  return undefined;
}

function randomBytes(rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = randomInt(rand, 256);
  return out;
}

/** A random valid node (leaf or internal) and the max to decode it with. */
function randomValidNode(rand: () => number): { cell: Uint8Array; max: number } {
  const leaf = rand() < 0.6;
  const count = 1 + randomInt(rand, leaf ? LEAF_SLOTS : INTERNAL_SLOTS);
  const lasts: number[] = [];
  let at = randomInt(rand, 1000);
  for (let i = 0; i < count; i++) {
    lasts.push(at);
    at += 1 + randomInt(rand, rand() < 0.1 ? 2 ** 40 : 100);
  }
  if (rand() < 0.2) lasts[count - 1] = MAX_INDEX;
  let node: MemNode;
  if (leaf) {
    const slots: (Slot | null)[] = lasts.map(() => {
      const kind = randomInt(rand, 6);
      if (kind === 0) return null;
      if (kind === 1) return new InlineSlot(randomBytes(rand, 1 + randomInt(rand, MAX_INLINE_BYTES)));
      if (kind === 2) return new RecordSlot(CELL_BASE + randomInt(rand, 1e6), randomInt(rand, 2 ** 16));
      if (kind === 3 || kind === 5) return new AreaSlot(0, CELL_BASE, 1, randomInt(rand, 7000), 8 + randomInt(rand, 505), 1);
      const v = new NewValue(new Uint8Array(10));
      v.cell = CELL_BASE + randomInt(rand, 1e6);
      return v;
    });
    node = newLeaf(lasts, slots);
    if (slots.some((s) => s instanceof AreaSlot)) {
      node.area = CELL_BASE + randomInt(rand, 1e6);
      node.areaCells = 1 + randomInt(rand, 31);
    }
  } else {
    const children = lasts.map(() => {
      if (rand() < 0.5) return CELL_BASE + randomInt(rand, 1e6);
      const child = newLeaf([1], [null]);
      child.cell = CELL_BASE + randomInt(rand, 1e6);
      return child;
    });
    node = newInternal(lasts, children, lasts.map(() => randomInt(rand, 2 ** 53)), 0, lasts.map(() => randomInt(rand, 2 ** 24)));
  }
  // Encoded as the node at CELL_BASE: its checksum starts from its address.
  node.cell = CELL_BASE;
  const cell = new Uint8Array(NODE_BYTES);
  encodeNode(node, 1 + randomInt(rand, 2 ** 40), cell, randomInt(rand, 0x1_0000_0000));
  return { cell, max: lasts[count - 1]! };
}

/** Flips bits, overwrites bytes or writes a random u32/u64 at a random offset. */
function mutate(rand: () => number, cell: Uint8Array): void {
  const edits = 1 + randomInt(rand, 4);
  const dv = new DataView(cell.buffer, cell.byteOffset, cell.length);
  for (let e = 0; e < edits; e++) {
    const kind = randomInt(rand, 4);
    if (kind === 0) {
      const i = randomInt(rand, cell.length);
      cell[i] = cell[i]! ^ (1 << randomInt(rand, 8));
    } else if (kind === 1) {
      cell[randomInt(rand, cell.length)] = randomInt(rand, 256);
    } else if (kind === 2) {
      dv.setUint32(randomInt(rand, cell.length - 3), randomInt(rand, 0x1_0000_0000), true);
    } else {
      // Small header values are where the interesting edges are (type, count, tags).
      cell[randomInt(rand, 16)] = [0, 1, 2, 3, 5, 9, 10, 11, 15, 16, 17, 255][randomInt(rand, 12)]!;
    }
  }
}

describe('decoder fuzz', () => {
  it(`decodeNode on ${ITERATIONS} random 256-byte cells, verified and unverified`, () => {
    const rand = prng(0x5eed_0001);
    let decoded = 0;
    for (let iter = 0; iter < ITERATIONS; iter++) {
      const cell = randomBytes(rand, NODE_BYTES);
      // Half the time make the header plausible so decoding gets past the first checks.
      if (rand() < 0.5) {
        cell[0] = 1 + randomInt(rand, 2);
        cell[1] = randomInt(rand, 17);
      }
      const max = rand() < 0.5 ? MAX_INDEX : randomInt(rand, 2 ** 53);
      const verified = outcome(() => decodeNode(cell, CELL_BASE + iter, max), (n) => nodeInvariants(n, max));
      expect(verified, `iteration ${iter} (verified)`).toBeUndefined();
      const unverified = outcome(() => decodeNode(cell, CELL_BASE + iter, max, false), (n) => {
        decoded++;
        return nodeInvariants(n, max);
      });
      expect(unverified, `iteration ${iter} (unverified)`).toBeUndefined();
    }
    // The plausible-header half must sometimes get all the way through, or the fuzz is shallow.
    expect(decoded).toBeGreaterThan(0);
  });

  it(`decodeNode on ${ITERATIONS} mutated valid nodes with a recomputed CRC`, () => {
    const rand = prng(0x5eed_0002);
    let decoded = 0;
    let refused = 0;
    for (let iter = 0; iter < ITERATIONS; iter++) {
      const { cell, max } = randomValidNode(rand);
      expect(decodeNode(cell, CELL_BASE, max).lasts.at(-1)).toBe(max);
      mutate(rand, cell);
      fixNodeCrc(cell, CELL_BASE + iter);
      let returned = false;
      const bad = outcome(
        () => decodeNode(cell, CELL_BASE + iter, max),
        (n) => {
          returned = true;
          return nodeInvariants(n, max);
        },
      );
      expect(bad, `iteration ${iter}`).toBeUndefined();
      if (returned) decoded++;
      else refused++;
    }
    // Both outcomes must occur: mutations that break structure and ones that stay decodable.
    expect(decoded).toBeGreaterThan(ITERATIONS / 10);
    expect(refused).toBeGreaterThan(ITERATIONS / 10);
  });

  it(`readRecordHeader and verifyRecord on ${ITERATIONS} random 256-byte cells`, () => {
    const rand = prng(0x5eed_0003);
    for (let iter = 0; iter < ITERATIONS; iter++) {
      const cells = randomBytes(rand, CELL_BYTES);
      if (rand() < 0.5) cells[0] = RECORD_TYPE;
      if (rand() < 0.3) new DataView(cells.buffer).setUint32(12, randomInt(rand, 300), true);
      if (rand() < 0.2) fixRecordCrc(cells, CELL_BASE + iter);
      const header = outcome(() => readRecordHeader(cells, CELL_BASE + iter), (h) =>
        Number.isInteger(h.lengthBytes) && h.lengthBytes >= 0 && Number.isInteger(h.commit) && Number.isInteger(h.nonce) && h.nonce >= 0 && h.nonce <= 0xffff_ffff
          ? undefined
          : `header ${JSON.stringify(h)}`,
      );
      expect(header, `iteration ${iter} (header)`).toBeUndefined();
      const whole = outcome(() => verifyRecord(cells, CELL_BASE + iter), (bytes) =>
        bytes.length <= CELL_BYTES - RECORD_HEADER_BYTES ? undefined : `returned ${bytes.length} bytes from one cell`,
      );
      expect(whole, `iteration ${iter} (verify)`).toBeUndefined();
    }
  });

  it('mutated valid records (CRC recomputed) verify to their own bytes or are refused', () => {
    const rand = prng(0x5eed_0004);
    for (let iter = 0; iter < 5000; iter++) {
      const cells = encodeRecord(randomBytes(rand, randomInt(rand, 700)), 1 + randomInt(rand, 2 ** 40), randomInt(rand, 0x1_0000_0000), CELL_BASE + iter);
      mutate(rand, cells);
      if (rand() < 0.7) fixRecordCrc(cells, CELL_BASE + iter);
      const bad = outcome(() => verifyRecord(cells, CELL_BASE + iter), (bytes) => {
        const length = new DataView(cells.buffer).getUint32(12, true);
        return bytes.length === length && bytes.byteOffset === cells.byteOffset + RECORD_HEADER_BYTES ? undefined : 'wrong slice';
      });
      expect(bad, `iteration ${iter}`).toBeUndefined();
    }
  });
});
