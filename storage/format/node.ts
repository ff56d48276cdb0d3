/**
 * Maple nodes: fixed 256-byte cells, decoded into MemNode objects for writers and checkers
 * (the read hot path in src/read/frameLookup.ts reads the same offsets straight from buffer-pool frames).
 *
 * Common header (16 bytes):
 *   offset  size  meaning
 *   0       1     type: NODE_LEAF (1) or NODE_INTERNAL (2)
 *   1       1     count: slots in use (leaf 1..LEAF_SLOTS, internal 1..INTERNAL_SLOTS)
 *   2       1     leaf: cells of its value area (0: none); internal: zero
 *   3       1     zero
 *   4       4     CRC-32 of bytes 8..255 then bytes 0..3, started from the cell's own address:
 *                 the same bytes at any other cell fail it (a misdirected write, a page copied)
 *   8       4     writing commit number, low 32 bits
 *   12      4     writing commit number, high bits
 *
 * Leaf (kernel maple_range_64 / leaf_64):  slot i covers (pivot[i−1], pivot[i]]; slot 0 starts at the
 * node's min and the last used slot ends at the node's max, both implied by the parent.
 *   16      14×8  pivots, u64 little-endian (keys ≤ 2^53−1, read as two u32 halves)
 *   128     15×8  slots (below)
 *   248     4     commit nonce: the writing commit's random number (recovery matches it)
 *   252     4     the first cell of its value area (storage/format/valueArea.ts), 0 when it has none
 *
 * Leaf slot (8 bytes), byte 7 is the tag:
 *   tag 0            empty (a gap); all 8 bytes zero
 *   tag 1..7         inline value: msgpack bytes 0..tag−1
 *   tag SLOT_RECORD  value record: bytes 0..3 cell address (u32), byte 4 flags (bit 0 FRESH),
 *                    bytes 5..6 the low 16 bits of the number of the commit that wrote the record
 *   tag SLOT_AREA    a value in the leaf's value area: bytes 0..1 its offset in the area's value
 *                    bytes (u16), bytes 2..3 its length (u16)
 *
 * Internal (kernel maple_arange_64): child i covers (pivot[i−1], pivot[i]].
 *   16      9×8   pivots
 *   88      10×8  children: u32 cell address, u32 flags: bit 0 FRESH, bits 8..31 the low 24 bits
 *                 of the number of the commit that wrote the child (a lost write — an older cell
 *                 left where a newer one was written — fails that check)
 *   168     10×8  largest empty run ("gap") anywhere below child i, u64
 *   248     4     commit nonce
 *   252     4     zero
 *
 * FRESH marks a pointer to a cell written by the same commit as this node: recovery walks only
 * FRESH pointers to validate the newest commit (DESIGN.md §5). A leaf's value area is always
 * written by the leaf's own commit, so it needs no flag: recovery validates the area of every
 * leaf it validates.
 */
import { assert, corruptCell } from '../../src/common/errors.js';
import { INTERNAL_SLOTS, LEAF_SLOTS, MAX_INLINE_BYTES, NODE_BYTES } from '../../src/common/limits.js';
import { crc32 } from '../../src/common/checksum.js';
import { TWO32, joinU64 } from '../../src/common/u64.js';

export const NODE_LEAF = 1;
export const NODE_INTERNAL = 2;

export const OFF_TYPE = 0;
export const OFF_COUNT = 1;
export const OFF_CRC = 4;
export const OFF_COMMIT = 8;
export const OFF_PIVOTS = 16;
export const OFF_LEAF_SLOTS = 128;
export const OFF_CHILDREN = 88;
export const OFF_GAPS = 168;
export const OFF_NONCE = 248;
export const OFF_AREA_CELLS = 2;
export const OFF_AREA = 252;
export const SLOT_RECORD = 0x10;
export const SLOT_AREA = 0x12;
export const FLAG_FRESH = 1;
/** A child pointer's flags hold the low POINTER_COMMIT_BITS bits of the child's commit, from this bit on. */
export const POINTER_COMMIT_SHIFT = 8;
export const POINTER_COMMIT_BITS = 24;

/**
 * The low bits of commit number `commit` a pointer to a node it wrote carries. A bitwise and, not
 * `%`: ToInt32 keeps the low 32 bits of any integer up to 2^53, and the result stays a small
 * integer for V8 (test/smallIntegers.test.ts).
 */
