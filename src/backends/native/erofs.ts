/**
 * erofs reader: superblock, compact (32-byte) and extended (64-byte) inodes, plain, inline (tail-packed) and
 * chunk-based data (block maps and chunk indexes, `mkfs.erofs --chunksize`), directories, symlinks, devices; lz4-compressed files (legacy and compact cluster indexes, lz4 with zero padding)
 * for contents. Metadata listing works for every layout; a file whose data layout or compression the reader does
 * not decode lists normally and reads as an error naming why.
 *
 * Untrusted input: block addresses are checked against the filesystem, directories are read once each (cycle guard
 * on their nid), name offsets are validated per block, and the walk keeps its own stack.
 */
import type { FileContent } from '../backend.js';
import { decompressSync } from '../../image/codecs.js';
import { LIMITS } from './fs.js';
import { typeOfMode } from '../../types.js';
import type { DirSink, FsReader, Node } from './walk.js';
import { CorruptImageError, ExtentSource, UnsupportedImageError, WINDOW, WindowCache, type ByteSource, type FileExtent } from './source.js';

const SB_OFFSET = 1024;
const MAGIC = 0xe0f5e1e2;
const DIRENT_SIZE = 12;

// Data layouts (i_format bits 1-3).
const FLAT_PLAIN = 0;
const COMPRESSED_FULL = 1;
const FLAT_INLINE = 2;
const COMPRESSED_COMPACT = 3;
const CHUNK_BASED = 4;
/** Chunk format (i_u of a chunk-based inode): chunk size as blkbits over the block size, and the index flag. */
const CHUNK_FORMAT_BLKBITS = 0x1f;
const CHUNK_FORMAT_INDEXES = 0x20;
const CHUNK_FORMAT_ALL = CHUNK_FORMAT_BLKBITS | CHUNK_FORMAT_INDEXES;
/** A chunk's block address meaning "hole". */
const NULL_ADDR = 0xffffffff;
/** Chunk table entries read at once. */
const MAX_CHUNKS_PER_READ = 65536;

/** Largest decompressed extent accepted (one pcluster's output; mkfs.erofs writes far less). */
const MAX_EXTENT = 16 * 1024 * 1024;
const INCOMPAT_ZERO_PADDING = 0x1;
const ADVISE_COMPACTED_2B = 0x1;
const ADVISE_BIG_PCLUSTER_1 = 0x2;
const ADVISE_BIG_PCLUSTER_2 = 0x4;
const ADVISE_INLINE_PCLUSTER = 0x8;
/** In a NONHEAD lcluster right after a HEAD: the pcluster's block count, not a distance. */
const D0_CBLKCNT = 0x800;

/** One logical cluster's index entry: type (0 PLAIN, 1 HEAD1, 2 NONHEAD, 3 HEAD2), offset, block, raw low bits. */
interface ClusterIndex {
  type: number;
  clusterofs: number;
  blkaddr: number;
  lo: number;
}
const INCOMPAT_BIG_PCLUSTER = 0x2;

export function isErofs(src: ByteSource): boolean {
  return src.size >= SB_OFFSET + 128 && src.read(SB_OFFSET, 4).readUInt32LE(0) === MAGIC;
}


interface Inode {
  nid: number;
  layout: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** i_u: raw block address (plain/inline) or other layout-specific data. */
  u: number;
  /** Byte position right after the inode and its inline xattrs (inline tail / compression map). */
  tailPos: number;
}

export class ErofsFs implements FsReader<number> {
  readonly type = 'erofs';
  readonly label: string | null;
  readonly uuid: string | null;
  private readonly blkBits: number;
  private readonly blkSize: number;
  private readonly blocks: number;
  private readonly inodes: number;
  private readonly metaBase: number;
  private readonly rootNid: number;
  private readonly buildTime: number;
  private readonly incompat: number;

