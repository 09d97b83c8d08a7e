/**
 * Building a root tree from tar members, in memory: one archive (a rootfs tarball) or a stack of layers (a container
 * image, with OCI whiteouts). Nothing is written to the host: member names are placed in a virtual tree, so `../x`,
 * absolute names and names through symlinks resolve inside the image root (chroot-like, like a container runtime's
 * secure join), and hard links resolve to earlier members of the same tree.
 *
 * File contents stay where they are (ContentRef: which layer, which byte extents); small files are kept in memory
 * during the listing pass under a budget (ContentStore), the rest are read later by offset (plain tar) or by one
 * more streaming pass over the layer (compressed tar) for a whole batch of reads.
 */
import { currentBudget } from '../budget.js';
import { TargetError } from '../errors.js';
import { Inventory, pathComponents, resolveLinks, type LinkTree } from '../inventory.js';
import type { Entry } from '../types.js';
import type { FileContent } from '../backends/backend.js';
import type { Extent, Sink, TarEntry } from './tar.js';
import type { TarSource } from './stream.js';

export interface ContentRef {
  layer: number;
  size: number;
  extents: Extent[];
}

interface Node {
  entry: Entry;
  ref?: ContentRef;
  layer: number;
  /** Archive offset of the member that made this node (-1: a directory no member named). */
  offset: number;
}

/**
 * A file that is not in the final tree but whose bytes still ship in `layer`: a later layer deleted or replaced it,
 * or a later member of the same archive or layer did (a duplicate name, a directory of that name, a whiteout).
 */
export interface Shadowed {
  entry: Entry;
  ref: ContentRef;
  layer: number;
  /** Archive (layer) offset of its member's first header. */
  offset: number;
  /** What hid it: `deleted by a whiteout in <layer> at byte N`, `replaced by a directory at byte N` ... */
  why: string;
}

/** The member being applied, to say what hid a file. */
interface Cause {
  layer: number;
  offset: number;
}

/**
 * Longest path a member may resolve to (PATH_MAX): chained relative links can make a handful of members stand for
 * directories tens of thousands deep, whose every path is a key here.
 */
export const MAX_PATH = 4096;
/** Memory a node costs beyond its path (map slots, the node and entry objects, its name in the parent's set). */
const NODE_COST = 320;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A member whose path would pass MAX_PATH: a problem of that member, not of the archive. */
class PathTooLong extends TargetError {
  override name = 'PathTooLong';
}

export class TreeBuilder {
  private readonly nodes = new Map<string, Node>();
  private readonly kids = new Map<string, Set<string>>();
  readonly problems: string[] = [];
  readonly shadowed: Shadowed[] = [];
  /** The target's budget: every node is charged to its memory, every step of a resolution checks its clock. */
  private readonly budget = currentBudget();

  /**
   * `fsOf(layer)` names the filesystem field of entries from that layer; `placeOf(layer)` names the layer in what
   * this says about hidden files (`layer 2 (sha256:...)`, `the archive`).
   */
  constructor(
    private readonly fsOf: (layer: number) => string,
    readonly placeOf: (layer: number) => string = fsOf,
  ) {
    this.put('/', { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, fs: fsOf(0) }, 0, -1);
  }

  private put(p: string, entry: Entry, layer: number, offset: number, ref?: ContentRef): void {
    if (!this.nodes.has(p)) this.budget?.chargeMemory(NODE_COST + 2 * p.length, 'archive entries');
    this.nodes.set(p, { entry, layer, offset, ref });
    if (p !== '/') {
      const i = p.lastIndexOf('/');
      const parent = i <= 0 ? '/' : p.slice(0, i);
      let set = this.kids.get(parent);
      if (!set) this.kids.set(parent, (set = new Set()));
      set.add(p.slice(i + 1));
    }
  }

  /**
   * `p` and every path below it, each parent before its children, without recursion (the depth is the archive's to
   * choose).
   */
  private subtree(p: string): string[] {
    const order: string[] = [];
    for (const stack = [p]; stack.length > 0; ) {
      const q = stack.pop()!;
      order.push(q);
      for (const k of this.kids.get(q) ?? []) stack.push(q === '/' ? `/${k}` : `${q}/${k}`);
    }
    return order;
  }

  /** Take `p` and everything below it out of the tree; the files among them are kept as shadowed, hidden by `why`. */
  private remove(p: string, why: string): void {
    if (!this.nodes.has(p)) return;
    for (const q of this.subtree(p).reverse()) {
      const n = this.nodes.get(q)!;
      this.kids.delete(q);
      if (n.ref) this.shadowed.push({ entry: n.entry, ref: n.ref, layer: n.layer, offset: n.offset, why });
      this.nodes.delete(q);
      this.budget?.releaseMemory(NODE_COST + 2 * q.length);
    }
    const i = p.lastIndexOf('/');
    this.kids.get(i <= 0 ? '/' : p.slice(0, i))?.delete(p.slice(i + 1));
  }

