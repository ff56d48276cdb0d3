/**
 * src/common/limits.ts is the one place of every limit and tuning constant: no production module
 * declares a constant of the same name again (a second copy is a second source of truth, and one
 * of the two goes stale). Modules import them, and may re-export them for their tests. The scan is
 * textual: a top-level `const NAME =` or `export const NAME =` of a name limits.ts exports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LIMITS = 'src/common/limits.ts';
const LIBRARY = ['src', 'storage', 'recovery'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sources(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Names of the top-level constants `text` declares (exported or not). */
export function topLevelConstants(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(?:export\s+)?const\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=/.exec(line);
    if (m) names.push(m[1]!);
  }
  return names;
}

describe('limits.ts', () => {
  it('no production module declares again a constant limits.ts exports', () => {
    const limits = new Set(
      topLevelConstants(fs.readFileSync(path.join(ROOT, LIMITS), 'utf8').split('\n').filter((line) => line.startsWith('export ')).join('\n')),
    );
    expect(limits.size).toBeGreaterThan(20);
    const again: string[] = [];
    for (const top of LIBRARY) {
      for (const file of sources(top)) {
        if (file === LIMITS) continue;
        for (const name of topLevelConstants(fs.readFileSync(path.join(ROOT, file), 'utf8'))) if (limits.has(name)) again.push(`${file}: ${name}`);
      }
    }
    expect(again).toEqual([]);
  });

  it('the scan finds what it looks for', () => {
    expect(topLevelConstants('export const A = 1;\nconst B: number = 2;\n  const C = 3;\nexport { D };\nlet E = 4;\n')).toEqual(['A', 'B']);
  });
});
