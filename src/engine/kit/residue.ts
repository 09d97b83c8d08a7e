/** Small helpers shared by the rules that report per-machine state left in well-known places. */
import type { Inventory } from '../../inventory.js';
import { baseName } from '../../inventory.js';
import { isRuntimePath } from './homes.js';
import type { ImageFs } from './rule.js';
import type { Entry } from '../../types.js';

export { plural, withArticle } from '../../words.js';

/** Every non-empty regular file at or below the directory (after resolving it inside the image), each once. */
export function nonEmptyFilesUnder(inv: Inventory, dir: string, keep: (e: Entry) => boolean = () => true): Entry[] {
  const r = inv.resolve(dir);
  if (!r.ok || r.entry.type !== 'dir') return [];
  return [...inv.walk(r.path)].filter((e) => e.type === 'file' && e.size > 0 && keep(e));
}

/** The entries matching any of the globs, each canonical path once (globs may alias through symlinked folders). */
export function globOnce(inv: Inventory, globs: string[]): Entry[] {
  const seen = new Map<string, Entry>();
  for (const g of globs) {
    for (const e of inv.glob(g)) {
      const r = inv.resolve(e.path);
      const key = r.ok ? r.path : e.path;
      if (!seen.has(key)) seen.set(key, e);
    }
  }
  return [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** A few names of the files, for evidence. */
export function someNames(files: Entry[], n = 3): string {
  const names = files.slice(0, n).map((e) => baseName(e.path));
  return names.join(', ') + (files.length > n ? `, … (${files.length - n} more)` : '');
}

/** `12.3 MB` style sizes for messages. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Entries by their own name (the root and the run-time trees left out), for rules that look for files by name. */
export interface NameIndex {
  /** The entries named `name`, in path order (empty: none). */
  get(name: string): Entry[] | undefined;
}

/**
 * The entries of one name, made when asked (the inventory answers name queries without an object per entry, so
 * nothing is kept for the whole audit).
 */
export function entriesByName(inv: Inventory): NameIndex {
  return { get: (name) => entriesNamed(inv, (n) => n === name) };
}

/** Entries whose own name passes `test` (not the root, nothing in the run-time trees), in path order. */
export function entriesNamed(inv: Inventory, test: (name: string) => boolean): Entry[] {
  return inv
    .named(test)
    .filter((e) => !isRuntimePath(e.path))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

export async function eachFileOfKind<K extends { globs: string[] }>(
  inv: Inventory,
  fs: ImageFs,
  kinds: readonly K[],
  visit: (e: Entry, kind: K, text: string) => void,
  maxBytes = 1024 * 1024,
): Promise<void> {
  const jobs = kinds.flatMap((k) => globOnce(inv, k.globs).filter((e) => e.type === 'file' && e.size > 0).map((e) => ({ e, k })));
  await Promise.all(
    jobs.map(async ({ e, k }) => {
      const text = await fs.readText(e.path, { maxBytes });
      if (text) visit(e, k, text);
    }),
  );
}