export function pointerCommit(commit: number): number {
  return commit & 0xff_ffff;
}

/** A leaf slot naming a value record holds the low RECORD_POINTER_BITS bits of the record's commit. */
export const RECORD_POINTER_BITS = 16;

/** The low bits of commit number `commit` a slot naming a record it wrote carries. */
export function recordPointerCommit(commit: number): number {
  return commit & 0xffff;
}

/*
 * Accessors: the only code outside this module's codec that reads a node's bytes. The frame-direct
 * read paths (src/read/) and recovery read committed nodes in place in the buffer pool's slab:
 * `slab` is the pool's bytes, `words` the same memory as little-endian u32s, `at` the cell's byte
 * offset (a multiple of CELL_BYTES, so `at >>> 2` is its first word). They check nothing: the
 * callers verify the cell's checksum, type and count first.
 */

/** The node's type byte (NODE_LEAF, NODE_INTERNAL, or anything else in a damaged cell). */
export function nodeTypeAt(slab: Uint8Array, at: number): number {
  return slab[at + OFF_TYPE]!;
}

/** Slots (leaf) or children (internal) in use. */
export function nodeCountAt(slab: Uint8Array, at: number): number {
  return slab[at + OFF_COUNT]!;
}

/** The number of the commit that wrote the node. */
export function nodeCommitAt(words: Uint32Array, at: number): number {
  const w = (at + OFF_COMMIT) >>> 2;
  return joinU64(words[w]!, words[w + 1]!);
}

/** Pivot `i`: the last index of slot/child `i` (i < count − 1; the last one is the node's max). */
export function pivotAt(words: Uint32Array, at: number, i: number): number {
  const w = ((at + OFF_PIVOTS) >>> 2) + 2 * i;
  return words[w]! + words[w + 1]! * TWO32;
}

/** Child `i`'s cell address (internal nodes). */
export function childAt(words: Uint32Array, at: number, i: number): number {
  return words[((at + OFF_CHILDREN) >>> 2) + 2 * i]!;
}

/** The low bits of the commit that wrote child `i` (internal nodes), as its pointer names them. */
export function childCommitAt(words: Uint32Array, at: number, i: number): number {
  return words[((at + OFF_CHILDREN) >>> 2) + 2 * i + 1]! >>> POINTER_COMMIT_SHIFT;
}

/**
 * ECORRUPT unless the node at `cell`, written by commit `commit`, is the one its parent's pointer
 * names (`expect`: the low bits of its commit; −1 for a root, whose pointer is not checked here):
 * an older cell left where a newer one was written passes its own checksum, but not this.
 */
export function checkPointedCommit(cell: number, commit: number, expect: number): void {
  if (expect >= 0 && pointerCommit(commit) !== expect) {
    throw corruptCell(cell, `holds a node of commit ${commit}, but its parent's pointer names a commit ending in ${expect} (low ${POINTER_COMMIT_BITS} bits): an older cell where a newer one was written (a lost write)`);
  }
}

/** The largest gap below child `i` (internal nodes). */
export function gapAt(words: Uint32Array, at: number, i: number): number {
  const w = ((at + OFF_GAPS) >>> 2) + 2 * i;
  return words[w]! + words[w + 1]! * TWO32;
}

/** Byte offset of leaf slot `i`'s eight bytes (pass it to the slot accessors below). */
export function slotAt(at: number, i: number): number {
  return at + OFF_LEAF_SLOTS + 8 * i;
}

/** Byte offset of internal child `i`'s eight bytes (its cell and flags). */
export function childEntryAt(at: number, i: number): number {
  return at + OFF_CHILDREN + 8 * i;
}

/** A slot's tag (byte 7): 0 empty, 1..MAX_INLINE_BYTES inline length, SLOT_RECORD, SLOT_AREA. */
export function slotTag(slab: Uint8Array, slot: number): number {
  return slab[slot + 7]!;
}

/** The cell a record slot points at (bytes 0..3). */
export function slotTarget(slab: Uint8Array, slot: number): number {
  return (slab[slot]! | (slab[slot + 1]! << 8) | (slab[slot + 2]! << 16)) + slab[slot + 3]! * 0x100_0000;
}

/** The low bits of the commit that wrote the record a record slot points at (bytes 5..6). */
export function slotRecordCommit(slab: Uint8Array, slot: number): number {
  return slab[slot + 5]! | (slab[slot + 6]! << 8);
}

