/** Argument checks shared by every public method: each refusal names the argument and value. */
import { invalid } from '../common/errors.js';
import { MAX_INDEX } from '../common/limits.js';

export function checkIndex(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_INDEX) {
    throw invalid(`${name} must be an integer from 0 to MAX_INDEX (${MAX_INDEX}); got ${describe(value)}`);
  }
  return value;
}

export function checkRange(first: unknown, last: unknown, names = ['first', 'last']): void {
  const f = checkIndex(names[0]!, first);
  const l = checkIndex(names[1]!, last);
  if (f > l) throw invalid(`${names[0]} (${f}) must not be greater than ${names[1]} (${l})`);
}

export function checkSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_INDEX + 1) {
    throw invalid(`size must be an integer from 1 to 2^53; got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  return typeof value;
}
