// An order-sensitive 32-bit digest of everything a workload observed, so that two engines agree
// only if they returned the same answers in the same order (not merely the same totals).

import type { ValueShape } from './values.js';

const TWO_32 = 2 ** 32;

export class Digest {
  private state = 0x811c9dc5;
  count = 0;

  /** `shape` reads a value's (id, prot) back: what a timed loop folds per answer. */
  constructor(private readonly shape: ValueShape) {}

  /** Folds in a non-negative integer up to 2^53 (both 32-bit halves). */
  add(n: number): void {
    const low = n >>> 0;
    const high = Math.floor(n / TWO_32) >>> 0;
    let h = Math.imul(this.state ^ low, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 15)) ^ high, 0xc2b2ae35);
    this.state = h ^ (h >>> 13);
    this.count++;
  }

  /**
   * A load's answer: a miss folds differently from any hit. Only the value's id and prot (cheap,
   * inside timed loops); the untimed whole-state checks fold every byte of it (addRangeDeep).
   */
  addValue(value: unknown): void {
    if (value === undefined) this.add(0);
    else this.add(this.shape.idOf(value) * 8 + this.shape.protOf(value) + 1);
  }

  addRange(first: number, last: number, value: unknown): void {
    this.add(first);
    this.add(last);
    this.addValue(value);
  }

  /** addRange folding the whole value: every member, element and character. */
  addRangeDeep(first: number, last: number, value: unknown): void {
    this.add(first);
    this.add(last);
    this.addDeep(value, 0);
  }

  private addDeep(value: unknown, depth: number): void {
    if (depth > 16) throw new Error('value nests deeper than any bench shape');
    switch (typeof value) {
      case 'number':
        this.add(1);
        this.add(Number.isInteger(value) && value >= 0 ? value : Math.abs(Math.round(value * 1000)) + 0.5 * TWO_32);
        return;
      case 'string':
        this.add(2);
        this.add(value.length);
        for (let i = 0; i < value.length; i++) this.add(value.charCodeAt(i));
        return;
      case 'boolean':
        this.add(value ? 3 : 4);
        return;
      case 'undefined':
        this.add(5);
        return;
      case 'object': {
        if (value === null) {
          this.add(6);
          return;
        }
        if (Array.isArray(value)) {
          this.add(7);
          this.add(value.length);
          for (const item of value) this.addDeep(item, depth + 1);
          return;
        }
        const keys = Object.keys(value);
        this.add(8);
        this.add(keys.length);
        for (const key of keys) {
          this.addDeep(key, depth + 1);
          this.addDeep((value as Record<string, unknown>)[key], depth + 1);
        }
        return;
      }
      default:
        throw new Error(`a bench value holds a ${typeof value}`);
    }
  }

  hex(): string {
    return `${(this.state >>> 0).toString(16).padStart(8, '0')}/${this.count}`;
  }
}