  /**
   * The canonical directory path of `parts` (a member's parent), following symlinks inside the tree with the one
   * resolver (inventory.ts resolveLinks). Missing directories are created (tar members need not list their parents)
   * when `create`; null when a component is a non-directory, the links loop or the path passes MAX_PATH.
   */
  private dirOf(parts: string[], create: boolean, mtime: number, layer: number): string | null {
    const tree: LinkTree<string> = {
      root: '/',
      child: (dir, name) => {
        const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
        if (p.length > MAX_PATH) {
          if (!create) return undefined;
          throw new PathTooLong(`a path deeper than ${MAX_PATH} bytes`);
        }
        if (!this.nodes.has(p)) {
          if (!create) return undefined;
          this.put(p, { path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime, fs: this.fsOf(layer) }, layer, -1);
        }
        return p;
      },
      kind: (p) => {
        const t = this.nodes.get(p)!.entry.type;
        return t === 'dir' ? 'dir' : t === 'symlink' ? 'symlink' : 'other';
      },
      target: (p) => this.nodes.get(p)!.entry.target ?? '',
      pathOf: (p) => p,
      // Crafted link targets must not make resolution outrun the target's clock.
      tick: () => this.budget?.tick(),
    };
    const r = resolveLinks(tree, parts);
    return r.ok && tree.kind(r.node) === 'dir' ? r.node : null;
  }

  /** Place one member. Returns the content reference for a regular file's data (null: no data needed). */
  apply(t: TarEntry, layer: number, opts: { whiteouts: boolean }): ContentRef | null {
    // `..` never climbs above the root: resolve it lexically first.
    const norm = pathComponents(t.name);
    const shown = t.name.slice(0, 200);
    if (norm.length === 0) {
      if (t.type === 'dir') {
        const root = this.nodes.get('/')!;
        root.entry = { ...root.entry, mode: t.mode, uid: t.uid, gid: t.gid, mtime: t.mtime, fs: this.fsOf(layer) };
      }
      return null;
    }
    const base = norm[norm.length - 1]!;
    let dir: string | null;
    try {
      dir = this.dirOf(norm.slice(0, -1), true, t.mtime, layer);
    } catch (err) {
      if (!(err instanceof PathTooLong)) throw err;
      this.problems.push(`${shown}: not placed (${err.message})`);
      return null;
    }
    if (dir === null) {
      this.problems.push(`${shown}: its parent is not a directory inside the image`);
      return null;
    }
    const p = dir === '/' ? `/${base}` : `${dir}/${base}`;
    if (p.length > MAX_PATH) {
      this.problems.push(`${shown}: not placed (a path deeper than ${MAX_PATH} bytes)`);
      return null;
    }
    const cause: Cause = { layer, offset: t.offset };
    if (opts.whiteouts && base.startsWith(WHITEOUT)) {
      if (base === OPAQUE) {
        // Hide what lower layers put in this directory; this layer's own entries stay.
        const why = this.because('hidden by an opaque whiteout of its folder', cause);
        for (const k of [...(this.kids.get(dir) ?? [])]) this.hideLower(dir === '/' ? `/${k}` : `${dir}/${k}`, layer, why);
      } else {
        const victim = base.slice(WHITEOUT.length);
        // Applied in member order, like a runtime: a file earlier in the same layer is deleted too.
        if (victim) this.remove(dir === '/' ? `/${victim}` : `${dir}/${victim}`, this.because('deleted by a whiteout', cause));
      }
      return null;
    }
    const existing = this.nodes.get(p);
    if (t.type === 'hardlink') {
      const lparts = (t.linkname ?? '').split('/').filter((c) => c !== '' && c !== '.');
      const ldir = lparts.length > 0 ? this.dirOf(lparts.slice(0, -1), false, 0, layer) : null;
      const lp = ldir === null ? null : ldir === '/' ? `/${lparts[lparts.length - 1]}` : `${ldir}/${lparts[lparts.length - 1]}`;
      const target = lp ? this.nodes.get(lp) : undefined;
      if (!target || target.entry.type !== 'file') {
        this.problems.push(`${shown}: hard link to a file that is not in the archive`);
        return null;
      }
      if (existing && lp !== p) this.remove(p, this.because('replaced by a hard link of the same name', cause));
      if (lp === p) return null;
      this.put(p, { ...target.entry, path: p }, layer, t.offset, target.ref);
      return null;
    }
    if (existing) {
      if (existing.entry.type === 'dir' && t.type === 'dir') {
        existing.entry = { ...existing.entry, mode: t.mode, uid: t.uid, gid: t.gid, mtime: t.mtime, fs: this.fsOf(layer) };
        existing.layer = layer;
        return null;
      }
      const what = t.type === 'dir' ? 'a directory' : t.type === 'file' ? 'a file' : t.type === 'symlink' ? 'a symlink' : `a ${t.type}`;
      this.remove(p, this.because(`replaced by ${what} of the same name`, cause));
    }
    const entry: Entry = {
      path: p,
      type: t.type,
      mode: t.mode,
      uid: t.uid,
      gid: t.gid,
      size: t.type === 'file' ? t.size : t.type === 'symlink' ? Buffer.byteLength(t.linkname ?? '') : 0,
      mtime: t.mtime,
      fs: this.fsOf(layer),
    };
    if (t.type === 'symlink') entry.target = t.linkname ?? '';
    const ref = t.type === 'file' ? { layer, size: t.size, extents: t.extents } : undefined;
    this.put(p, entry, layer, t.offset, ref);
    return ref ?? null;
  }