/** An area slot's value: its offset in the area's value bytes (bytes 0..1). */
export function slotAreaOffset(slab: Uint8Array, slot: number): number {
  return slab[slot]! | (slab[slot + 1]! << 8);
}

/** An area slot's value: its length (bytes 2..3). */
export function slotAreaLength(slab: Uint8Array, slot: number): number {
  return slab[slot + 2]! | (slab[slot + 3]! << 8);
}

/** The first cell of a leaf's value area (0: it has none). */
export function leafAreaAt(words: Uint32Array, at: number): number {
  return words[(at + OFF_AREA) >>> 2]!;
}

/** How many cells a leaf's value area takes. */
export function leafAreaCellsAt(slab: Uint8Array, at: number): number {
  return slab[at + OFF_AREA_CELLS]!;
}

/**
 * A value in a leaf slot, as held in memory. A number is a value this transaction stored: its
 * handle in the transaction's arena (storage/format/valueArena.ts), copied into cells at commit.
 */
export type Slot = InlineSlot | RecordSlot | AreaSlot | NewValue | number;

/** The transaction's value bytes by handle, as the commit encodes them (storage/format/valueArena.ts). */
export interface ValueBytes {
  lengthOf(handle: number): number;
  /** Copies the value's bytes to `at` of `buf`; returns how many. */
  copyTo(handle: number, buf: Uint8Array, at: number): number;
}

/**
 * A value of at most MAX_INLINE_BYTES msgpack bytes, kept in the slot itself. It holds the slot's
 * eight bytes as encoded — bytes 0..6 the value, zero past its length, byte 7 the length (the tag) —
 * a 59-bit little-endian number cut into two fields of 30 and 29 bits, so that both stay small
 * integers (V8 SMIs, 31 bits with pointer compression): a field beyond that range would make V8
 * box it in a separate heap number, in every instance once one value needs it.
 */
export class InlineSlot {
  // Declared only: a class field would first be defined as undefined, then assigned.
  /** Bits 0..29 of the slot. */
  declare readonly low30: number;
  /** Bits 30..58 of the slot (byte 7, the length, is bits 26..28). */
  declare readonly high29: number;
  /** The cell of the committed leaf it was read from (0: never written), which an error names. */
  declare readonly leaf: number;
  constructor(bytes: Uint8Array, start = 0, end = bytes.length, leaf = 0) {
    const n = end - start;
    let lo = 0; // bytes 0..3, as an int32
    let hi = n << 24; // bytes 4..7
    if (n > 0) lo = bytes[start]!;
    if (n > 1) lo |= bytes[start + 1]! << 8;
    if (n > 2) lo |= bytes[start + 2]! << 16;
    if (n > 3) lo |= bytes[start + 3]! << 24;
    if (n > 4) hi |= bytes[start + 4]!;
    if (n > 5) hi |= bytes[start + 5]! << 8;
    if (n > 6) hi |= bytes[start + 6]! << 16;
    this.low30 = lo & 0x3fff_ffff;
    this.high29 = (lo >>> 30) | (hi << 2);
    this.leaf = leaf;
  }
  /** How many bytes. */
  get length(): number {
    return this.high29 >>> 26;
  }
  /** Bytes 0..3 little-endian. */
  get lo(): number {
    return (this.low30 | (this.high29 << 30)) >>> 0;
  }
  /** Bytes 4..6 little-endian. */
  get hi(): number {
    return (this.high29 >>> 2) & 0xff_ffff;
  }
  /** The msgpack bytes (a new array each time). */
  get bytes(): Uint8Array {
    const n = this.length;
    const lo = this.lo;
    const hi = this.hi;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
    return out;
  }
}

/**
 * A committed value record, by cell address, and the low RECORD_POINTER_BITS bits of the commit
 * that wrote it, as its slot names them (an older record left where a newer one was written fails
 * that check: storage/io/cellReader.ts, recordValue).
 */
export class RecordSlot {
  constructor(
    readonly cell: number,
    readonly commit: number,
  ) {}
}

/**
 * A committed value in a leaf's value area: `length` bytes at `offset` of the area at cell `area`
 * (`cells` long) of the leaf at cell `leaf`, written by commit `leafCommit` — the area's commit
 * too (storage/format/valueArea.ts). A new leaf that keeps it copies it into its own area.
 */
