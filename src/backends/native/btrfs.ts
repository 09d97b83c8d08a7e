/**
 * Read-only btrfs on one device: the superblock (its checksum checked), the chunk tree that maps logical addresses
 * to the device (single and DUP profiles; RAID profiles and filesystems over several devices are refused by name),
 * the root tree, and the file trees of every subvolume: the walk starts at the top level (subvolume 5, as the kernel
 * mounts the device with subvolid=5) and enters each subvolume or snapshot like the directory the kernel shows for
 * it; `subvolumes()` says where each one is and which is the default (the root tree's "default" entry), so that
 * assembly (src/backends/assemble.ts) mounts the parts the image's fstab names and audits the rest on its own. A
 * subvolume the top level does not reach is named as not audited. Files: inline and regular extents, holes,
 * preallocated extents, zlib, lzo and zstd compression.
 *
 * Every tree node is checksummed (crc32c or sha256) and checked to be the node its parent points at, one level
 * below it, so a walk down a tree ends; offsets and lengths from the image are checked before they are read, and a
 * compressed extent decompresses to at most the 128 KiB btrfs allows.
 */
import { nodeCrypto } from '../../lazy.js';
import { currentBudget } from '../../budget.js';
import { decompressSync } from '../../image/codecs.js';
import type { FileContent } from '../../types.js';
import { LIMITS } from './fs.js';
import { typeOfMode } from '../../types.js';
import { CorruptImageError, ExtentSource, UnsupportedImageError, readIntoFrom, type ByteSource, type FileExtent } from './source.js';
import { crc32c } from './vhdx.js';
import type { DirSink, FsReader, Node } from './walk.js';

const SB_POS = 0x10000;
const SB_SIZE = 4096;
const HEADER = 0x65;
const LEAF_ITEM = 25;
const KEY_PTR = 33;
const MAX_LEVEL = 7;

// Item types.
const INODE_ITEM = 1;
const DIR_ITEM = 84;
const DIR_INDEX = 96;
const EXTENT_DATA = 108;
const ROOT_ITEM = 132;
const ROOT_BACKREF = 144;
const ROOT_REF = 156;
const CHUNK_ITEM = 228;

const FS_TREE = 5;
const ROOT_TREE_DIR = 6;
const FIRST_CHUNK_TREE = 256;
const FIRST_FREE = 256;
const LAST_FREE = 2 ** 48;

// Chunk profiles (block group flags).
const PROFILES: ReadonlyArray<readonly [number, string]> = [
  [0x8, 'raid0'],
  [0x10, 'raid1'],
  [0x40, 'raid10'],
  [0x80, 'raid5'],
  [0x100, 'raid6'],
  [0x200, 'raid1c3'],
  [0x400, 'raid1c4'],
];

// Incompatible features read here: mixed backrefs, default subvolume, mixed groups, lzo, zstd, big metadata,
// extended inode refs, skinny metadata, no holes, metadata uuid, raid1c34 (only with profiles refused by chunk).
const INCOMPAT_READ = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200 | 0x400 | 0x800;
const INCOMPAT_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x80, 'raid56'],
  [0x1000, 'zoned'],
  [0x2000, 'extent tree v2'],
  [0x4000, 'raid stripe tree'],
  [0x10000, 'simple quotas'],
];
const INCOMPAT_METADATA_UUID = 0x400;

/** Most bytes a compressed extent holds and decompresses to (BTRFS_MAX_UNCOMPRESSED). */
const MAX_COMPRESSED = 128 * 1024;
/** Tree nodes kept parsed (bytes), most recently used last. */
const NODE_CACHE_BYTES = 32 * 1024 * 1024;
/** Subvolumes one walk enters (a ref keeps the subvolume's index in its high bits). */
const MAX_TREES = 4096;
const INO_BITS = 2 ** 40;


/** The file types of a directory entry (BTRFS_FT_*), for entries whose inode is another subvolume's root. */
const COMPRESSION = ['none', 'zlib', 'lzo', 'zstd'] as const;

export function isBtrfs(src: ByteSource): boolean {
  return src.size >= SB_POS + SB_SIZE && src.read(SB_POS + 0x40, 8).toString('latin1') === '_BHRfS_M';
}

