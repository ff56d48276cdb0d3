/**
 * Offline repair tools (bbolt's `surgery revert-meta-page`, SQLite's `.recover`):
 *
 *  - rollBack(path, commit): make an older commit in the ring the newest again. It is accepted
 *    only if that version's cells validate and the full checker passes on it — cells a later
 *    commit reused would carry a newer commit number and fail — and is written as a new commit
 *    record (a fresh number, nothing else written), so the file is never edited in place.
 *  - salvage(path, out): copy every range that can still be read, from the newest commit record
 *    whose root is readable, into a new store; unreadable subtrees and values are skipped and
 *    counted.
 */
import * as fs from 'node:fs';
import { checkStore } from '../check.js';
import { readRing, readerIO, validateCommit } from '../recover.js';
import { corrupt, invalid, MapleError, corruptCell } from '../../src/common/errors.js';
import { MAX_INDEX, CELL_BYTES, CELLS_PER_PAGE, CELLS_PER_PAGE_SHIFT, PAGE_BYTES } from '../../src/common/limits.js';
import { open } from '../../src/api/open.js';
import { BufferPool } from '../../storage/io/bufferPool.js';
import { type CommitRecord, FLAG_CELLS_DURABLE, FLAG_LOGGED, FLAG_VOLATILE, encodeCommitRecord } from '../../storage/format/commitRecord.js';
import { type FileIO, NodeFileIO, refuseNonRegularFile } from '../../storage/io/fileIO.js';
import { WriterLock } from '../../storage/io/lockFile.js';
import { bootTag } from '../../storage/io/bootTag.js';
import { type Ref, AreaSlot, InlineSlot, NewValue, checkPointedCommit, nodeCommit, nodeNonce, pointerIsFresh } from '../../storage/format/node.js';
import { areaNonceAt } from '../../storage/format/valueArea.js';
import { readRecordHeader } from '../../storage/format/valueRecord.js';
import { readHeader, ringSlotOffsetBytes } from '../../storage/format/pageFile.js';
import { CellReader } from '../../storage/io/cellReader.js';
import { loadCodec } from '../../storage/io/cellReader.js';
import { ValueCodec } from '../../storage/format/valueCodec.js';

const SURGERY_CACHE_BYTES = 16 * 1024 * 1024;

export interface RollBackResult {
  from: number;
  to: number;
  /** The commit number the rolled-back version now has. */
  newCommit: number;
}

export function rollBack(path: string, toCommit: number): RollBackResult {
  refuseNonRegularFile(path);
  const lock = WriterLock.acquire(path);
  let io: NodeFileIO;
  try {
    io = new NodeFileIO(path, 'r+');
  } catch (err) {
    lock.release();
    throw err;
  }
  try {
    // A writer that opened the store through a hard link holds only the device-and-inode lock.
    lock.lockInode(path);
    readHeader(io, path);
    const ring = readRing(io);
    const newest = ring[0];
    const target = ring.find((r) => r.rec.commit === toCommit);
    if (!newest || !target) {
      throw invalid(`commit ${toCommit} is not in the commit ring of ${path}; it holds ${ring.map((r) => r.rec.commit).join(', ') || 'no valid record'}`);
    }
    // Written with sync: 'none' on an earlier boot: its cells may validate while a cell an earlier
    // unsynced commit reused holds older data (docs/design.md, section 5). Only durable records
    // and this boot's are candidates, as at open.
    if ((target.rec.flags & (FLAG_VOLATILE | FLAG_LOGGED)) !== 0 && target.rec.boot !== bootTag()) {
      const durable = ring.filter((r) => (r.rec.flags & (FLAG_VOLATILE | FLAG_LOGGED)) === 0).map((r) => r.rec.commit);
      throw invalid(`commit ${toCommit} of ${path} was written with sync: 'none' before the machine last booted, so the disk may hold it without cells it reads; the ring's durable commits are ${durable.join(', ') || 'none'}`);
    }
    const pool = new BufferPool(io, SURGERY_CACHE_BYTES);
    if (!validateCommit(io, pool, target.rec, { cells: 0 })) {
      throw corrupt(`commit ${toCommit} of ${path} does not validate: its cells were lost or overwritten`);
    }
    checkStore(new CellReader(io, pool), target.rec);
    let highest = 0;
    for (const { rec } of ring) highest = Math.max(highest, rec.commit, rec.highestCommit);
    const rec: CommitRecord = { ...target.rec, commit: highest + 1, highestCommit: highest + 1, flags: FLAG_CELLS_DURABLE };
    rec.main = { ...rec.main, fresh: false };
    rec.space = { ...rec.space, fresh: false };
    rec.pending = { ...rec.pending, fresh: false };
    rec.structures = { ...rec.structures, fresh: false };
    // A slot holding neither the newest record nor the target: if this write tears, both remain.
    let slot = 0;
    while (slot === newest.slot || slot === target.slot) slot++;
    const page = new Uint8Array(PAGE_BYTES);
    page.set(encodeCommitRecord(rec));
    io.write(page, ringSlotOffsetBytes(slot));
    io.sync();
    return { from: newest.rec.commit, to: toCommit, newCommit: rec.commit };
  } finally {
    io.close();
    lock.release();
  }
}