export class AreaSlot {
  constructor(
    readonly leaf: number,
    readonly area: number,
    readonly cells: number,
    readonly offset: number,
    readonly length: number,
    readonly leafCommit: number,
  ) {}
}

/**
 * A value record a commit will write (a pending-list chunk, the structures table, a value longer
 * than AREA_VALUE_MAX_BYTES); at commit it gets a `cell`.
 */
export class NewValue {
  cell = 0;
  /** Fixed once the value is in a tree, except the pending list, sized last (storage/commit/commit.ts). */
  constructor(public bytes: Uint8Array) {}
}

/**
 * Whether a leaf slot's value goes to the leaf's value area when encoded: a value of this
 * transaction longer than MAX_INLINE_BYTES (longer ones than the area takes were made records
 * before), or a committed area value the new leaf keeps. encodeNodeAt and the commit's area
 * encoder (storage/commit/valueAreas.ts) lay a leaf's area out by this rule, in slot order.
 */
export function inArea(slot: Slot | null, values: ValueBytes | null): boolean {
  if (typeof slot === 'number') return values!.lengthOf(slot) > MAX_INLINE_BYTES;
  return slot instanceof AreaSlot;
}

/**
 * sharedAreaSlot for the area values of one leaf taken in slot order, searching for few of them:
 * a handle above every earlier one, or a committed area value at an offset past every earlier
 * one's, is in no earlier slot (a bulk load's handles ascend, and the values a leaf keeps come
 * from its old area in slot order). Call reset() for each leaf, then of(slots, i) for each slot
 * whose value goes to the area, in order.
 */
export class AreaSharing {
  private handle = -1;
  private offset = -1;

  reset(): void {
    this.handle = -1;
    this.offset = -1;
  }

  /** The earlier slot whose value slot `i` shares (-1: none). */
  of(slots: readonly (Slot | null)[], i: number): number {
    const s = slots[i];
    if (typeof s === 'number') {
      if (s > this.handle) {
        this.handle = s;
        return -1;
      }
    } else if (s instanceof AreaSlot && s.offset > this.offset) {
      this.offset = s.offset;
      return -1;
    }
    return sharedAreaSlot(slots, i);
  }
}

/**
 * The earlier slot of `slots` whose area value slot `i` shares (-1: none). Slots holding the same
 * value — the halves of a split range: one handle, or one committed area value — share its bytes
 * in the leaf's area, so a split costs a slot, not a copy.
 */
export function sharedAreaSlot(slots: readonly (Slot | null)[], i: number): number {
  const s = slots[i];
  if (s instanceof AreaSlot) {
    for (let j = 0; j < i; j++) {
      const t = slots[j];
      if (t === s || (t instanceof AreaSlot && t.area === s.area && t.offset === s.offset && t.length === s.length)) return j;
    }
    return -1;
  }
  // A handle (or any other slot): shared only by the identical slot.
  for (let j = 0; j < i; j++) if (slots[j] === s) return j;
  return -1;
}

/** A child reference: a committed cell address, or a node built by the open transaction. */
export type Ref = number | MemNode;

export interface MemNode {
  leaf: boolean;
  /** Inclusive upper bound of every slot; the last one is the node's max. */
  lasts: number[];
  /** Leaf values (null = empty). Empty for internal nodes. */
  slots: (Slot | null)[];
  /** Internal children. Empty for leaves. */
  children: Ref[];
  /**
   * Internal: for each committed child (a cell address in `children`), the low bits of the
   * commit that wrote it, as the pointer read names them (pointerCommit); unused for a new child.
   * Empty for leaves.
   */
  childCommits: number[];
  /** Internal: largest gap below each child. */
  gaps: number[];
  /** Cell address: the committed address for decoded nodes, assigned at commit for new ones. */
  cell: number;
  /** Commit number that wrote this node (decoded nodes) or 0 (new nodes). */
  commit: number;
  /** A leaf's value area: its first cell (0: none) and how many cells it takes; set at commit for new leaves. */
  area: number;
  areaCells: number;
  /**
   * The savepoint generation that built this node (new nodes; 0 for decoded ones and outside
   * savepoints). The write path changes in place only nodes of the tree's own generation
   * (src/tree/write.ts, TreeState.gen): a node of an earlier one is frozen, copied like a
   * committed node, so dropping a later part of a transaction leaves it as it was.
   */
  gen: number;
}

