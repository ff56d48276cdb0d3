/**
 * Reading cells: nodes and value records through the buffer pool, each verified against its
 * checksum (once per page load for a node) and against the version being read — a cell written
 * by a newer commit than the reader's version means the file does not hold that version any
 * more, and is reported as ECORRUPT, never returned.
 */
import { corruptCell, corrupt, ioFailed } from '../../src/common/errors.js';
import type { BufferPool } from './bufferPool.js';
import type { FileIO } from './fileIO.js';
import { type MemNode, type Ref, NODE_INTERNAL, NODE_LEAF, RECORD_POINTER_BITS, nodeCommitAt, nodeTypeAt, decodeNodeAt, nodeChecksumOkAt, NodeDecodeScratch, recordPointerCommit } from '../format/node.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE, readRecordHeader, recordCells, verifyRecord, recordChecksumAt, recordChecksumIn, recordCommitAt, recordLengthAt, recordTypeAt } from '../format/valueRecord.js';
import { AREA_HEADER_BYTES, AREA_TYPE, areaChecksumAt, areaChecksumIn, areaCommitAt, checkAreaHeader } from '../format/valueArea.js';
import { ValueCodec } from '../format/valueCodec.js';
import type { StructuresRef } from '../format/commitRecord.js';
import { decodeStructures } from '../format/structures.js';
import { CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, CELL_BYTES, MAX_VALUE_BYTES, PAGE_BYTES } from '../../src/common/limits.js';

/** Frames of an area's pages after its first (an area spans at most three pages). */
const MAX_AREA_PAGES = 3;
/** A record spanning fewer pages than this is read through the pool (longer ones from the file). */
const MAX_SPAN_PAGES = 5;

/**
 * Copies bytes [from, to) of an object spread over pool frames (its first `firstSpan` bytes at
 * byte `at` of `slab`, then a page from each of `frames`) to the start of `out`.
 */
function copySpread(slab: Uint8Array, at: number, firstSpan: number, frames: ArrayLike<number>, from: number, to: number, out: Uint8Array): void {
  let o = 0;
  for (let b = from; b < to; ) {
    let src: number;
    let n: number;
    if (b < firstSpan) {
      src = at + b;
      n = Math.min(to, firstSpan) - b;
    } else {
      const inPage = (b - firstSpan) % PAGE_BYTES;
      src = frames[Math.floor((b - firstSpan) / PAGE_BYTES)]! * PAGE_BYTES + inPage;
      n = Math.min(to - b, PAGE_BYTES - inPage);
    }
    out.set(slab.subarray(src, src + n), o);
    o += n;
    b += n;
  }
}

export class CellReader {
  /** The store's value codec, with its shared-structures table (set at open). */
  codec = new ValueCodec();
  /**
   * Where the last areaValue / recordValue found the value's bytes: in the buffer it returned
   * (the pool's slab, or `scratch` for bytes that lie across pages), from here.
   */
  valueStart = 0;
  /** Value bytes that lie across pages, copied together (reused: valid until the next read). */
  private scratch = new Uint8Array(4096);
  /** Frames of an area's later pages while it is read (reused). */
  private readonly areaFrames = new Int32Array(MAX_SPAN_PAGES);
  /** The length the last recordValue found. */
  valueLength = 0;
  /** An inline slot's bytes, gathered for decoding (reused). */
  readonly inlineScratch = new Uint8Array(8);
  /** decodeNodeAt's working arrays, reused by every node this reader decodes. */
  private readonly decodeScratch = new NodeDecodeScratch();

  constructor(readonly io: FileIO, readonly pool: BufferPool) {}

  /** Byte offset of `cell` inside the pool slab, its frame verified. */
  verifiedNodeOffset(cell: number): number {
    const misses = this.pool.misses;
    return this.verifyNodeAt(cell, this.pool.frame(cell >>> CELLS_PER_PAGE_SHIFT), misses);
  }

  /**
   * verifiedNodeOffset for a node expected to be a leaf (the last level of a point lookup): a
   * page not resident is not read whole, only from the cell on (see BufferPool.frameForCell).
   */
  verifiedLeafOffset(cell: number): number {
    const misses = this.pool.misses;
    return this.verifyNodeAt(cell, this.pool.frameForCell(cell >>> CELLS_PER_PAGE_SHIFT, cell & (CELLS_PER_PAGE - 1)), misses);
  }