  /** The directory being listed (see dirData). */
  private dirBuf = Buffer.alloc(0);
  /** The child inode and the node being listed (the walk copies what it keeps). */
  private readonly scratch: Inode = { nid: 0, layout: 0, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, u: 0, tailPos: 0 };
  private readonly scratchNode: Node<number> = { type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, ref: 0 };
  /** The image through cached 64 KiB windows: inodes, directories and symlinks are small reads next to each other. */
  private readonly meta: WindowCache;
  /**
   * Where data (directories and symlinks while listing, files after) is read: the cache during the walk, the image
   * itself after it (file contents are read once each, and a failing read must fail, not come from a window).
   */
  private io: ByteSource;

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    this.meta = src instanceof WindowCache ? src : new WindowCache(src);
    this.io = this.meta;
    if (!isErofs(src)) throw new CorruptImageError(`${name}: no erofs superblock`);
    const sb = src.read(SB_OFFSET, 128);
    const bad = (why: string): never => {
      throw new CorruptImageError(`${name}: corrupt erofs superblock (${why})`);
    };
    this.blkBits = sb[12]!;
    if (this.blkBits < 9 || this.blkBits > 16) bad(`block size 2^${this.blkBits}`);
    this.blkSize = 1 << this.blkBits;
    this.rootNid = sb.readUInt16LE(14);
    this.buildTime = Number(sb.readBigUInt64LE(24) & 0xffffffffffffn);
    this.blocks = sb.readUInt32LE(36);
    this.inodes = sb.readUInt32LE(16) + sb.readUInt32LE(20) * 0x100000000;
    this.metaBase = sb.readUInt32LE(40) * this.blkSize;
    this.incompat = sb.readUInt32LE(80);
    if (this.metaBase >= src.size) bad('metadata block address');
    if (sb.readUInt16LE(86) !== 0) throw new UnsupportedImageError(`${name}: erofs with extra devices is not supported`);
    const h = sb.toString('hex', 48, 64);
    this.uuid = /^0+$/.test(h) ? null : `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    let end = 64;
    while (end < 80 && sb[end] !== 0) end++;
    const label = sb.toString('utf8', 64, end);
    this.label = label === '' ? null : label;
  }

  // ---- inodes ------------------------------------------------------------------------------------------------

  private inode(nid: number, into?: Inode): Inode {
    const pos = this.metaBase + nid * 32;
    const size = this.src.size;
    if (!Number.isSafeInteger(pos) || pos + 32 > size) throw new CorruptImageError(`${this.name}: inode ${nid} outside the image`);
    // Parsed in place from the metadata cache's window (an extended inode that crosses a window is copied out).
    let b = this.meta.windowAt(pos, 32)!;
    let at = pos % WINDOW;
    const format = b[at]! | (b[at + 1]! << 8);
    const extended = (format & 1) !== 0;
    if (extended) {
      if (pos + 64 > size) throw new CorruptImageError(`${this.name}: inode ${nid} outside the image`);
      const w = this.meta.windowAt(pos, 64);
      if (w) b = w;
      else {
        b = this.meta.read(pos, 64);
        at = 0;
      }
    }
    const icount = b[at + 2]! | (b[at + 3]! << 8);
    const xattrSize = icount === 0 ? 0 : 12 + (icount - 1) * 4;
    const ino: Inode = into ?? { nid: 0, layout: 0, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, u: 0, tailPos: 0 };
    ino.nid = nid;
    ino.layout = (format >> 1) & 7;
    ino.mode = b[at + 4]! | (b[at + 5]! << 8);
    ino.u = b.readUInt32LE(at + 16);
    if (extended) {
      // 64-bit fields, of which erofs uses 53 (size) and 48 (mtime seconds) bits.
      ino.size = b.readUInt32LE(at + 8) + (b.readUInt32LE(at + 12) & 0x1fffff) * 0x100000000;
      ino.uid = b.readUInt32LE(at + 24);
      ino.gid = b.readUInt32LE(at + 28);
      ino.mtime = b.readUInt32LE(at + 32) + (b.readUInt32LE(at + 36) & 0xffff) * 0x100000000;
      ino.tailPos = pos + 64 + xattrSize;
    } else {
      ino.size = b.readUInt32LE(at + 8);
      ino.uid = b[at + 24]! | (b[at + 25]! << 8);
      ino.gid = b[at + 26]! | (b[at + 27]! << 8);
      // Compact inodes: the build time plus a per-inode offset (0 in images from before that field existed).
      ino.mtime = this.buildTime + b.readUInt32LE(at + 12);
      ino.tailPos = pos + 32 + xattrSize;
    }
    return ino;
  }

  /**
   * The byte extents of a plain, inline or chunk-based inode's data, as (logical, physical, length); for chunk-based
   * files only the chunks up to byte `upTo` are mapped.
   */
  private flatExtents(ino: Inode, upTo = ino.size): FileExtent[] {
    const size = ino.size;
    if (size === 0) return [];
    if (ino.layout === FLAT_PLAIN) {
      const nBlocks = Math.ceil(size / this.blkSize);
      if (ino.u + nBlocks > this.blocks || (ino.u + nBlocks) * this.blkSize > this.src.size) {
        throw new CorruptImageError(`${this.name}: inode ${ino.nid}: data outside the filesystem`);
      }
      return [{ logical: 0, physical: ino.u * this.blkSize, length: size }];
    }
    if (ino.layout === FLAT_INLINE) {
      const full = Math.floor(size / this.blkSize);
      const tail = size - full * this.blkSize;
      const out: Array<{ logical: number; physical: number; length: number }> = [];
      if (full > 0) {
        if (ino.u + full > this.blocks || (ino.u + full) * this.blkSize > this.src.size) {
          throw new CorruptImageError(`${this.name}: inode ${ino.nid}: data outside the filesystem`);
        }
        out.push({ logical: 0, physical: ino.u * this.blkSize, length: full * this.blkSize });
      }
      if (tail > 0) {
        // The tail must sit in the same metadata block as the inode.
        const inBlock = ino.tailPos % this.blkSize;
        if (inBlock + tail > this.blkSize || ino.tailPos + tail > this.src.size) {
          throw new CorruptImageError(`${this.name}: inode ${ino.nid}: inline data crosses its block`);
        }
        out.push({ logical: full * this.blkSize, physical: ino.tailPos, length: tail });
      }
      return out;
    }
    if (ino.layout === COMPRESSED_FULL || ino.layout === COMPRESSED_COMPACT) {
      throw new UnsupportedImageError(`inode ${ino.nid}: compressed data is read with readCompressed`);
    }
    if (ino.layout === CHUNK_BASED) return this.chunkExtents(ino, upTo);
    throw new CorruptImageError(`${this.name}: inode ${ino.nid}: unknown data layout ${ino.layout}`);
  }

  /**
   * A chunk-based file (`mkfs.erofs --chunksize`): i_u holds the chunk format (chunk size = block size << low 5 bits;
   * bit 5: 8-byte chunk indexes, else a 4-byte block address per chunk), and the array follows the inode and its
   * inline xattrs, aligned to its entry size. A block address of all ones is a hole (zeros). Chunks on extra devices
   * cannot occur: an erofs with extra devices is refused at the superblock.
   */
  private chunkExtents(ino: Inode, upTo: number): FileExtent[] {
    const format = ino.u & 0xffff;
    if ((format & ~CHUNK_FORMAT_ALL) !== 0) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: unknown chunk format 0x${format.toString(16)}`);
    const chunkBits = this.blkBits + (format & CHUNK_FORMAT_BLKBITS);
    if (chunkBits > 40) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: chunk size 2^${chunkBits}`);
    const chunkSize = 2 ** chunkBits;
    const unit = (format & CHUNK_FORMAT_INDEXES) !== 0 ? 8 : 4;
    const base = Math.ceil(ino.tailPos / unit) * unit;
    const total = Math.ceil(ino.size / chunkSize);
    if (base + total * unit > this.src.size) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: chunk table outside the image`);
    const count = Math.ceil(Math.min(upTo, ino.size) / chunkSize);
    const out: FileExtent[] = [];
    for (let i = 0; i < count; i += MAX_CHUNKS_PER_READ) {
      const n = Math.min(MAX_CHUNKS_PER_READ, count - i);
      const table = this.io.read(base + i * unit, n * unit);
      for (let k = 0; k < n; k++) {
        const blk = table.readUInt32LE(k * unit + unit - 4);
        if (blk === NULL_ADDR) continue;
        const logical = (i + k) * chunkSize;
        const length = Math.min(chunkSize, ino.size - logical);
        if (blk + Math.ceil(length / this.blkSize) > this.blocks || blk * this.blkSize + length > this.src.size) {
          throw new CorruptImageError(`${this.name}: inode ${ino.nid}: chunk ${i + k} outside the filesystem`);
        }
        const physical = blk * this.blkSize;
        const last = out[out.length - 1];
        if (last && last.logical + last.length === logical && last.physical + last.length === physical) last.length += length;
        else out.push({ logical, physical, length });
      }
    }
    return out;
  }

  /** The first `length` bytes of an inode's data. */
  private data(ino: Inode, length: number): Buffer {
    const want = Math.min(length, ino.size);
    if (want <= 0) return Buffer.alloc(0);
    if (ino.layout === COMPRESSED_FULL || ino.layout === COMPRESSED_COMPACT) return this.readCompressed(ino, want);
    return new ExtentSource(this.io, ino.size, this.flatExtents(ino, want)).read(0, want);
  }

  // ---- compressed files --------------------------------------------------------------------------------------

  /**
   * lz4 files: walk the logical clusters (lclusters) through the cluster index and decode each physical cluster.
   * Supports the legacy full index (8 bytes per lcluster) and compact 4B/2B indexes, single-block pclusters, lz4
   * with zero padding (what mkfs.erofs -zlz4/-zlz4hc writes without big pcluster).
   */
  private readCompressed(ino: Inode, want: number): Buffer {
    const mapPos = Math.ceil(ino.tailPos / 8) * 8;
    if (mapPos + 8 > this.src.size) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: compression map outside the image`);
    const legacy = ino.layout === COMPRESSED_FULL && (this.incompat & INCOMPAT_BIG_PCLUSTER) === 0;
    const hdr = this.io.read(mapPos, 8);
    // Without big pclusters, a legacy-indexed file has no map header: lz4, one block per lcluster.
    const advise = legacy ? 0 : hdr.readUInt16LE(4);
    const algs = legacy ? 0 : hdr[6]!;
    const lclusterBits = legacy ? this.blkBits : this.blkBits + (hdr[7]! & 7);
    if ((algs & 0x0f) !== 0) throw new UnsupportedImageError(`${this.name}: inode ${ino.nid}: erofs compression algorithm ${algs & 0x0f} is not supported (lz4 only)`);
    if (advise & ~(ADVISE_COMPACTED_2B | ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2 | ADVISE_INLINE_PCLUSTER)) {
      // Fragments (tails packed into a shared inode) and interlaced pclusters are not decoded.
      throw new UnsupportedImageError(`${this.name}: inode ${ino.nid}: erofs compression options 0x${advise.toString(16)} are not supported`);
    }
    if ((algs >> 4) !== 0 && (algs >> 4) !== (algs & 0x0f)) {
      throw new UnsupportedImageError(`${this.name}: inode ${ino.nid}: erofs second compression algorithm ${algs >> 4} is not supported`);
    }
    const lsize = 1 << lclusterBits;
    const nClusters = Math.ceil(ino.size / lsize);
    // Legacy indexes follow the map header and 8 bytes of padding; compact ones follow the header.
    // Only the lclusters up to the first extent start past the bytes wanted are decoded (a file's head, which is
    // what rules read, costs its head, not the whole index).
    const { indexes, end: indexEnd } = this.clusterIndexes(ino, mapPos + (ino.layout === COMPRESSED_FULL ? 16 : 8), nClusters, lclusterBits, advise, Math.floor((want - 1) / lsize));
    const out = Buffer.alloc(want);
    // Extents: each HEAD (or PLAIN) lcluster starts a new extent at (lcn << bits) + clusterofs. With big pclusters,
    // the NONHEAD right after a HEAD may carry the pcluster's block count (the CBLKCNT flag); otherwise it is 1.
    const starts: Array<{ at: number; blk: number; blocks: number; plain: boolean }> = [];
    for (let lcn = 0; lcn < indexes.length; lcn++) {
      const ix = indexes[lcn]!;
      if (ix.type === 2) continue; // NONHEAD
      const big = (ix.type === 1 && advise & ADVISE_BIG_PCLUSTER_1) || (ix.type === 3 && advise & ADVISE_BIG_PCLUSTER_2);
      const next = indexes[lcn + 1];
      const blocks = big && next && next.type === 2 && next.lo & D0_CBLKCNT ? next.lo & ~D0_CBLKCNT : 1;
      if (blocks === 0 || blocks > MAX_EXTENT / this.blkSize) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: pcluster of ${blocks} blocks`);
      starts.push({ at: lcn * lsize + ix.clusterofs, blk: ix.blkaddr, blocks, plain: ix.type === 0 });
    }
    // Inline pcluster (ztailpacking): the last extent's compressed data follows the cluster index in the inode's block.
    const inlineSize = advise & ADVISE_INLINE_PCLUSTER ? hdr.readUInt16LE(2) : 0;
    if (starts.length === 0 || starts[0]!.at !== 0) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: compression map without a first extent`);
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      if (s.at >= want) break;
      const end = i + 1 < starts.length ? starts[i + 1]!.at : ino.size;
      if (end <= s.at || end - s.at > MAX_EXTENT) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: bad extent length ${end - s.at}`);
      let raw: Buffer;
      // The inline pcluster is the one of the extent holding the file's last byte (a PLAIN marker may follow at EOF).
      if (inlineSize > 0 && end >= ino.size) {
        if (indexEnd + inlineSize > this.src.size || (indexEnd % this.blkSize) + inlineSize > this.blkSize) {
          throw new CorruptImageError(`${this.name}: inode ${ino.nid}: inline pcluster crosses its block`);
        }
        raw = this.io.read(indexEnd, inlineSize);
      } else {
        if (s.blk + s.blocks > this.blocks || (s.blk + s.blocks) * this.blkSize > this.src.size) {
          throw new CorruptImageError(`${this.name}: inode ${ino.nid}: pcluster outside the filesystem`);
        }
        raw = this.io.read(s.blk * this.blkSize, s.blocks * this.blkSize);
      }
      let data: Buffer;
      if (s.plain) data = raw.subarray(0, end - s.at);
      else {
        if (this.incompat & INCOMPAT_ZERO_PADDING) {
          // The compressed stream ends at the block's end; the zero bytes before it are padding.
          let z = 0;
          while (z < raw.length && raw[z] === 0) z++;
          data = decompressSync('lz4', raw.subarray(z), end - s.at, true);
        } else {
          // The stream starts the block and is followed by garbage: decode until the extent is complete.
          data = decompressSync('lz4', raw, end - s.at, false, true);
        }
        if (data.length < end - s.at) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: short lz4 cluster`);
      }
      data.copy(out, s.at, 0, Math.min(end, want) - s.at);
    }
    return out;
  }

  private clusterIndexes(
    ino: Inode,
    pos: number,
    n: number,
    lclusterBits: number,
    advise: number,
    stopAfter = n,
  ): { indexes: ClusterIndex[]; end: number } {
    if (n > 16 * 1024 * 1024) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: too many clusters`);
    const out: ClusterIndex[] = [];
    if (ino.layout === COMPRESSED_FULL) {
      if (pos + n * 8 > this.src.size) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: cluster index outside the image`);
      const b = this.io.read(pos, n * 8);
      for (let i = 0; i < n; i++) {
        // di_u: the block address (HEAD/PLAIN) or delta[0] (NONHEAD, with the CBLKCNT flag for big pclusters).
        const type = b.readUInt16LE(i * 8) & 3;
        out.push({ type, clusterofs: b.readUInt16LE(i * 8 + 2), blkaddr: b.readUInt32LE(i * 8 + 4), lo: b.readUInt16LE(i * 8 + 4) });
        if (i > stopAfter && type !== 2) break;
      }
      return { indexes: out, end: pos + n * 8 };
    }
    const bigPcluster = (advise & ADVISE_BIG_PCLUSTER_1) !== 0;
    let end = pos;
    // Compact indexes: 4-byte slots until the index is 32-byte aligned, then (advise COMPACTED_2B) packs of 16
    // 2-byte slots, then 4-byte slots again; each pack ends with the block address its HEAD lclusters count from.
    if (lclusterBits !== 12) throw new UnsupportedImageError(`${this.name}: inode ${ino.nid}: erofs compact indexes with ${1 << lclusterBits}-byte clusters are not supported`);
    let initial4b = (32 - (pos % 32)) / 4;
    if (initial4b === 8) initial4b = 0;
    let count2b = 0;
    if (advise & ADVISE_COMPACTED_2B && initial4b < n) count2b = Math.floor((n - initial4b) / 16) * 16;
    const areaEnd = pos + initial4b * 4 + count2b * 2 + (n - initial4b - count2b) * 4 + 8;
    if (areaEnd > this.src.size) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: cluster index outside the image`);
    const area = this.io.read(pos, areaEnd - pos);
    for (let lcn = 0; lcn < n; lcn++) {
      let slot = pos;
      let rel = lcn;
      let shift = 2;
      if (rel >= initial4b) {
        slot += initial4b * 4;
        rel -= initial4b;
        if (rel < count2b) shift = 1;
        else {
          slot += count2b * 2;
          rel -= count2b;
        }
      }
      slot += rel << shift;
      const vcnt = shift === 1 ? 16 : 2;
      const packBytes = vcnt << shift;
      // Packs are aligned to their size (the index starts 8-aligned, 2-byte packs 32-aligned).
      const packAt = slot - (slot % packBytes) - pos;
      if (packAt < 0) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: misaligned cluster index`);
      let i = ((slot % packBytes) >> shift);
      const encodebits = ((packBytes - 4) * 8) / vcnt;
      const decode = (k: number): { type: number; lo: number } => {
        const bit = encodebits * k;
        const byte = packAt + (bit >> 3);
        const v = (area[byte]! | (area[byte + 1]! << 8) | ((area[byte + 2] ?? 0) << 16) | ((area[byte + 3] ?? 0) << 24)) >>> (bit & 7);
        return { type: (v >>> lclusterBits) & 3, lo: v & ((1 << lclusterBits) - 1) };
      };
      end = pos + packAt + packBytes;
      const me = decode(i);
      if (me.type === 2) {
        out.push({ type: 2, clusterofs: 0, blkaddr: 0, lo: me.lo });
        continue;
      }
      // The blocks of the pclusters before this one in the pack, counted back from the pack's base address.
      let nblk = bigPcluster ? 0 : 1;
      while (i > 0) {
        --i;
        const o = decode(i);
        if (!bigPcluster) {
          if (o.type === 2) i -= o.lo;
          if (i >= 0) ++nblk;
        } else if (o.type === 2) {
          if (o.lo & D0_CBLKCNT) {
            // The CBLKCNT NONHEAD right after a HEAD: that pcluster's size; skip its HEAD.
            --i;
            nblk += o.lo & ~D0_CBLKCNT;
          } else {
            if (o.lo <= 1) throw new CorruptImageError(`${this.name}: inode ${ino.nid}: big pcluster without its block count`);
            i -= o.lo - 2;
          }
        } else {
          ++nblk;
        }
      }
      out.push({ type: me.type, clusterofs: me.lo, blkaddr: area.readUInt32LE(packAt + packBytes - 4) + nblk, lo: me.lo });
      // An extent starts past the bytes wanted: what follows is not read (nor the inline pcluster after the index).
      if (lcn > stopAfter) break;
    }
    return { indexes: out, end };
  }

  // ---- directories -------------------------------------------------------------------------------------------

  /**
   * A directory's bytes (the first `dir.size` of the buffer): plain and inline ones are copied out of the metadata
   * cache into one buffer reused from directory to directory (readDir is synchronous and decodes it at once).
   */
  private dirData(dir: Inode): Buffer {
    if (dir.layout !== FLAT_PLAIN && dir.layout !== FLAT_INLINE) return this.data(dir, dir.size);
    if (this.dirBuf.length < dir.size) this.dirBuf = Buffer.allocUnsafeSlow(Math.max(dir.size, this.blkSize));
    const buf = this.dirBuf;
    for (const e of this.flatExtents(dir)) {
      const w = this.meta.windowAt(e.physical, e.length);
      if (w) {
        const at = e.physical % WINDOW;
        w.copy(buf, e.logical, at, at + e.length);
      } else this.meta.read(e.physical, e.length).copy(buf, e.logical);
    }
    return buf;
  }

  readDir(dirNid: number, sink: DirSink<number>): void {
    const dir = this.inode(dirNid);
    const data = this.dirData(dir);
    const length = Math.min(dir.size, data.length);
    for (let blk = 0; blk < length; blk += this.blkSize) {
      const end = Math.min(length, blk + this.blkSize);
      if (end - blk < DIRENT_SIZE) {
        sink.problem('corrupt directory block');
        return;
      }
      const firstOff = data.readUInt16LE(blk + 8);
      const count = Math.floor(firstOff / DIRENT_SIZE);
      if (firstOff % DIRENT_SIZE !== 0 || count === 0 || firstOff > end - blk) {
        sink.problem('corrupt directory block');
        return;
      }
      for (let i = 0; i < count; i++) {
        const d = blk + i * DIRENT_SIZE;
        // A 64-bit nid of which erofs uses 48 bits.
        const nid = data.readUInt32LE(d) + (data.readUInt16LE(d + 4) * 0x100000000);
        const nameOff = data.readUInt16LE(d + 8);
        let nameEnd = i + 1 < count ? data.readUInt16LE(d + DIRENT_SIZE + 8) : end - blk;
        if (nameOff < firstOff || nameEnd > end - blk || nameEnd < nameOff) {
          sink.problem('corrupt directory entry');
          return;
        }
        // The last name of a block may be followed by NUL padding.
        if (i + 1 === count) while (nameEnd > nameOff && data[blk + nameEnd - 1] === 0) nameEnd--;
        const name = data.toString('utf8', blk + nameOff, blk + nameEnd);
        if (name === '.' || name === '..') continue;
        let child: Inode;
        try {
          child = this.inode(nid, this.scratch);
        } catch (err) {
          sink.failed(err, name);
          continue;
        }
        const node = this.node(child, this.scratchNode);
        if (node.type === 'symlink') {
          try {
            if (child.size === 0 || child.size > LIMITS.maxSymlink) throw new CorruptImageError(`symlink target length ${child.size}`);
            node.target = this.symlinkTarget(child);
          } catch (err) {
            node.target = '';
            sink.failed(err, name, 'unreadable symlink');
          }
        }
        sink.entry(name, node);
      }
    }
  }

  /** A symlink's target: decoded in place from the metadata cache when it is one inline tail (the usual case). */
  private symlinkTarget(ino: Inode): string {
    if (ino.layout === FLAT_INLINE && ino.size < this.blkSize) {
      const inBlock = ino.tailPos % this.blkSize;
      if (inBlock + ino.size > this.blkSize || ino.tailPos + ino.size > this.src.size) {
        throw new CorruptImageError(`${this.name}: inode ${ino.nid}: inline data crosses its block`);
      }
      const w = this.meta.windowAt(ino.tailPos, ino.size);
      if (w) {
        const at = ino.tailPos % WINDOW;
        return w.toString('utf8', at, at + ino.size);
      }
    }
    return this.data(ino, ino.size).toString('utf8');
  }

  /** Files are read in the order of their inode numbers, which follows the order their data was written. */
  readOrder(nid: number): number {
    return nid;
  }

  dirKey(nid: number): number {
    return nid;
  }

  /** The listing is over: its cached metadata windows go (file reads fill them again as they need). */
  walked(): void {
    this.meta.dropCache();
    this.io = this.src;
    this.dirBuf = Buffer.alloc(0);
  }

  /** The superblock's inode count (a hint: the inventory caps it). */
  expectedEntries(): number {
    return this.inodes;
  }

  private node(ino: Inode, into?: Node<number>): Node<number> {
    const type = typeOfMode(ino.mode);
    const special = type === 'chardev' || type === 'blockdev' || type === 'fifo' || type === 'socket';
    const node: Node<number> = into ?? { type, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, ref: 0 };
    node.type = type;
    node.mode = ino.mode & 0o7777;
    node.uid = ino.uid;
    node.gid = ino.gid;
    node.size = special ? 0 : ino.size;
    node.mtime = ino.mtime;
    node.ref = ino.nid;
    node.target = undefined;
    return node;
  }

  // ---- public ------------------------------------------------------------------------------------------------

  root(sink: DirSink<number>): Node<number> {
    if (this.blocks * this.blkSize > this.src.size) {
      sink.whole(`the erofs filesystem is truncated (${this.blocks * this.blkSize} bytes, the image holds ${this.src.size})`);
    }
    return this.node(this.inode(this.rootNid));
  }

  private fileInode(nid: number): Inode {
    const ino = this.inode(nid);
    if ((ino.mode & 0xf000) !== 0x8000) throw new CorruptImageError(`${this.name}: inode ${nid} is not a regular file`);
    return ino;
  }

  readFile(nid: number, maxBytes: number): FileContent {
    const ino = this.fileInode(nid);
    const data = this.data(ino, Math.min(maxBytes, ino.size));
    return { data, size: ino.size, truncated: ino.size > data.length };
  }

  /** Plain and inline files map to extents; a compressed file cannot be a random-access source. */
  openFile(nid: number): ByteSource {
    const ino = this.fileInode(nid);
    if (ino.layout === COMPRESSED_FULL || ino.layout === COMPRESSED_COMPACT) {
      throw new UnsupportedImageError(`a compressed erofs file cannot be opened as an image`);
    }
    return new ExtentSource(this.src, ino.size, this.flatExtents(ino));
  }
}
