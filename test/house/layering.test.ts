/**
 * The layers run one way. Each folder of the library is one layer; a module may import modules of
 * its own layer and of layers below it, never above (type-only imports included: a type from
 * above is a dependency on the layer's design all the same). The order is the design:
 *
 *   common → format → tree → io → read → commit → recovery → api → index → testing → tools → cli → examples
 *
 * The space map and the pending list are maple trees, so the tree algorithms sit below the
 * allocator (storage/commit) and above the on-disk formats they decode.
 * Outside packages: the library (everything but examples) imports only node: built-ins and msgpackr.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBRARY, readSource, sources } from './sources.js';

/** Layers, lowest first: the folder (relative to the repo) and its rank. */
export const LAYERS: ReadonlyArray<readonly [folder: string, rank: number]> = [
  ['src/common', 0],
  ['storage/format', 1],
  ['src/tree', 2],
  ['storage/io', 3],
  ['src/read', 4],
  ['storage/commit', 5],
  ['recovery', 6],
  ['src/api', 7],
  ['src/index.ts', 8],
  ['recovery/testing', 9],
  ['recovery/tools', 10],
  ['src/cli', 11],
  ['examples', 12],
];

/** The most specific layer holding `file` (a repo-relative path), or undefined. */
export function layerOf(file: string): { folder: string; rank: number } | undefined {
  let best: { folder: string; rank: number } | undefined;
  for (const [folder, rank] of LAYERS) {
    if ((file === folder || file.startsWith(`${folder}/`)) && (best === undefined || folder.length > best.folder.length)) best = { folder, rank };
  }
  return best;
}

/** Every module specifier `file` imports or re-exports (static, dynamic, type-only). */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs;
}

const ALLOWED_PACKAGES = new Set(['msgpackr']);

function violations(): string[] {
  const found: string[] = [];
  for (const top of [...LIBRARY, 'examples']) {
    for (const file of sources(top)) {
      const from = layerOf(file);
      if (from === undefined) {
        found.push(`${file}: in no layer (add its folder to LAYERS)`);
        continue;
      }
      for (const spec of importsOf(readSource(file))) {
        if (spec.startsWith('node:')) continue;
        if (!spec.startsWith('.')) {
          if (top !== 'examples' && !ALLOWED_PACKAGES.has(spec)) found.push(`${file}: imports package ${spec} (the library's only runtime dependency is msgpackr)`);
          continue;
        }
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec.split('?')[0]!)).replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (to === undefined) {
          found.push(`${file}: imports ${target}, which is in no layer`);
          continue;
        }
        if (to.rank > from.rank || (to.rank === from.rank && to.folder !== from.folder)) {
          found.push(`${file} (${from.folder}) imports ${target} (${to.folder}): against the layer order`);
        }
      }
    }
  }
  return found;
}

describe('layering', () => {
  it('every import runs down the layer order (or within a layer)', () => {
    expect(violations()).toEqual([]);
  });

  it('catches an import against the order', () => {
    // The checker itself: an upward import is reported, a downward one is not.
    expect(layerOf('storage/format/node.ts')!.rank).toBeLessThan(layerOf('src/tree/write.ts')!.rank);
    expect(layerOf('recovery/tools/surgery.ts')!.folder).toBe('recovery/tools');
    expect(importsOf("import type { A } from '../x.js';\nexport { b } from './y.js';\nconst m = await import('./z.js');")).toEqual(['../x.js', './y.js', './z.js']);
  });
});
