/**
 * The inventory: every entry of an image exactly once, with chroot-like path resolution.
 *
 * Resolution never touches the host: it only consults the entries a backend listed, so a symlink whose target
 * exists on the build host but not in the image simply does not resolve.
 */
import picomatch from 'picomatch';
import { currentBudget } from './budget.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';

/** One entry of an image, as a backend listed it. `path` is absolute inside the assembled image. */
export interface Entry {
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target exactly as stored (never interpreted on the host). */
  target?: string;
  /** Device of the filesystem the entry lives on (`/dev/sda2`, or `dir` for the dir backend). */
  fs: string;
}

/** Linux gives up after 40 symlink follows (ELOOP); so does the one resolver (resolveLinks, below). */
export const MAX_SYMLINK_FOLLOWS = 40;
/** Bound on the number of path components handled in one resolution (defends against huge crafted targets). */
export const MAX_RESOLVE_COMPONENTS = 4096;

export type ResolveFailure = 'missing' | 'loop' | 'too-deep' | 'not-a-directory' | 'empty-target';

export type ResolveResult =
  | { ok: true; path: string; entry: Entry }
  | { ok: false; reason: ResolveFailure; at: string };

export interface GlobOptions {
  /** Only entries of these types. */
  types?: EntryType[];
}

/**
 * A path's components, lexically (no symlinks): empty ones and `.` dropped, `..` taking one back and never climbing
 * above the root. The one place `..` is handled outside symlink resolution (image paths, archive member names).
 */
