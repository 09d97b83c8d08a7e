/** What the sample spec (images-sample/trees.json) plants: the clean -> leaky difference, computed from the spec. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './cli.js';

export interface SpecEntry {
  path: string;
  type: string;
  mode?: string;
  uid?: number;
  gid?: number;
  target?: string;
  content?: string;
  contentBase64?: string;
  repeat?: number;
  leak?: string | string[];
}

export interface Spec {
  base: SpecEntry[];
  variants: Record<string, SpecEntry[]>;
}

export function readSpec(): Spec {
  return JSON.parse(readFileSync(path.join(REPO, 'images-sample/trees.json'), 'utf8')) as Spec;
}

/** A variant's tree: its entries override base entries at the same path, like build.mjs applies them. */
export function specTree(variant: string, spec: Spec = readSpec()): Map<string, SpecEntry> {
  return new Map([...spec.base, ...spec.variants[variant]!].map((e) => [e.path, e]));
}

/** Entries only the leaky variant has, only the clean one has, or both with differences; each list sorted. */
export function planted(): { added: string[]; removed: string[]; changed: string[] } {
  const spec = readSpec();
  const key = (e: SpecEntry) => JSON.stringify({ ...e, leak: undefined });
  const leaky = specTree('leaky', spec);
  const clean = specTree('clean', spec);
  const sort = (a: string[]) => a.sort();
  return {
    added: sort([...leaky.keys()].filter((p) => !clean.has(p))),
    removed: sort([...clean.keys()].filter((p) => !leaky.has(p))),
    changed: sort([...leaky.keys()].filter((p) => clean.has(p) && key(clean.get(p)!) !== key(leaky.get(p)!))),
  };
}
