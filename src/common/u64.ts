/**
 * Unsigned 64-bit integers (below 2^53) as JavaScript numbers, kept in the file and in shared
 * memory as two 32-bit words, low word first.
 */

export const TWO32 = 0x1_0000_0000;

/**
 * The number whose words are `low` and `high`. Below 2^32 (every commit number, count and cell in
 * practice) it is `low` itself, which V8 keeps a small integer; `low + high * 2^32` is a heap
 * double whatever its value, and one double stored into a field that held small integers turns
 * that field, in every object of the class, into a boxed double: every existing node then had a
 * deprecated layout, migrated on first touch, and a bulk load's first commit recompiled its loops
 * dozens of times (docs/design.md, section 10, "Cell numbers stay small integers").
 */
export function joinU64(low: number, high: number): number {
  return high === 0 ? low : low + high * TWO32;
}

/** The high word of `value` (an integer below 2^53). */
export function highWord(value: number): number {
  return Math.floor(value / TWO32);
}
