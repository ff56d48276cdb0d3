// Latency histograms for the concurrency workloads: log buckets, BUCKETS_PER_DOUBLING per doubling
// of the latency in nanoseconds (±2.2% per bucket), so a reader thread records millions of timed
// loads in a fixed array and posts it back.

export const BUCKETS_PER_DOUBLING = 16;
export const HISTOGRAM_BUCKETS = 40 * BUCKETS_PER_DOUBLING;

export function bucketOf(ns: number): number {
  return ns <= 1 ? 0 : Math.min(HISTOGRAM_BUCKETS - 1, Math.floor(Math.log2(ns) * BUCKETS_PER_DOUBLING));
}

/** The latency (ns, the bucket's middle) below which a fraction `p` of the samples fall. */
export function percentile(histogram: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < histogram.length; i++) total += histogram[i]!;
  if (total === 0) return 0;
  const rank = p * total;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return 2 ** ((i + 0.5) / BUCKETS_PER_DOUBLING);
  }
  return 2 ** (histogram.length / BUCKETS_PER_DOUBLING);
}

/** Adds `from` into `into`. */
export function addHistogram(into: number[], from: ArrayLike<number>): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + from[i]!;
}
