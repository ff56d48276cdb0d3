/**
 * The page ring: the bytes the writer's last writes put in each page, so a worker whose buffer
 * pool holds a page a commit wrote refreshes its frame by a copy from memory instead of reading
 * the page from the file again (storage/io/pageLog.ts decides what is refreshed).
 *
 * One slot per page-log position (slot = position mod ring slots): the writer fills the slot of
 * position p as it notes p, before the write reaches the file. A slot is reused one ring of notes
 * later, possibly while a worker copies it: each slot carries a sequence word (Linux's seqlock),
 * odd while the writer fills the slot. A worker loads the sequence (even), the header, copies the
 * bytes into a scratch buffer, and loads the sequence again: changed (or odd, or the header names
 * another position or page), the copy is discarded and the worker marks the page stale instead,
 * to be read from the file on its next use. The refreshed cells are checksummed on first use, as
 * cells read from the file are: a copy torn in a way the sequence missed is caught there.
 *
 * Slot header (RING_HEADER_WORDS 32-bit words, in the shared area, storage/io/sharedArea.ts):
 *   word  meaning
 *   0     sequence: odd while the writer fills the slot, +2 per fill
 *   1     page-log position the bytes belong to (mod 2^32)
 *   2     page number
 *   3     offset in the page (high 16 bits) and length in bytes (low 16 bits) of the bytes written
 * Slot bytes: PAGE_BYTES, the written bytes at their offset in the page.
 */
import { PAGE_BYTES } from '../../src/common/limits.js';
import { RING_HEADER_WORDS, type SharedArea } from './sharedArea.js';

/** The writer: the bytes `bytes` written at `offsetInPage` of `page`, noted at log `position`. */
export function putPage(area: SharedArea, position: number, page: number, offsetInPage: number, bytes: Uint8Array): void {
  const w = area.words;
  const slot = position & (area.ringSlots - 1);
  const h = area.ringWord + slot * RING_HEADER_WORDS;
  const seq = Atomics.load(w, h);
  Atomics.store(w, h, (seq + 1) | 0);
  Atomics.store(w, h + 1, position | 0);
  Atomics.store(w, h + 2, page | 0);
  Atomics.store(w, h + 3, ((offsetInPage << 16) | bytes.length) | 0);
  area.ringBytes.set(bytes, slot * PAGE_BYTES + offsetInPage);
  Atomics.store(w, h, (seq + 2) | 0);
}

/**
 * A worker: copies the bytes of log `position` (a write to `page`) into `scratch` at their offset
 * in the page; returns (offset << 16 | length), or −1 when the slot holds another write or was
 * refilled during the copy. `duringCopy` is a test hook, run after the header is checked and before
 * the bytes are copied: a writer refilling the slot there is what the re-check must catch.
 */
export function takePage(area: SharedArea, position: number, page: number, scratch: Uint8Array, duringCopy?: (position: number) => void): number {
  const w = area.words;
  const slot = position & (area.ringSlots - 1);
  const h = area.ringWord + slot * RING_HEADER_WORDS;
  const seq = Atomics.load(w, h);
  if ((seq & 1) !== 0 || Atomics.load(w, h + 1) >>> 0 !== position >>> 0 || Atomics.load(w, h + 2) >>> 0 !== page) return -1;
  const span = Atomics.load(w, h + 3) >>> 0;
  const offset = span >>> 16;
  const length = span & 0xffff;
  if (length === 0 || offset + length > PAGE_BYTES) return -1;
  const at = slot * PAGE_BYTES + offset;
  duringCopy?.(position);
  scratch.set(area.ringBytes.subarray(at, at + length), offset);
  if (Atomics.load(w, h) !== seq) return -1;
  return span;
}