export interface SalvageResult {
  commit: number;
  ranges: number;
  skippedNodes: number;
  skippedValues: number;
}

export function salvage(path: string, outPath: string): SalvageResult {
  // A FIFO would block the read-only open below forever.
  refuseNonRegularFile(path);
  const file = new NodeFileIO(path, 'r');
  // A commit log's last commits, after a reboot, replayed in memory first (as a read-only open
  // does); a log too damaged to replay is left out: salvage copies what the file itself holds.
  let io: FileIO = file;
  try {
    io = readerIO(file, path, bootTag());
  } catch (err) {
    if (!(err instanceof MapleError)) throw err;
  }
  try {
    readHeader(io, path);
    const pool = new BufferPool(io, SURGERY_CACHE_BYTES);
    const pager = new CellReader(io, pool);
    const ring = readRing(io);
    if (ring.length === 0) throw corrupt(`${path}: no commit record has a valid checksum; nothing to salvage from`);
    // The newest record, read cell by cell: damaged cells are skipped, and a cell its parent
    // marks as written by that commit must carry the commit's number and nonce (a torn commit's
    // stale cells are skipped too, never copied).
    const chosen = ring[0]!;
    const version = chosen.rec.commit;
    const nonce = chosen.rec.nonce;
    /**
     * A FRESH pointer means "written by the same commit as the node holding it" — that node's
     * commit, which for a node an older commit wrote (and this one kept) is not the one salvaged.
     */
    interface Writer {
      commit: number;
      nonce: number;
    }
    const writtenBy = (cell: number, by: Writer): boolean => {
      const at = pager.verifiedNodeOffset(cell);
      const bytes = pool.slab.subarray(at, at + CELL_BYTES);
      return nodeCommit(bytes) === by.commit && nodeNonce(bytes) === by.nonce;
    };
    /** A value area is written with its leaf: a leaf of this commit has an area with its nonce. */
    const ownArea = (cell: number): boolean => {
      const at = pool.frame(cell >>> CELLS_PER_PAGE_SHIFT) * PAGE_BYTES + (cell & (CELLS_PER_PAGE - 1)) * CELL_BYTES;
      return areaNonceAt(pool.words, at) === nonce;
    };
    // Values that use shared structures need the table; without it only those are skipped.
    let codec: ValueCodec;
    try {
      const table = chosen.rec.structures;
      if (table.fresh && table.cell !== 0 && readRecordHeader(pager.recordBytesRaw(table.cell), table.cell).nonce !== nonce) throw corruptCell(table.cell, 'the structures table was not written by the commit being salvaged');
      codec = loadCodec(pager, table, version, true);
    } catch (err) {
      // Only a damaged table is skipped (ECORRUPT); an I/O error or a bug stops the salvage.
      if (!isDamage(err)) throw err;
      codec = ValueCodec.withDamagedTable(chosen.rec.structures.count);
    }
    const result: SalvageResult = { commit: version, ranges: 0, skippedNodes: 0, skippedValues: 0 };
    // A salvage that stops (an I/O error, a bug) takes the store it created with it, so that it can
    // be run again; a store that was there before is left as the failed transaction left it.
    const created = !fs.existsSync(outPath);
    const out = open(outPath, { sync: 'full' });
    let copied = false;
    try {
      out.transaction((tx) => {
        /**
         * `fresh`: the writer the node must have, its pointer being FRESH; null when it is not.
         * `pointed`: the low bits of its commit its parent's pointer names (−1 for the root): an
         * older node left where a newer one was written (a lost write) is skipped, not copied.
         */
        const walk = (ref: Ref, min: number, max: number, depth: number, fresh: Writer | null, pointed: number): void => {
          let node;
          let raw: Uint8Array;
          let self: Writer;
          try {
            node = pager.node(ref, max, version);
            checkPointedCommit(ref as number, node.commit, pointed);
            // Its ranges inside the bounds its parent gives it (decoding checked they ascend to max).
            if (node.lasts[0]! < min) throw corruptCell(ref as number, `slot 0 ends at ${node.lasts[0]}, below the node's min ${min}`);
            if (fresh !== null && !writtenBy(ref as number, fresh)) throw corruptCell(ref as number, 'a fresh pointer leads to a cell of another commit');
            const at = pager.verifiedNodeOffset(ref as number);
            raw = pool.slab.slice(at, at + CELL_BYTES);
            self = { commit: nodeCommit(raw), nonce: nodeNonce(raw) };
          } catch (err) {
            if (!isDamage(err)) throw err;
            result.skippedNodes++;
            return;
          }
          let lo = min;
          for (let i = 0; i < node.lasts.length; i++) {
            const hi = node.lasts[i]!;
            if (node.leaf) {
              const slot = node.slots[i] ?? null;
              if (slot !== null) {
                try {
                  if (pointerIsFresh(raw, true, i)) {
                    const cell = (slot as { cell: number }).cell;
                    const header = readRecordHeader(pager.recordBytesRaw(cell), cell);
                    if (header.nonce !== self.nonce || header.commit !== self.commit) throw corruptCell(cell, 'a fresh pointer leads to a value of another commit');
                  }
                  if (slot instanceof AreaSlot && node.commit === version && !ownArea(slot.area)) throw corruptCell(slot.area, 'a leaf of this commit points at a value area of another commit');
                  let bytes: Uint8Array;
                  if (slot instanceof InlineSlot || slot instanceof NewValue) bytes = slot.bytes;
                  else if (slot instanceof AreaSlot) {
                    const buf = pager.areaValue(slot.area, slot.cells, slot.leaf, slot.leafCommit, slot.offset, slot.length);
                    bytes = buf.subarray(pager.valueStart, pager.valueStart + slot.length);
                  } else if (typeof slot === 'number') throw corruptCell(ref as number, 'a committed leaf holds an unwritten value');
                  else bytes = pager.recordBytes(slot.cell, version, slot.commit);
                  const value = codec.decode(bytes);
                  if (value === null || value === undefined) throw corruptCell(ref as number, `slot ${i} decodes to ${value}`);
                  tx.store(lo, hi, value);
                  result.ranges++;
                } catch (err) {
                  if (!isDamage(err)) throw err;
                  result.skippedValues++;
                }
              }
            } else if (depth < 64) {
              walk(node.children[i]!, lo, hi, depth + 1, pointerIsFresh(raw, false, i) ? self : null, node.childCommits[i]!);
            } else {
              // Deeper than any tree of 2^32 cells: a cycle of damaged pointers, not a subtree.
              result.skippedNodes++;
            }
            lo = hi + 1;
          }
        };
        if (chosen.rec.main.cell !== 0) walk(chosen.rec.main.cell, 0, MAX_INDEX, 0, chosen.rec.main.fresh ? { commit: version, nonce } : null, chosen.rec.main.commit);
      });
      copied = true;
    } finally {
      out.close();
      if (!copied && created) fs.rmSync(outPath, { force: true });
    }
    return result;
  } finally {
    io.close();
  }
}

/** Damage that salvage skips: a cell that fails its checks. I/O errors and bugs stop it. */
function isDamage(err: unknown): boolean {
  return err instanceof MapleError && err.code === 'ECORRUPT';
}