/** A chunk: `length` logical bytes from `logical`, stored at `physical` on the device. */
interface Chunk {
  logical: number;
  length: number;
  physical: number;
}

/** A tree: its root node and that node's level. */
interface Tree {
  id: number;
  bytenr: number;
  level: number;
  /** The root directory's inode (file trees). */
  dirid: number;
}

type Visit = (b: Buffer, obj: number, type: number, off: number, at: number, size: number) => boolean | void;

/** A little-endian u64 as a number (exact below 2^53; above it rounded, which keeps the order keys compare in). */
function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

/** Compare the key stored at `at` with (obj, type, off). */
function cmpKey(b: Buffer, at: number, obj: number, type: number, off: number): number {
  const o = u64(b, at);
  if (o !== obj) return o < obj ? -1 : 1;
  const t = b[at + 8]!;
  if (t !== type) return t < type ? -1 : 1;
  const f = u64(b, at + 9);
  return f === off ? 0 : f < off ? -1 : 1;
}

interface Inode {
  size: number;
  uid: number;
  gid: number;
  mode: number;
  mtime: number;
}

export class BtrfsFs implements FsReader<number> {
  readonly type = 'btrfs';
  readonly label: string | null;
  readonly uuid: string | null;
  private readonly nodeSize: number;
  private readonly sectorSize: number;
  private readonly csumType: number;
  private readonly treeUuid: string;
  private readonly chunks: Chunk[] = [];
  private readonly rootTree: Tree;
  private readonly logRoot: number;
  private readonly nodes = new Map<number, Buffer>();
  private cached = 0;
  /** Subvolume trees entered, by index (a ref's high bits) and by id. */
  private readonly trees: Tree[] = [];
  private readonly treeIndex = new Map<number, number>();
  private defaultId = FS_TREE;
  /** Empty directories shown for subvolumes left out of snapshots: their refs are -1, -2, ... */
  private emptyDirs = 0;
  /** The leaf the last inode was found in, and its tree's id (see inLeafHint). */
  private leafHint: Buffer | null = null;
  private leafHintTree = -1;

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    if (!isBtrfs(src)) throw new CorruptImageError(`${name}: no btrfs superblock`);
    const sb = src.read(SB_POS, SB_SIZE);
    const bad = (why: string): never => {
      throw new CorruptImageError(`${name}: corrupt btrfs superblock (${why})`);
    };
    this.csumType = sb.readUInt16LE(0xc4);
    if (this.csumType === 1 || this.csumType === 3) {
      throw new UnsupportedImageError(`${name}: btrfs with ${this.csumType === 1 ? 'xxhash64' : 'blake2b'} checksums is not read natively`);
    }
    if (this.csumType > 3) bad(`checksum type ${this.csumType}`);
    if (!this.csumOk(sb)) bad('checksum mismatch');
    if (u64(sb, 0x30) !== SB_POS) bad('superblock records another position');
    this.sectorSize = sb.readUInt32LE(0x90);
    this.nodeSize = sb.readUInt32LE(0x94);
    const pow2 = (n: number) => n >= 4096 && n <= 65536 && (n & (n - 1)) === 0;
    if (!pow2(this.sectorSize) || !pow2(this.nodeSize) || this.nodeSize < this.sectorSize) bad(`sector size ${this.sectorSize}, node size ${this.nodeSize}`);
    const incompat = u64(sb, 0xbc);
    for (const [bit, what] of INCOMPAT_NAMES) {
      if (incompat & bit) throw new UnsupportedImageError(`${name}: btrfs with ${what} is not read natively`);
    }
    const unknown = incompat & ~INCOMPAT_READ & ~INCOMPAT_NAMES.reduce((a, [bit]) => a | bit, 0);
    if (unknown) throw new UnsupportedImageError(`${name}: btrfs with unknown incompatible features 0x${unknown.toString(16)}`);
    const devices = u64(sb, 0x88);
    if (devices !== 1) throw new UnsupportedImageError(`${name}: btrfs over ${devices} devices is not read natively`);
    const devid = u64(sb, 0xc9);
    const fsid = sb.toString('hex', 0x20, 0x30);
    this.treeUuid = incompat & INCOMPAT_METADATA_UUID ? sb.toString('hex', 0x23b, 0x24b) : fsid;
    this.uuid = `${fsid.slice(0, 8)}-${fsid.slice(8, 12)}-${fsid.slice(12, 16)}-${fsid.slice(16, 20)}-${fsid.slice(20)}`;
    const labelEnd = sb.indexOf(0, 0x12b);
    const label = sb.toString('utf8', 0x12b, labelEnd < 0 || labelEnd > 0x22b ? 0x22b : labelEnd);
    this.label = label === '' ? null : label;

