/**
 * Every limit and tuning constant of maple-store, in one place (TigerBeetle's constants.zig is the
 * model): the public model's bounds, the file's geometry, node and value sizes, buffer-pool and
 * reader bookkeeping. Byte offsets inside a structure are not limits: they live beside the byte
 * table of the module that owns the structure (storage/format/). The relations the code relies on
 * are asserted at the bottom, at load.
 */

// ── The public model ──────────────────────────────────────────────────────────────────────────

/** Largest index: 2^53 − 1, every index is an exactly representable JavaScript integer. */
export const MAX_INDEX = Number.MAX_SAFE_INTEGER;

// ── The file's geometry (storage/format/pageFile.ts) ──────────────────────────────────────────

/** The unit of I/O, caching and syncing. */
export const PAGE_BYTES = 4096;
/** The unit of allocation: a node is one cell; a value record is a run of cells. */
export const CELL_BYTES = 256;
export const CELLS_PER_PAGE = PAGE_BYTES / CELL_BYTES;
export const CELLS_PER_PAGE_SHIFT = 4;
/** Commit-record slots, each in a page of its own after the header page. */
export const RING_SLOTS = 4;
/** First cell address: after the header page and the commit ring. */
export const CELL_BASE = (1 + RING_SLOTS) * CELLS_PER_PAGE;
/** Largest cell address (u32 in pointers): 2^32 cells × 256 B = 1 TiB of file. */
export const MAX_CELL = 0xffff_ffff;

// ── Nodes (storage/format/node.ts) ────────────────────────────────────────────────────────────

export const NODE_BYTES = CELL_BYTES;
/** Leaf slots (kernel maple_range_64: 15 slots, 14 pivots). */
export const LEAF_SLOTS = 15;
/** Internal children (kernel maple_arange_64: 10 children, 9 pivots, 10 gaps). */
export const INTERNAL_SLOTS = 10;
/** Minimum occupancy of a non-root node that is not the rightmost of its level. */
export const LEAF_MIN = 7;
export const INTERNAL_MIN = 4;
/** A value whose msgpack encoding is at most this long lives in its leaf slot. */
export const MAX_INLINE_BYTES = 7;

// ── Values (storage/format/valueRecord.ts, valueBlock.ts) ─────────────────────────────────────

/** Largest encoded value. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

// ── Buffer pool (storage/io/bufferPool.ts) ────────────────────────────────────────────────────

/** The buffer pool's default budget (OpenOptions.cacheSize). */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** The pool never has fewer frames: a lookup pins at most a tree height of them at once. */
export const MIN_FRAMES = 16;
/** Frames a pool starts with; it doubles on a miss that finds every frame full, up to its budget. */
export const INITIAL_FRAMES = 32;
/** Clock sweeps a page holding an internal node survives (the upper levels are hot). */
export const INTERNAL_WEIGHT = 32;
/** Pages read around a miss (fault-around: 64 KiB), into never-used frames only. */
export const READ_AHEAD_PAGES = 16;
/** Misses before fault-around starts (a small store's first reads stay small). */
export const READ_AHEAD_AFTER = 16;

// ── Readers (src/read/readerRegistry.ts, storage/io/readerFiles.ts) ───────────────────────────

/** Store iterators held cheaply before they are promoted to full registrations. */
export const HELD_LIMIT = 256;
/** How long a reader process's checked start time is trusted. */
export const START_CHECK_MS = 1000;

// ── Readers in worker threads (storage/io/sharedArea.ts) ─────────────────────────────────────

/**
 * Slots of a shared store's reader table: versions pinned at once by the threads reading it (a
 * thread takes one slot per distinct version it holds open, usually one or two).
 */
export const SHARED_READER_SLOTS = 128;
/**
 * Entries of the written-pages log (a power of two): a worker whose buffer pool is further behind
 * than this drops its whole pool instead of the pages the commits since wrote. A small commit
 * writes a few pages, so this covers hundreds of commits.
 */
export const PAGE_LOG_ENTRIES = 4096;
/** Retries of a lock-free read of the published root or of a slot's re-check before giving up (EBUSY). */
export const SHARED_READ_RETRIES = 10_000;
/** Claimed idle slots a thread keeps for its next versions instead of handing them back. */
export const IDLE_SLOTS_KEPT = 2;

// ── Relations the code relies on ──────────────────────────────────────────────────────────────

function must(condition: boolean, relation: string): void {
  if (!condition) throw new Error(`maple-store limits: ${relation} does not hold`);
}
must(CELLS_PER_PAGE === 1 << CELLS_PER_PAGE_SHIFT, 'CELLS_PER_PAGE = 2^CELLS_PER_PAGE_SHIFT');
must(CELLS_PER_PAGE <= 16, 'a page has at most 16 cells (per-cell bit masks are 16 bits)');
must(RING_SLOTS >= 2, 'the commit ring has a slot besides the last durable record');
must(2 * LEAF_MIN <= LEAF_SLOTS + 1 && 2 * INTERNAL_MIN <= INTERNAL_SLOTS + 1, 'an overfull node splits into two minimally full ones');
must(MAX_INLINE_BYTES < 8, 'an inline value and its length tag fit a slot of 8 bytes');
must(MIN_FRAMES <= INITIAL_FRAMES, 'the pool starts at or above its minimum');
must((PAGE_LOG_ENTRIES & (PAGE_LOG_ENTRIES - 1)) === 0, 'the page log has a power-of-two size (positions wrap at 2^32)');
must(Number.isSafeInteger(MAX_CELL * CELL_BYTES), 'every byte offset of a cell is an exact integer');