export function pathComponents(p: string): string[] {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

/**
 * How many components `p.slice(from, to)` has lexically (empty ones and `.` not counted), counted without splitting
 * it, or -1 when one is `..` (what that does is pathComponents' to say).
 */
export function plainDepth(p: string, from = 0, to = p.length): number {
  let n = 0;
  for (let i = from; i <= to; ) {
    let j = p.indexOf('/', i);
    if (j < 0 || j > to) j = to;
    const len = j - i;
    if (len === 2 && p.charCodeAt(i) === 0x2e && p.charCodeAt(i + 1) === 0x2e) return -1;
    if (len > 1 || (len === 1 && p.charCodeAt(i) !== 0x2e)) n++;
    i = j + 1;
  }
  return n;
}

/** Normalise an absolute image path lexically (no symlinks): `/a//b/./c/` -> `/a/b/c`; `..` stops at `/`. */
export function normalizePath(p: string): string {
  return '/' + pathComponents(p).join('/');
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

/** Entry types by their column code; `ABSENT` marks a node that is only a parent of listed entries (or was removed). */
const TYPES: readonly EntryType[] = ['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket', 'unknown'];
const TYPE_CODE: Readonly<Record<EntryType, number>> = {
  file: 0, dir: 1, symlink: 2, chardev: 3, blockdev: 4, fifo: 5, socket: 6, unknown: 7,
};
const DIR = 1;
const SYMLINK = 2;
const ABSENT = 255;
const ROOT = 0;

/** FNV-1a over the UTF-16 code units of a name, mixed with the parent's index. */
function keyHash(parent: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(parent + 1, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) | 0;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Derived indexes, built on the first query after a change. */
interface Derived {
  /** Present children of node i are kids[kidStart[i] .. kidStart[i + 1]), sorted by name. */
  kidStart: Int32Array;
  kids: Int32Array;
  /** Depth-first order (children by name) of every present entry reachable from `/`, without `/` itself. */
  pre: Int32Array;
  /** Position of node i in `pre` (-1: not reachable), and the end of its subtree's run there. */
  preAt: Int32Array;
  preEnd: Int32Array;
  /** Node i's name is distinct[nameId[i]] (every present node): what orders children and answers name queries. */
  nameId: Int32Array;
  distinct: string[];
}

/**
 * The inventory of one image (or one filesystem): a compact tree, not an object per entry.
 *
 * Every node is a row of typed columns (parent index, type, mode, uid, gid, size, mtime, filesystem) plus its name
 * and symlink target; a path is its parent's path and its name, looked up through one open-addressing hash table
 * keyed by (parent, name). Nothing holds a full path string per entry: `Entry` objects are made when a caller asks
 * (get, walk, glob...), and directories' paths are remembered once made. Fast readers fill it with `addChild`
 * (parent index + name, no path); `add(entry)` takes a whole entry by path as before and keeps that very object
 * (so a backend may still set its `target` later), at the memory cost of an object per entry.
 *
 * Parents always get a smaller index than their children: adding `/a/b/c` before `/a/b` makes `/a/b` an absent
 * node (not listed, not reachable from `/`) until it is added itself.
 */
/** Memory a node costs beyond its name: its columns, hash slots and array cells (grown by half again). */
const NODE_COST = 96;
/** Memory an entry added as an object costs beyond its node: the object, its path, the map slot keeping it. */
const OBJECT_COST = 320;
/** The latest and earliest times a Date can hold, in seconds. */
export const MAX_TIME = 8.64e12;

/**
 * An image's time as a time every output can print: an impossible one (a PAX `mtime=1e300`, a base-256 2^52, NaN)
 * is clamped to the nearest a Date can hold. Every reader's times pass here.
 */
export function clampTime(t: number): number {
  if (Number.isNaN(t)) return 0;
  return t > MAX_TIME ? MAX_TIME : t < -MAX_TIME ? -MAX_TIME : t;
}

export class Inventory {
  private n = 0;
  private live = 0;
  private cap = 0;
  private parentA = new Int32Array(0);
  private kindA = new Uint8Array(0);
  private modeA = new Uint16Array(0);
  private uidA = new Uint32Array(0);
  private gidA = new Uint32Array(0);
  private sizeA = new Float64Array(0);
  private mtimeA = new Float64Array(0);
  private fsA = new Uint16Array(0);
  private hashA = new Int32Array(0);
  private readonly names: string[] = [];
  private readonly targets: Array<string | undefined> = [];
  /** Entries added as objects (by `add`): handed out as they are. */
  private readonly objs = new Map<number, Entry>();
  private readonly fsNames: string[] = [];
  private readonly fsCodes = new Map<string, number>();
  private lastFs = '';
  private lastFsCode = -1;
  /** Hash table of node index + 1 (0 = empty slot), size a power of two, at most half full. */
  private slots = new Int32Array(0);
  /** Paths of directories made so far (a directory's path is asked for once per child materialised). */
  private readonly dirPaths = new Map<number, string>();
  private derived: Derived | null = null;

  /** The budget of the target this inventory is built for: every node is charged to its memory. */
  private readonly budget = currentBudget();

  constructor(entries: Iterable<Entry> = []) {
    this.grow(64);
    this.node(-1, '', 0);
    for (const e of entries) this.add(e);
  }

  // ---- storage -----------------------------------------------------------------------------------------------

  /** Grow the columns to hold at least `min` nodes: by half again (not double), so a large image wastes less. */
  private grow(min: number): void {
    let cap = Math.max(64, this.cap);
    while (cap < min) cap = Math.ceil(cap * 1.5);
    if (cap === this.cap) return;
    this.resize(cap);
  }

  private resize(cap: number): void {
    const g = <T extends Int32Array | Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(cap);
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.parentA = g(this.parentA, Int32Array);
    this.kindA = g(this.kindA, Uint8Array);
    this.modeA = g(this.modeA, Uint16Array);
    this.uidA = g(this.uidA, Uint32Array);
    this.gidA = g(this.gidA, Uint32Array);
    this.sizeA = g(this.sizeA, Float64Array);
    this.mtimeA = g(this.mtimeA, Float64Array);
    this.fsA = g(this.fsA, Uint16Array);
    this.hashA = g(this.hashA, Int32Array);
    this.cap = cap;
    // The hash table stays at most half full, at a power of two.
    let slots = 128;
    while (slots < cap * 2) slots *= 2;
    if (slots !== this.slots.length) this.rehash(slots);
  }

  /**
   * Room for `count` nodes in all, when a reader knows roughly how many entries come (an inode count): one
   * allocation of the right size instead of growing copies on the way. A hint only, capped so a crafted count
   * cannot make it allocate much (growth still works past it).
   */
  reserve(count: number): void {
    const n = Math.min(Math.max(0, Math.floor(count)), Inventory.MAX_RESERVE);
    if (n > this.cap) this.resize(n);
  }

  /** The most nodes `reserve` allocates room for up front (about 37 MB of columns). */
  static readonly MAX_RESERVE = 1 << 20;

  private rehash(size: number): void {
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < this.n; i++) {
      let s = this.hashA[i]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.slots = slots;
  }

  /** The node named `name` below `parent` (present or not), or -1. */
  private find(parent: number, name: string, h = keyHash(parent, name)): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) return -1;
      const i = v - 1;
      if (this.hashA[i] === h && this.parentA[i] === parent && this.names[i] === name) return i;
    }
  }

  /** A new absent node in free hash slot `s` (-1: the root, in none); the columns have room for it. */
  private nodeAt(parent: number, name: string, h: number, s: number): number {
    const i = this.n;
    this.budget?.chargeMemory(NODE_COST + 2 * name.length, 'entries listed');
    this.n++;
    this.parentA[i] = parent;
    this.kindA[i] = ABSENT;
    this.hashA[i] = h;
    this.names.push(name);
    this.targets.push(undefined);
    if (s >= 0) this.slots[s] = i + 1;
    return i;
  }

  /** A new absent node (its parent must exist). */
  private node(parent: number, name: string, h: number): number {
    if (this.n >= this.cap) this.grow(this.n + 1);
    let s = -1;
    if (parent >= 0) {
      const mask = this.slots.length - 1;
      s = h & mask;
      while (this.slots[s] !== 0) s = (s + 1) & mask;
    }
    return this.nodeAt(parent, name, h, s);
  }

  private fsCode(fs: string): number {
    if (fs === this.lastFs && this.lastFsCode >= 0) return this.lastFsCode;
    let c = this.fsCodes.get(fs);
    if (c === undefined) {
      c = this.fsNames.length;
      this.fsNames.push(fs);
      this.fsCodes.set(fs, c);
    }
    this.lastFs = fs;
    this.lastFsCode = c;
    return c;
  }

  private fill(i: number, type: EntryType, mode: number, uid: number, gid: number, size: number, mtime: number, fs: string, target: string | undefined): void {
    if (this.kindA[i] === ABSENT) this.live++;
    this.kindA[i] = TYPE_CODE[type] ?? 7;
    this.modeA[i] = mode;
    this.uidA[i] = uid;
    this.gidA[i] = gid;
    this.sizeA[i] = size;
    this.mtimeA[i] = clampTime(mtime);
    this.fsA[i] = this.fsCode(fs);
    this.targets[i] = target;
    this.derived = null;
  }

  /** The node of a path, creating absent nodes for it and its missing parents. */
  private ensure(path: string): number {
    let cur = ROOT;
    let start = 0;
    const len = path.length;
    while (start <= len) {
      let end = path.indexOf('/', start);
      if (end < 0) end = len;
      if (end > start) {
        const name = path.slice(start, end);
        const h = keyHash(cur, name);
        const next = this.find(cur, name, h);
        cur = next >= 0 ? next : this.node(cur, name, h);
      }
      start = end + 1;
    }
    return cur;
  }

  /** The node of a path (present or absent), or -1. Empty components and `.` are not special here: paths are canonical. */
  private lookup(path: string): number {
    let cur = ROOT;
    let start = 0;
    const len = path.length;
    while (start <= len && cur >= 0) {
      let end = path.indexOf('/', start);
      if (end < 0) end = len;
      if (end > start) cur = this.find(cur, path.slice(start, end));
      start = end + 1;
    }
    return cur;
  }

  // ---- building ------------------------------------------------------------------------------------------------

  /** Add or replace an entry (a later mount over a path replaces what was under it at that path). */
  add(entry: Entry): void {
    // The entry object is kept (and readers that add objects keep their own record of the file beside it).
    this.budget?.chargeMemory(OBJECT_COST + 2 * entry.path.length, 'entries listed');
    const i = this.ensure(entry.path);
    if (entry.mtime !== clampTime(entry.mtime)) entry.mtime = clampTime(entry.mtime);
    this.fill(i, entry.type, entry.mode, entry.uid, entry.gid, entry.size, entry.mtime, entry.fs, entry.target);
    this.objs.set(i, entry);
  }

  /**
   * The fast way in for readers that walk directories: the entry `name` below the node `parent` (an index from
   * `addChild`, or `Inventory.ROOT`), from plain values, no path string. Returns the new node's index, or -1 when
   * `parent` already holds an entry of that name (which is left as it was).
   */
  addChild(parent: number, name: string, type: EntryType, mode: number, uid: number, gid: number, size: number, mtime: number, fs: string, target?: string): number {
    const h = keyHash(parent, name);
    // One probe finds the node or the free slot a new one takes (what find and node would each probe for).
    const slots = this.slots;
    const mask = slots.length - 1;
    let s = h & mask;
    let i = -1;
    for (; ; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) break;
      if (this.hashA[v - 1] === h && this.parentA[v - 1] === parent && this.names[v - 1] === name) {
        i = v - 1;
        break;
      }
    }
    if (i >= 0) {
      if (this.kindA[i] !== ABSENT) return -1;
    } else if (this.n < this.cap) i = this.nodeAt(parent, name, h, s);
    else i = this.node(parent, name, h);
    this.fill(i, type, mode, uid, gid, size, mtime, fs, target);
    if (this.objs.size > 0) this.objs.delete(i);
    return i;
  }

  /** Set the root directory's own metadata (the `/` entry) from plain values. */
  setRoot(type: EntryType, mode: number, uid: number, gid: number, size: number, mtime: number, fs: string): void {
    this.fill(ROOT, type, mode, uid, gid, size, mtime, fs, undefined);
    this.objs.delete(ROOT);
  }

  // ---- building in place (an archive's tree, resolve/tree.ts) ----------------------------------------------------

  /** The present entry `name` below node `parent`, or -1 (one hash probe, no path). */
  child(parent: number, name: string): number {
    const i = this.find(parent, name);
    return i >= 0 && this.kindA[i] !== ABSENT ? i : -1;
  }

  /** The parent index of node `i` (-1 for the root). */
  parentAt(i: number): number {
    return this.parentA[i]!;
  }

  /** The name of node `i` (its last path component). */
  nameAt(i: number): string {
    return this.names[i]!;
  }

  /** The type of node `i`, or undefined when it holds no entry. */
  typeAt(i: number): EntryType | undefined {
    const k = this.kindA[i]!;
    return k === ABSENT ? undefined : TYPES[k];
  }

  /** The symlink target of node `i` as stored (undefined: none). */
  targetAt(i: number): string | undefined {
    const o = this.objs.get(i);
    return o ? o.target : this.targets[i];
  }

  /** Replace what node `i` (present or not) holds by these values: a directory listed again, an entry put back. */
  setAt(i: number, type: EntryType, mode: number, uid: number, gid: number, size: number, mtime: number, fs: string, target?: string): void {
    this.fill(i, type, mode, uid, gid, size, mtime, fs, target);
    if (this.objs.size > 0) this.objs.delete(i);
  }

  /**
   * Take the entry of node `i` alone out (its node stays, absent, and `addChild` of the same name fills it again);
   * a caller removing a subtree takes each of its nodes out, as it knows them.
   */
  removeAt(i: number): void {
    if (this.kindA[i] === ABSENT) return;
    this.kindA[i] = ABSENT;
    this.live--;
    this.targets[i] = undefined;
    if (this.objs.size > 0) this.objs.delete(i);
    this.derived = null;
  }

  /** Set the target of the symlink at `path` (backends that read link targets after listing). */
  setTarget(path: string, target: string): void {
    const i = this.lookup(path);
    if (i < 0 || this.kindA[i] === ABSENT) return;
    this.targets[i] = target;
    const o = this.objs.get(i);
    if (o) o.target = target;
  }

  /** Remove a path and everything below it (used when a filesystem is mounted over a directory). */
  removeSubtree(path: string): void {
    const top = this.lookup(path);
    if (top < 0) return;
    // Children have larger indexes than their parents: one pass in index order marks every descendant.
    const gone = new Uint8Array(this.n);
    gone[top] = 1;
    for (let i = top; i < this.n; i++) {
      if (i !== top && (this.parentA[i]! < 0 || !gone[this.parentA[i]!])) continue;
      gone[i] = 1;
      if (this.kindA[i] !== ABSENT) {
        this.kindA[i] = ABSENT;
        this.live--;
      }
      this.objs.delete(i);
      this.targets[i] = undefined;
    }
    this.derived = null;
  }

  /**
   * Put every entry of `other` below `mountpoint` (its `/` becomes the mountpoint), with `fs` as their filesystem.
   * What was at and below the mountpoint is replaced. Missing parents of the mountpoint stay absent: add them first.
   */
  graft(mountpoint: string, other: Inventory, fs: string): void {
    const mp = normalizePath(mountpoint);
    if (mp !== '/') this.removeSubtree(mp);
    const map = new Int32Array(other.n);
    map[ROOT] = this.ensure(mp);
    for (let j = 0; j < other.n; j++) {
      if (j !== ROOT) {
        const parent = map[other.parentA[j]!]!;
        const name = other.names[j]!;
        const h = keyHash(parent, name);
        const f = this.find(parent, name, h);
        map[j] = f >= 0 ? f : this.node(parent, name, h);
      }
      const i = map[j]!;
      if (other.kindA[j] === ABSENT) continue;
      this.fill(i, TYPES[other.kindA[j]!]!, other.modeA[j]!, other.uidA[j]!, other.gidA[j]!, other.sizeA[j]!, other.mtimeA[j]!, fs, other.targets[j]);
      const o = other.objs.get(j);
      if (o) this.objs.set(i, { ...o, path: this.pathOf(i), fs });
      else this.objs.delete(i);
    }
  }

  /**
   * A new inventory of the entries at and below `dir`, with `dir` as its `/` (a btrfs subvolume mounted on its own).
   * Below each directory of `emptied` nothing is copied: it stays, empty (its content is mounted elsewhere). Entries
   * keep their filesystem. An empty inventory when `dir` is not there.
   */
  subtree(dir: string, emptied: string[] = []): Inventory {
    const out = new Inventory();
    const top = this.lookup(normalizePath(dir));
    if (top < 0 || this.kindA[top] === ABSENT) return out;
    const cut = new Set(emptied.map((p) => this.lookup(normalizePath(p))).filter((i) => i >= 0));
    // Children have larger indexes than their parents: one pass in index order finds every descendant.
    const map = new Int32Array(this.n).fill(-1);
    for (let i = top; i < this.n; i++) {
      let j: number;
      if (i === top) j = ROOT;
      else {
        const p = this.parentA[i]!;
        if (p < 0 || map[p]! < 0 || cut.has(p)) continue;
        const parent = map[p]!;
        const name = this.names[i]!;
        j = out.node(parent, name, keyHash(parent, name));
      }
      map[i] = j;
      if (this.kindA[i] === ABSENT) continue;
      const fs = this.fsNames[this.fsA[i]!]!;
      out.fill(j, TYPES[this.kindA[i]!]!, this.modeA[i]!, this.uidA[i]!, this.gidA[i]!, this.sizeA[i]!, this.mtimeA[i]!, fs, this.targets[i]);
      const o = this.objs.get(i);
      if (o) out.objs.set(j, { ...o, path: out.pathOf(j) });
    }
    return out;
  }

  // ---- reading -------------------------------------------------------------------------------------------------

  /** The root node's index, for `addChild`. */
  static readonly ROOT = ROOT;

  get size(): number {
    return this.live;
  }

  /** True when every entry (that was ever added) names `fs` as its filesystem. */
  allOnFilesystem(fs: string): boolean {
    return this.fsNames.every((f) => f === fs);
  }

  /** The index of the entry at exactly this path, or -1 (for readers that keep per-entry data of their own). */
  indexOf(path: string): number {
    const i = this.lookup(path);
    return i >= 0 && this.kindA[i] !== ABSENT ? i : -1;
  }

  /** The path of a node. */
  pathOf(i: number): string {
    if (i === ROOT) return '/';
    const p = this.parentA[i]!;
    return p === ROOT ? '/' + this.names[i]! : this.dirPath(p) + '/' + this.names[i]!;
  }

  private dirPath(i: number): string {
    let s = this.dirPaths.get(i);
    if (s === undefined) this.dirPaths.set(i, (s = this.pathOf(i)));
    return s;
  }

  /** The entry at a node index (the object it was added as, or a new one made from the columns). */
  entryAt(i: number, path?: string): Entry {
    const o = this.objs.size > 0 ? this.objs.get(i) : undefined;
    if (o) return o;
    const e: Entry = {
      path: path ?? this.pathOf(i),
      type: TYPES[this.kindA[i]!]!,
      mode: this.modeA[i]!,
      uid: this.uidA[i]!,
      gid: this.gidA[i]!,
      size: this.sizeA[i]!,
      mtime: this.mtimeA[i]!,
      fs: this.fsNames[this.fsA[i]!]!,
    };
    const t = this.targets[i];
    if (t !== undefined) e.target = t;
    return e;
  }

  /** The entry at exactly this path, without following symlinks (like lstat). */
  get(path: string): Entry | undefined {
    const i = this.indexOf(path);
    return i < 0 ? undefined : this.entryAt(i, path);
  }

  has(path: string): boolean {
    return this.indexOf(path) >= 0;
  }

  /**
   * All entries in no particular order (cheaper than entries() when order does not matter). With a filter, only the
   * entries of those types and at least that size are made (the others cost no object).
   */
  *unordered(filter: { types?: EntryType[]; minSize?: number } = {}): IterableIterator<Entry> {
    for (const i of this.present(filter)) yield this.entryAt(i);
  }

  /**
   * The indexes of the present nodes that pass `unordered`'s filter, found by a plain loop (not one that a
   * generator suspends in, which V8 does not optimize while it runs).
   */
  private present(filter: { types?: EntryType[]; minSize?: number }): Int32Array {
    let mask = 0;
    for (const t of filter.types ?? TYPES) mask |= 1 << TYPE_CODE[t];
    const minSize = filter.minSize ?? 0;
    const kindA = this.kindA;
    const sizeA = this.sizeA;
    // Room for every node when nothing is filtered out, else grown as matches come.
    let buf = new Int32Array(filter.types || minSize > 0 ? 64 : this.n);
    let len = 0;
    for (let i = 0; i < this.n; i++) {
      const k = kindA[i]!;
      if (k === ABSENT || sizeA[i]! < minSize || ((mask >>> k) & 1) === 0) continue;
      if (len === buf.length) {
        const more = new Int32Array(Math.max(64, len * 2));
        more.set(buf);
        buf = more;
      }
      buf[len++] = i;
    }
    return buf.subarray(0, len);
  }

  /** The filesystems (devices) the present entries are on. */
  filesystems(): Set<string> {
    // In the order first met; done once every filesystem ever named is (usually at the first entry).
    const met = new Uint8Array(this.fsNames.length);
    const out = new Set<string>();
    for (let i = 0; i < this.n && out.size < met.length; i++) {
      const c = this.fsA[i]!;
      if (this.kindA[i] === ABSENT || met[c] === 1) continue;
      met[c] = 1;
      out.add(this.fsNames[c]!);
    }
    return out;
  }

  /** All entries, in path order. */
  entries(): Entry[] {
    return [...this.unordered()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Names of the direct children of a directory path, sorted. */
  children(dir: string): string[] {
    const d = this.lookup(dir);
    if (d < 0) return [];
    const { kidStart, kids } = this.index();
    const out: string[] = [];
    for (let k = kidStart[d]!; k < kidStart[d + 1]!; k++) out.push(this.names[kids[k]!]!);
    return out;
  }

  private index(): Derived {
    return (this.derived ??= this.buildIndex());
  }

  private buildIndex(): Derived {
    const n = this.n;
    const kindA = this.kindA;
    const parentA = this.parentA;
    const names = this.names;
    // With the children's count, the table of distinct names (an image repeats a few names over and over: bin, lib,
    // f0): name queries test it once per name, and children are ordered by the rank of their name among them (an
    // integer compare, where comparing the names themselves cost more than the rest of the index).
    const kidStart = new Int32Array(n + 1);
    const nameId = new Int32Array(n);
    const distinct: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 1; i < n; i++) {
      if (kindA[i] === ABSENT) continue;
      kidStart[parentA[i]! + 1]!++;
      const name = names[i]!;
      let id = seen.get(name);
      if (id === undefined) seen.set(name, (id = distinct.push(name) - 1));
      nameId[i] = id;
    }
    for (let i = 0; i < n; i++) kidStart[i + 1]! += kidStart[i]!;
    const kids = new Int32Array(kidStart[n]!);
    const fillAt = kidStart.slice(0, n);
    for (let i = 1; i < n; i++) if (kindA[i] !== ABSENT) kids[fillAt[parentA[i]!]!++] = i;
    const sorted = distinct.map((_, j) => j).sort((a, b) => compareNames(distinct[a]!, distinct[b]!));
    const rank = new Int32Array(distinct.length);
    for (let r = 0; r < sorted.length; r++) rank[sorted[r]!] = r;
    const byName = (a: number, b: number) => rank[nameId[a]!]! - rank[nameId[b]!]!;
    for (let d = 0; d < n; d++) {
      const a = kidStart[d]!;
      const b = kidStart[d + 1]!;
      if (b - a > 1) kids.subarray(a, b).sort(byName);
    }
    // Depth first from the root, into present directories only.
    const pre = new Int32Array(this.live);
    const preAt = new Int32Array(n).fill(-1);
    const preEnd = new Int32Array(n);
    let len = 0;
    // The directories open on the way down and where each goes on; a directory's children are taken in one loop
    // until one is a directory to go into (this runs once per audit, mostly before V8 optimizes it: few steps each).
    const dirs = new Int32Array(n + 1);
    const resume = new Int32Array(n + 1);
    let top = 0;
    dirs[0] = ROOT;
    resume[0] = kidStart[ROOT]!;
    while (top >= 0) {
      const d = dirs[top]!;
      const end = kidStart[d + 1]!;
      let k = resume[top]!;
      let down = false;
      while (k < end) {
        const c = kids[k++]!;
        preAt[c] = len;
        pre[len++] = c;
        if (kindA[c] === DIR) {
          resume[top++] = k;
          dirs[top] = c;
          resume[top] = kidStart[c]!;
          down = true;
          break;
        }
        preEnd[c] = len;
      }
      if (!down) preEnd[dirs[top--]!] = len;
    }
    return { kidStart, kids, pre: pre.subarray(0, len), preAt, preEnd, nameId, distinct };
  }

  /**
   * Every entry strictly below `dir` (not crossing into anything; the inventory holds no duplicates), depth first
   * with each directory's children in name order. `skip` prunes: a directory it returns true for is still yielded,
   * but nothing below it is (and nothing below it is even made): `/nix/store`, `/proc`.
   */
  *walk(dir: string, opts: { skip?: (dir: Entry) => boolean } = {}): Generator<Entry> {
    const prune = opts.skip;
    const d = this.lookup(dir);
    if (d < 0) return;
    const x = this.index();
    const range = this.preRange(d, x);
    if (prune && range) {
      for (let k = range[0]; k < range[1]; k++) {
        const i = x.pre[k]!;
        const e = this.entryAt(i);
        yield e;
        if (this.kindA[i] === DIR && prune(e)) k = x.preEnd[i]! - 1;
      }
      return;
    }
    if (!prune) {
      for (const i of this.walkNodes(dir)) yield this.entryAt(i);
      return;
    }
    // Not a directory reachable from `/` (below a missing parent): walk its children index, pruning.
    const stack = [d];
    while (stack.length > 0) {
      const p = stack.pop()!;
      for (let k = x.kidStart[p]!; k < x.kidStart[p + 1]!; k++) {
        const c = x.kids[k]!;
        const e = this.entryAt(c);
        yield e;
        if (this.kindA[c] === DIR && !prune(e)) stack.push(c);
      }
    }
  }

  /**
   * Every entry reachable from `/` in `walk('/')` order, without a generator and without an object per entry: `visit`
   * gets one cursor, moved from entry to entry, that reads the columns it is asked for (`cursor.at` counts the
   * entries, as `span` does). A visitor keeps `cursor.entry()`, never the cursor.
   */
  visitAll(visit: (c: EntryCursor) => void): void {
    const pre = this.index().pre;
    const c = new WalkCursor(this, this.kindA, this.modeA, this.uidA, this.gidA, this.sizeA, this.names, this.targets, this.objs, () => this.index().nameId);
    for (let k = 0; k < pre.length; k++) {
      c.move(k, pre[k]!);
      visit(c);
    }
  }

  /**
   * Where the entries strictly below `path` (with `self`: at and below it) lie in `visitAll`'s order, as
   * [start, end); null when `path` is not reachable from `/`, or without `self` is not a directory.
   */
  span(path: string, self = false): [number, number] | null {
    const d = this.lookup(path);
    if (d < 0) return null;
    const x = this.index();
    if (d === ROOT) return [0, x.pre.length];
    const at = x.preAt[d]!;
    if (at < 0) return null;
    if (self) return [at, x.preEnd[d]!];
    return this.kindA[d] === DIR ? [at + 1, x.preEnd[d]!] : null;
  }

  /**
   * Where the entries below node `d` lie in the depth-first order (`pre[start .. end)`), or null when `d` is not a
   * directory reachable from `/` (its children index is walked instead).
   */
  private preRange(d: number, x: Derived): [number, number] | null {
    if (d === ROOT) return [0, x.pre.length];
    return x.preAt[d]! >= 0 && this.kindA[d] === DIR ? [x.preAt[d]! + 1, x.preEnd[d]!] : null;
  }

  /**
   * The entries reachable from `/` whose own name passes `test`, in walk order. Each distinct name is tested once and
   * only the matching entries are made (a name query over the whole image costs no object per entry).
   */
  named(test: (name: string) => boolean): Entry[] {
    const x = this.index();
    // Each rule's query tests the table of distinct names, then reads one byte per entry: ten rules asking over 147k
    // entries cost ~1.5M Map lookups by name before (docs/performance.md).
    const { verdict } = this.nameMask(test);
    const nameId = x.nameId;
    const out: Entry[] = [];
    for (let k = 0; k < x.pre.length; k++) {
      const i = x.pre[k]!;
      if (verdict[nameId[i]!] === 1) out.push(this.entryAt(i));
    }
    return out;
  }

  /**
   * Which names pass `test`, asked once per distinct name of the entries reachable from `/`: what
   * `EntryCursor.nameIn` reads for each entry of a walk.
   */
  nameMask(test: (name: string) => boolean): NameMask {
    const { distinct } = this.index();
    const verdict = new Uint8Array(distinct.length);
    for (let j = 0; j < distinct.length; j++) if (test(distinct[j]!)) verdict[j] = 1;
    return { verdict, test };
  }

  /** How many entries `walk(dir)` yields, without making them. */
  count(dir: string): number {
    const d = this.lookup(dir);
    if (d < 0) return 0;
    const range = this.preRange(d, this.index());
    if (range) return range[1] - range[0];
    let n = 0;
    for (const _ of this.walkNodes(dir)) n++;
    return n;
  }

  /** The node indexes `walk(dir)` visits, in its order. */
  private *walkNodes(dir: string): Generator<number> {
    const d = this.lookup(dir);
    if (d < 0) return;
    const x = this.index();
    const range = this.preRange(d, x);
    if (range) {
      for (let k = range[0]; k < range[1]; k++) yield x.pre[k]!;
      return;
    }
    // Not a directory reachable from `/` (below a missing parent): walk its children index.
    const stack = [d];
    while (stack.length > 0) {
      const p = stack.pop()!;
      for (let k = x.kidStart[p]!; k < x.kidStart[p + 1]!; k++) {
        const c = x.kids[k]!;
        yield c;
        if (this.kindA[c] === DIR) stack.push(c);
      }
    }
  }

  /**
   * Entries whose path matches an absolute glob (`/home/*`, `/home/** /.nix-defexpr`). Dot files match.
   * Only the subtree below the pattern's static prefix is visited.
   */
  glob(pattern: string, opts: GlobOptions = {}): Entry[] {
    const types = opts.types ? new Set(opts.types.map((t) => TYPE_CODE[t])) : null;
    const scan = picomatch.scan(pattern);
    if (!scan.isGlob) {
      const p = normalizePath(pattern);
      const i = this.indexOf(p);
      return i >= 0 && (!types || types.has(this.kindA[i]!)) ? [this.entryAt(i, p)] : [];
    }
    const base = normalizePath(scan.base || '/');
    // What picomatch(pattern)(path) does for a POSIX path, without its per-call overhead (a glob walks every entry).
    const re = picomatch.makeRe(pattern, { dot: true });
    const out: Entry[] = [];
    // `/**/name`: only entries of that very name can match; the inventory finds them without making the others.
    const last = pattern.slice(pattern.lastIndexOf('/') + 1);
    if (base === '/' && last !== '' && !picomatch.scan(last).isGlob && !/[\\[\](){}!*?+@]/.test(last)) {
      for (const e of this.named((n) => n === last)) {
        if (types && !types.has(TYPE_CODE[e.type])) continue;
        if (e.path === pattern || re.test(e.path)) out.push(e);
      }
      return out.sort((a, b) => (a.path < b.path ? -1 : 1));
    }
    for (const i of this.walkNodes(base)) {
      if (types && !types.has(this.kindA[i]!)) continue;
      const p = this.pathOf(i);
      if (p === pattern || re.test(p)) out.push(this.entryAt(i, p));
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /**
   * Resolve a path like the kernel would inside a chroot at the image root: absolute symlink targets start at
   * the image root, `..` never climbs above it, loops and over-long chains fail. With `followFinal: false` the
   * last component is not followed (like lstat on the resolved parent).
   */
  resolve(path: string, opts: { followFinal?: boolean } = {}): ResolveResult {
    const r = resolveLinks(this.linkTree, path.split('/'), opts.followFinal ?? true);
    if (!r.ok) return r;
    const p = this.pathOf(r.node);
    // The root may itself be only a parent of listed entries (an inventory without a `/` entry).
    if (this.kindA[r.node] === ABSENT) return { ok: false, reason: 'missing', at: p };
    return { ok: true, path: p, entry: this.entryAt(r.node, p) };
  }

  /** This inventory as the symlink resolver walks it: node indexes, read-only. */
  private readonly linkTree: LinkTree<number> = {
    root: ROOT,
    child: (dir, name) => {
      const i = this.find(dir, name);
      return i < 0 || this.kindA[i] === ABSENT ? undefined : i;
    },
    kind: (i) => (this.kindA[i] === DIR ? 'dir' : this.kindA[i] === SYMLINK ? 'symlink' : 'other'),
    target: (i) => {
      const o = this.objs.get(i);
      return (o ? o.target : this.targets[i]) ?? '';
    },
    pathOf: (i) => this.pathOf(i),
  };
}

/**
 * One entry of `Inventory.visitAll`, read column by column: a visitor that looks at a mode, an owner or a name makes
 * no object and no path string. The walk moves the cursor on, so keep `entry()`, never the cursor (it has no `fs`
 * and no `mtime`, so it is not an `Entry` to the type checker either).
 */
export interface EntryCursor {
  /** Position in `visitAll`'s order (what `span` counts in). */
  readonly at: number;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly target: string | undefined;
  /** The entry's own name, the last component of its path (no string made). */
  readonly name: string;
  /** The full path, made when first asked for this entry. */
  readonly path: string;
  /** The entry as an object to keep: what `walk` gives, made once per entry. */
  entry(): Entry;
  /** Whether the entry's name passes the test of `mask` (`Inventory.nameMask`): one byte read, no test asked. */
  nameIn(mask: NameMask): boolean;
}

/** A test of names answered once per distinct name of an inventory (`Inventory.nameMask`). */
export interface NameMask {
  /** 1 for each distinct name that passes, by name id. */
  readonly verdict: Uint8Array;
  readonly test: (name: string) => boolean;
}

class WalkCursor implements EntryCursor {
  at = -1;
  private i = -1;
  /** The object the entry was added as (`Inventory.add`), which is what it is. */
  private o: Entry | undefined;
  private p: string | undefined;
  private e: Entry | undefined;

  constructor(
    private readonly inv: Inventory,
    private readonly kinds: Uint8Array,
    private readonly modes: Uint16Array,
    private readonly uids: Uint32Array,
    private readonly gids: Uint32Array,
    private readonly sizes: Float64Array,
    private readonly names: readonly string[],
    private readonly targets: ReadonlyArray<string | undefined>,
    private readonly objs: ReadonlyMap<number, Entry>,
    private readonly nameIds: () => Int32Array,
  ) {}

  private ids: Int32Array | undefined;

  move(at: number, i: number): void {
    this.at = at;
    this.i = i;
    this.o = this.objs.size > 0 ? this.objs.get(i) : undefined;
    this.p = undefined;
    this.e = undefined;
  }

  get type(): EntryType {
    return this.o ? this.o.type : TYPES[this.kinds[this.i]!]!;
  }

  get mode(): number {
    return this.o ? this.o.mode : this.modes[this.i]!;
  }

  get uid(): number {
    return this.o ? this.o.uid : this.uids[this.i]!;
  }

  get gid(): number {
    return this.o ? this.o.gid : this.gids[this.i]!;
  }

  get size(): number {
    return this.o ? this.o.size : this.sizes[this.i]!;
  }

  get target(): string | undefined {
    return this.o ? this.o.target : this.targets[this.i];
  }

  get name(): string {
    return this.o ? baseName(this.o.path) : this.names[this.i]!;
  }

  get path(): string {
    return (this.p ??= this.o ? this.o.path : this.inv.pathOf(this.i));
  }

  entry(): Entry {
    return (this.e ??= this.inv.entryAt(this.i, this.o ? undefined : this.p));
  }

  nameIn(mask: NameMask): boolean {
    // An entry added as an object is named by its own path, as `name` says (its node's name, unless that path was
    // not canonical).
    if (this.o && this.name !== this.names[this.i]) return mask.test(this.name);
    return mask.verdict[(this.ids ??= this.nameIds())[this.i]!] === 1;
  }
}

/**
 * A tree as the one symlink resolver (`resolveLinks`) walks it: the inventory's node indexes, read-only, and the
 * layer builder's (resolve/tree.ts) path strings, where `child` creates the missing parents of an archive member.
 */
export interface LinkTree<N> {
  readonly root: N;
  /** The entry `name` of directory `dir`; undefined when there is none. */
  child(dir: N, name: string): N | undefined;
  kind(n: N): 'dir' | 'symlink' | 'other';
  /** A symlink's target, as stored. */
  target(n: N): string;
  /** The image path of `n` (`/` for the root), to say where a resolution failed. */
  pathOf(n: N): string;
  /** Called once per component walked (a caller's budget clock). */
  tick?(): void;
}

export type LinkResult<N> = { ok: true; node: N } | { ok: false; reason: ResolveFailure; at: string };

/**
 * The one symlink resolver: walk `components` (a path split on `/`) from the root of `tree` like the kernel inside
 * a chroot at the image root. Empty components and `.` are skipped, `..` takes one back and never climbs above
 * the root, an absolute link target starts again at the root; more than MAX_SYMLINK_FOLLOWS follows (or the same
 * link met again with the same path left) is a loop, more than MAX_RESOLVE_COMPONENTS components still to walk is
 * too deep. With `followFinal` false a symlink as the last component is the answer, not followed.
 */
export function resolveLinks<N>(tree: LinkTree<N>, components: readonly string[], followFinal = true): LinkResult<N> {
  // Components still to walk, the next one last.
  const queue = components.filter((c) => c !== '' && c !== '.').reverse();
  // The directories walked so far; the current directory is the last one, or the root.
  const stack: N[] = [];
  let follows = 0;
  // For each link followed, the paths that were left after it: the same link with the same rest again is a loop.
  const seen = new Map<N, Set<string>>();
  const here = () => (stack.length > 0 ? stack[stack.length - 1]! : tree.root);
  const at = (c: string) => (stack.length > 0 ? `${tree.pathOf(here())}/${c}` : `/${c}`);
  while (queue.length > 0) {
    tree.tick?.();
    if (queue.length > MAX_RESOLVE_COMPONENTS) return { ok: false, reason: 'too-deep', at: tree.pathOf(here()) };
    const c = queue.pop()!;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const n = tree.child(here(), c);
    if (n === undefined) return { ok: false, reason: 'missing', at: at(c) };
    const kind = tree.kind(n);
    if (kind === 'symlink' && (queue.length > 0 || followFinal)) {
      const rest = queue.join('/');
      let rests = seen.get(n);
      if (rests?.has(rest) || ++follows > MAX_SYMLINK_FOLLOWS) return { ok: false, reason: 'loop', at: at(c) };
      if (!rests) seen.set(n, (rests = new Set()));
      rests.add(rest);
      const target = tree.target(n);
      if (target === '') return { ok: false, reason: 'empty-target', at: at(c) };
      if (target.startsWith('/')) stack.length = 0;
      const parts = target.split('/');
      for (let k = parts.length - 1; k >= 0; k--) if (parts[k] !== '' && parts[k] !== '.') queue.push(parts[k]!);
      continue;
    }
    if (queue.length > 0 && kind !== 'dir') return { ok: false, reason: 'not-a-directory', at: at(c) };
    stack.push(n);
  }
  return { ok: true, node: here() };
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
