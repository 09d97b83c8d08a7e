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
import { Inventory, MAX_RESOLVE_COMPONENTS, pathComponents, plainDepth, resolveLinks, type LinkTree } from '../inventory.js';
import type { Entry, EntryType } from '../types.js';
import type { FileContent } from '../backends/backend.js';
import type { ExpectedRead } from '../types.js';
import type { Extent, Sink, TarEntry } from './tar.js';
import type { TarSource } from './stream.js';

export interface ContentRef {
  layer: number;
  size: number;
  extents: Extent[];
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

/**
 * Longest path a member may resolve to (PATH_MAX): chained relative links can make a handful of members stand for
 * directories tens of thousands deep.
 */
export const MAX_PATH = 4096;
/**
 * Memory a node costs the builder beyond the inventory's own charge for it: its side columns (layer, offset, path
 * length, child links) and its content reference slot.
 */
const NODE_COST = 40;
/** Nodes from which the tree lets the young generation grow (src/heap.ts); a Debian root has ~7,000. */
const MANY_NODES = 32 * 1024;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A member whose path would pass MAX_PATH: a problem of that member, not of the archive. */
class PathTooLong extends TargetError {
  override name = 'PathTooLong';
}

/**
 * The last member's parent: the text before the member's own name (null when that text does not lexically give
 * `parts`), its components (null until asked: made from `raw`), the directory they resolved to, whether it was
 * reached through directories only (`direct`: its path is `parts`), and the tree's removals then.
 */
interface LastParent {
  raw: string | null;
  parts: string[] | null;
  dir: number;
  direct: boolean;
  removals: number;
}

/** A regular file a member placed: where its bytes are, and its path in the tree. */
export interface Placed {
  ref: ContentRef;
  path: string;
}

/**
 * The tree an archive's members make, as they come: an `Inventory` filled in place by (parent index, name), the very
 * inventory the audit gets (no map of paths converted at the end), and beside it, per node index, what only the
 * archive needs: the layer and member offset that made the node, its path's length, its content reference (regular
 * files), and its children as a first-child/next-sibling list, so a subtree is taken out (a replacement, a whiteout)
 * in time of that subtree. A node taken out stays in the inventory, absent, and a member of the same name fills it
 * again.
 */
export class TreeBuilder {
  private readonly inv = new Inventory();
  /** Node indexes the side columns below cover (every node of `inv`: they are all made by `place`). */
  private count = 0;
  private layerA = new Int32Array(0);
  /** Archive offset of the member that made the node (-1: a directory no member named). */
  private offsetA = new Float64Array(0);
  /** Length of the node's path (`/` counts 0: a child's is its parent's, a slash and its name). */
  private plenA = new Int32Array(0);
  /**
   * Each directory's present children in the order they were placed (a child placed again goes last), as a doubly
   * linked list: its first and last child, each child's next and previous sibling (-1: none). A node taken out
   * leaves its parent's list in one step, and its own list (everything below it is out too) is dropped whole.
   */
  private firstA = new Int32Array(0);
  private lastA = new Int32Array(0);
  private nextA = new Int32Array(0);
  private prevA = new Int32Array(0);
  /** Where a present regular file's bytes are (by node index; undefined for the rest). */
  private refs: Array<ContentRef | undefined> = [];
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
  private lastParent: LastParent | null = null;
  private sealed = false;
  private removals = 0;
  /** What the resolver's `child` does with a missing directory: create it (a member's parent) with these values. */
  private readonly resolving = { create: false, mtime: 0, layer: 0 };
  /** The tree as the one resolver (inventory.ts resolveLinks) walks it, creating missing parents when `resolving.create`. */
  private readonly links: LinkTree<number> = {
    root: Inventory.ROOT,
    child: (dir, name) => {
      if (this.plenA[dir]! + 1 + name.length > MAX_PATH) {
        if (!this.resolving.create) return undefined;
        throw new PathTooLong(`a path deeper than ${MAX_PATH} bytes`);
      }
      const i = this.inv.child(dir, name);
      if (i >= 0 || !this.resolving.create) return i >= 0 ? i : undefined;
      const { mtime, layer } = this.resolving;
      return this.place(dir, name, 'dir', 0o755, 0, 0, 0, mtime, this.fsOf(layer), undefined, layer, -1, undefined);
    },
    kind: (i) => {
      const t = this.inv.typeAt(i);
      return t === 'dir' ? 'dir' : t === 'symlink' ? 'symlink' : 'other';
    },
    target: (i) => this.inv.targetAt(i) ?? '',
    pathOf: (i) => this.inv.pathOf(i),
    // Crafted link targets must not make resolution outrun the target's clock.
    tick: () => this.budget?.tick(),
  };