    // The system chunks, then the chunk tree they map.
    const sysSize = sb.readUInt32LE(0xa0);
    if (sysSize > 2048) bad(`system chunk array of ${sysSize} bytes`);
    const sys = sb.subarray(0x32b, 0x32b + sysSize);
    for (let p = 0; p < sys.length; ) {
      if (p + 17 + 48 > sys.length || sys[p + 8] !== CHUNK_ITEM) bad('system chunk array');
      p += 17 + this.addChunk(sys, p + 17, u64(sys, p + 9), sys.length, devid);
    }
    this.scanNode({ id: 3, bytenr: u64(sb, 0x58), level: sb[0xc7]!, dirid: 0 }, FIRST_CHUNK_TREE, CHUNK_ITEM, 0, FIRST_CHUNK_TREE, CHUNK_ITEM, Infinity, (b, _o, _t, off, at, size) => {
      this.addChunk(b, at, off, at + size, devid);
    });
    this.rootTree = { id: 1, bytenr: u64(sb, 0x50), level: sb[0xc6]!, dirid: 0 };
    this.logRoot = u64(sb, 0x60);
    const total = u64(sb, 0x70);
    if (this.chunks.some((c) => c.physical + c.length > src.size)) {
      throw new CorruptImageError(`${name}: the btrfs filesystem is truncated (${total} bytes, the image holds ${src.size})`);
    }
  }

  private csumOk(b: Buffer): boolean {
    if (this.csumType === 0) return crc32c(b, 0x20) === b.readUInt32LE(0);
    return nodeCrypto().createHash('sha256').update(b.subarray(0x20)).digest().equals(b.subarray(0, 32));
  }

  /** A chunk item at `at` (before `end`) for logical address `logical`; its size in bytes. */
  private addChunk(b: Buffer, at: number, logical: number, end: number, devid: number): number {
    if (at + 48 > end) throw new CorruptImageError(`${this.name}: corrupt btrfs chunk item`);
    const length = u64(b, at);
    const type = u64(b, at + 24);
    const stripes = b.readUInt16LE(at + 44);
    const size = 48 + stripes * 32;
    if (stripes === 0 || at + size > end || length === 0) throw new CorruptImageError(`${this.name}: corrupt btrfs chunk item`);
    for (const [bit, profile] of PROFILES) {
      if (type & bit) throw new UnsupportedImageError(`${this.name}: btrfs ${profile} chunks are not read natively`);
    }
    if (u64(b, at + 48) !== devid) throw new CorruptImageError(`${this.name}: btrfs chunk on another device`);
    const chunk = { logical, length, physical: u64(b, at + 56) };
    if (!this.chunks.some((c) => c.logical === logical)) {
      if (this.chunks.some((c) => c.logical < logical + length && logical < c.logical + c.length)) {
        throw new CorruptImageError(`${this.name}: overlapping btrfs chunks`);
      }
      this.chunks.push(chunk);
      this.chunks.sort((x, y) => x.logical - y.logical);
    }
    return size;
  }

  /** The device position of `length` bytes at logical address `logical` (within one chunk). */
  private map(logical: number, length: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.chunks[mid]!;
      if (logical < c.logical) hi = mid - 1;
      else if (logical >= c.logical + c.length) lo = mid + 1;
      else {
        if (logical + length > c.logical + c.length) break;
        const pos = c.physical + (logical - c.logical);
        if (pos + length > this.src.size) throw new CorruptImageError(`logical address ${logical} outside the image`);
        return pos;
      }
    }
    throw new CorruptImageError(`logical address ${logical} (${length} bytes) is in no chunk`);
  }

  // ---- trees ---------------------------------------------------------------------------------------------

  /** The node at `bytenr`, checked: checksum, filesystem, its own address and the level its parent expects. */
  private node(bytenr: number, level: number): Buffer {
    // First in, first out: the walk and the leaf hint keep the nodes in use near at hand.
    let b = this.nodes.get(bytenr);
    if (!b) {
      currentBudget()?.tick(64);
      const pos = this.map(bytenr, this.nodeSize);
      // Never reused: a walk down the tree and the leaf hint hold on to nodes the cache may have let go.
      while (this.cached + this.nodeSize > NODE_CACHE_BYTES) {
        const [oldest] = this.nodes.keys();
        this.nodes.delete(oldest!);
        this.cached -= this.nodeSize;
      }
      b = Buffer.allocUnsafeSlow(this.nodeSize);
      readIntoFrom(this.src, b, pos, this.nodeSize);
      if (!this.csumOk(b)) throw new CorruptImageError(`btrfs tree node ${bytenr}: checksum mismatch`);
      if (b.toString('hex', 0x20, 0x30) !== this.treeUuid || u64(b, 0x30) !== bytenr) throw new CorruptImageError(`btrfs tree node ${bytenr}: not the node expected there`);
      this.nodes.set(bytenr, b);
      this.cached += this.nodeSize;
    }
    if (b[0x64] !== level) throw new CorruptImageError(`btrfs tree node ${bytenr}: level ${b[0x64]}, ${level} expected`);
    return b;
  }

  /**
   * Visit the leaf items of `tree` with keys from (lo...) to (hi...), in key order, until `visit` returns false.
   * Returns false when it stopped early (a key past `hi`, or `visit`).
   */
  private scanNode(tree: Tree, loObj: number, loType: number, loOff: number, hiObj: number, hiType: number, hiOff: number, visit: Visit): boolean {
    if (tree.level > MAX_LEVEL) throw new CorruptImageError(`btrfs tree ${tree.id}: level ${tree.level}`);
    const walk = (bytenr: number, level: number): boolean => {
      const b = this.node(bytenr, level);
      const n = b.readUInt32LE(0x60);
      const width = level === 0 ? LEAF_ITEM : KEY_PTR;
      if (HEADER + n * width > b.length) throw new CorruptImageError(`btrfs tree node ${bytenr}: too many items`);
      // The first item whose key is >= lo (leaf), or the last child whose key is <= lo (node).
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cmpKey(b, HEADER + mid * width, loObj, loType, loOff) < 0) lo = mid + 1;
        else hi = mid;
      }
      if (level === 0) {
        for (let i = lo; i < n; i++) {
          const k = HEADER + i * LEAF_ITEM;
          if (cmpKey(b, k, hiObj, hiType, hiOff) > 0) return false;
          const at = HEADER + b.readUInt32LE(k + 17);
          const size = b.readUInt32LE(k + 21);
          if (at + size > b.length) throw new CorruptImageError(`btrfs tree node ${bytenr}: item outside the node`);
          if (visit(b, u64(b, k), b[k + 8]!, u64(b, k + 9), at, size) === false) return false;
        }
        return true;
      }
      let i = lo < n && cmpKey(b, HEADER + lo * width, loObj, loType, loOff) === 0 ? lo : Math.max(0, lo - 1);
      for (; i < n; i++) {
        const k = HEADER + i * KEY_PTR;
        if (i > 0 && cmpKey(b, k, hiObj, hiType, hiOff) > 0) return false;
        if (!walk(u64(b, k + 17), level - 1)) return false;
      }
      return true;
    };
    return walk(tree.bytenr, tree.level);
  }

  /** Each item of `tree` with object id `obj` and type `type`, in offset order. */
  private items(tree: Tree, obj: number, type: number, visit: (b: Buffer, off: number, at: number, size: number) => boolean | void): void {
    this.scanNode(tree, obj, type, 0, obj, type, Infinity, (b, _o, _t, off, at, size) => visit(b, off, at, size));
  }

  /** The root item of tree `id` (the latest one), or null when there is none. */
  private treeOf(id: number): Tree | null {
    let found: Tree | null = null;
    this.items(this.rootTree, id, ROOT_ITEM, (b, _off, at, size) => {
      if (size < 239) throw new CorruptImageError(`btrfs root item of tree ${id} too short`);
      found = { id, bytenr: u64(b, at + 176), level: b[at + 238]!, dirid: u64(b, at + 168) };
    });
    return found;
  }

  /** The index of subvolume tree `id` (entered once), or null when it has no root item. */
  private subvolume(id: number): number | null {
    const known = this.treeIndex.get(id);
    if (known !== undefined) return known;
    const tree = this.treeOf(id);
    if (!tree) return null;
    if (this.trees.length >= MAX_TREES) throw new CorruptImageError(`more than ${MAX_TREES} subvolumes`);
    if (tree.dirid >= INO_BITS) throw new CorruptImageError(`subvolume ${id}: bad root directory`);
    this.trees.push(tree);
    this.treeIndex.set(id, this.trees.length - 1);
    return this.trees.length - 1;
  }

  private ref(tree: number, ino: number): number {
    if (!Number.isSafeInteger(ino) || ino >= INO_BITS) throw new CorruptImageError(`inode ${ino} out of range`);
    return tree * INO_BITS + ino;
  }

  /** A ref's subvolume tree, that tree's index, and the inode. */
  private split(ref: number): [Tree, number, number] {
    const t = Math.floor(ref / INO_BITS);
    const tree = this.trees[t];
    if (!tree) throw new CorruptImageError('no such subvolume');
    return [tree, t, ref - t * INO_BITS];
  }

  /**
   * The item (obj, type, 0) in the leaf last found by `inode`, if that leaf's keys span it: a directory's entries
   * mostly have inodes next to each other, so most lookups need no walk down the tree. Returns the item's position
   * and size, -1 when the leaf spans the key and does not hold it, or null when the leaf does not span it.
   */
  private inLeafHint(tree: Tree, obj: number, type: number): [number, number] | -1 | null {
    const b = this.leafHint;
    if (!b || this.leafHintTree !== tree.id) return null;
    const n = b.readUInt32LE(0x60);
    if (n === 0 || cmpKey(b, HEADER, obj, type, 0) > 0 || cmpKey(b, HEADER + (n - 1) * LEAF_ITEM, obj, type, 0) < 0) return null;
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = cmpKey(b, HEADER + mid * LEAF_ITEM, obj, type, 0);
      if (c === 0) {
        const k = HEADER + mid * LEAF_ITEM;
        return [HEADER + b.readUInt32LE(k + 17), b.readUInt32LE(k + 21)];
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private inode(tree: Tree, ino: number): Inode {
    let found: Inode | null = null;
    const read = (b: Buffer, at: number, size: number): void => {
      if (at + size > b.length) throw new CorruptImageError(`inode ${ino}: item outside its node`);
      if (size < 160) throw new CorruptImageError(`inode ${ino}: item too short`);
      found = {
        size: u64(b, at + 16),
        uid: b.readUInt32LE(at + 44),
        gid: b.readUInt32LE(at + 48),
        mode: b.readUInt32LE(at + 52),
        mtime: Number(b.readBigInt64LE(at + 136)),
      };
    };
    const hint = this.inLeafHint(tree, ino, INODE_ITEM);
    if (hint !== null && hint !== -1) read(this.leafHint!, hint[0], hint[1]);
    else if (hint === null) {
      this.items(tree, ino, INODE_ITEM, (b, off, at, size) => {
        if (off === 0) {
          read(b, at, size);
          this.leafHint = b;
          this.leafHintTree = tree.id;
        }
        return false;
      });
    }
    if (!found) throw new CorruptImageError(`inode ${ino} not found in subvolume ${tree.id}`);
    return found;
  }

  /** Each entry (name, location key's id and type) of a directory item at `at`. */
  private static dirEntries(b: Buffer, at: number, size: number, visit: (name: string, obj: number, type: number) => void): void {
    const end = at + size;
    for (let p = at; p < end; ) {
      if (p + 30 > end) throw new CorruptImageError('directory item runs past its end');
      const nameLen = b.readUInt16LE(p + 27);
      const len = 30 + nameLen + b.readUInt16LE(p + 25);
      if (nameLen === 0 || p + len > end) throw new CorruptImageError('directory item runs past its end');
      visit(b.toString('utf8', p + 30, p + 30 + nameLen), u64(b, p), b[p + 8]!);
      p += len;
    }
  }

  // ---- file data ------------------------------------------------------------------------------------------

  private decompress(kind: number, input: Buffer, out: number): Buffer {
    switch (kind) {
      case 1:
        return decompressSync('gzip', input, out);
      case 3:
        return decompressSync('zstd', input, out, false, true);
      case 2:
        return this.lzo(input, out);
      default:
        throw new UnsupportedImageError(`btrfs compression type ${kind} is not supported`);
    }
  }

  /** btrfs's lzo framing: a total length, then per segment a length and LZO1X data, no length across a sector. */
  private lzo(input: Buffer, out: number): Buffer {
    if (input.length < 4) throw new CorruptImageError('corrupt btrfs lzo extent');
    const total = input.readUInt32LE(0);
    if (total > input.length || total < 4) throw new CorruptImageError('corrupt btrfs lzo extent (bad total length)');
    const parts: Buffer[] = [];
    let got = 0;
    let p = 4;
    while (p < total && got < out) {
      const left = this.sectorSize - (p % this.sectorSize);
      if (left < 4) {
        p += left;
        continue;
      }
      if (p + 4 > total) throw new CorruptImageError('corrupt btrfs lzo extent (segment header cut)');
      const len = input.readUInt32LE(p);
      p += 4;
      if (len === 0 || p + len > total) throw new CorruptImageError('corrupt btrfs lzo extent (bad segment length)');
      const seg = decompressSync('lzo', input.subarray(p, p + len), Math.min(this.sectorSize, out - got));
      parts.push(seg);
      got += seg.length;
      p += len;
    }
    return Buffer.concat(parts, got);
  }

  /**
   * The extents of a file in offset order: `visit(offset, item buffer, item position, size)`, the file extent item.
   */
  private extents(tree: Tree, ino: number, visit: (off: number, b: Buffer, at: number, size: number) => boolean | void): void {
    this.items(tree, ino, EXTENT_DATA, (b, off, at, size) => {
      if (size < 21) throw new CorruptImageError(`inode ${ino}: file extent item too short`);
      if (b[at + 17] !== 0 || b.readUInt16LE(at + 18) !== 0) throw new UnsupportedImageError(`inode ${ino}: encrypted or encoded btrfs extent`);
      return visit(off, b, at, size);
    });
  }

  /** Bytes [0, length) of a file (holes, preallocated and missing ranges read as zeros). */
  private fileData(tree: Tree, ino: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.extents(tree, ino, (off, b, at, size) => {
      if (off >= length) return false;
      const comp = b[at + 16]!;
      const kind = b[at + 20]!;
      if (kind === 0) {
        const raw = b.subarray(at + 21, at + size);
        const ram = u64(b, at + 8);
        if (ram > this.nodeSize) throw new CorruptImageError(`inode ${ino}: inline extent of ${ram} bytes`);
        const data = comp === 0 ? raw : this.decompress(comp, raw, ram);
        data.copy(out, off, 0, Math.min(data.length, length - off));
        return;
      }
      if (size < 53) throw new CorruptImageError(`inode ${ino}: file extent item too short`);
      if (kind === 2) return;
      if (kind !== 1) throw new CorruptImageError(`inode ${ino}: file extent type ${kind}`);
      const disk = u64(b, at + 21);
      const diskLen = u64(b, at + 29);
      const inner = u64(b, at + 37);
      const num = u64(b, at + 45);
      if (disk === 0) return;
      const n = Math.min(num, length - off);
      if (comp === 0) {
        if (inner + num > diskLen) throw new CorruptImageError(`inode ${ino}: file extent past its disk extent`);
        readIntoFrom(this.src, out.subarray(off), this.map(disk + inner, n), n);
        return;
      }
      const ram = u64(b, at + 8);
      if (diskLen > MAX_COMPRESSED || ram > MAX_COMPRESSED || inner + num > ram) {
        throw new CorruptImageError(`inode ${ino}: compressed extent of ${diskLen} bytes to ${ram}`);
      }
      const data = this.decompress(comp, this.src.read(this.map(disk, diskLen), diskLen), ram);
      data.copy(out, off, inner, Math.min(data.length, inner + n));
    });
    return out;
  }

  // ---- the walk -------------------------------------------------------------------------------------------

  private toNode(tree: number, ino: number, inode: Inode): Node<number> {
    const type = typeOfMode(inode.mode);
    const special = type === 'chardev' || type === 'blockdev' || type === 'fifo' || type === 'socket';
    return { type, mode: inode.mode & 0o7777, uid: inode.uid, gid: inode.gid, size: special ? 0 : inode.size, mtime: inode.mtime, ref: this.ref(tree, ino) };
  }

  /** The default subvolume: the root tree directory's "default" entry (the top-level subvolume without one). */
  private findDefault(): number {
    let id = FS_TREE;
    this.items(this.rootTree, ROOT_TREE_DIR, DIR_ITEM, (b, _off, at, size) => {
      BtrfsFs.dirEntries(b, at, size, (name, obj) => {
        if (name === 'default') id = obj;
      });
    });
    return id;
  }

  /**
   * Subvolumes the top level does not reach (their chain of parents never meets it), by name: the walk does not see
   * them, so they are not audited.
   */
  private unreached(sink: DirSink<number>): void {
    const ids: number[] = [];
    this.scanNode(this.rootTree, FIRST_FREE, ROOT_ITEM, 0, LAST_FREE, ROOT_ITEM, Infinity, (b, obj, type, _off, at, size) => {
      // Subvolumes and snapshots still referenced (a deleted one waits for cleanup with no references).
      if (type === ROOT_ITEM && size >= 220 && b.readUInt32LE(at + 216) > 0 && ids[ids.length - 1] !== obj) ids.push(obj);
    });
    for (const id of ids) {
      const names: string[] = [];
      let cur = id;
      const seen = new Set<number>();
      while (cur !== FS_TREE && !seen.has(cur)) {
        seen.add(cur);
        let parent = -1;
        this.items(this.rootTree, cur, ROOT_BACKREF, (b, off, at, size) => {
          if (size >= 18) names.unshift(b.toString('utf8', at + 18, at + Math.min(size, 18 + b.readUInt16LE(at + 16))));
          parent = off;
          return false;
        });
        if (parent < 0) break;
        cur = parent;
      }
      if (cur === FS_TREE) continue;
      sink.whole(`btrfs: subvolume ${JSON.stringify(names.join('/') || String(id))} (id ${id}) is not linked below the top level and was not audited`);
    }
  }

  root(sink: DirSink<number>): Node<number> {
    if (this.logRoot !== 0) sink.whole('btrfs log tree not replayed (not cleanly unmounted after an fsync); the listing may miss the latest changes');
    this.defaultId = this.findDefault();
    const t = this.subvolume(FS_TREE);
    if (t === null) throw new CorruptImageError('the top-level subvolume (id 5) has no root item');
    try {
      this.unreached(sink);
    } catch (err) {
      sink.failed(err, undefined, 'btrfs: unreadable subvolume list');
    }
    const tree = this.trees[t]!;
    return this.toNode(t, tree.dirid, this.inode(tree, tree.dirid));
  }

  /** Whether the root tree links subvolume `child` into directory `dir` of subvolume `parent` under `name`. */
  private linked(parent: number, dir: number, child: number, name: string): boolean {
    let found = false;
    this.items(this.rootTree, parent, ROOT_REF, (b, off, at, size) => {
      if (off < child) return;
      if (off === child && size >= 18) {
        const len = b.readUInt16LE(at + 16);
        found = u64(b, at) === dir && 18 + len <= size && b.toString('utf8', at + 18, at + 18 + len) === name;
      }
      return false;
    });
    return found;
  }

  readDir(ref: number, sink: DirSink<number>): void {
    if (ref < 0) return; // an empty directory shown for a subvolume left out of a snapshot
    const [tree, t, ino] = this.split(ref);
    this.items(tree, ino, DIR_INDEX, (b, _off, at, size) => {
      try {
        BtrfsFs.dirEntries(b, at, size, (name, obj, type) => {
          try {
            if (type === ROOT_ITEM) {
              // A subvolume (or snapshot) here: the kernel shows its root directory. In a snapshot, the entry of a
              // subvolume nested in the snapshotted one has no root ref: the kernel shows an empty directory.
              if (!this.linked(tree.id, ino, obj, name)) {
                sink.entry(name, { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: this.inode(tree, ino).mtime, ref: -++this.emptyDirs });
                return;
              }
              const sub = this.subvolume(obj);
              if (sub === null) throw new CorruptImageError(`subvolume ${obj} has no root item`);
              const st = this.trees[sub]!;
              sink.entry(name, this.toNode(sub, st.dirid, this.inode(st, st.dirid)));
              return;
            }
            if (type !== INODE_ITEM) throw new CorruptImageError(`directory entry of key type ${type}`);
            const node = this.toNode(t, obj, this.inode(tree, obj));
            if (node.type === 'symlink') {
              try {
                node.target = this.symlinkTarget(tree, obj, node.size);
              } catch (err) {
                node.target = '';
                sink.failed(err, name, 'unreadable symlink');
              }
            }
            sink.entry(name, node);
          } catch (err) {
            sink.failed(err, name);
          }
        });
      } catch (err) {
        sink.failed(err, undefined, 'unreadable directory item');
      }
    });
  }

  private symlinkTarget(tree: Tree, ino: number, size: number): string {
    if (size === 0 || size > LIMITS.maxSymlink) throw new CorruptImageError(`symlink target length ${size}`);
    return this.fileData(tree, ino, size).toString('utf8');
  }

  dirKey(ref: number): number {
    return ref;
  }

  private fileInode(ref: number): [Tree, number, Inode] {
    const [tree, , ino] = this.split(ref);
    const inode = this.inode(tree, ino);
    if ((inode.mode & 0xf000) !== 0x8000) throw new CorruptImageError(`inode ${ino} is not a regular file`);
    return [tree, ino, inode];
  }

  readFile(ref: number, maxBytes: number): FileContent {
    const [tree, ino, inode] = this.fileInode(ref);
    const data = this.fileData(tree, ino, Math.min(maxBytes, inode.size));
    return { data, size: inode.size, truncated: inode.size > data.length };
  }

  openFile(ref: number): ByteSource {
    const [tree, ino, inode] = this.fileInode(ref);
    const out: FileExtent[] = [];
    this.extents(tree, ino, (off, b, at, size) => {
      const kind = b[at + 20]!;
      if (kind === 0 || b[at + 16] !== 0) {
        throw new UnsupportedImageError(`a btrfs file with ${kind === 0 ? 'inline' : COMPRESSION[b[at + 16]!] ?? 'compressed'} data cannot be opened as an image`);
      }
      if (size < 53 || kind === 2 || u64(b, at + 21) === 0) return;
      const num = u64(b, at + 45);
      const n = Math.min(num, Math.max(0, inode.size - off));
      if (n > 0) out.push({ logical: off, physical: this.map(u64(b, at + 21) + u64(b, at + 37), n), length: n });
    });
    return new ExtentSource(this.src, inode.size, out);
  }

  /** Each subvolume the walk entered, by the ref of its root directory, and the default subvolume's id. */
  subvolumes(): { list: Array<{ id: number; ref: number }>; defaultId: number } {
    return { list: this.trees.map((tree, t) => ({ id: tree.id, ref: this.ref(t, tree.dirid) })), defaultId: this.defaultId };
  }

  walked(): void {
    this.leafHint = null;
    this.nodes.clear();
    this.cached = 0;
  }
}