/**
 * The unused arrays of a node kind (a leaf's children and gaps, an internal node's slots), one
 * each shared by every node as src/tree/write.ts shares them: never written, always empty.
 */
const NO_SLOTS: (Slot | null)[] = [];
const NO_CHILDREN: Ref[] = [];
const NO_GAPS: number[] = [];
const NO_COMMITS: number[] = [];

/**
 * Nodes are built by a constructor, not an object literal: V8 tracks how long the objects of each
 * literal's allocation site live and, once most outlive a young-generation collection (as the
 * nodes of a long transaction do), allocates every later one from that site in the old
 * generation, for good. Short-lived nodes (a group commit's savepoint copies, decoded nodes) then
 * keep their young arrays alive through the remembered set: measured, scavenges after such a
 * workload promoted 1.4 MB each and paused 6 ms instead of 1 (docs/benchmarks.md, workload 14).
 * `new` allocations carry no allocation site, so they always start young.
 */
class Node implements MemNode {
  cell = 0;
  commit = 0;
  area = 0;
  areaCells = 0;
  constructor(
    public leaf: boolean,
    public lasts: number[],
    public slots: (Slot | null)[],
    public children: Ref[],
    public gaps: number[],
    public gen: number,
    public childCommits: number[],
  ) {}
}

/**
 * A new array for a node's slots or children. Not an array literal, for the reason the nodes are
 * built by a constructor: a literal's allocation site can be switched to the old generation for
 * good (a rest parameter has no allocation site).
 */
export function nodeArray<T>(...items: T[]): T[] {
  return items;
}

/** An empty array of unboxed doubles, copied by numberArray. */
const EMPTY_NUMBERS: number[] = [0.5];
EMPTY_NUMBERS.pop();

/**
 * A new array for a node's lasts or gaps, without an allocation site either: a copy of an empty
 * array of doubles, so the keys it holds stay unboxed (a rest parameter's array holds any value,
 * and a key beyond 2^30 pushed onto it would be a heap object of its own).
 */
export function numberArray(...items: number[]): number[] {
  const a = EMPTY_NUMBERS.slice();
  for (let i = 0; i < items.length; i++) a.push(items[i]!);
  return a;
}

export function newLeaf(lasts: number[], slots: (Slot | null)[], gen = 0): MemNode {
  return new Node(true, lasts, slots, NO_CHILDREN, NO_GAPS, gen, NO_COMMITS);
}

/** An internal node; `childCommits` as MemNode.childCommits, parallel to `children`. */
export function newInternal(lasts: number[], children: Ref[], gaps: number[], gen: number, childCommits: number[]): MemNode {
  return new Node(false, lasts, NO_SLOTS, children, gaps, gen, childCommits);
}

/**
 * A private copy of `node` (its arrays copied, the children and values shared), as a write
 * decodes a committed node: it may change the copy and put it in the tree in the original's place.
 * Only new nodes are copied (a frozen savepoint generation's): they have no value area yet.
 */
export function copyNode(node: MemNode): MemNode {
  return node.leaf ? newLeaf(node.lasts.slice(), node.slots.slice(), node.gen) : newInternal(node.lasts.slice(), node.children.slice(), node.gaps.slice(), node.gen, node.childCommits.slice());
}

export function readU64(buf: Uint8Array, offset: number): number {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  return joinU64(dv.getUint32(offset, true), dv.getUint32(offset + 4, true));
}

/**
 * Writes `value`, an integer below 2^53, as a u64 into eight zero bytes (encodeNodeAt's cells are
 * zeroed): the high half only when it is not zero.
 */
function writeU64(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value >>> 0, true);
  if (value >= TWO32) dv.setUint32(offset + 4, value / TWO32, true);
}

/**
 * Writes an area slot at byte `s` for a value of `length` bytes at `offset`; returns the next free
 * offset (`areaAt` moved past the value when it is the one just placed there).
 */
function encodeAreaSlot(buf: Uint8Array, s: number, areaAt: number, offset: number, length: number): number {
  buf[s] = offset & 0xff;
  buf[s + 1] = offset >>> 8;
  buf[s + 2] = length & 0xff;
  buf[s + 3] = length >>> 8;
  buf[s + 7] = SLOT_AREA;
  return offset === areaAt ? areaAt + length : areaAt;
}