  /**
   * `fsOf(layer)` names the filesystem field of entries from that layer; `placeOf(layer)` names the layer in what
   * this says about hidden files (`layer 2 (sha256:...)`, `the archive`).
   */
  constructor(
    private readonly fsOf: (layer: number) => string,
    readonly placeOf: (layer: number) => string = fsOf,
  ) {
    this.track(Inventory.ROOT, -1, '');
    this.inv.setRoot('dir', 0o755, 0, 0, 0, 0, fsOf(0));
  }

  /** Side columns for the new node `i` (the next index): grown by half again, charged to the budget. */
  private track(i: number, parent: number, name: string): void {
    if (i !== this.count) throw new Error(`tree: node ${i} made out of order (${this.count} tracked)`);
    if (i >= this.layerA.length) {
      const cap = Math.max(64, Math.ceil(this.layerA.length * 1.5));
      const g = <T extends Int32Array | Float64Array>(a: T, make: new (n: number) => T): T => {
        const b = new make(cap);
        b.set(a);
        return b;
      };
      this.layerA = g(this.layerA, Int32Array);
      this.offsetA = g(this.offsetA, Float64Array);
      this.plenA = g(this.plenA, Int32Array);
      this.firstA = g(this.firstA, Int32Array);
      this.lastA = g(this.lastA, Int32Array);
      this.nextA = g(this.nextA, Int32Array);
      this.prevA = g(this.prevA, Int32Array);
    }
    this.budget?.chargeMemory(NODE_COST, 'archive entries');
    this.count++;
    // A tree this large is many small objects that all live on (names, content references): see src/heap.ts.
    if (this.count === MANY_NODES) expectManyLiveObjects();
    if (parent >= 0) this.plenA[i] = this.plenA[parent]! + 1 + name.length;
    this.firstA[i] = -1;
    this.lastA[i] = -1;
    this.refs.push(undefined);
  }

  /**
   * Put an entry `name` below `parent`, where there is none: the one place nodes are made and filled. Returns its
   * node index, or -1 when `parent` holds an entry of that name (left as it was: take it out first).
   */
  private place(
    parent: number, name: string, type: EntryType, mode: number, uid: number, gid: number, size: number, mtime: number, fs: string,
    target: string | undefined, layer: number, offset: number, ref: ContentRef | undefined,
  ): number {
    const i = this.inv.addChild(parent, name, type, mode, uid, gid, size, mtime, fs, target);
    if (i < 0) return -1;
    if (i >= this.count) this.track(i, parent, name);
    // Last in its parent's list (it was in none: new, or taken out).
    const prev = this.lastA[parent]!;
    this.prevA[i] = prev;
    this.nextA[i] = -1;
    if (prev >= 0) this.nextA[prev] = i;
    else this.firstA[parent] = i;
    this.lastA[parent] = i;
    this.layerA[i] = layer;
    this.offsetA[i] = offset;
    this.refs[i] = ref;
    return i;
  }

  /**
   * Node `top` and every present node below it, each parent before its children, without recursion (the depth is
   * the archive's to choose).
   */
  private subtree(top: number): number[] {
    const order: number[] = [];
    for (const stack = [top]; stack.length > 0; ) {
      const q = stack.pop()!;
      order.push(q);
      for (let c = this.firstA[q]!; c >= 0; c = this.nextA[c]!) stack.push(c);
    }
    return order;
  }

  /** The present children of `dir`. */
  private kidsOf(dir: number): number[] {
    const out: number[] = [];
    for (let c = this.firstA[dir]!; c >= 0; c = this.nextA[c]!) out.push(c);
    return out;
  }

  /** Take node `top` and everything below it out of the tree; the files among them are kept as shadowed, hidden by `why`. */
  private remove(top: number, why: string): void {
    this.removals++;
    const order = this.subtree(top);
    const parent = this.inv.parentAt(top);
    const prev = this.prevA[top]!;
    const next = this.nextA[top]!;
    if (prev >= 0) this.nextA[prev] = next;
    else this.firstA[parent] = next;
    if (next >= 0) this.prevA[next] = prev;
    else this.lastA[parent] = prev;
    for (let k = order.length - 1; k >= 0; k--) {
      const q = order[k]!;
      const ref = this.refs[q];
      if (ref) {
        this.shadowed.push({ entry: this.inv.entryAt(q), ref, layer: this.layerA[q]!, offset: this.offsetA[q]!, why });
        this.refs[q] = undefined;
      }
      this.inv.removeAt(q);
      // Everything below it is out: its list goes.
      this.firstA[q] = -1;
      this.lastA[q] = -1;
    }
  }

