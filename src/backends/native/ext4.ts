/**
 * ext2/ext3/ext4 reader: superblock, group descriptors (32/64-bit, meta_bg), inode tables read in large chunks,
 * extent trees (bounded depth) and ext2/3 block maps, directories read linearly (htree nodes look like empty
 * entries), inline data (directories, files, symlinks), fast and slow symlinks.
 *
 * Untrusted input: every block number is checked against the filesystem and every byte range against the source;
 * directory cycles, extent depth and indirect-block fan-out are bounded. Damage below the superblock becomes a
 * problem string and the walk goes on; a bad superblock throws CorruptImageError.
 */
import { SparseBitSet } from '../../arrays.js';
import type { FileContent } from '../backend.js';
import { LIMITS } from './fs.js';
import { typeOfMode } from '../../types.js';
import type { DirSink, FsReader, Node } from './walk.js';
import { BufferSource, CorruptImageError, ExtentSource, UnsupportedImageError, type ByteSource } from './source.js';

const SB_OFFSET = 1024;
const EXT_MAGIC = 0xef53;

// Feature flags.
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_COMPRESSION = 0x1;
const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_DIRDATA = 0x1000;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const RO_COMPAT_LARGE_FILE = 0x2;
const RO_COMPAT_BTREE_DIR = 0x4;
/** Blocks allocated in clusters of 2^n blocks; extents still address blocks, so only the group geometry changes. */
const RO_COMPAT_BIGALLOC = 0x200;
/** Largest cluster the kernel mounts: 2^(10+20) bytes (EXT4_MAX_CLUSTER_LOG_SIZE). */
const MAX_LOG_CLUSTER = 20;
/** What ext3 understands (blkid): anything else makes the filesystem ext4. */
const EXT3_INCOMPAT_SUPPORTED = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG;
const EXT3_RO_COMPAT_SUPPORTED = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;

// Inode flags.
const FL_ENCRYPT = 0x800;
const FL_EXTENTS = 0x80000;
const FL_INLINE_DATA = 0x10000000;

const EXTENT_MAGIC = 0xf30a;
const MAX_EXTENT_DEPTH = 5;
const ROOT_INO = 2;
const N_BLOCKS_BYTES = 60;

/** Inode table bytes fetched per read; an LRU of these keeps memory flat. */
const ITABLE_CHUNK = 256 * 1024;
const ITABLE_CACHE_CHUNKS = 16;
/** Largest directory run read into the reusable scratch buffer. */
const SCRATCH_MAX = 1024 * 1024;
const EMPTY_BLOCK = Buffer.alloc(N_BLOCKS_BYTES);

export function isExt(src: ByteSource): boolean {
  if (src.size < SB_OFFSET + 1024) return false;
  return src.read(SB_OFFSET + 0x38, 2).readUInt16LE(0) === EXT_MAGIC;
}

function formatUuid(b: Buffer, off: number): string | null {
  const h = b.toString('hex', off, off + 16);
  if (/^0+$/.test(h)) return null;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function cString(b: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}


/** A contiguous mapping of file blocks to filesystem blocks; `phys` -1 is a hole (or uninitialised extent). */
interface Run {
  logical: number;
  phys: number;
  len: number;
}

/** The raw inode bytes we need, decoded once. */
interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  flags: number;
  /** i_blocks minus the blocks of an external xattr block, in 512-byte units (0 for a fast symlink). */
  dataSectors: number;
  /** i_block (60 bytes), copied. */
  block: Buffer;
  /** The whole on-disk inode (for in-inode extended attributes), only kept when inline data needs it. */
  raw: Buffer | null;
}

/** An inode object to be filled by `inode()` (a new one, or the directory walk's scratch). */
function blankInode(): Inode {
  return { ino: 0, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, flags: 0, dataSectors: 0, block: EMPTY_BLOCK, raw: null };
}

export class ExtFs implements FsReader<number> {
  readonly type: 'ext2' | 'ext3' | 'ext4';
  readonly label: string | null;
  readonly uuid: string | null;
  readonly needsRecovery: boolean;

