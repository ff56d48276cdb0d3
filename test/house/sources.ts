/**
 * The files the house tests read: the repository's root, the library's folders, and every
 * TypeScript source below a folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The library's top folders (what the package ships, compiled). */
export const LIBRARY = ['src', 'storage', 'recovery'];

/** Every `.ts` source below `dir` (repo-relative paths; declaration files left out). */
export function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sources(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The text of the repo-relative file `file`. */
export function readSource(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}
