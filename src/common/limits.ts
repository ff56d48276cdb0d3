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

// ── Values (storage/format/valueArea.ts, valueRecord.ts, valueArena.ts) ─────────────────────────

/** Largest encoded value. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/**
 * A value longer than MAX_INLINE_BYTES and at most this long lives in its leaf's value area
 * (rewritten with the leaf: at most LEAF_SLOTS of them, 7.5 KiB); a longer one gets a value record
 * of its own. The "values of real size" reach 300 bytes.
 */
export const AREA_VALUE_MAX_BYTES = 512;
/**
 * A transaction encodes its values into chunks of this size (storage/format/valueArena.ts), and
 * refers to a value by chunk and 8-byte unit: a small integer, no object per value.
 */
export const ARENA_CHUNK_BYTES = 1024 * 1024;
/** Chunks a transaction's values may take: 8 GiB (a longer value takes a chunk of its own). */
export const ARENA_MAX_CHUNKS = 8192;

// ── The file's I/O (storage/io/fileIO.ts) ──────────────────────────────────────────────────────

/**
 * The largest piece NodeFileIO.write hands the kernel in one call, never across a multiple of it
 * in the file. Linux caches a file in folios sized by the write or read that brought the bytes in,
 * up to megabytes, and ext4 (large folios since 6.16) walks every block of a folio on a small
 * write into it, so a 256-byte pwrite into a page a 2 MiB bulk-load write cached costs 4–5× one
 * into a page of a 64 KiB piece (`node dist/test/bench/probes/folioWrites.js`, on the machine of
 * docs/benchmarks.md: 5.5–8.1 µs against 1.3–1.8 µs). Commits write scattered cells, so large
 * writes are cut; a bulk load makes a few more calls. The commit log's `O_DSYNC` append is not cut.
 */
export const WRITE_PIECE_BYTES = 64 * 1024;

// ── Buffer pool (storage/io/bufferPool.ts) ────────────────────────────────────────────────────

/** The buffer pool's default budget (OpenOptions.cacheSize). */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** The pool never has fewer frames: a lookup pins at most a tree height of them at once. */
export const MIN_FRAMES = 16;
/** Frames a pool starts with; the slab doubles from here on a miss that finds every frame full, up to its budget. */
export const INITIAL_FRAMES = 32;
/** Frames past which the slab grows straight to the cache budget instead of doubling (1 MiB). */
export const WHOLE_SLAB_AFTER = 256;
/**
 * Clock sweeps a page holding an internal node survives after its last use (other pages: 1): the
 * upper levels are hot. Measured on a 1,000,000-range file (height 7) with a 244-frame pool and
 * random loads, pool misses per load: 1.94 with plain clock; weight 3: 1.70, 16: 1.62, 32: 1.60,
 * 255: 1.60 — with fresh leaves inserted unreferenced (markColdLeaf). The hand walks ~21 frames
 * per miss at 32.
 */
export const INTERNAL_WEIGHT = 32;
/**
 * Fault-around window: a miss reads the 64 KiB-aligned window of pages around its page, into
 * never-used frames only, while the pool has room for it. Measured on the machine of
 * docs/benchmarks.md, preads from the OS page cache: 4 KiB 2.7 µs, 64 KiB 4.9 µs, 128 KiB 8.4 µs —
 * per page 2.7 against 0.31 µs.
 */
export const READ_AHEAD_PAGES = 16;
/** Misses before fault-around starts: open and a first load stay one small read per node. */
export const READ_AHEAD_AFTER = 16;

// ── Readers (src/read/readerRegistry.ts, storage/io/readerFiles.ts) ───────────────────────────

/** Store iterators held cheaply before they are promoted to full registrations. */
export const HELD_LIMIT = 256;

/**
 * Ticks (commits' reader sets, a worker's new pins) between two sweeps for garbage-collected
 * readers, at least (src/read/holderWatch.ts): a sweep of n watched readers runs once per
 * max(this, n) ticks.
 */
export const LEAK_SWEEP_TICKS = 8;

/**
 * Readers watched in one turn of the event loop and held strongly until it ends, at most
 * (src/read/holderWatch.ts): past this, those of the turn are watched by the finalizer alone.
 */
export const FRESH_HELD_LIMIT = 1024;

/** How long a reader process's checked start time is trusted. */
export const START_CHECK_MS = 1000;

// ── Commits (storage/commit/) ─────────────────────────────────────────────────────────────────