  /** What `links.child` does next with a missing directory: create it (with these values) or not. */
  private resolveAs(create: boolean, mtime: number, layer: number): void {
    this.resolving.create = create;
    this.resolving.mtime = mtime;
    this.resolving.layer = layer;
  }

  /**
   * The directory node of `parts` (a member's parent), following symlinks inside the tree with the one resolver
   * (inventory.ts resolveLinks). Missing directories are created (tar members need not list their parents) when
   * `create`; null when a component is a non-directory, the links loop or the path passes MAX_PATH.
   */
  private dirOf(parts: string[], create: boolean, mtime: number, layer: number): number | null {
    this.resolveAs(create, mtime, layer);
    const r = resolveLinks(this.links, parts);
    return r.ok && this.inv.typeAt(r.node) === 'dir' ? r.node : null;
  }

  /**
   * The directory of `parts` found from the last member's parent when that one was reached through directories
   * only (`direct`: its path is its components, no symlink on the way): the components both share are its
   * ancestors, the rest are walked down from there, missing ones created. -1 when one of those is not a directory
   * (a symlink to follow, a file): the one resolver takes over from the root. Archives list a folder's subfolders
   * right after it, so a parent that changes is mostly the last one's child or ancestor.
   */
  private walkFrom(lastParts: readonly string[], lastDir: number, parts: readonly string[], mtime: number, layer: number): number {
    // Too many to walk: the resolver's own answer (too deep), not a walk here.
    if (parts.length > MAX_RESOLVE_COMPONENTS) return -1;
    let k = 0;
    const n = Math.min(lastParts.length, parts.length);
    while (k < n && lastParts[k] === parts[k]) k++;
    let dir = lastDir;
    for (let up = lastParts.length - k; up > 0; up--) dir = this.inv.parentAt(dir);
    this.resolveAs(true, mtime, layer);
    for (; k < parts.length; k++) {
      this.budget?.tick();
      const next = this.links.child(dir, parts[k]!)!;
      if (this.inv.typeAt(next) !== 'dir') return -1;
      dir = next;
    }
    return dir;
  }

  /** The components of a last parent's path (made from its text when first asked). */
  private partsOf(last: LastParent): string[] {
    return (last.parts ??= pathComponents(last.raw!));
  }

  /**
   * The parent of a member whose text before its own name (`name` up to `rawEnd`) is near the last member's
   * parent's text: one plain folder further down (`a/b/` then `a/b/f`), or some folders up while the last parent was
   * reached through folders only (`a/b/c/x` then `a/b/y`). Found by walking the tree from the last parent, without
   * splitting the name; null when it is neither (the resolver from the root decides).
   */
  private nearby(name: string, rawEnd: number, last: LastParent, lr: string, mtime: number, layer: number): LastParent | null {
    if (rawEnd > lr.length) {
      // Down: the last parent's text, a slash (none below the root's empty text), one plain name.
      if (!name.startsWith(lr) || (lr.length > 0 && name.charCodeAt(lr.length) !== 0x2f)) return null;
      const c = name.slice(lr.length === 0 ? 0 : lr.length + 1, rawEnd);
      if (c.includes('/') || plainDepth(c) !== 1) return null;
      this.resolveAs(true, mtime, layer);
      const next = this.links.child(last.dir, c)!;
      if (this.inv.typeAt(next) !== 'dir') return null;
      return { raw: name.slice(0, rawEnd), parts: null, dir: next, direct: last.direct, removals: this.removals };
    }
    // Up: this text starts the last one's at a slash, and what the last one has more holds no `..`.
    if (!last.direct || !lr.startsWith(name.slice(0, rawEnd)) || (rawEnd > 0 && lr.charCodeAt(rawEnd) !== 0x2f)) return null;
    let up = plainDepth(lr, rawEnd);
    if (up < 0) return null;
    let dir = last.dir;
    for (; up > 0; up--) dir = this.inv.parentAt(dir);
    return { raw: name.slice(0, rawEnd), parts: null, dir, direct: true, removals: this.removals };
  }

  /** Whether node `i`'s path is `parts` (it was reached through directories only). */
  private isPathOf(i: number, parts: readonly string[]): boolean {
    for (let k = parts.length - 1; k >= 0; k--, i = this.inv.parentAt(i)) if (i <= Inventory.ROOT || this.inv.nameAt(i) !== parts[k]) return false;
    return i === Inventory.ROOT;
  }