  /** Checks `cell` in `frame` once per page load; `misses` is the pool's count before the lookup. */
  private verifyNodeAt(cell: number, frame: number, misses: number): number {
    const pool = this.pool;
    const inPage = cell & (CELLS_PER_PAGE - 1);
    const offset = frame * PAGE_BYTES + inPage * CELL_BYTES;
    if (!pool.isVerified(frame, inPage)) {
      if (!nodeChecksumOkAt(pool.slab, offset, cell)) throw corruptCell(cell, 'checksum mismatch');
      pool.setVerified(frame, inPage);
      // Eviction weight by node type (storage/io/bufferPool.ts): internal nodes are kept longer, and
      // a leaf whose page this lookup just read is the next victim.
      const type = nodeTypeAt(pool.slab, offset);
      if (type === NODE_INTERNAL) pool.markInternal(frame);
      else if (type === NODE_LEAF && pool.misses !== misses) pool.markColdLeaf(frame);
    }
    return offset;
  }

  node(ref: Ref, max: number, version: number): MemNode {
    if (typeof ref !== 'number') return ref;
    const offset = this.verifiedNodeOffset(ref);
    // Decoded straight from the slab: no view object per node.
    const node = decodeNodeAt(this.pool.slab, offset, ref, max, this.decodeScratch);
    if (node.commit > version) throw corruptCell(ref, `written by commit ${node.commit}, newer than the version ${version} being read`);
    return node;
  }

  /** The first cell of a record, unverified (for its header). */
  recordBytesRaw(cell: number): Uint8Array {
    const frame = this.pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
    const offset = frame * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    return this.pool.slab.subarray(offset, offset + CELL_BYTES);
  }