/**
 * Extra runs a commit's first by-commit pending-list chunks are sized for: room for the space-map
 * and pending-tree paths freed while cells are placed (saves allocation rounds).
 */
export const PENDING_SLACK_RUNS = 8;
/**
 * A source entry of the free list (storage/commit/release.ts) with more cells than this left over
 * gets them back under its own key, below the entries the next commits free, which are taken
 * first; fewer join this commit's list, as one chunk costs less than two. Measured: with every
 * leftover under its source's key, single-store commits on 100,000 ranges wrote 12.1 cells instead
 * of 10.5 (test/bench/probes/heldReaders.ts); with every leftover in the commit's own list, 3,000
 * small commits after clearing 4 MB carved every cell from the one large leftover run, never reused
 * the isolated cells they freed, and wrote 12.9 cells per commit instead of 8.6 (the pending tree
 * grew a level). A commit that searched for a chain of runs across entries keeps no leftover under
 * its source: see PendingChunks.addSourceChunks.
 */
export const LEFTOVER_KEEP_CELLS = 64;
/**
 * Windowed pending entries, newest first below its own keys, a commit looks at for one the same
 * readers pin as a reader band it lists (storage/commit/pendingChunks.ts carryPinnedBands). Two
 * rotating snapshots over 10,000 single-store commits on 100,000 ranges
 * (test/bench/probes/heldReaders.ts 100000 10000 2000): 17.5 cells per commit and a 6.58 MiB file
 * looking at 1, 16.5 and 6.05 MiB at 2, 15.2 and 5.53 MiB at 4, the same at 8 and 16.
 */
export const CARRY_SCAN_ENTRIES = 4;
/** Pinned windowed entries a commit's free list looks past before it leaves the rest for later. */
export const PINNED_SCAN_LIMIT = 16;
/**
 * Pending entries a commit reads, without taking them, looking for one that holds a run of free
 * cells no hinted entry holds, before it loads entries one after another (storage/commit/release.ts,
 * ReleasableEntries.peek).
 */
export const PEEK_LIMIT = 64;
/** … and the entries it passes over unread (known to be too short, or listing nothing) at most. */
export const PEEK_VISIT_LIMIT = 4096;
/**
 * Loaded runs a free-list search looks at past the first that holds the cells asked for, for one
 * that holds the cell more a leaf beside its value area needs (storage/commit/allocate.ts,
 * FreeList.run): unbounded, a batched overwrite of 120-byte values scanned every loaded run for
 * each of its ~1,000 areas, 14 ms more of a commit's CPU.
 */
export const PREFER_SCAN_RUNS = 32;
/** A commit writing at most this many cells may take them as one run from the space map … */
export const SMALL_COMMIT_CELLS = 64;
/** … when all free cells (loaded or pending) exceed its need by at most this many. */
export const SMALL_COMMIT_SLACK = 8;
/**
 * A commit writing at least this many cells syncs them before writing its record (two-sync) and
 * marks the record CELLS_DURABLE, so open never has to validate a big commit: open time stays
 * bounded by this, whatever the size of the last commit. Small commits keep one fdatasync.
 */
export const ADAPTIVE_TWO_SYNC_CELLS = 2048;
/**
 * `sync: 'none'`: a checkpoint (src/api/store.ts) once the commits since the last one wrote this
 * many cells, or 1/CHECKPOINT_FILE_SHARE of the allocated cells if more. Until then the cells the
 * last durable version reaches are not reused, so this bounds what the file holds beyond its data.
 */
export const CHECKPOINT_MIN_CELLS = 1024;
export const CHECKPOINT_FILE_SHARE = 8;
/**
 * close() of a store with a commit log leaves a pass of at most this many bytes of entries as it
 * is (a few single-store commits): the next writable open replays and continues it, where a
 * checkpoint at close would cost two syncs (src/api/store.ts).
 */