/** CRC-32 of bytes 8..255 then 0..3 of the node at byte `at` of `buf`, started from its address `cell`. */
function nodeCrcAt(buf: Uint8Array, at: number, cell: number): number {
  return crc32(buf, at, at + 4, crc32(buf, at + 8, at + NODE_BYTES, cell));
}

/** Encodes `node` into a zeroed 256-byte `out`, marking pointers to cells written by `commit`. */
export function encodeNode(node: MemNode, commit: number, out: Uint8Array, nonce = 0, values: ValueBytes | null = null): void {
  assert(out.length === NODE_BYTES, 'node buffer is one cell');
  encodeNodeAt(node, commit, out, new DataView(out.buffer, out.byteOffset, NODE_BYTES), 0, nonce, values);
}

/** encodeNodeAt's: it is not re-entered. */
const ENCODE_SHARING = new AreaSharing();

/**
 * encodeNode into the zeroed cell at byte `at` of `buf`; `dv` views the same bytes as `buf`
 * (commits encode all their cells into one buffer). `values` holds the bytes of the slots that
 * are handles (this transaction's values); a leaf whose values need an area has been given one
 * (node.area, node.areaCells).
 */
export function encodeNodeAt(node: MemNode, commit: number, buf: Uint8Array, dv: DataView, at: number, nonce: number, values: ValueBytes | null = null): void {
  const count = node.lasts.length;
  buf[at + OFF_TYPE] = node.leaf ? NODE_LEAF : NODE_INTERNAL;
  buf[at + OFF_COUNT] = count;
  writeU64(dv, at + OFF_COMMIT, commit);
  dv.setUint32(at + OFF_NONCE, nonce >>> 0, true);
  const lasts = node.lasts;
  for (let i = 0; i < count - 1; i++) {
    // What decodeNodeAt will demand of the bytes, asserted before they are written.
    if (!(lasts[i]! >= 0) || (i + 2 < count && !(lasts[i + 1]! > lasts[i]!))) assert(false, `pivot ${i} (${lasts[i]}) ascends to ${lasts[i + 1]}`);
    writeU64(dv, at + OFF_PIVOTS + 8 * i, lasts[i]!);
  }
  if (node.leaf) {
    if (!(count >= 1 && count <= LEAF_SLOTS)) assert(false, `leaf slot count ${count}`);
    const slots = node.slots;
    // Offset of the next value in the leaf's area: values go there in slot order (inArea).
    let areaAt = 0;
    const sharing = ENCODE_SHARING;
    sharing.reset();
    for (let i = 0; i < count; i++) {
      const slot = slots[i] ?? null;
      if (slot === null) continue;
      const s = at + OFF_LEAF_SLOTS + 8 * i;
      const handleLength = typeof slot === 'number' ? values!.lengthOf(slot) : 0;
      if (typeof slot === 'number' && handleLength <= MAX_INLINE_BYTES) {
        values!.copyTo(slot, buf, s);
        buf[s + 7] = handleLength;
      } else if (typeof slot === 'number' || slot instanceof AreaSlot) {
        const length = typeof slot === 'number' ? handleLength : slot.length;
        if (!(length <= 0xffff)) assert(false, `an area value of ${length} bytes`);
        const same = sharing.of(slots, i);
        if (same < 0) {
          areaAt = encodeAreaSlot(buf, s, areaAt, areaAt, length);
        } else {
          // The earlier slot's bytes: its offset is already encoded.
          const earlier = at + OFF_LEAF_SLOTS + 8 * same;
          encodeAreaSlot(buf, s, areaAt, buf[earlier]! | (buf[earlier + 1]! << 8), length);
        }
      } else if (slot instanceof InlineSlot) {
        const high = slot.high29;
        dv.setUint32(s, slot.low30 | (high << 30), true);
        dv.setUint32(s + 4, high >>> 2, true);
      } else if (slot instanceof RecordSlot) {
        dv.setUint32(s, slot.cell, true);
        buf[s + 5] = slot.commit & 0xff;
        buf[s + 6] = slot.commit >>> 8;
        buf[s + 7] = SLOT_RECORD;
      } else {
        assert(slot.cell !== 0, 'new value has a cell before encoding');
        dv.setUint32(s, slot.cell, true);
        buf[s + 4] = FLAG_FRESH;
        const own = recordPointerCommit(commit);
        buf[s + 5] = own & 0xff;
        buf[s + 6] = own >>> 8;
        buf[s + 7] = SLOT_RECORD;
      }
    }
    if (areaAt > 0) {
      assert(node.area !== 0 && node.areaCells > 0 && node.areaCells < 0x100, 'a leaf with area values has an area');
      buf[at + OFF_AREA_CELLS] = node.areaCells;
      dv.setUint32(at + OFF_AREA, node.area, true);
    }
  } else {
    if (!(count >= 1 && count <= INTERNAL_SLOTS)) assert(false, `internal slot count ${count}`);
    const children = node.children;
    const gaps = node.gaps;
    const childCommits = node.childCommits;
    const own = pointerCommit(commit) << POINTER_COMMIT_SHIFT;
    for (let i = 0; i < count; i++) {
      const child = children[i]!;
      const c = at + OFF_CHILDREN + 8 * i;
      if (typeof child === 'number') {
        const named = childCommits[i]!;
        if (!(named >= 0 && named <= 0xff_ffff)) assert(false, `child ${i} (cell ${child}) has its commit's low bits (${named})`);
        dv.setUint32(c, child, true);
        dv.setUint32(c + 4, named << POINTER_COMMIT_SHIFT, true);
      } else {
        assert(child.cell !== 0, 'new child has a cell before encoding');
        dv.setUint32(c, child.cell, true);
        dv.setUint32(c + 4, own | FLAG_FRESH, true);
      }
      writeU64(dv, at + OFF_GAPS + 8 * i, gaps[i]!);
    }
  }
  dv.setUint32(at + OFF_CRC, nodeCrcAt(buf, at, node.cell), true);
}