  /** Place one member. A regular file placed is returned with its path in the tree (null: no data needed). */
  apply(t: TarEntry, layer: number, opts: { whiteouts: boolean }): Placed | null {
    if (this.sealed) throw new Error('a sealed tree takes no more members');
    const name = t.name;
    // The member's own name and what is before it, as written (trailing slashes dropped): the same text before it as
    // the last member's is the same parent, without splitting the name (most members of an archive).
    let end = name.length;
    while (end > 0 && name.charCodeAt(end - 1) === 0x2f) end--;
    const slash = name.lastIndexOf('/', end - 1);
    let base = name.slice(slash + 1, end);
    const rawEnd = slash < 0 ? 0 : slash;
    const last = this.lastParent;
    // A name of its own (not empty, `.` or `..`): the text before it is its parent.
    const textual = plainDepth(base) === 1;
    const fresh = last !== null && last.removals === this.removals ? last : null;
    let dir: number | null = null;
    if (textual && fresh && fresh.raw !== null && fresh.raw.length === rawEnd && name.startsWith(fresh.raw)) dir = fresh.dir;
    else {
      try {
        const near = textual && fresh && fresh.raw !== null ? this.nearby(name, rawEnd, fresh, fresh.raw, t.mtime, layer) : null;
        if (near) {
          dir = near.dir;
          this.lastParent = near;
        } else {
          // `..` never climbs above the root: resolve it lexically first.
          const norm = pathComponents(name);
          if (norm.length === 0) {
            if (t.type === 'dir') this.inv.setRoot('dir', t.mode, t.uid, t.gid, 0, t.mtime, this.fsOf(layer));
            return null;
          }
          base = norm[norm.length - 1]!;
          const parts = norm.slice(0, -1);
          let direct = false;
          const lastParts = fresh ? this.partsOf(fresh) : null;
          if (fresh && sameParts(lastParts!, parts)) ({ dir, direct } = fresh);
          else {
            const walked = fresh?.direct ? this.walkFrom(lastParts!, fresh.dir, parts, t.mtime, layer) : -1;
            if (walked >= 0) [dir, direct] = [walked, true];
            else {
              dir = this.dirOf(parts, true, t.mtime, layer);
              direct = dir !== null && this.isPathOf(dir, parts);
            }
          }
          // What the fast path above compares, only when the name's text before its own name is exactly its parent.
          const plain = base === name.slice(slash + 1, end);
          this.lastParent = dir === null ? null : { raw: plain ? name.slice(0, rawEnd) : null, parts, dir, direct, removals: this.removals };
        }
      } catch (err) {
        if (!(err instanceof PathTooLong)) throw err;
        this.problems.push(`${name.slice(0, 200)}: not placed (${err.message})`);
        return null;
      }
    }
    if (dir === null) {
      // A whiteout below what is no folder has nothing to delete, as a runtime unpacking the layer finds: umoci writes
      // a folder replaced by a file as the file, then a whiteout below it for each file the folder held.
      if (opts.whiteouts && base.startsWith(WHITEOUT)) return null;
      this.problems.push(`${name.slice(0, 200)}: its parent is not a directory inside the image`);
      return null;
    }
    if (this.plenA[dir]! + 1 + base.length > MAX_PATH) {
      this.problems.push(`${name.slice(0, 200)}: not placed (a path deeper than ${MAX_PATH} bytes)`);
      return null;
    }
    if (opts.whiteouts && base.startsWith(WHITEOUT)) {
      if (base === OPAQUE) {
        // Hide what lower layers put in this directory; this layer's own entries stay.
        const why = this.because('hidden by an opaque whiteout of its folder', layer, t.offset);
        for (const k of this.kidsOf(dir)) this.hideLower(k, layer, why);
      } else {
        const victim = base.slice(WHITEOUT.length);
        // Applied in member order, like a runtime: a file earlier in the same layer is deleted too.
        const v = victim ? this.inv.child(dir, victim) : -1;
        if (v >= 0) this.remove(v, this.because('deleted by a whiteout', layer, t.offset));
      }
      return null;
    }
    if (t.type === 'hardlink') {
      const existing = this.inv.child(dir, base);
      const lparts = (t.linkname ?? '').split('/').filter((c) => c !== '' && c !== '.');
      const ldir = lparts.length > 0 ? this.dirOf(lparts.slice(0, -1), false, 0, layer) : null;
      const target = ldir === null ? -1 : this.inv.child(ldir, lparts[lparts.length - 1]!);
      if (target < 0 || this.inv.typeAt(target) !== 'file') {
        this.problems.push(`${name.slice(0, 200)}: hard link to a file that is not in the archive`);
        return null;
      }
      if (target === existing) return null;
      // Read before a replacement takes the target out with its folder (`d` linked to `d/f`).
      const e = this.inv.entryAt(target);
      const ref = this.refs[target];
      if (existing >= 0) this.remove(existing, this.because('replaced by a hard link of the same name', layer, t.offset));
      this.place(dir, base, 'file', e.mode, e.uid, e.gid, e.size, e.mtime, e.fs, undefined, layer, t.offset, ref);
      return null;
    }
    const size = t.type === 'file' ? t.size : t.type === 'symlink' ? Buffer.byteLength(t.linkname ?? '') : 0;
    const target = t.type === 'symlink' ? (t.linkname ?? '') : undefined;
    const ref = t.type === 'file' ? { layer, size: t.size, extents: t.extents } : undefined;
    const fs = this.fsOf(layer);
    // Placed where the name is free (most members: one probe of the inventory's table), else over what is there.
    let i = this.place(dir, base, t.type, t.mode, t.uid, t.gid, size, t.mtime, fs, target, layer, t.offset, ref);
    if (i < 0) {
      const existing = this.inv.child(dir, base);
      if (this.inv.typeAt(existing) === 'dir' && t.type === 'dir') {
        this.inv.setAt(existing, 'dir', t.mode, t.uid, t.gid, 0, t.mtime, fs);
        this.layerA[existing] = layer;
        return null;
      }
      const what = t.type === 'dir' ? 'a directory' : t.type === 'file' ? 'a file' : t.type === 'symlink' ? 'a symlink' : `a ${t.type}`;
      this.remove(existing, this.because(`replaced by ${what} of the same name`, layer, t.offset));
      i = this.place(dir, base, t.type, t.mode, t.uid, t.gid, size, t.mtime, fs, target, layer, t.offset, ref);
    }
    return ref ? { ref, path: this.inv.pathOf(i) } : null;
  }

