/**
 * src/common/limits.ts is the one place of every limit and tuning constant: no production module
 * declares a constant of the same name again (a second copy is a second source of truth, and one
 * of the two goes stale). Modules import them, and may re-export them for their tests. The scan is
 * textual: a top-level `const NAME =` or `export const NAME =` of a name limits.ts exports.
 */
import { describe, expect, it } from 'vitest';
import { LIBRARY, readSource, sources } from './sources.js';

const LIMITS = 'src/common/limits.ts';

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
      topLevelConstants(readSource(LIMITS).split('\n').filter((line) => line.startsWith('export ')).join('\n')),
    );
    expect(limits.size).toBeGreaterThan(20);
    const again: string[] = [];
    for (const top of LIBRARY) {
      for (const file of sources(top)) {
        if (file === LIMITS) continue;
        for (const name of topLevelConstants(readSource(file))) if (limits.has(name)) again.push(`${file}: ${name}`);
      }
    }
    expect(again).toEqual([]);
  });

  it('the scan finds what it looks for', () => {
    expect(topLevelConstants('export const A = 1;\nconst B: number = 2;\n  const C = 3;\nexport { D };\nlet E = 4;\n')).toEqual(['A', 'B']);
  });
});
