/**
 * Production modules hold no mutable module-level state: scratch space and switches live in
 * objects a store (or a reader, or a codec) owns and passes down, so two stores in one process
 * never share or clobber them, and a test switches a fast path off on one store only
 * (MapleStore.writeScratch). The scan is textual: a module-level `let`/`var`, or an exported
 * object literal (a switch such as `export const pathWrite = { enabled: true }`).
 * Constant shared values (empty arrays never written, placeholders) are fine.
 */
import { describe, expect, it } from 'vitest';
import { LIBRARY, readSource, sources } from './sources.js';

/** Module-level mutable declarations of `text`: top-level let/var, exported object literals. */
export function moduleState(text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (/^(export\s+)?(let|var)\s/.test(line) || /^export\s+const\s+\w+\s*(:[^=]+)?=\s*\{/.test(line)) found.push(`${i + 1}: ${line.trim()}`);
  });
  return found;
}

describe('module-level state', () => {
  it('no production module declares mutable module-level state', () => {
    const found: string[] = [];
    for (const top of LIBRARY) {
      for (const file of sources(top)) for (const hit of moduleState(readSource(file))) found.push(`${file}:${hit}`);
    }
    expect(found).toEqual([]);
  });

  it('the scan finds what it looks for', () => {
    expect(moduleState('let used = 0;\nexport let count = 0;\nexport const pathWrite = { enabled: true };\nconst LIMIT = 4;\nfunction f() {\n  let x = 0;\n}\n')).toEqual([
      '1: let used = 0;',
      '2: export let count = 0;',
      '3: export const pathWrite = { enabled: true };',
    ]);
  });
});
