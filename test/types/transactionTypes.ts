/**
 * Compiled (never run) by test/transactionTypes.test.ts with `tsc --noEmit`: the type of
 * MapleStore.transaction must accept synchronous functions whatever they return, and refuse every
 * function that returns a promise. Each refused call sits under `@ts-expect-error`, which is itself
 * an error when the line below it compiles, so a type that accepted one would fail the check.
 */
import { type MapleStore, type WriteTxn, open } from '../../src/index.js';

declare const db: MapleStore<string>;

// Synchronous functions compile, with their result type carried through.
db.transaction((t) => {
  t.store(1, 2, 'a');
});
const erased: string | undefined = db.transaction((t) => t.erase(3));
const answer: number = db.transaction(() => 42);
const record: { a: number } = db.transaction(() => ({ a: 1 }));
const nothing: void = db.transaction((t) => t.clear(0, 9));
function named(t: WriteTxn<string>): number {
  return t.allocRange(1, 0, 100, 'x');
}
const start: number = db.transaction(named);
const untyped = open('/never/opened');
untyped.transaction((t) => t.store(1, 1, { any: 'value' }));

// Promise-returning functions do not.
// @ts-expect-error an async arrow function
db.transaction(async (t) => {
  t.store(1, 2, 'a');
});
// @ts-expect-error an async arrow function returning a value
db.transaction(async () => 1);
// @ts-expect-error a plain function returning a promise
db.transaction((t) => Promise.resolve(1));
// @ts-expect-error a function that may return a promise
db.transaction(() => (Math.random() < 0.5 ? 1 : Promise.resolve(1)));
// @ts-expect-error a function returning a thenable
db.transaction(() => ({ then: (resolve: (v: number) => void) => resolve(1) }));
async function namedAsync(t: WriteTxn<string>): Promise<void> {
  t.store(1, 2, 'a');
}
// @ts-expect-error a named async function
db.transaction(namedAsync);
// @ts-expect-error an async function with its result type given explicitly
db.transaction<Promise<number>>(async () => 1);

// Nor do generator functions, whose bodies would run only when their results are iterated.
// @ts-expect-error a generator function
db.transaction(function* (t) {
  t.store(1, 2, 'a');
  yield 1;
});
// @ts-expect-error an async generator function
db.transaction(async function* () {
  yield 1;
});
// @ts-expect-error write() refuses a generator function too
void db.write(function* () {
  yield 1;
});
// A synchronous function may return an iterator that is not a generator.
const iterator: IterableIterator<number> = db.transaction(() => [1, 2].values());

// write() takes the same functions, its promise carrying their result type.
const written: Promise<number> = db.write(() => 42);
const erasedLater: Promise<string | undefined> = db.eraseAsync(3);
const allocated: Promise<number> = db.allocRangeAsync(1, 0, 100, 'x');
const storedLater: Promise<void> = db.storeAsync(1, 2, 'a');
// @ts-expect-error write() refuses an async function too
void db.write(async (t) => {
  t.store(1, 2, 'a');
});
// @ts-expect-error write() refuses a function returning a promise
void db.write(() => Promise.resolve(1));

export { allocated, answer, erased, erasedLater, iterator, nothing, record, start, storedLater, written };
