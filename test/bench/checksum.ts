// An order-sensitive 32-bit digest of everything a workload observed, so that two engines agree
// only if they returned the same answers in the same order (not merely the same totals).

const TWO_32 = 2 ** 32;

export class Digest {
  private state = 0x811c9dc5;
  count = 0;

  /** Folds in a non-negative integer up to 2^53 (both 32-bit halves). */
  add(n: number): void {
    const low = n >>> 0;
    const high = Math.floor(n / TWO_32) >>> 0;
    let h = Math.imul(this.state ^ low, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 15)) ^ high, 0xc2b2ae35);
    this.state = h ^ (h >>> 13);
    this.count++;
  }

  /** A load's answer: a miss folds differently from any hit. */
  addValue(value: { id: number; prot: number } | undefined): void {
    if (value === undefined) this.add(0);
    else this.add(value.id * 8 + value.prot + 1);
  }

  addRange(first: number, last: number, value: { id: number; prot: number }): void {
    this.add(first);
    this.add(last);
    this.addValue(value);
  }

  hex(): string {
    return `${(this.state >>> 0).toString(16).padStart(8, '0')}/${this.count}`;
  }
}