export const CLOSE_KEEP_PASS_BYTES = 32 * 1024;
/** Rounds of taking cells before a commit's allocation must have converged (a bug otherwise). */
export const MAX_ALLOCATION_ROUNDS = 64;
/** A contiguous write grows while it is shorter than this (so one call writes at most a little more). */
export const MAX_WRITE_BYTES = 4 * 1024 * 1024;
/** Commits writing up to this many bytes encode into the store's reused buffer; larger ones allocate. */
export const SCRATCH_MAX_BYTES = 2 * 1024 * 1024;
/** The reused commit buffer's first size; it doubles as commits need, up to SCRATCH_MAX_BYTES. */
export const SCRATCH_INITIAL_BYTES = 64 * 1024;
/** Below this many elements a commit's insertion sort is as cheap as the typed-array one (storage/commit/sort.ts). */
export const SMALL_SORT = 32;
/** Position bits of a sort key (key × 2^bits + position); larger inputs use a comparator sort. */
export const SORT_INDEX_BITS = 20;

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
/**
 * Slots of the shared page ring (a power of two, at most PAGE_LOG_ENTRIES): the bytes of the last
 * pages the writer wrote, so a worker refreshes a stale frame by a copy instead of a pread
 * (storage/io/pageRing.ts). 4 KiB each: 1 MiB covers the last ~30 small commits.
 */
export const PAGE_RING_SLOTS = 256;
/** Retries of a lock-free read of the published root or of a slot's re-check before giving up (EBUSY). */
export const SHARED_READ_RETRIES = 10_000;
/** Claimed idle slots a thread keeps for its next versions instead of handing them back. */
export const IDLE_SLOTS_KEPT = 2;

// ── Asynchronous writes (src/api/writeQueue.ts) ─────────────────────────────────────────────

/**
 * Functions per commit group (OpenOptions.maxGroupWrites): bounds the main thread's work per group
 * — measured, about 25 µs per small random store to run and 30 µs to commit on this machine, so a
 * full group blocks the event loop for some 6 ms at most in each of its two turns.
 */
export const DEFAULT_GROUP_WRITES = 256;
/** Encoded value bytes per commit group (OpenOptions.maxGroupBytes). */
export const DEFAULT_GROUP_BYTES = 4 * 1024 * 1024;
/** Asynchronous writes queued (OpenOptions.maxQueuedWrites); more wait for room. */
export const DEFAULT_QUEUED_WRITES = 100_000;

// ── Relations the code relies on ──────────────────────────────────────────────────────────────

function must(condition: boolean, relation: string): void {
  if (!condition) throw new Error(`maple-store limits: ${relation} does not hold`);
}
must(CELLS_PER_PAGE === 1 << CELLS_PER_PAGE_SHIFT, 'CELLS_PER_PAGE = 2^CELLS_PER_PAGE_SHIFT');
must(CELLS_PER_PAGE <= 16, 'a page has at most 16 cells (per-cell bit masks are 16 bits)');
must(RING_SLOTS >= 4, 'the commit ring has a slot besides the last durable record, the newest one and one planned ahead (a checkpoint writes there)');
must(2 * LEAF_MIN <= LEAF_SLOTS + 1 && 2 * INTERNAL_MIN <= INTERNAL_SLOTS + 1, 'an overfull node splits into two minimally full ones');
must(MAX_INLINE_BYTES < 8, 'an inline value and its length tag fit a slot of 8 bytes');
must(MIN_FRAMES <= INITIAL_FRAMES, 'the pool starts at or above its minimum');
must((PAGE_LOG_ENTRIES & (PAGE_LOG_ENTRIES - 1)) === 0, 'the page log has a power-of-two size (positions wrap at 2^32)');
must((PAGE_RING_SLOTS & (PAGE_RING_SLOTS - 1)) === 0 && PAGE_RING_SLOTS <= PAGE_LOG_ENTRIES, 'the page ring has a power-of-two size within the page log\'s');
must(Number.isSafeInteger(MAX_CELL * CELL_BYTES), 'every byte offset of a cell is an exact integer');
must(LEAF_SLOTS * AREA_VALUE_MAX_BYTES < 0x1_0000, "a value area's offsets and lengths fit the 16-bit fields of a slot");
must(Math.ceil((24 + LEAF_SLOTS * AREA_VALUE_MAX_BYTES) / CELL_BYTES) < 0x100, "a value area's cells fit the leaf's 8-bit count");
must((ARENA_CHUNK_BYTES >>> 3) * ARENA_MAX_CHUNKS <= 0x4000_0000, 'a value handle (chunk, 8-byte unit) is a small integer (V8 SMI)');
must(Number.isSafeInteger((MAX_CELL + 1) * 2 ** SORT_INDEX_BITS), 'a sort key (cell × 2^SORT_INDEX_BITS + position) is an exact integer');
must(SCRATCH_INITIAL_BYTES <= SCRATCH_MAX_BYTES, 'the commit buffer starts within its bound');
must(SMALL_COMMIT_CELLS < ADAPTIVE_TWO_SYNC_CELLS, 'a small commit keeps one sync');
