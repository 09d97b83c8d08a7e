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
import { expectManyLiveObjects } from '../heap.js';
import { TargetError } from '../errors.js';
import { Inventory, pathComponents, resolveLinks, type LinkTree } from '../inventory.js';
import type { Entry } from '../types.js';
import type { FileContent } from '../backends/backend.js';
import type { ExpectedRead } from '../types.js';
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
/** Nodes from which the tree lets the young generation grow (src/heap.ts); a Debian root has ~7,000. */
const MANY_NODES = 32 * 1024;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A member whose path would pass MAX_PATH: a problem of that member, not of the archive. */
class PathTooLong extends TargetError {
  override name = 'PathTooLong';
}

/** A regular file a member placed: where its bytes are, and its path in the tree. */
export interface Placed {
  ref: ContentRef;
  path: string;
}

export class TreeBuilder {
  private readonly nodes = new Map<string, Node>();
  private readonly kids = new Map<string, Set<string>>();
  readonly problems: string[] = [];
  readonly shadowed: Shadowed[] = [];
  /** The target's budget: every node is charged to its memory, every step of a resolution checks its clock. */
  private readonly budget = currentBudget();
  /**
   * The last member's parent, as its components and the directory they resolved to, and `removals` then. A
   * resolution that succeeded went only through nodes that exist; adding nodes cannot change where it leads, only
   * taking one out (or replacing it, which takes it out first) can, so it holds while `removals` is unchanged.
   * Archives list a directory's members together: most members resolve their parent by comparing components.
   */
  private lastParent: { parts: string[]; dir: string; removals: number } | null = null;
  private sealed = false;
  private removals = 0;

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
    if (!this.nodes.has(p)) {
      this.budget?.chargeMemory(NODE_COST + 2 * p.length, 'archive entries');
      // A tree this large is many small objects that all live on: see src/heap.ts.
      if (this.nodes.size === MANY_NODES) expectManyLiveObjects();
    }
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
    this.removals++;
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

