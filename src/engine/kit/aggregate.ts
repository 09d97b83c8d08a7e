/** Turning many flagged entries into few findings: top-most flagged paths with counts, crowded parents merged. */
import { parentOf } from '../../inventory.js';

export interface Group {
  /** The path the finding is reported at. */
  path: string;
  /** Flagged entries at or below it. */
  count: number;
  /** True when `path` itself was not flagged but many of its children were. */
  merged: boolean;
  /** For a merged group: the top-most flagged paths it holds, in name order. */
  members?: string[];
}

/**
 * Group flagged paths under their top-most flagged ancestor. When one directory holds more than `crowd` such groups,
 * they become one group at that directory (e.g. 5,000 store paths owned by a build uid -> one finding at /nix/store).
 * `crowd = 1` merges any two flagged siblings: one finding per folder.
 */
export function aggregate(paths: Iterable<string>, crowd = 20): Group[] {
  const flagged = new Set(paths);
  const tops = new Map<string, number>();
  for (const p of flagged) {
    let top = p;
    for (let a = parentOf(p); ; a = parentOf(a)) {
      if (flagged.has(a)) top = a;
      if (a === '/') break;
    }
    tops.set(top, (tops.get(top) ?? 0) + 1);
  }
  const byParent = new Map<string, string[]>();
  for (const t of tops.keys()) {
    if (t === '/') continue;
    const parent = parentOf(t);
    let list = byParent.get(parent);
    if (!list) byParent.set(parent, (list = []));
    list.push(t);
  }
  const out: Group[] = [];
  for (const [parent, list] of byParent) {
    if (list.length > crowd) {
      out.push({ path: parent, count: list.reduce((n, t) => n + tops.get(t)!, 0), merged: true, members: list.sort() });
      for (const t of list) tops.delete(t);
    }
  }
  for (const [t, count] of tops) out.push({ path: t, count, merged: false });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}
