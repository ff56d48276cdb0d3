/**
 * Reading cells: nodes and value records through the buffer pool, each verified against its
 * checksum (once per page load for a node) and against the version being read — a cell written
 * by a newer commit than the reader's version means the file does not hold that version any
 * more, and is reported as ECORRUPT, never returned.
 */
import { corruptCell, corrupt, ioFailed } from '../../src/common/errors.js';
import type { BufferPool } from './bufferPool.js';
import type { FileIO } from './fileIO.js';
import { type MemNode, type Ref, NODE_INTERNAL, NODE_LEAF, nodeCommitAt, nodeTypeAt, decodeNodeAt, nodeChecksumOkAt, NodeDecodeScratch } from '../format/node.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE, readRecordHeader, recordCells, verifyRecord, recordCommitAt, recordLengthAt, recordTypeAt } from '../format/valueRecord.js';
import { BLOCK_TYPE, blockEntry } from '../format/valueBlock.js';
import { ValueCodec } from '../format/valueCodec.js';
import type { StructuresRef } from '../format/commitRecord.js';
import { decodeStructures } from '../format/structures.js';
import { CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, CELL_BYTES, PAGE_BYTES } from '../../src/common/limits.js';

export class CellReader {
  /** The store's value codec, with its shared-structures table (set at open). */
  codec = new ValueCodec();
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
   * page not resident is not read whole, only the cell (see BufferPool.frameForCell).
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
      if (!nodeChecksumOkAt(pool.slab, offset)) throw corruptCell(cell, 'checksum mismatch');
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

  /** The whole record's cells (header + data), read through the pool for small records. */
  private recordCellsBytes(cell: number): Uint8Array {
    const pool = this.pool;
    const frame = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
    const offset = frame * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    const head = pool.slab.subarray(offset, offset + RECORD_HEADER_BYTES);
    const { lengthBytes } = readRecordHeader(head, cell);
    const total = RECORD_HEADER_BYTES + lengthBytes;
    if (offset % PAGE_BYTES + total <= PAGE_BYTES) return pool.slab.subarray(offset, offset + total);
    const out = new Uint8Array(recordCells(lengthBytes) * CELL_BYTES);
    let n: number;
    try {
      n = this.io.read(out, cell * CELL_BYTES);
    } catch (err) {
      throw ioFailed(`reading value record at cell ${cell} failed: ${(err as Error).message}`, err);
    }
    if (n < total) throw corruptCell(cell, 'value record extends past the end of the file');
    return out;
  }

  /** The first cell of a record, unverified (for its header). */
  recordBytesRaw(cell: number): Uint8Array {
    const frame = this.pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
    const offset = frame * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    return this.pool.slab.subarray(offset, offset + CELL_BYTES);
  }

  /** The record's msgpack bytes, verified; a view that is valid until the next read. */
  recordBytes(cell: number, version: number): Uint8Array {
    // A one-cell record verified since its page was read is not checksummed again (like nodes).
    const pool = this.pool;
    const frame = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT);
    const inPage = cell & (CELLS_PER_PAGE - 1);
    const offset = frame * PAGE_BYTES + inPage * CELL_BYTES;
    if (pool.isVerified(frame, inPage) && recordTypeAt(pool.slab, offset) === RECORD_TYPE) {
      const commit = recordCommitAt(pool.slab, pool.words, offset);
      if (commit > version) throw corruptCell(cell, `value record written by commit ${commit}, newer than the version ${version} being read`);
      const start = offset + RECORD_HEADER_BYTES;
      return pool.slab.subarray(start, start + recordLengthAt(pool.words, offset));
    }
    const cells = this.recordCellsBytes(cell);
    const { commit } = readRecordHeader(cells, cell);
    if (commit > version) throw corruptCell(cell, `value record written by commit ${commit}, newer than the version ${version} being read`);
    const bytes = verifyRecord(cells, cell);
    if (RECORD_HEADER_BYTES + bytes.length <= CELL_BYTES && pool.frame(cell >>> CELLS_PER_PAGE_SHIFT) === frame) pool.setVerified(frame, inPage);
    return bytes;
  }

  /** The msgpack bytes of a packed value; a view valid until the next read. */
  packedBytes(cell: number, offset: number, version: number): Uint8Array {
    const at = this.verifiedNodeOffset(cell);
    return blockEntry(this.pool.slab.subarray(at, at + CELL_BYTES), cell, offset, version, true);
  }

  /**
   * The commit that wrote the node, value record or packed block at `cell`, from its header,
   * unverified (a damaged header is caught by whoever reads the cell); 0 for an unknown type.
   * Nodes and blocks hold it in bytes 8..15, records in bytes 8..11 and 2..3 (high bits).
   */
  cellCommit(cell: number): number {
    const pool = this.pool;
    const offset = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT) * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
    const slab = pool.slab;
    const type = nodeTypeAt(slab, offset);
    if (type === RECORD_TYPE) return recordCommitAt(slab, pool.words, offset);
    // A packed block shares the node header's layout (storage/format/valueBlock.ts).
    if (type === NODE_LEAF || type === NODE_INTERNAL || type === BLOCK_TYPE) return nodeCommitAt(pool.words, offset);
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
  const table = decodeStructures(pager.recordBytes(ref.cell, version).slice(), ref.cell, ref.count);
  return new ValueCodec(table, shared);
}