/** True when the checksum of the node `cell`, read from cell `address`, holds. */
export function nodeChecksumOk(cell: Uint8Array, address: number): boolean {
  return cell.length >= NODE_BYTES && nodeChecksumOkAt(cell, 0, address);
}

/** True when the checksum of the node at byte `at` of `buf`, read from cell `address`, holds. */
export function nodeChecksumOkAt(buf: Uint8Array, at: number, address: number): boolean {
  const stored = (buf[at + OFF_CRC]! | (buf[at + OFF_CRC + 1]! << 8) | (buf[at + OFF_CRC + 2]! << 16) | (buf[at + OFF_CRC + 3]! << 24)) >>> 0;
  return stored === nodeCrcAt(buf, at, address);
}

export function nodeNonce(cell: Uint8Array): number {
  return new DataView(cell.buffer, cell.byteOffset, NODE_BYTES).getUint32(OFF_NONCE, true);
}

export function nodeCommit(cell: Uint8Array): number {
  return readU64(cell, OFF_COMMIT);
}

/**
 * Decodes a node cell. `max` is the node's max from its parent (the last pivot is implied).
 * Throws ECORRUPT naming the cell on a bad checksum, type or count. (Hot paths decode through
 * decodeNodeAt with a scratch of their own; this one makes one per call.)
 */
export function decodeNode(cell: Uint8Array, address: number, max: number, verify = true): MemNode {
  if (verify && !nodeChecksumOk(cell, address)) throw corruptCell(address, 'node checksum mismatch');
  if (cell.length < NODE_BYTES) {
    const type = cell[OFF_TYPE];
    const count = cell[OFF_COUNT]!;
    const leaf = type === NODE_LEAF;
    if (!leaf && type !== NODE_INTERNAL) throw corruptCell(address, `unknown node type ${type}`);
    if (count < 1 || count > (leaf ? LEAF_SLOTS : INTERNAL_SLOTS)) throw corruptCell(address, `slot count ${count}`);
    throw new RangeError(`a node cell is ${NODE_BYTES} bytes; got ${cell.length}`);
  }
  return decodeNodeAt(cell, 0, address, max, new NodeDecodeScratch());
}

/**
 * decodeNode of the (already verified) cell at byte `at` of `buf` — a buffer-pool slab, without
 * a view of the cell.
 */