  /** `<what> in <layer> at byte N` (the layer is named when the tree has layers). */
  private because(what: string, c: Cause): string {
    return `${what} at byte ${c.offset} of ${this.placeOf(c.layer)}`;
  }

  /** Opaque whiteout: remove everything below `p` from lower layers, keeping directories this layer still uses. */
  private hideLower(p: string, layer: number, why: string): void {
    if (!this.nodes.has(p)) return;
    const post = this.subtree(p);
    // Walked backwards, a node's children are decided before it.
    const keep = new Set<string>();
    for (let i = post.length - 1; i >= 0; i--) {
      const q = post[i]!;
      const n = this.nodes.get(q);
      if (!n) continue;
      if (n.layer >= layer || keep.has(q)) {
        const j = q.lastIndexOf('/');
        keep.add(j <= 0 ? '/' : q.slice(0, j));
      } else this.remove(q, why);
    }
  }

  /**
   * The files that ship but are not in the final tree, each once: a file whose bytes a path of the final tree still
   * shows (a hard link to it survived) is not hidden.
   */
  hidden(): Shadowed[] {
    const live = new Set<ContentRef>();
    for (const n of this.nodes.values()) if (n.ref) live.add(n.ref);
    const seen = new Set<ContentRef>();
    return this.shadowed.filter((s) => {
      if (s.entry.type !== 'file' || live.has(s.ref) || seen.has(s.ref)) return false;
      seen.add(s.ref);
      return true;
    });
  }

  get size(): number {
    return this.nodes.size;
  }

  inventory(): Inventory {
    return new Inventory([...this.nodes.values()].map((n) => n.entry));
  }

  refOf(p: string): ContentRef | undefined {
    return this.nodes.get(p)?.ref;
  }
}

/** Small files kept in memory during the listing pass, under a total budget. */
export class ContentStore {
  private readonly mem = new Map<ContentRef, Buffer>();
  private used = 0;
  constructor(
    private readonly budget: number,
    private readonly perFile: number,
  ) {}

  /** A sink that keeps this file's bytes, or null when it is too big or the budget is spent. */
  keep(ref: ContentRef): Sink | null {
    if (ref.size > this.perFile || this.used + ref.size > this.budget) return null;
    const buf = Buffer.alloc(ref.size);
    this.used += ref.size;
    this.mem.set(ref, buf);
    return (chunk, offset) => {
      chunk.copy(buf, offset);
    };
  }

  get(ref: ContentRef): Buffer | undefined {
    return this.mem.get(ref);
  }
}

/**
 * Read the first `maxBytes` of several files of one tar source: by offset when it is uncompressed, else in one
 * streaming pass that stops after the last byte wanted.
 */
export async function readRefs(src: TarSource, refs: ContentRef[], maxBytes: number, signal?: AbortSignal): Promise<Map<ContentRef, Buffer>> {
  const out = new Map<ContentRef, Buffer>();
  interface Piece {
    buf: Buffer;
    logical: number;
    stored: number;
    length: number;
  }
  const pieces: Piece[] = [];
  for (const ref of new Set(refs)) {
    const buf = Buffer.alloc(Math.min(ref.size, maxBytes));
    out.set(ref, buf);
    for (const e of ref.extents) {
      if (e.logical >= buf.length) break;
      pieces.push({ buf, logical: e.logical, stored: e.stored, length: Math.min(e.length, buf.length - e.logical) });
    }
  }
  if (pieces.length === 0) return out;
  if (src.pread) {
    for (const p of pieces) {
      const data = await src.pread(p.stored, p.length);
      if (data.length < p.length) throw new Error('archive changed or was cut while being read');
      data.copy(p.buf, p.logical);
    }
    return out;
  }
  pieces.sort((a, b) => a.stored - b.stored);
  let idx = 0;
  let pos = 0;
  for await (const chunk of src.open({ signal })) {
    const start = pos;
    const end = pos + chunk.length;
    pos = end;
    while (idx < pieces.length && pieces[idx]!.stored < end) {
      const p = pieces[idx]!;
      const from = Math.max(p.stored, start);
      const to = Math.min(p.stored + p.length, end);
      if (to > from) chunk.copy(p.buf, p.logical + (from - p.stored), from - start, to - start);
      if (p.stored + p.length <= end) idx++;
      else break;
    }
    if (idx >= pieces.length) break;
  }
  if (idx < pieces.length) throw new Error('archive ended before a file it lists');
  return out;
}

/** FileContent for a file of `size` bytes read up to `maxBytes`. */
export function contentOf(data: Buffer, size: number, maxBytes: number): FileContent {
  const d = data.length > maxBytes ? data.subarray(0, maxBytes) : data;
  return { data: d, size, truncated: size > d.length };
}