  /** `<what> in <layer> at byte N` (the layer is named when the tree has layers). */
  private because(what: string, layer: number, offset: number): string {
    return `${what} at byte ${offset} of ${this.placeOf(layer)}`;
  }

  /** Opaque whiteout: remove everything below `top` from lower layers, keeping directories this layer still uses. */
  private hideLower(top: number, layer: number, why: string): void {
    const post = this.subtree(top);
    // Walked backwards, a node's children are decided before it.
    const keep = new Set<number>();
    for (let i = post.length - 1; i >= 0; i--) {
      const q = post[i]!;
      if (this.inv.typeAt(q) === undefined) continue;
      if (this.layerA[q]! >= layer || keep.has(q)) keep.add(this.inv.parentAt(q));
      else this.remove(q, why);
    }
  }

  /**
   * The files that ship but are not in the final tree, each once: a file whose bytes a path of the final tree still
   * shows (a hard link to it survived) is not hidden.
   */
  hidden(): Shadowed[] {
    if (this.shadowed.length === 0) return [];
    // Which of the shadowed files' references a present file still holds (taking a node out clears its slot).
    const shadowed = new Set(this.shadowed.map((s) => s.ref));
    const live = new Set<ContentRef>();
    for (const r of this.refs) if (r && shadowed.has(r)) live.add(r);
    const seen = new Set<ContentRef>();
    return this.shadowed.filter((s) => {
      if (s.entry.type !== 'file' || live.has(s.ref) || seen.has(s.ref)) return false;
      seen.add(s.ref);
      return true;
    });
  }

  get size(): number {
    return this.inv.size;
  }

  /** The tree as it is now (the inventory being filled, not a copy). */
  inventory(): Inventory {
    return this.inv;
  }

  refOf(p: string): ContentRef | undefined {
    const i = this.inv.indexOf(p);
    return i >= 0 ? this.refs[i] : undefined;
  }

  /**
   * The finished tree, handed over as it is, and the builder's side columns let go: what the audit keeps is the
   * inventory, each file's content reference by its node and the hidden files. Nothing is applied after.
   */
  seal(): { inventory: Inventory; refOf: (p: string) => ContentRef | undefined; hidden: Shadowed[] } {
    const inventory = this.inv;
    const hidden = this.hidden();
    const refs = this.refs;
    this.layerA = new Int32Array(0);
    this.offsetA = new Float64Array(0);
    this.firstA = new Int32Array(0);
    this.lastA = new Int32Array(0);
    this.nextA = new Int32Array(0);
    this.prevA = new Int32Array(0);
    this.shadowed.length = 0;
    this.lastParent = null;
    this.sealed = true;
    return {
      inventory,
      refOf: (p) => {
        const i = inventory.indexOf(p);
        return i >= 0 ? refs[i] : undefined;
      },
      hidden,
    };
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