export function decodeNodeAt(buf: Uint8Array, at: number, address: number, max: number, scratch: NodeDecodeScratch): MemNode {
  const type = buf[at + OFF_TYPE];
  const count = buf[at + OFF_COUNT]!;
  const leaf = type === NODE_LEAF;
  if (!leaf && type !== NODE_INTERNAL) throw corruptCell(address, `unknown node type ${type}`);
  if (count < 1 || count > (leaf ? LEAF_SLOTS : INTERNAL_SLOTS)) throw corruptCell(address, `slot count ${count}`);
  // Read into scratch arrays, then copied at their exact size: a node decoded by a writer lives on
  // as (or beside) the transaction's new node, and arrays grown by push carry spare capacity.
  const sl = scratch.lasts;
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const p = at + OFF_PIVOTS + 8 * i;
    const last = i === count - 1 ? max : u32(buf, p) + u32(buf, p + 4) * TWO32;
    if (i > 0 && !(last > prev)) throw corruptCell(address, `pivot ${i} (${last}) does not ascend past ${prev} (node max ${max})`);
    sl[i] = last;
    prev = last;
  }
  const lasts = sl.slice(0, count);
  const commit = joinU64(u32(buf, at + OFF_COMMIT), u32(buf, at + OFF_COMMIT + 4));
  let node: MemNode;
  if (leaf) {
    const area = u32(buf, at + OFF_AREA);
    const areaCells = buf[at + OFF_AREA_CELLS]!;
    const ss = scratch.slots;
    for (let i = 0; i < count; i++) ss[i] = decodeSlot(buf, at + OFF_LEAF_SLOTS + 8 * i, address, area, areaCells, commit);
    const slots = ss.slice(0, count);
    ss.fill(null, 0, count);
    node = newLeaf(lasts, slots);
    node.area = area;
    node.areaCells = areaCells;
  } else {
    const sc = scratch.children;
    const sg = scratch.gaps;
    const sb = scratch.childCommits;
    for (let i = 0; i < count; i++) {
      sc[i] = u32(buf, at + OFF_CHILDREN + 8 * i);
      sb[i] = u32(buf, at + OFF_CHILDREN + 8 * i + 4) >>> POINTER_COMMIT_SHIFT;
      sg[i] = u32(buf, at + OFF_GAPS + 8 * i) + u32(buf, at + OFF_GAPS + 8 * i + 4) * TWO32;
    }
    node = newInternal(lasts, sc.slice(0, count), sg.slice(0, count), 0, sb.slice(0, count));
  }
  node.cell = address;
  node.commit = commit;
  return node;
}

/**
 * decodeNodeAt's scratch arrays, owned by one reader of cells (storage/io/cellReader.ts) and
 * reused by every node it decodes: packed (doubles from the start, so copies hold keys unboxed),
 * of the widest node's size.
 */
export class NodeDecodeScratch {
  readonly lasts: number[] = [];
  readonly slots: (Slot | null)[] = [];
  readonly children: Ref[] = [];
  readonly gaps: number[] = [];
  readonly childCommits: number[] = [];

  constructor() {
    for (let i = 0; i < LEAF_SLOTS; i++) {
      this.lasts.push(0.5);
      this.slots.push(null);
      this.gaps.push(0.5);
    }
    for (let i = 0; i < INTERNAL_SLOTS; i++) {
      this.children.push(0);
      this.childCommits.push(0);
    }
  }
}

/** The little-endian u32 at byte `at`. */
function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function decodeSlot(cell: Uint8Array, at: number, address: number, area: number, areaCells: number, commit: number): Slot | null {
  const tag = cell[at + 7]!;
  if (tag === 0) return null;
  if (tag <= MAX_INLINE_BYTES) return new InlineSlot(cell, at, at + tag, address);
  if (tag === SLOT_RECORD) return new RecordSlot(u32(cell, at), cell[at + 5]! | (cell[at + 6]! << 8));
  if (tag === SLOT_AREA) {
    if (area === 0 || areaCells === 0) throw corruptCell(address, 'a slot names a value area the leaf does not have');
    return new AreaSlot(address, area, areaCells, cell[at]! | (cell[at + 1]! << 8), cell[at + 2]! | (cell[at + 3]! << 8), commit);
  }
  throw corruptCell(address, `unknown slot tag ${tag}`);
}

/** True when child/slot `i` of the encoded node carries the FRESH flag (a leaf's records only). */
export function pointerIsFresh(cell: Uint8Array, leaf: boolean, i: number): boolean {
  if (leaf) {
    const tag = cell[OFF_LEAF_SLOTS + 8 * i + 7];
    return (cell[OFF_LEAF_SLOTS + 8 * i + 4]! & FLAG_FRESH) !== 0 && tag === SLOT_RECORD;
  }
  return (cell[OFF_CHILDREN + 8 * i + 4]! & FLAG_FRESH) !== 0;
}