  private readonly blockSize: number;
  private readonly blocksCount: number;
  private readonly inodesCount: number;
  /** Inodes in use by the superblock's count (may be stale: a hint for sizing only). */
  private readonly inodesUsed: number;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;
  private readonly groupCount: number;
  private readonly fileType: boolean;
  private readonly inodeTables: Float64Array;
  /** Inodes of each group actually in use at the start of its table (itable_unused honoured). */
  private readonly chunkCache = new Map<number, Buffer>();
  /** The walk's state: directory blocks read so far, parsed directory inodes waiting for readDir, scratch objects. */
  private dirBlocks = new SparseBitSet();
  private readonly pendingDirs = new Map<number, Inode>();
  private readonly childScratch = blankInode();
  private readonly node: Node<number> = { type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, ref: 0 };
  private scratch: Buffer = Buffer.alloc(0);

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    if (src.size < SB_OFFSET + 1024) throw new CorruptImageError(`${name}: too small for an ext filesystem`);
    const sb = src.read(SB_OFFSET, 1024);
    if (sb.readUInt16LE(0x38) !== EXT_MAGIC) throw new CorruptImageError(`${name}: no ext2/3/4 superblock`);
    const bad = (why: string): never => {
      throw new CorruptImageError(`${name}: corrupt ext superblock (${why})`);
    };
    const logBlock = sb.readUInt32LE(0x18);
    if (logBlock > 6) bad(`block size 2^${10 + logBlock}`);
    this.blockSize = 1024 << logBlock;
    const compat = sb.readUInt32LE(0x5c);
    const incompat = sb.readUInt32LE(0x60);
    const roCompat = sb.readUInt32LE(0x64);
    const rev = sb.readUInt32LE(0x4c);
    const is64 = (incompat & INCOMPAT_64BIT) !== 0;
    this.blocksCount = sb.readUInt32LE(0x4) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
    this.inodesCount = sb.readUInt32LE(0x0);
    this.inodesUsed = Math.max(0, this.inodesCount - sb.readUInt32LE(0x10));
    const firstDataBlock = sb.readUInt32LE(0x14);
    const blocksPerGroup = sb.readUInt32LE(0x20);
    this.inodesPerGroup = sb.readUInt32LE(0x28);
    this.inodeSize = rev === 0 ? 128 : sb.readUInt16LE(0x58);
    // A group's bitmap covers blockSize * 8 allocation units: blocks, or clusters with bigalloc (checked as the
    // kernel does: clusters per group within the bitmap, and blocks per group exactly that many clusters).
    if ((roCompat & RO_COMPAT_BIGALLOC) !== 0) {
      const logCluster = sb.readUInt32LE(0x1c);
      if (logCluster < logBlock || logCluster > MAX_LOG_CLUSTER) bad(`cluster size 2^${10 + logCluster}`);
      const clustersPerGroup = sb.readUInt32LE(0x24);
      if (clustersPerGroup === 0 || clustersPerGroup > this.blockSize * 8 || clustersPerGroup * 2 ** (logCluster - logBlock) !== blocksPerGroup) {
        bad(`blocks per group ${blocksPerGroup}, clusters per group ${clustersPerGroup}`);
      }
    } else if (blocksPerGroup === 0 || blocksPerGroup > this.blockSize * 8) bad(`blocks per group ${blocksPerGroup}`);
    if (this.inodesPerGroup === 0 || this.inodesPerGroup > this.blockSize * 8) bad(`inodes per group ${this.inodesPerGroup}`);
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) {
      bad(`inode size ${this.inodeSize}`);
    }
    if (this.blocksCount <= firstDataBlock) bad(`block count ${this.blocksCount}`);
    if (firstDataBlock > 1) bad(`first data block ${firstDataBlock}`);
    this.groupCount = Math.ceil((this.blocksCount - firstDataBlock) / blocksPerGroup);
    if (this.inodesCount === 0 || this.inodesCount > this.groupCount * this.inodesPerGroup) {
      bad(`inode count ${this.inodesCount}`);
    }
    if (incompat & INCOMPAT_JOURNAL_DEV) throw new UnsupportedImageError(`${name}: an external ext journal device`);
    if (incompat & INCOMPAT_COMPRESSION) throw new UnsupportedImageError(`${name}: ext2 compression is not supported`);
    if (incompat & INCOMPAT_DIRDATA) throw new UnsupportedImageError(`${name}: ext4 dirdata is not supported`);
    this.fileType = (incompat & INCOMPAT_FILETYPE) !== 0;
    this.needsRecovery = (incompat & INCOMPAT_RECOVER) !== 0;

    const ext4ish =
      (incompat & ~EXT3_INCOMPAT_SUPPORTED) !== 0 || (roCompat & ~EXT3_RO_COMPAT_SUPPORTED) !== 0;
    this.type = ext4ish ? 'ext4' : compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
    const label = cString(sb, 0x78, 16);
    this.label = label === '' ? null : label;
    this.uuid = formatUuid(sb, 0x68);

    // Group descriptors.
    let descSize = 32;
    if (is64) {
      descSize = sb.readUInt16LE(0xfe);
      if (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0) bad(`descriptor size ${descSize}`);
    }
    if (this.groupCount * descSize > src.size || this.groupCount > 2 ** 32) bad(`${this.groupCount} block groups`);
    const descPerBlock = this.blockSize / descSize;
    const descBlocks = Math.ceil(this.groupCount / descPerBlock);
    const metaBg = (incompat & INCOMPAT_META_BG) !== 0;
    const firstMetaBg = sb.readUInt32LE(0x104);
    const sparse = (roCompat & RO_COMPAT_SPARSE_SUPER) !== 0;
    const hasSuper = (g: number): boolean => {
      if (!sparse || g <= 1) return true;
      for (const base of [3, 5, 7]) {
        let p = base;
        while (p < g) p *= base;
        if (p === g) return true;
      }
      return false;
    };
    this.inodeTables = new Float64Array(this.groupCount);
    const descBlockNo = (i: number): number => {
      // Right after the superblock's block (as the kernel computes it: 1 with 1 KiB blocks, else 0), which is not
      // the first data block with bigalloc (always 0).
      if (!metaBg || i < firstMetaBg) return Math.floor(SB_OFFSET / this.blockSize) + 1 + i;
      const g = i * descPerBlock;
      return firstDataBlock + g * blocksPerGroup + (hasSuper(g) ? 1 : 0);
    };
    for (let i = 0; i < descBlocks; i++) {
      const bno = descBlockNo(i);
      if (bno >= this.blocksCount) bad(`group descriptor block ${bno} beyond the filesystem`);
      const blk = this.readBlocks(bno, 1);
      for (let j = 0; j < descPerBlock; j++) {
        const g = i * descPerBlock + j;
        if (g >= this.groupCount) break;
        const o = j * descSize;
        const table = blk.readUInt32LE(o + 0x8) + (is64 && descSize >= 64 ? blk.readUInt32LE(o + 0x28) * 2 ** 32 : 0);
        const tableBlocks = Math.ceil((this.inodesPerGroup * this.inodeSize) / this.blockSize);
        // A table outside the filesystem is remembered as -1; inodes in that group are reported unreadable.
        this.inodeTables[g] = table === 0 || table + tableBlocks > this.blocksCount ? -1 : table;
      }
    }
  }

  // ---- low level -------------------------------------------------------------------------------------------

  /** `count` blocks from `block`, or only their first `bytes` bytes. */
  private readBlocks(block: number, count: number, bytes = count * this.blockSize): Buffer {
    if (block < 0 || count < 0 || block + count > this.blocksCount) {
      throw new CorruptImageError(`${this.name}: block ${block} (+${count}) outside the filesystem`);
    }
    return this.src.read(block * this.blockSize, Math.min(bytes, count * this.blockSize));
  }

  /**
   * Like readBlocks, into a buffer reused by the next call: for data parsed at once (directory blocks), so listing
   * a large tree does not leave a trail of block-sized buffers for the garbage collector.
   */
  private readBlocksScratch(block: number, count: number): Buffer {
    const bytes = count * this.blockSize;
    if (!this.src.readInto || bytes > SCRATCH_MAX) return this.readBlocks(block, count);
    if (block < 0 || count < 0 || block + count > this.blocksCount) {
      throw new CorruptImageError(`${this.name}: block ${block} (+${count}) outside the filesystem`);
    }
    if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(Math.max(bytes, 2 * this.scratch.length));
    this.src.readInto(this.scratch, block * this.blockSize, bytes);
    return this.scratch.subarray(0, bytes);
  }

  /** The on-disk bytes of one inode (a view into a cached inode-table chunk). */
  private inodeBytes(ino: number): { buf: Buffer; off: number } {
    if (ino < 1 || ino > this.inodesCount) throw new CorruptImageError(`${this.name}: inode ${ino} out of range`);
    const g = Math.floor((ino - 1) / this.inodesPerGroup);
    const idx = (ino - 1) % this.inodesPerGroup;
    const table = this.inodeTables[g]!;
    if (table < 0) throw new CorruptImageError(`${this.name}: inode table of group ${g} is outside the filesystem`);
    const tableBytes = this.inodesPerGroup * this.inodeSize;
    const byteInTable = idx * this.inodeSize;
    const chunkIdx = Math.floor(byteInTable / ITABLE_CHUNK);
    const key = g * Math.ceil(tableBytes / ITABLE_CHUNK) + chunkIdx;
    let chunk = this.chunkCache.get(key);
    if (!chunk) {
      const start = chunkIdx * ITABLE_CHUNK;
      const len = Math.min(ITABLE_CHUNK, tableBytes - start);
      // The evicted chunk's buffer is reused (nothing keeps a view of it: inode() copies what it keeps), so a walk
      // over tens of MiB of inode tables does not leave them behind for the garbage collector.
      let reuse: Buffer | undefined;
      if (this.chunkCache.size >= ITABLE_CACHE_CHUNKS) {
        const oldest = this.chunkCache.keys().next().value as number;
        reuse = this.chunkCache.get(oldest);
        this.chunkCache.delete(oldest);
      }
      const at = table * this.blockSize + start;
      if (reuse && reuse.length === len && this.src.readInto) {
        this.src.readInto(reuse, at, len);
        chunk = reuse;
      } else {
        chunk = this.src.read(at, len);
      }
      this.chunkCache.set(key, chunk);
    }
    return { buf: chunk, off: byteInTable - chunkIdx * ITABLE_CHUNK };
  }

  /**
   * One inode, parsed. `into` (the directory walk's scratch object) is filled instead of a new object being made:
   * the walk parses one inode per entry and keeps only its columns, so it makes no object per entry.
   */
  private inode(ino: number, keepRaw = false, into?: Inode): Inode {
    const { buf, off } = this.inodeBytes(ino);
    const mode = buf.readUInt16LE(off);
    const flags = buf.readUInt32LE(off + 0x20);
    const big = this.inodeSize > 128;
    const extra = big ? buf.readUInt16LE(off + 0x80) : 0;
    let mtime = buf.readInt32LE(off + 0x10);
    if (big && extra >= 12 && 0x80 + extra <= this.inodeSize) {
      const epoch = buf.readUInt32LE(off + 0x88) & 3;
      if (epoch) mtime += epoch * 2 ** 32;
    }
    const inode: Inode = into ?? blankInode();
    inode.ino = ino;
    inode.mode = mode;
    inode.uid = buf.readUInt16LE(off + 0x2) | (buf.readUInt16LE(off + 0x78) << 16);
    inode.gid = buf.readUInt16LE(off + 0x18) | (buf.readUInt16LE(off + 0x7a) << 16);
    inode.size = buf.readUInt32LE(off + 0x4) + buf.readUInt32LE(off + 0x6c) * 2 ** 32;
    inode.mtime = mtime;
    inode.flags = flags;
    inode.dataSectors =
      buf.readUInt32LE(off + 0x1c) + buf.readUInt16LE(off + 0x74) * 2 ** 32 - (buf.readUInt32LE(off + 0x68) !== 0 ? this.blockSize >> 9 : 0);
    // Only directories, symlinks and files being read need their block map: skip the copy for the rest.
    inode.block =
      keepRaw || (mode & 0xf000) === 0x4000 || (mode & 0xf000) === 0xa000
        ? Buffer.from(buf.subarray(off + 0x28, off + 0x28 + N_BLOCKS_BYTES))
        : EMPTY_BLOCK;
    inode.raw = keepRaw || flags & FL_INLINE_DATA ? Buffer.from(buf.subarray(off, off + this.inodeSize)) : null;
    inode.uid >>>= 0;
    inode.gid >>>= 0;
    return inode;
  }

  /** The value of the in-inode `system.data` extended attribute (the tail of inline data), or empty. */
  private inlineTail(inode: Inode): Buffer {
    const raw = inode.raw;
    if (!raw || this.inodeSize <= 128) return Buffer.alloc(0);
    const extra = raw.readUInt16LE(0x80);
    const start = 0x80 + extra;
    if (extra % 4 !== 0 || start + 4 > raw.length || raw.readUInt32LE(start) !== 0xea020000) return Buffer.alloc(0);
    const first = start + 4;
    let p = first;
    while (p + 16 <= raw.length) {
      const nameLen = raw[p]!;
      const nameIndex = raw[p + 1]!;
      if (nameLen === 0 && nameIndex === 0 && raw.readUInt16LE(p + 2) === 0) break;
      const valueOffs = raw.readUInt16LE(p + 2);
      const valueInum = raw.readUInt32LE(p + 4);
      const valueSize = raw.readUInt32LE(p + 8);
      if (p + 16 + nameLen > raw.length) break;
      const name = raw.toString('latin1', p + 16, p + 16 + nameLen);
      if (nameIndex === 7 && name === 'data' && valueInum === 0) {
        const vs = first + valueOffs;
        if (vs + valueSize > raw.length) {
          throw new CorruptImageError(`${this.name}: inode ${inode.ino}: inline data attribute out of bounds`);
        }
        return raw.subarray(vs, vs + valueSize);
      }
      p += (16 + nameLen + 3) & ~3;
    }
    return Buffer.alloc(0);
  }

  /** The block runs of an inode's data covering the first `nBlocks` file blocks. */
  private runs(inode: Inode, nBlocks: number): Run[] {
    if (nBlocks <= 0) return [];
    if (inode.flags & FL_EXTENTS) {
      const out: Run[] = [];
      let nodes = 0;
      const walk = (node: Buffer, depthLeft: number, expectDepth: number | null): void => {
        if (++nodes > 100_000) throw new CorruptImageError(`${this.name}: inode ${inode.ino}: extent tree too large`);
        if (node.length < 12 || node.readUInt16LE(0) !== EXTENT_MAGIC) {
          throw new CorruptImageError(`${this.name}: inode ${inode.ino}: bad extent header`);
        }
        const entries = node.readUInt16LE(2);
        const depth = node.readUInt16LE(6);
        if (depth > MAX_EXTENT_DEPTH || depth > depthLeft || (expectDepth !== null && depth !== expectDepth)) {
          throw new CorruptImageError(`${this.name}: inode ${inode.ino}: bad extent tree depth ${depth}`);
        }
        if (12 + entries * 12 > node.length) {
          throw new CorruptImageError(`${this.name}: inode ${inode.ino}: extent entries overflow their node`);
        }
        for (let i = 0; i < entries; i++) {
          const o = 12 + i * 12;
          const logical = node.readUInt32LE(o);
          if (logical >= nBlocks) break;
          if (depth === 0) {
            let len = node.readUInt16LE(o + 4);
            const uninit = len > 32768;
            if (uninit) len -= 32768;
            const phys = node.readUInt16LE(o + 6) * 2 ** 32 + node.readUInt32LE(o + 8);
            if (len === 0) continue;
            if (!uninit && phys + len > this.blocksCount) {
              throw new CorruptImageError(`${this.name}: inode ${inode.ino}: extent points outside the filesystem`);
            }
            out.push({ logical, phys: uninit ? -1 : phys, len: Math.min(len, nBlocks - logical) });
          } else {
            const child = node.readUInt16LE(o + 8) * 2 ** 32 + node.readUInt32LE(o + 4);
            walk(this.readBlocks(child, 1), depth - 1, depth - 1);
          }
        }
      };
      walk(inode.block, MAX_EXTENT_DEPTH, null);
      out.sort((a, b) => a.logical - b.logical);
      return out;
    }
    // ext2/3 block map: 12 direct, then single, double and triple indirect.
    const out: Run[] = [];
    const per = this.blockSize / 4;
    let logical = 0;
    const push = (phys: number): void => {
      if (phys !== 0 && phys >= this.blocksCount) {
        throw new CorruptImageError(`${this.name}: inode ${inode.ino}: block ${phys} outside the filesystem`);
      }
      const last = out[out.length - 1];
      const p = phys === 0 ? -1 : phys;
      if (last && last.logical + last.len === logical && (p === -1 ? last.phys === -1 : last.phys !== -1 && last.phys + last.len === p)) {
        last.len++;
      } else {
        out.push({ logical, phys: p, len: 1 });
      }
      logical++;
    };
    const skip = (n: number): void => {
      push(0);
      const last = out[out.length - 1]!;
      const extra = Math.min(n - 1, nBlocks - logical);
      last.len += extra;
      logical += extra;
    };
    for (let i = 0; i < 12 && logical < nBlocks; i++) push(inode.block.readUInt32LE(i * 4));
    const indirect = (bno: number, level: number): void => {
      const span = per ** level;
      if (bno === 0) {
        skip(span);
        return;
      }
      const blk = this.readBlocks(bno, 1);
      for (let i = 0; i < per && logical < nBlocks; i++) {
        const child = blk.readUInt32LE(i * 4);
        if (level === 1) push(child);
        else indirect(child, level - 1);
      }
    };
    for (let level = 1; level <= 3 && logical < nBlocks; level++) {
      indirect(inode.block.readUInt32LE((11 + level) * 4), level);
    }
    return out.filter((r) => r.phys !== -1);
  }

  /** The first `length` bytes of an inode's data (holes read as zeros). */
  private data(inode: Inode, length: number): Buffer {
    const want = Math.min(length, inode.size);
    if (want <= 0) return Buffer.alloc(0);
    if (inode.flags & FL_INLINE_DATA) {
      const all = Buffer.concat([inode.block, this.inlineTail(inode)]);
      return all.subarray(0, Math.min(want, all.length));
    }
    const nBlocks = Math.ceil(want / this.blockSize);
    const runs = this.runs(inode, nBlocks);
    if (runs.length === 1 && runs[0]!.logical === 0 && runs[0]!.len === nBlocks && runs[0]!.phys >= 0) {
      // Contiguous: read just the bytes wanted (a slow symlink's target is tens of bytes, not a whole block).
      return this.readBlocks(runs[0]!.phys, nBlocks, want);
    }
    const out = Buffer.alloc(nBlocks * this.blockSize);
    for (const r of runs) {
      if (r.phys < 0) continue;
      this.readBlocks(r.phys, r.len).copy(out, r.logical * this.blockSize);
    }
    return out.subarray(0, want);
  }

  // ---- directories -----------------------------------------------------------------------------------------

  /**
   * The entries of a directory inode to the walk (not `.`/`..`). ext never shares a directory block (within one
   * directory's map or between directories): a block met again is hostile metadata (one block repeated in a map
   * lists the same names millions of times); it is skipped, once noted.
   */
  readDir(ino: number, sink: DirSink<number>): void {
    const dir = this.pendingDirs.get(ino) ?? this.inode(ino);
    this.pendingDirs.delete(ino);
    if (dir.flags & FL_ENCRYPT) {
      sink.problem('encrypted directory, its entries were not listed');
      return;
    }
    const node = this.node;
    const child = this.childScratch;
    const visit = (name: string, childIno: number): void => {
      try {
        this.inode(childIno, false, child);
      } catch (err) {
        sink.failed(err, name);
        return;
      }
      const type = typeOfMode(child.mode);
      node.type = type;
      node.mode = child.mode & 0o7777;
      node.uid = child.uid;
      node.gid = child.gid;
      node.size = child.size;
      node.mtime = child.mtime;
      node.ref = childIno;
      node.target = undefined;
      if (type === 'symlink') {
        try {
          node.target = this.symlinkTarget(child);
        } catch (err) {
          node.target = '';
          sink.failed(err, name, 'unreadable symlink');
        }
      } else if (type === 'dir') {
        this.pendingDirs.set(childIno, { ...child });
      }
      sink.entry(name, node);
    };
    const parseBlock = (buf: Buffer, start: number, end: number): void => {
      let p = start;
      while (p + 8 <= end) {
        const entIno = buf.readUInt32LE(p);
        let recLen = buf.readUInt16LE(p + 4);
        if (this.blockSize >= 65536 && (recLen === 0 || recLen === 65535)) recLen = this.blockSize;
        else if (this.blockSize >= 65536) recLen = (recLen & 65532) | ((recLen & 3) << 16);
        const nameLen = buf[p + 6]!;
        if (recLen < 8 || recLen % 4 !== 0 || p + recLen > end || (entIno !== 0 && 8 + nameLen > recLen)) {
          sink.problem(`corrupt directory entry at byte ${p - start} of a block`);
          return;
        }
        if (entIno !== 0 && nameLen > 0) {
          const isDot = buf[p + 8] === 0x2e && (nameLen === 1 || (nameLen === 2 && buf[p + 9] === 0x2e));
          if (!isDot) {
            const name = buf.toString('utf8', p + 8, p + 8 + nameLen);
            if (entIno > this.inodesCount) sink.problem(`inode ${entIno} out of range`, name);
            else visit(name, entIno);
          }
        }
        p += recLen;
      }
    };
    if (dir.flags & FL_INLINE_DATA) {
      // i_block: 4 bytes of parent inode, then entries; the rest continues in the system.data attribute.
      parseBlock(dir.block, 4, N_BLOCKS_BYTES);
      const tail = this.inlineTail(dir);
      if (tail.length > 0) parseBlock(tail, 0, tail.length);
      return;
    }
    const nBlocks = Math.ceil(dir.size / this.blockSize);
    let shared = 0;
    for (const r of this.runs(dir, nBlocks)) {
      if (r.phys < 0) continue;
      const buf = this.readBlocksScratch(r.phys, r.len);
      for (let b = 0; b < r.len; b++) {
        if (!this.dirBlocks.add(r.phys + b)) {
          if (shared++ === 0) sink.problem(`directory block ${r.phys + b} met twice (repeated in its block map or shared with another directory); skipped`);
          continue;
        }
        parseBlock(buf, b * this.blockSize, (b + 1) * this.blockSize);
      }
    }
  }

  /** Files are read in the order of their inode numbers, which follows the order their data was written. */
  readOrder(ino: number): number {
    return ino;
  }

  dirKey(ino: number): number {
    return ino;
  }

  private symlinkTarget(inode: Inode): string {
    const size = Math.min(inode.size, LIMITS.maxSymlink);
    if (inode.flags & FL_INLINE_DATA) return this.data(inode, size).toString('utf8');
    // Fast symlink (the kernel's test): no data blocks besides an xattr block; the target lives in i_block.
    if (inode.dataSectors === 0) {
      if (inode.size === 0 || inode.size >= N_BLOCKS_BYTES) {
        throw new CorruptImageError(`invalid fast symlink length ${inode.size}`);
      }
      return inode.block.toString('utf8', 0, size);
    }
    const buf = this.data(inode, size);
    const nul = buf.indexOf(0);
    return buf.toString('utf8', 0, nul >= 0 ? nul : buf.length);
  }

  // ---- public ----------------------------------------------------------------------------------------------

  root(sink: DirSink<number>): Node<number> {
    this.dirBlocks = new SparseBitSet();
    this.pendingDirs.clear();
    if (this.blocksCount * this.blockSize > this.src.size) {
      sink.whole(`the ${this.type} filesystem is truncated (${this.blocksCount * this.blockSize} bytes, the image holds ${this.src.size})`);
    }
    if (this.needsRecovery) sink.whole(`the ${this.type} journal needs recovery; it was not replayed, recent changes may be missing`);
    const root = this.inode(ROOT_INO);
    this.pendingDirs.set(ROOT_INO, root);
    return { type: typeOfMode(root.mode), mode: root.mode & 0o7777, uid: root.uid, gid: root.gid, size: root.size, mtime: root.mtime, ref: ROOT_INO };
  }

  /**
   * About one entry per used inode (hard links add a few). A hint from an untrusted superblock, so never more than
   * the image could hold (each inode takes inodeSize bytes of it).
   */
  expectedEntries(): number {
    return Math.min(this.inodesUsed, Math.floor(this.src.size / this.inodeSize)) + 64;
  }

  /** Listing is over: what is read from now on (a few files) does not need the walk's caches. */
  walked(): void {
    this.pendingDirs.clear();
    this.dirBlocks = new SparseBitSet();
    this.chunkCache.clear();
    this.scratch = Buffer.alloc(0);
    this.src.dropCache?.();
  }

  readFile(ino: number, maxBytes: number): FileContent {
    const inode = this.inode(ino, true);
    if ((inode.mode & 0xf000) !== 0x8000) throw new CorruptImageError(`${this.name}: inode ${ino} is not a regular file`);
    const data = this.data(inode, Math.min(maxBytes, inode.size));
    return { data, size: inode.size, truncated: inode.size > data.length };
  }

  openFile(ino: number): ByteSource {
    const inode = this.inode(ino, true);
    if ((inode.mode & 0xf000) !== 0x8000) throw new CorruptImageError(`${this.name}: inode ${ino} is not a regular file`);
    if (inode.flags & FL_INLINE_DATA) return new BufferSource(this.data(inode, inode.size));
    const runs = this.runs(inode, Math.ceil(inode.size / this.blockSize));
    const bs = this.blockSize;
    const extents = runs
      .filter((r) => r.phys >= 0)
      .map((r) => ({ logical: r.logical * bs, physical: r.phys * bs, length: r.len * bs }));
    return new ExtentSource(this.src, inode.size, extents);
  }
}