  /** The record's msgpack bytes, verified (as recordValue); a view that is valid until the next read. */
  recordBytes(cell: number, version: number, pointed: number): Uint8Array {
    const buf = this.recordValue(cell, version, pointed);
    return buf.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  /**
   * The record's msgpack bytes, verified: returns the buffer holding them (the pool's slab, or a
   * scratch buffer for a record across pages) and sets `valueStart` and `valueLength` (valid until
   * the next read). A record of up to MAX_SPAN_PAGES pages is read through the pool and checked
   * once per page load, like a node; a longer one is read from the file each time (it would push
   * the pool's pages out), into the scratch buffer. Allocates nothing once the scratch is large
   * enough. `pointed`: the low bits of the record's commit its slot (RecordSlot.commit) or the commit
   * record (the structures table) names; −1: not checked.
   */
  recordValue(cell: number, version: number, pointed: number): Uint8Array {
    const pool = this.pool;
    const first = cell >>> CELLS_PER_PAGE_SHIFT;
    const inPage = cell & (CELLS_PER_PAGE - 1);
    const frame = pool.frame(first);
    const at = frame * PAGE_BYTES + inPage * CELL_BYTES;
    let slab = pool.slab;
    if (recordTypeAt(slab, at) !== RECORD_TYPE) throw corruptCell(cell, `expected a value record, found type ${recordTypeAt(slab, at)}`);
    const commit = recordCommitAt(slab, pool.words, at);
    if (commit > version) throw corruptCell(cell, `value record written by commit ${commit}, newer than the version ${version} being read`);
    if (pointed >= 0 && recordPointerCommit(commit) !== pointed) {
      throw corruptCell(cell, `holds a value record of commit ${commit}, but its slot names a commit ending in ${pointed} (low ${RECORD_POINTER_BITS} bits): an older record where a newer one was written (a lost write)`);
    }
    const length = recordLengthAt(pool.words, at);
    if (length > MAX_VALUE_BYTES) throw corruptCell(cell, `value record length ${length} exceeds the limit`);
    const firstSpan = PAGE_BYTES - inPage * CELL_BYTES;
    const end = RECORD_HEADER_BYTES + length;
    this.valueLength = length;
    if (end <= firstSpan) {
      if (!pool.isVerified(frame, inPage)) {
        if (recordChecksumAt(pool.words, at) !== recordChecksumIn(slab, at, firstSpan, length, this.areaFrames, 0, cell)) throw corruptCell(cell, 'value record checksum mismatch');
        pool.setVerified(frame, inPage);
      }
      this.valueStart = at + RECORD_HEADER_BYTES;
      return slab;
    }
    const more = Math.ceil((end - firstSpan) / PAGE_BYTES);
    if (more >= MAX_SPAN_PAGES) return this.recordFromFile(cell, length);
    pool.pin(frame);
    const frames = this.areaFrames;
    let pinned = 0;
    try {
      for (; pinned < more; pinned++) {
        frames[pinned] = pool.frame(first + 1 + pinned);
        pool.pin(frames[pinned]!);
      }
      slab = pool.slab;
      let verified = pool.isVerified(frame, inPage);
      for (let k = 0; k < more && verified; k++) verified = pool.isVerified(frames[k]!, 0);
      if (!verified) {
        if (recordChecksumAt(pool.words, at) !== recordChecksumIn(slab, at, firstSpan, length, frames, more, cell)) throw corruptCell(cell, 'value record checksum mismatch');
        pool.setVerified(frame, inPage);
        for (let k = 0; k < more; k++) pool.setVerified(frames[k]!, 0);
      }
      const out = this.scratchOf(length);
      copySpread(slab, at, firstSpan, frames, RECORD_HEADER_BYTES, end, out);
      this.valueStart = 0;
      return out;
    } finally {
      pool.unpin(frame);
      for (let k = 0; k < pinned; k++) pool.unpin(frames[k]!);
    }
  }

  /** A long record read from the file into the scratch buffer and verified; sets valueStart. */
  private recordFromFile(cell: number, length: number): Uint8Array {
    const bytes = recordCells(length) * CELL_BYTES;
    const out = this.scratchOf(bytes);
    let n: number;
    try {
      n = this.io.read(out.subarray(0, bytes), cell * CELL_BYTES);
    } catch (err) {
      throw ioFailed(`reading value record at cell ${cell} failed: ${(err as Error).message}`, err);
    }
    if (n < RECORD_HEADER_BYTES + length) throw corruptCell(cell, 'value record extends past the end of the file');
    verifyRecord(out.subarray(0, bytes), cell);
    this.valueStart = RECORD_HEADER_BYTES;
    return out;
  }

  /** The scratch buffer, at least `bytes` long. */
  private scratchOf(bytes: number): Uint8Array {
    if (this.scratch.length < bytes) this.scratch = new Uint8Array(Math.max(bytes, 2 * this.scratch.length));
    return this.scratch;
  }

  /**
   * The `length` bytes at `offset` of the value area at cell `area` (`cells` long) of the leaf at
   * `leaf`, which commit `leafCommit` wrote: returns the buffer holding them — the pool's slab, or a scratch
   * buffer when they lie across pages — and sets `valueStart` to where they start in it (valid
   * until the next read). Allocates nothing. The area is checked on every read (type, owner,
   * size, the leaf's commit as its writer, the value inside it) and its checksum once per page
   * load, like a node's; ECORRUPT names the cell.
   */
  areaValue(area: number, cells: number, leaf: number, leafCommit: number, offset: number, length: number): Uint8Array {
    const pool = this.pool;
    const first = area >>> CELLS_PER_PAGE_SHIFT;
    const inPage = area & (CELLS_PER_PAGE - 1);
    const last = (area + cells - 1) >>> CELLS_PER_PAGE_SHIFT;
    if (cells < 1 || last - first >= MAX_AREA_PAGES) throw corruptCell(leaf, `value area of ${cells} cells at cell ${area}`);
    if (first === last) {
      // A leaf's area most often follows it in its page, which a load's frameForCell read from the leaf on.
      const frame = pool.frameWithCells(first, inPage, inPage + cells);
      const at = frame * PAGE_BYTES + inPage * CELL_BYTES;
      const slab = pool.slab;
      const words = pool.words;
      const total = checkAreaHeader(slab, words, at, area, cells, leaf, leafCommit);
      if (!pool.isVerified(frame, inPage)) {
        if (areaChecksumAt(words, at) !== areaChecksumIn(slab, at, PAGE_BYTES - inPage * CELL_BYTES, total, this.areaFrames, 0)) throw corruptCell(area, 'value area checksum mismatch');
        pool.setVerified(frame, inPage);
      }
      if (offset + length > total) throw corruptCell(leaf, `a slot's value [${offset}, ${offset + length}) lies outside its value area of ${total} bytes at cell ${area}`);
      this.valueStart = at + AREA_HEADER_BYTES + offset;
      return slab;
    }
    // Across pages: every page pinned while it is read, so one's miss cannot evict another.
    const firstFrame = pool.frameWithCells(first, inPage, CELLS_PER_PAGE);
    pool.pin(firstFrame);
    const frames = this.areaFrames;
    const more = last - first;
    let pinned = 0;
    try {
      for (; pinned < more; pinned++) {
        frames[pinned] = pool.frame(first + 1 + pinned);
        pool.pin(frames[pinned]!);
      }
      const slab = pool.slab;
      const words = pool.words;
      const at = firstFrame * PAGE_BYTES + inPage * CELL_BYTES;
      const firstSpan = PAGE_BYTES - inPage * CELL_BYTES;
      const total = checkAreaHeader(slab, words, at, area, cells, leaf, leafCommit);
      // Verified once its first cell and the first cell of each later page are marked (a page
      // read again since clears its marks).
      let verified = pool.isVerified(firstFrame, inPage);
      for (let k = 0; k < more && verified; k++) verified = pool.isVerified(frames[k]!, 0);
      if (!verified) {
        if (areaChecksumAt(words, at) !== areaChecksumIn(slab, at, firstSpan, total, frames, more)) throw corruptCell(area, 'value area checksum mismatch');
        pool.setVerified(firstFrame, inPage);
        for (let k = 0; k < more; k++) pool.setVerified(frames[k]!, 0);
      }
      if (offset + length > total) throw corruptCell(leaf, `a slot's value [${offset}, ${offset + length}) lies outside its value area of ${total} bytes at cell ${area}`);
      // The value's bytes, by position from the area's first byte.
      const from = AREA_HEADER_BYTES + offset;
      const to = from + length;
      // In one page: read in place (the common case); across pages: copied together.
      const pageOf = (b: number): number => (b < firstSpan ? 0 : 1 + Math.floor((b - firstSpan) / PAGE_BYTES));
      const startPage = pageOf(from);
      if (length === 0 || startPage === pageOf(to - 1)) {
        this.valueStart = startPage === 0 ? at + from : frames[startPage - 1]! * PAGE_BYTES + ((from - firstSpan) % PAGE_BYTES);
        return slab;
      }
      const out = this.scratchOf(length);
      copySpread(slab, at, firstSpan, frames, from, to, out);
      this.valueStart = 0;
      return out;
    } finally {
      pool.unpin(firstFrame);
      for (let k = 0; k < pinned; k++) pool.unpin(frames[k]!);
    }
  }

  /**
   * The commit that wrote the node, value record or value area at `cell`, from its header,
   * unverified (a damaged header is caught by whoever reads the cell); 0 for an unknown type.
   * Nodes hold it in bytes 8..15, records and areas in bytes 8..11 and 2..3 (high bits).
   */
  cellCommit(cell: number): number {
    const pool = this.pool;
    const offset = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT) * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    const slab = pool.slab;
    const type = nodeTypeAt(slab, offset);
    if (type === RECORD_TYPE) return recordCommitAt(slab, pool.words, offset);
    if (type === AREA_TYPE) return areaCommitAt(slab, pool.words, offset);
    if (type === NODE_LEAF || type === NODE_INTERNAL) return nodeCommitAt(pool.words, offset);
    return 0;
  }

  /** How many cells the record at `cell` occupies. */
  recordCellCount(cell: number): number {
    const frame = this.pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
    const offset = frame * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    return recordCells(readRecordHeader(this.pool.slab.subarray(offset, offset + RECORD_HEADER_BYTES), cell).lengthBytes);
  }
}

/** The codec for a store whose newest commit references `ref`, read at `version`. */
export function loadCodec(pager: CellReader, ref: StructuresRef, version: number, shared: boolean): ValueCodec {
  if (ref.cell === 0) {
    if (ref.count !== 0) throw corrupt(`commit ${version} counts ${ref.count} shared structures but has no table`);
    return new ValueCodec([], shared);
  }
  const table = decodeStructures(pager.recordBytes(ref.cell, version, ref.commit).slice(), ref.cell, ref.count);
  return new ValueCodec(table, shared);
}
