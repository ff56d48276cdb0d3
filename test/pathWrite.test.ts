/**
 * The path update of the write path (src/tree/write.ts updatePath): once a write's rebuild comes down to
 * one node replacing one node, the levels above are copied (committed nodes) or changed in place
 * (the transaction's own) instead of rebuilt. The same seeded transactions of random stores,
 * clears, erases and allocations over committed stores of several heights run with the path
 * update switched off and on; every transaction must end with the very same tree (nodes, pivots,
 * slots, gap fields, committed children), the same counts, and the same file afterwards.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { type MapleStore, open } from '../src/index.js';
import type { WriteTxn } from '../src/api/txn.js';
import { type MemNode, type Ref } from '../storage/format/node.js';
import { prng, tempDir } from './helpers.js';
import { slotShape } from './slotShape.js';

type Value = number | string | { id: number; prot: number };
type Tree = { root: Ref | null; height: number; ranges: number; nodes: number };

const tmp = tempDir('maple-pathwrite-');
afterAll(() => tmp.cleanup());

function treeOf(t: WriteTxn<Value>): Tree {
  return (t as unknown as { tree: Tree }).tree;
}

/** Node kinds, pivots, slots and gap fields; a committed child is its cell, a new node says so. */
function treeShape(ref: Ref | null): unknown {
  if (ref === null || typeof ref === 'number') return ref;
  const node: MemNode = ref;
  const fresh = node.cell === 0 && node.commit === 0;
  if (node.leaf) return { fresh, leaf: node.lasts.slice(), slots: node.slots.map(slotShape) };
  return { fresh, internal: node.lasts.slice(), gaps: node.gaps.slice(), children: node.children.map(treeShape) };
}

function valueOf(r: () => number): Value {
  const k = r();
  if (k < 0.6) return Math.floor(r() * 1_000_000);
  if (k < 0.9) return { id: Math.floor(r() * 100_000), prot: Math.floor(r() * 8) };
  return 'x'.repeat(10 + Math.floor(r() * 300));
}

/** Seeded transactions over a store of `count` ranges spread over [0, span). */
function run(file: string, seed: number, count: number, txns: number, opsPerTxn: number, pathWrite: boolean, observe: (n: number, tree: Tree) => void): MapleStore<Value> {
  const store = open<Value>(file, { sync: 'none' });
  store.writeScratch.pathWrite = pathWrite;
  const span = count * 40;
  store.transaction((t) => {
    let x = 0;
    for (let i = 0; i < count; i++) {
      const len = 1 + ((i * 7919) % 37);
      t.store(x, x + len - 1, i % 3 === 0 ? { id: i, prot: i & 7 } : i);
      x += len + (i % 2 === 0 ? 0 : (i * 31) % 13) + 1;
    }
  });
  const r = prng(seed);
  for (let n = 0; n < txns; n++) {
    store.transaction((t) => {
      for (let k = 0; k < opsPerTxn; k++) {
        const at = Math.floor(r() * span);
        const kind = r();
        // Mostly narrow writes (one leaf), some wide ones (several leaves and parents).
        const len = r() < 0.85 ? Math.floor(r() * 60) : Math.floor(r() * 3000);
        if (kind < 0.6) t.store(at, at + len, valueOf(r));
        else if (kind < 0.75) t.clear(at, at + len);
        else if (kind < 0.9) t.erase(at);
        else {
          try {
            t.allocRange(1 + Math.floor(r() * 20), at, at + 5000, valueOf(r));
          } catch {
            // EBUSY: no room there
          }
        }
      }
      observe(n, treeOf(t));
    });
  }
  store.check();
  return store;
}

describe('path update', () => {
  for (const [count, txns, ops] of [
    [40, 30, 20],
    [900, 20, 60],
    [6000, 8, 300],
  ] as const) {
    test(`builds exactly the trees the full rebuild builds (${count} ranges)`, () => {
      for (const seed of [1, 2, 3]) {
        const trees: unknown[] = [];
        const fileA = tmp.file(`general-${count}-${seed}.maple`);
        const fileB = tmp.file(`path-${count}-${seed}.maple`);
        const general = run(fileA, seed, count, txns, ops, false, (n, t) => {
          trees[n] = { height: t.height, ranges: t.ranges, nodes: t.nodes, shape: treeShape(t.root) };
        });
        const generalRanges = [...general.ranges()];
        const { recovery: _a, ...generalStats } = general.stats();
        general.close();
        let seen = 0;
        const fast = run(fileB, seed, count, txns, ops, true, (n, t) => {
          const other = trees[n];
          const mine = { height: t.height, ranges: t.ranges, nodes: t.nodes, shape: treeShape(t.root) };
          if (!isDeepStrictEqual(mine, other)) throw new Error(`seed ${seed}, transaction ${n}: the path update built a different tree`);
          seen++;
        });
        expect(seen).toBe(txns);
        expect([...fast.ranges()]).toEqual(generalRanges);
        const { recovery: _b, ...fastStats } = fast.stats();
        fast.close();
        expect(fastStats).toEqual(generalStats);
      }
    });
  }
});
