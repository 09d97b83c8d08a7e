/**
 * The inventory: every entry of an image exactly once, with chroot-like path resolution.
 *
 * Resolution never touches the host: it only consults the entries a backend listed, so a symlink whose target
 * exists on the build host but not in the image simply does not resolve.
 */
import picomatch from 'picomatch';
import type { Entry, EntryType } from './types.js';

/** Linux gives up after 40 symlink follows (ELOOP); so do we. */
export const MAX_SYMLINK_FOLLOWS = 40;
/** Bound on the number of path components handled in one resolution (defends against huge crafted targets). */
const MAX_COMPONENTS = 4096;

export type ResolveFailure = 'missing' | 'loop' | 'too-deep' | 'not-a-directory' | 'empty-target';

export type ResolveResult =
  | { ok: true; path: string; entry: Entry }
  | { ok: false; reason: ResolveFailure; at: string };

export interface GlobOptions {
  /** Only entries of these types. */
  types?: EntryType[];
}

/** Normalise an absolute image path lexically (no symlinks): `/a//b/./c/` -> `/a/b/c`; `..` stops at `/`. */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

export function parentOf(p: string): string {
  if (p === '/') return '/';
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

interface Preorder {
  list: Entry[];
  spans: Map<string, { start: number; end: number }>;
  kids: Map<string, Entry[]>;
}

export class Inventory {
  private readonly byPath = new Map<string, Entry>();
  private childIndex: Map<string, string[]> | null = null;
  private preorder: Preorder | null = null;

  constructor(entries: Iterable<Entry> = []) {
    for (const e of entries) this.add(e);
  }

  /** Add or replace an entry (a later mount over a path replaces what was under it at that path). */
  add(entry: Entry): void {
    this.byPath.set(entry.path, entry);
    this.childIndex = null;
    this.preorder = null;
  }

  /** Remove a path and everything below it (used when a filesystem is mounted over a directory). */
  removeSubtree(path: string): void {
    const prefix = path === '/' ? '/' : path + '/';
    for (const p of [...this.byPath.keys()]) if (p === path || p.startsWith(prefix)) this.byPath.delete(p);
    this.childIndex = null;
    this.preorder = null;
  }

  get size(): number {
    return this.byPath.size;
  }

  /** The entry at exactly this path, without following symlinks (like lstat). */
  get(path: string): Entry | undefined {
    return this.byPath.get(path);
  }

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  /** All entries in no particular order (cheaper than entries() when order does not matter). */
  unordered(): IterableIterator<Entry> {
    return this.byPath.values();
  }

  /** All entries, in path order. */
  entries(): Entry[] {
    return [...this.byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Names of the direct children of a directory path, sorted. */
  children(dir: string): string[] {
    const idx = this.childIndex ?? (this.childIndex = new Map());
    let names = idx.get(dir);
    if (!names) {
      const kids = this.kids().get(dir);
      names = kids ? kids.map((e) => baseName(e.path)) : [];
      idx.set(dir, names);
    }
    return names;
  }

  /** The entries directly below each directory path, sorted by name (built once per change of the inventory). */
  private kids(): Map<string, Entry[]> {
    const pre = this.preorder ?? (this.preorder = this.buildPreorder());
    return pre.kids;
  }

  /**
   * Every entry strictly below `dir` (not crossing into anything; the inventory holds no duplicates), depth first
   * with each directory's children in name order. Rules walk the whole tree many times per audit, so the walk order
   * of the tree below `/` is computed once (each directory's subtree is one contiguous run of it) and reused.
   * `skip` prunes: a directory it returns true for is still yielded, but nothing below it is (`/nix/store`, `/proc`).
   */
  *walk(dir: string, opts: { skip?: (dir: Entry) => boolean } = {}): Generator<Entry> {
    const pre = this.preorder ?? (this.preorder = this.buildPreorder());
    const span = dir === '/' ? { start: 0, end: pre.list.length } : pre.spans.get(dir);
    const skip = opts.skip;
    if (span) {
      const { list } = pre;
      for (let i = span.start; i < span.end; i++) {
        const e = list[i]!;
        yield e;
        if (skip && e.type === 'dir' && skip(e)) i = (pre.spans.get(e.path)?.end ?? i + 1) - 1;
      }
      return;
    }
    // Not a directory reachable from `/` (e.g. below a missing parent): walk it from the children index.
    const stack = [dir];
    while (stack.length > 0) {
      const d = stack.pop()!;
      for (const name of this.children(d)) {
        const p = joinPath(d, name);
        const e = this.byPath.get(p);
        if (!e) continue;
        yield e;
        if (e.type === 'dir' && !skip?.(e)) stack.push(p);
      }
    }
  }

  /** Depth-first order of everything reachable below `/`, and the run each reachable directory's subtree spans. */
  private buildPreorder(): Preorder {
    const kids = new Map<string, Entry[]>();
    for (const e of this.byPath.values()) {
      const p = e.path;
      if (p === '/') continue;
      const i = p.lastIndexOf('/');
      const parent = i <= 0 ? '/' : p.slice(0, i);
      let list = kids.get(parent);
      if (!list) kids.set(parent, (list = []));
      list.push(e);
    }
    // Siblings share their parent's prefix, so path order is name order.
    for (const list of kids.values()) if (list.length > 1) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const list: Entry[] = [];
    const spans = new Map<string, { start: number; end: number }>();
    const stack: Array<{ kids: Entry[]; next: number; span: { start: number; end: number } | null }> = [
      { kids: kids.get('/') ?? [], next: 0, span: null },
    ];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.kids.length) {
        if (top.span) top.span.end = list.length;
        stack.pop();
        continue;
      }
      const e = top.kids[top.next++]!;
      list.push(e);
      if (e.type === 'dir') {
        const span = { start: list.length, end: list.length };
        spans.set(e.path, span);
        stack.push({ kids: kids.get(e.path) ?? [], next: 0, span });
      }
    }
    return { list, spans, kids };
  }

  /**
   * Entries whose path matches an absolute glob (`/home/*`, `/home/** /.nix-defexpr`). Dot files match.
   * Only the subtree below the pattern's static prefix is visited.
   */
  glob(pattern: string, opts: GlobOptions = {}): Entry[] {
    const types = opts.types ? new Set(opts.types) : null;
    const keep = (e: Entry | undefined): e is Entry => !!e && (!types || types.has(e.type));
    const scan = picomatch.scan(pattern);
    if (!scan.isGlob) {
      const e = this.byPath.get(normalizePath(pattern));
      return keep(e) ? [e] : [];
    }
    const base = normalizePath(scan.base || '/');
    // What picomatch(pattern)(path) does for a POSIX path, without its per-call overhead (a glob walks every entry).
    const re = picomatch.makeRe(pattern, { dot: true });
    const out: Entry[] = [];
    for (const e of this.walk(base)) if (keep(e) && (e.path === pattern || re.test(e.path))) out.push(e);
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /**
   * Resolve a path like the kernel would inside a chroot at the image root: absolute symlink targets start at
   * the image root, `..` never climbs above it, loops and over-long chains fail. With `followFinal: false` the
   * last component is not followed (like lstat on the resolved parent).
   */
  resolve(path: string, opts: { followFinal?: boolean } = {}): ResolveResult {
    const followFinal = opts.followFinal ?? true;
    let queue = path.split('/').filter((c) => c !== '' && c !== '.');
    let stack: string[] = [];
    let follows = 0;
    const seen = new Set<string>();
    while (queue.length > 0) {
      if (queue.length > MAX_COMPONENTS) return { ok: false, reason: 'too-deep', at: '/' + stack.join('/') };
      const c = queue.shift()!;
      if (c === '.' || c === '') continue;
      if (c === '..') {
        stack.pop();
        continue;
      }
      const candidate = '/' + [...stack, c].join('/');
      const e = this.byPath.get(candidate);
      if (!e) return { ok: false, reason: 'missing', at: candidate };
      if (e.type === 'symlink' && (queue.length > 0 || followFinal)) {
        const key = candidate + '\0' + queue.join('/');
        if (seen.has(key)) return { ok: false, reason: 'loop', at: candidate };
        seen.add(key);
        if (++follows > MAX_SYMLINK_FOLLOWS) return { ok: false, reason: 'loop', at: candidate };
        const target = e.target ?? '';
        if (target === '') return { ok: false, reason: 'empty-target', at: candidate };
        if (target.startsWith('/')) stack = [];
        queue = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...queue];
        continue;
      }
      if (queue.length > 0 && e.type !== 'dir') return { ok: false, reason: 'not-a-directory', at: candidate };
      stack.push(c);
    }
    const finalPath = '/' + stack.join('/');
    const entry = this.byPath.get(finalPath);
    if (!entry) return { ok: false, reason: 'missing', at: finalPath };
    return { ok: true, path: finalPath, entry };
  }
}

/** Human words for a failed resolution, used in messages. */
export function describeFailure(r: Extract<ResolveResult, { ok: false }>): string {
  switch (r.reason) {
    case 'missing':
      return `${r.at} does not exist in the image`;
    case 'loop':
      return `symlink loop at ${r.at}`;
    case 'too-deep':
      return `path too deep at ${r.at}`;
    case 'not-a-directory':
      return `${r.at} is not a directory`;
    case 'empty-target':
      return `${r.at} has an empty target`;
  }
}