  /** Place one member. A regular file placed is returned with its path in the tree (null: no data needed). */
  apply(t: TarEntry, layer: number, opts: { whiteouts: boolean }): Placed | null {
    if (this.sealed) throw new Error('a sealed tree takes no more members');
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
    const parts = norm.slice(0, -1);
    let dir: string | null;
    try {
      const last = this.lastParent;
      if (last && last.removals === this.removals && sameParts(last.parts, parts)) dir = last.dir;
      else {
        dir = this.dirOf(parts, true, t.mtime, layer);
        this.lastParent = dir === null ? null : { parts, dir, removals: this.removals };
      }
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
    return ref ? { ref, path: p } : null;
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

  /**
   * The finished tree, and the builder emptied: what the audit keeps is the inventory, each file's content reference
   * by its path and the hidden files, not the builder's nodes and folder sets (a third of its memory on a large tree).
   * Nothing is applied after.
   */
  seal(): { inventory: Inventory; refOf: (p: string) => ContentRef | undefined; hidden: Shadowed[] } {
    const inventory = this.inventory();
    const hidden = this.hidden();
    const refs = new Map<string, ContentRef>();
    for (const [p, n] of this.nodes) if (n.ref) refs.set(p, n.ref);
    this.nodes.clear();
    this.kids.clear();
    this.shadowed.length = 0;
    this.lastParent = null;
    this.sealed = true;
    return { inventory, refOf: (p) => refs.get(p), hidden };
  }
}

/** Where one file's bytes go as a stream passes: the parts of its extents below `buf.length`, in stored order. */
interface Fill {
  ref: ContentRef;
  buf: Buffer;
  pieces: Array<{ logical: number; stored: number; length: number }>;
  /** Index of the first piece not yet complete. */
  next: number;
}

function fillOf(ref: ContentRef, len: number): Fill {
  const buf = Buffer.alloc(len);
  const pieces: Fill['pieces'] = [];
  for (const e of ref.extents) {
    if (e.logical >= len) break;
    pieces.push({ logical: e.logical, stored: e.stored, length: Math.min(e.length, len - e.logical) });
  }
  return { ref, buf, pieces, next: 0 };
}

/** Copy what `chunk` (stream bytes from `start`) holds of `f`; true once every piece is complete. */
function fillFrom(f: Fill, chunk: Buffer, start: number): boolean {
  const end = start + chunk.length;
  while (f.next < f.pieces.length) {
    const p = f.pieces[f.next]!;
    if (p.stored >= end) return false;
    const from = Math.max(p.stored, start);
    const to = Math.min(p.stored + p.length, end);
    if (to > from) chunk.copy(f.buf, p.logical + (from - p.stored), from - start, to - start);
    if (p.stored + p.length > end) return false;
    f.next++;
  }
  return true;
}

const firstStored = (ref: ContentRef) => ref.extents[0]?.stored ?? 0;

function sameParts(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** A second read of an archive found less than its listing did: something wrote to it meanwhile. */
const CHANGED = 'the archive changed or was cut while being read (audit a copy that nothing writes to)';

/**
 * A compressed source read forward from its start, kept open between batches of reads: a batch whose files all lie
 * ahead goes on from where the last one stopped; one behind starts a new pass.
 */
class Cursor {
  private readonly it: AsyncIterator<Buffer>;
  /** The last chunk read and where it starts: a batch that begins inside it goes on without a new pass. */
  last: { chunk: Buffer; start: number } | null = null;
  pos = 0;
  /** Next predicted file (ContentStore's `later` list) a pass over this source may keep on its way. */
  refill = 0;
  constructor(src: TarSource, signal?: AbortSignal) {
    this.it = src.open({ signal })[Symbol.asyncIterator]();
  }
  async next(): Promise<{ chunk: Buffer; start: number } | null> {
    const r = await this.it.next();
    if (r.done) return null;
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.last = { chunk, start: this.pos };
    this.pos += chunk.length;
    return this.last;
  }
  async close(): Promise<void> {
    await this.it.return?.().catch(() => undefined);
  }
}

/**
 * The bytes of an archive's files the audit will read, kept in memory under one budget (HOSTLEAK_TAR_MEMORY), and
 * the reads of the rest.
 *
 * During the listing pass (the one pass a compressed archive must have) `keep` holds the first bytes of each file
 * the audit is expected to read (OpenOptions.expectedRead; without it, each small file whole), in archive order, as
 * long as the budget lasts. Later, `read` serves those from memory; a file not held is read by offset (a plain tar)
 * or from a cursor over the decompressed stream that goes on forward from batch to batch, re-opened (one more pass)
 * only for a batch that starts behind it. On its way the cursor keeps the predicted files the listing had no room
 * for, in the room the files already served leave (they are dropped first). So a batch of reads in archive order
 * (ImageRoot.readOrder) costs at most one more pass over the archive however much the audit reads.
 */
export class ContentStore {
  private readonly mem = new Map<ContentRef, Buffer>();
  /** Held files already served once, oldest first: what is dropped when a pass needs room. */
  private readonly served = new Set<ContentRef>();
  /** Predicted files the listing had no room for, per layer, in archive order. */
  private readonly later = new Map<number, ContentRef[]>();
  /** Bytes wanted of each file held or remembered. */
  private readonly want = new Map<ContentRef, number>();
  /** Held files only the content pass is expected to read, oldest first: let go for files read scattered. */
  private readonly ordered = new Set<ContentRef>();
  private readonly unsorted = new Set<number>();
  private readonly cursors = new Map<number, Cursor>();
  private used = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Passes over each layer's stream after its listing, files served from memory, files read later. */
  readonly stats = { passes: new Map<number, number>(), hits: 0, later: 0 };

  constructor(
    private readonly budget: number,
    private readonly perFile: number,
    /** The target's deadline: a pass stops at it. */
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * During the listing: a sink that keeps the first bytes of this file the audit is expected to read (default: the
   * whole file when it is at most the per-file size), or null when none are wanted or there is no room (then the
   * file is remembered for a later pass to keep on its way). Files read `scattered` (outside the content pass) come
   * first: to make room for one, files only the content pass reads are let go (that pass reads forward in archive
   * order, so once it has to pass over the archive again, holding a part of its files saves little).
   */
  keep(ref: ContentRef, want: ExpectedRead | null = ref.size <= this.perFile ? { bytes: ref.size, scattered: false } : null): Sink | null {
    const n = Math.min(ref.size, want?.bytes ?? 0, Math.max(this.perFile, Math.floor(this.budget / 8)));
    if (n <= 0 || ref.extents.length === 0) return null;
    if (want!.scattered) this.makeRoom(n);
    if (this.used + n > this.budget) {
      this.remember(ref, n);
      return null;
    }
    const buf = Buffer.alloc(n);
    this.used += n;
    this.mem.set(ref, buf);
    this.want.set(ref, n);
    if (!want!.scattered) this.ordered.add(ref);
    return (chunk, offset) => {
      if (offset < n) chunk.copy(buf, offset);
    };
  }

  /**
   * Hold bytes of a file a listing saw on the way (the head of a possible nested image), read scattered, unless it
   * already holds as many.
   */
  hold(ref: ContentRef, data: Buffer): void {
    const had = this.mem.get(ref);
    if (had && had.length >= data.length) return;
    if (had) this.drop(ref); // a shorter copy: the head replaces it
    this.makeRoom(data.length);
    if (this.used + data.length > this.budget) return;
    this.used += data.length;
    this.mem.set(ref, data);
  }

  /** Let files only the content pass reads go until `n` more bytes fit (or none is left to let go). */
  private makeRoom(n: number): void {
    for (const r of this.ordered) {
      if (this.used + n <= this.budget) break;
      this.drop(r);
      this.remember(r, this.want.get(r)!);
    }
  }

  private remember(ref: ContentRef, n: number): void {
    let list = this.later.get(ref.layer);
    if (!list) this.later.set(ref.layer, (list = []));
    // Files let go are earlier in the archive than the last one listed: the list is sorted before a pass uses it.
    if (list.length > 0 && firstStored(list[list.length - 1]!) > firstStored(ref)) this.unsorted.add(ref.layer);
    list.push(ref);
    this.want.set(ref, n);
  }

  /** The held bytes of `ref` when they cover its first `maxBytes`. */
  get(ref: ContentRef, maxBytes = Infinity): Buffer | undefined {
    const b = this.mem.get(ref);
    if (!b || b.length < Math.min(ref.size, maxBytes)) return undefined;
    this.served.add(ref);
    this.stats.hits++;
    return b;
  }

  private drop(ref: ContentRef): void {
    const b = this.mem.get(ref);
    if (!b) return;
    this.mem.delete(ref);
    this.served.delete(ref);
    this.ordered.delete(ref);
    this.used -= b.length;
  }

  /** Room for `n` more bytes, dropping served files (oldest first) when needed. */
  private room(n: number): boolean {
    for (const ref of this.served) {
      if (this.used + n <= this.budget) break;
      this.drop(ref);
    }
    return this.used + n <= this.budget;
  }

  /**
   * The first `maxBytes` of files of one layer not held in memory: by offset, or from the layer's cursor. Calls run
   * one at a time (the engine issues one per byte limit at once, and a cursor is one stream).
   */
  fetch(src: TarSource, layer: number, refs: ContentRef[], maxBytes: number): Promise<Map<ContentRef, Buffer>> {
    const run = this.queue.then(() => this.fetchNow(src, layer, refs, maxBytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async fetchNow(src: TarSource, layer: number, refs: ContentRef[], maxBytes: number): Promise<Map<ContentRef, Buffer>> {
    const out = new Map<ContentRef, Buffer>();
    const wanted: Fill[] = [];
    for (const ref of new Set(refs)) {
      const f = fillOf(ref, Math.min(ref.size, maxBytes));
      out.set(ref, f.buf);
      if (f.pieces.length > 0) wanted.push(f);
    }
    this.stats.later += out.size;
    if (wanted.length === 0) return out;
    if (src.pread) {
      for (const f of wanted) {
        for (const p of f.pieces) {
          const data = await src.pread(p.stored, p.length);
          if (data.length < p.length) throw new Error(CHANGED);
          data.copy(f.buf, p.logical);
        }
      }
      return out;
    }
    wanted.sort((a, b) => a.pieces[0]!.stored - b.pieces[0]!.stored);
    const from = Math.min(...wanted.map((f) => f.pieces[0]!.stored));
    let cur = this.cursors.get(layer);
    // Going on from where the last batch stopped (its last chunk again, if this batch starts inside it), or anew.
    let again: { chunk: Buffer; start: number } | null = null;
    if (cur && from >= (cur.last?.start ?? cur.pos)) again = cur.last;
    else {
      await cur?.close();
      cur = new Cursor(src, this.signal);
      this.cursors.set(layer, cur);
      this.stats.passes.set(layer, (this.stats.passes.get(layer) ?? 0) + 1);
    }
    const later = this.later.get(layer) ?? [];
    if (this.unsorted.delete(layer)) later.sort((a, b) => firstStored(a) - firstStored(b));
    const refills: Fill[] = [];
    let open = wanted.slice();
    try {
      for (;;) {
        const c = again ?? (await cur.next());
        again = null;
        if (!c) throw new Error(`archive ended before a file it lists: ${CHANGED}`);
        const end = c.start + c.chunk.length;
        // Predicted files starting in this chunk: kept on the way while the files asked for are still ahead.
        while (open.length > 0 && cur.refill < later.length && firstStored(later[cur.refill]!) < end) {
          const ref = later[cur.refill++]!;
          if (firstStored(ref) < c.start || this.mem.has(ref) || out.has(ref)) continue;
          const n = this.want.get(ref)!;
          if (!this.room(n)) continue;
          this.used += n;
          refills.push(fillOf(ref, n));
        }
        open = open.filter((f) => !fillFrom(f, c.chunk, c.start));
        for (let i = 0; i < refills.length; i++) {
          const f = refills[i]!;
          if (!fillFrom(f, c.chunk, c.start)) continue;
          this.mem.set(f.ref, f.buf);
          refills.splice(i--, 1);
        }
        if (open.length === 0 && refills.length === 0) break;
      }
    } catch (err) {
      for (const f of refills) this.used -= f.buf.length;
      this.cursors.delete(layer);
      await cur.close();
      throw err;
    }
    return out;
  }

  /** Stop the cursors (their decompressors) and let the held bytes go. */
  async close(): Promise<void> {
    for (const c of this.cursors.values()) await c.close();
    this.cursors.clear();
    this.mem.clear();
    this.served.clear();
    this.used = 0;
  }
}

/** FileContent for a file of `size` bytes read up to `maxBytes`. */
export function contentOf(data: Buffer, size: number, maxBytes: number): FileContent {
  const d = data.length > maxBytes ? data.subarray(0, maxBytes) : data;
  return { data: d, size, truncated: size > d.length };
}
