/**
 * Read-only xfs (v4 and v5 superblocks): inodes (v1/v2/v3 cores, big timestamps, 64-bit extent counters), data forks
 * in every format (local, extent list, B+tree of extents), directories in every format (short form in the inode;
 * block, leaf and node directories, whose entries all live in the data blocks below the leaf offset), symlinks
 * inline or in remote blocks, and regular files through their extent maps (holes and unwritten extents read as
 * zeros). Offsets come from untrusted metadata: every block address is checked against the filesystem before it is
 * read, B+tree walks are depth- and count-bounded, and damage becomes a problem naming the path.
 */
import type { FileContent } from '../../types.js';
import { LIMITS } from './fs.js';
import { typeOfMode } from '../../types.js';
import { CorruptImageError, ExtentSource, UnsupportedImageError, readIntoFrom, type ByteSource, type FileExtent } from './source.js';
import type { DirSink, FsReader, Node } from './walk.js';

const SB_MAGIC = 0x58465342; // XFSB
const INODE_MAGIC = 0x494e; // IN
/** Directory data lives below this byte offset of the directory; leaf and free-index blocks above it. */
const DIR_LEAF_OFFSET = 32 * 1024 * 1024 * 1024;
const MAX_BTREE_DEPTH = 8;
/** Extents kept for one file or directory (a crafted B+tree cannot make the reader build an endless map). */
const MAX_EXTENTS = 4_000_000;

const FMT_DEV = 0;
const FMT_LOCAL = 1;
const FMT_EXTENTS = 2;
const FMT_BTREE = 3;

export function isXfs(src: ByteSource): boolean {
  return src.size >= 512 && src.read(0, 4).readUInt32BE(0) === SB_MAGIC;
}

interface Inode {
  ino: number;
  mode: number;
  format: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  nextents: number;
  flags: number;
  /** The data fork's bytes (literal area up to the attribute fork). */
  fork: Buffer;
}

/** One mapped extent: file block `off`, `len` blocks at filesystem block `fsb` (unwritten: reads as zeros). */
interface Extent {
  off: number;
  fsb: number;
  len: number;
  unwritten: boolean;
}

export class XfsFs implements FsReader<number> {
  readonly type = 'xfs';
  readonly label: string | null;
  readonly uuid: string | null;
  private readonly blockSize: number;
  private readonly agBlocks: number;
  private readonly agCount: number;
  private readonly agBlkLog: number;
  private readonly inoPBLog: number;
  private readonly inodeSize: number;
  private readonly dirBlockSize: number;
  private readonly v5: boolean;
  private readonly ftype: boolean;
  private readonly rootIno: number;
  private readonly logStart: number;
  private readonly logBlocks: number;

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    if (!isXfs(src)) throw new CorruptImageError(`${name}: no xfs superblock`);
    const sb = src.read(0, 512);
    const bad = (why: string): never => {
      throw new CorruptImageError(`${name}: corrupt xfs superblock (${why})`);
    };
    this.blockSize = sb.readUInt32BE(4);
    if (this.blockSize < 512 || this.blockSize > 65536 || (this.blockSize & (this.blockSize - 1)) !== 0) bad(`block size ${this.blockSize}`);
    this.agBlocks = sb.readUInt32BE(84);
    this.agCount = sb.readUInt32BE(88);
    const version = sb.readUInt16BE(100) & 0xf;
    if (version < 4 || version > 5) throw new UnsupportedImageError(`${name}: xfs superblock version ${version} is not supported`);
    this.v5 = version === 5;
    this.inodeSize = sb.readUInt16BE(104);
    const inopblock = sb.readUInt16BE(106);
    this.agBlkLog = sb[124]!;
    this.inoPBLog = sb[123]!;
    if (this.inodeSize < 256 || this.inodeSize > 2048 || this.inodeSize * inopblock !== this.blockSize || 1 << this.inoPBLog !== inopblock) {
      bad(`inode size ${this.inodeSize}, ${inopblock} per block`);
    }
    if (this.agBlocks === 0 || this.agCount === 0 || this.agBlkLog > 31 || 2 ** this.agBlkLog < this.agBlocks) bad('allocation groups');
    const dirBlkLog = sb[192]!;
    if (dirBlkLog > 8) bad(`directory block log ${dirBlkLog}`);
    this.dirBlockSize = this.blockSize << dirBlkLog;
    if (this.dirBlockSize > 65536) bad(`directory block size ${this.dirBlockSize}`);
    const features2 = sb.readUInt32BE(200);
    const incompat = this.v5 ? sb.readUInt32BE(216) : 0;
    // v5 incompat: ftype 1, spinodes 2, meta_uuid 4, bigtime 8, needsrepair 16, nrext64 32; anything else is new.
    if (incompat & ~0x3f) throw new UnsupportedImageError(`${name}: xfs with unknown incompatible features 0x${incompat.toString(16)}`);
    if (incompat & 16) throw new UnsupportedImageError(`${name}: xfs needs repair (xfs_repair), not read`);
    this.ftype = this.v5 ? (incompat & 1) !== 0 : (features2 & 0x200) !== 0;
    this.rootIno = Number(sb.readBigUInt64BE(56));
    this.logStart = Number(sb.readBigUInt64BE(48));
    this.logBlocks = sb.readUInt32BE(96);
    if (Number(sb.readBigUInt64BE(16)) !== 0) throw new UnsupportedImageError(`${name}: xfs with a realtime volume is not supported`);
    const dblocks = Number(sb.readBigUInt64BE(8));
    if (dblocks * this.blockSize > src.size) {
      throw new CorruptImageError(`${name}: the xfs filesystem is truncated (${dblocks * this.blockSize} bytes, the image holds ${src.size})`);
    }
    const h = sb.toString('hex', 32, 48);
    this.uuid = /^0+$/.test(h) ? null : `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    let end = 108;
    while (end < 120 && sb[end] !== 0) end++;
    const label = sb.toString('utf8', 108, end);
    this.label = label === '' ? null : label;
  }

  // ---- addresses ---------------------------------------------------------------------------------------------

  /** Byte position of filesystem block `fsb` (AG number in the high bits, AG block in the low agBlkLog bits). */
  private fsbPos(fsb: number, blocks = 1): number {
    const ag = Math.floor(fsb / 2 ** this.agBlkLog);
    const agb = fsb - ag * 2 ** this.agBlkLog;
    if (ag >= this.agCount || agb + blocks > this.agBlocks) throw new CorruptImageError(`block ${fsb} outside the filesystem`);
    const pos = (ag * this.agBlocks + agb) * this.blockSize;
    if (pos + blocks * this.blockSize > this.src.size) throw new CorruptImageError(`block ${fsb} outside the image`);
    return pos;
  }

  private inode(ino: number): Inode {
    const perAgLog = this.agBlkLog + this.inoPBLog;
    const ag = Math.floor(ino / 2 ** perAgLog);
    const inAg = ino - ag * 2 ** perAgLog;
    const agb = Math.floor(inAg / 2 ** this.inoPBLog);
    const slot = inAg - agb * 2 ** this.inoPBLog;
    if (!Number.isSafeInteger(ino) || ag >= this.agCount || agb >= this.agBlocks) throw new CorruptImageError(`inode ${ino} outside the filesystem`);
    const pos = (ag * this.agBlocks + agb) * this.blockSize + slot * this.inodeSize;
    if (pos + this.inodeSize > this.src.size) throw new CorruptImageError(`inode ${ino} outside the image`);
    const b = this.src.read(pos, this.inodeSize);
    if (b.readUInt16BE(0) !== INODE_MAGIC) throw new CorruptImageError(`inode ${ino}: bad magic`);
    const version = b[4]!;
    if (version < 1 || version > 3 || (version === 3) !== this.v5) throw new CorruptImageError(`inode ${ino}: bad version ${version}`);
    const core = version === 3 ? 176 : 100;
    const flags2 = version === 3 ? b.readBigUInt64BE(120) : 0n;
    const bigtime = (flags2 & 8n) !== 0n;
    const nrext64 = (flags2 & 16n) !== 0n;
    const mtime = bigtime
      ? Number(b.readBigUInt64BE(40) / 1_000_000_000n) - 2 ** 31
      : b.readInt32BE(40);
    const forkoff = b[82]!;
    const forkEnd = forkoff === 0 ? this.inodeSize : core + forkoff * 8;
    if (forkEnd > this.inodeSize || forkEnd < core) throw new CorruptImageError(`inode ${ino}: bad attribute fork offset`);
    return {
      ino,
      mode: b.readUInt16BE(2),
      format: b[5]!,
      uid: b.readUInt32BE(8),
      gid: b.readUInt32BE(12),
      mtime,
      size: Number(b.readBigUInt64BE(56)),
      nextents: nrext64 ? Number(b.readBigUInt64BE(24)) : b.readUInt32BE(76),
      flags: b.readUInt16BE(90),
      fork: b.subarray(core, forkEnd),
    };
  }

  // ---- extent maps -------------------------------------------------------------------------------------------

  private static record(b: Buffer, at: number): Extent {
    const hi = b.readBigUInt64BE(at);
    const lo = b.readBigUInt64BE(at + 8);
    return {
      unwritten: hi >> 63n === 1n,
      off: Number((hi >> 9n) & ((1n << 54n) - 1n)),
      fsb: Number(((hi & 0x1ffn) << 43n) | (lo >> 21n)),
      len: Number(lo & 0x1fffffn),
    };
  }

  /** The data fork's extents, sorted by file offset (extent list or B+tree). */
  private extents(ino: Inode): Extent[] {
    const out: Extent[] = [];
    if (ino.format === FMT_EXTENTS) {
      if (ino.nextents * 16 > ino.fork.length) throw new CorruptImageError(`inode ${ino.ino}: ${ino.nextents} extents do not fit the inode`);
      for (let i = 0; i < ino.nextents; i++) out.push(XfsFs.record(ino.fork, i * 16));
    } else if (ino.format === FMT_BTREE) {
      const level = ino.fork.readUInt16BE(0);
      const numrecs = ino.fork.readUInt16BE(2);
      const maxrecs = Math.floor((ino.fork.length - 4) / 16);
      if (level === 0 || level > MAX_BTREE_DEPTH || numrecs > maxrecs) throw new CorruptImageError(`inode ${ino.ino}: bad extent B+tree root`);
      for (let i = 0; i < numrecs; i++) this.btreeBlock(Number(ino.fork.readBigUInt64BE(4 + maxrecs * 8 + i * 8)), level - 1, ino.ino, out);
    } else {
      throw new CorruptImageError(`inode ${ino.ino}: data fork format ${ino.format} has no extents`);
    }
    out.sort((a, b) => a.off - b.off);
    let end = 0;
    for (const e of out) {
      if (e.off < end || e.len === 0) throw new CorruptImageError(`inode ${ino.ino}: overlapping or empty extents`);
      end = e.off + e.len;
    }
    return out;
  }

  private btreeBlock(fsb: number, level: number, ino: number, out: Extent[]): void {
    const b = this.src.read(this.fsbPos(fsb), this.blockSize);
    const magic = b.toString('latin1', 0, 4);
    if (magic !== (this.v5 ? 'BMA3' : 'BMAP')) throw new CorruptImageError(`inode ${ino}: bad extent B+tree block ${fsb}`);
    const hdr = this.v5 ? 72 : 24;
    if (b.readUInt16BE(4) !== level) throw new CorruptImageError(`inode ${ino}: extent B+tree levels disagree`);
    const numrecs = b.readUInt16BE(6);
    const maxrecs = Math.floor((this.blockSize - hdr) / 16);
    if (numrecs > maxrecs) throw new CorruptImageError(`inode ${ino}: extent B+tree block ${fsb} has too many records`);
    if (level === 0) {
      if (out.length + numrecs > MAX_EXTENTS) throw new CorruptImageError(`inode ${ino}: too many extents`);
      for (let i = 0; i < numrecs; i++) out.push(XfsFs.record(b, hdr + i * 16));
      return;
    }
    for (let i = 0; i < numrecs; i++) this.btreeBlock(Number(b.readBigUInt64BE(hdr + maxrecs * 8 + i * 8)), level - 1, ino, out);
  }

  /** File byte ranges as extents of the image (holes and unwritten extents left out: they read as zeros). */
  private fileExtents(ino: Inode): FileExtent[] {
    if (ino.flags & 1) throw new UnsupportedImageError(`inode ${ino.ino}: realtime file data is not read`);
    const out: FileExtent[] = [];
    for (const e of this.extents(ino)) {
      if (e.unwritten) continue;
      out.push({ logical: e.off * this.blockSize, physical: this.extentPos(e), length: e.len * this.blockSize });
    }
    return out;
  }

  /** The image position of an extent, checked whole (an extent never crosses an allocation group). */
  private extentPos(e: Extent): number {
    return this.fsbPos(e.fsb, e.len);
  }

  /** Bytes [0, length) of an extent-mapped inode. */
  private readMapped(ino: Inode, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (const e of this.fileExtents(ino)) {
      if (e.logical >= length) break;
      const n = Math.min(e.length, length - e.logical);
      readIntoFrom(this.src, out.subarray(e.logical), e.physical, n);
    }
    return out;
  }

  // ---- directories -------------------------------------------------------------------------------------------

  /** Each entry of a directory (`.` and `..` left out), by name and inode number. */
  private entries(dir: Inode, visit: (name: string, ino: number) => void, sink: DirSink<number>): void {
    if (dir.format === FMT_LOCAL) {
      this.shortformDir(dir, visit);
      return;
    }
    const data = this.extents(dir).filter((e) => e.off * this.blockSize < DIR_LEAF_OFFSET);
    let bytes = 0;
    for (const e of data) {
      const pos = this.extentPos(e);
      const len = e.len * this.blockSize;
      bytes += len;
      if (bytes > LIMITS.maxDirBytes) throw new CorruptImageError('directory too large');
      if (len % this.dirBlockSize !== 0 || (e.off * this.blockSize) % this.dirBlockSize !== 0) {
        throw new CorruptImageError('directory extent is not made of whole directory blocks');
      }
      for (let at = 0; at < len; at += this.dirBlockSize) {
        try {
          this.dataBlock(this.src.read(pos + at, this.dirBlockSize), visit);
        } catch (err) {
          sink.failed(err, undefined, 'unreadable directory block');
        }
      }
    }
  }

  private shortformDir(dir: Inode, visit: (name: string, ino: number) => void): void {
    const f = dir.fork;
    if (f.length < 6) throw new CorruptImageError('short directory');
    const count = f[0]!;
    const i8 = f[1]!;
    const inoLen = i8 > 0 ? 8 : 4;
    let p = 2 + inoLen;
    for (let i = 0; i < (i8 > 0 ? i8 : count); i++) {
      if (p + 3 > f.length) throw new CorruptImageError('short-form directory runs past the inode');
      const nameLen = f[p]!;
      const nameAt = p + 3;
      const inoAt = nameAt + nameLen + (this.ftype ? 1 : 0);
      if (nameLen === 0 || inoAt + inoLen > f.length) throw new CorruptImageError('short-form directory runs past the inode');
      const name = f.toString('utf8', nameAt, nameAt + nameLen);
      const ino = inoLen === 8 ? Number(f.readBigUInt64BE(inoAt)) : f.readUInt32BE(inoAt);
      visit(name, ino);
      p = inoAt + inoLen;
    }
  }

  /** The entries of one directory data block (block-format directories keep leaf entries and a tail at the end). */
  private dataBlock(b: Buffer, visit: (name: string, ino: number) => void): void {
    const magic = b.toString('latin1', 0, 4);
    let end = b.length;
    if (magic === 'XD2B' || magic === 'XDB3') {
      const count = b.readUInt32BE(b.length - 8);
      end = b.length - 8 - count * 8;
    } else if (magic !== 'XD2D' && magic !== 'XDD3') {
      throw new CorruptImageError(`bad directory block magic ${JSON.stringify(magic)}`);
    }
    if ((magic === 'XDB3' || magic === 'XDD3') !== this.v5) throw new CorruptImageError('directory block of the wrong version');
    let p = this.v5 ? 64 : 16;
    if (end < p) throw new CorruptImageError('directory block leaf count too large');
    while (p < end) {
      if (p + 4 > end) throw new CorruptImageError('directory entry runs past the block');
      if (b.readUInt16BE(p) === 0xffff) {
        const len = b.readUInt16BE(p + 2);
        if (len < 8 || len % 8 !== 0) throw new CorruptImageError('bad free space entry');
        p += len;
        continue;
      }
      if (p + 12 > end) throw new CorruptImageError('directory entry runs past the block');
      const ino = Number(b.readBigUInt64BE(p));
      const nameLen = b[p + 8]!;
      const size = (8 + 1 + nameLen + (this.ftype ? 1 : 0) + 2 + 7) & ~7;
      if (nameLen === 0 || p + size > end) throw new CorruptImageError('directory entry runs past the block');
      const name = b.toString('utf8', p + 9, p + 9 + nameLen);
      if (name !== '.' && name !== '..') visit(name, ino);
      p += size;
    }
  }

  // ---- symlinks and files ------------------------------------------------------------------------------------

  private symlinkTarget(ino: Inode): string {
    if (ino.size === 0 || ino.size > LIMITS.maxSymlink) throw new CorruptImageError(`symlink target length ${ino.size}`);
    if (ino.format === FMT_LOCAL) {
      if (ino.size > ino.fork.length) throw new CorruptImageError('inline symlink longer than the inode');
      return ino.fork.toString('utf8', 0, ino.size);
    }
    if (!this.v5) return this.readMapped(ino, ino.size).toString('utf8');
    // v5: each remote block starts with a 56-byte header ('XSLM', offset, bytes, crc, uuid, owner, blkno, lsn).
    const parts: Buffer[] = [];
    let got = 0;
    for (const e of this.extents(ino)) {
      const pos = this.extentPos(e);
      for (let k = 0; k < e.len && got < ino.size; k++) {
        const b = this.src.read(pos + k * this.blockSize, this.blockSize);
        if (b.toString('latin1', 0, 4) !== 'XSLM') throw new CorruptImageError('bad remote symlink block');
        const n = b.readUInt32BE(8);
        if (n > this.blockSize - 56 || b.readUInt32BE(4) !== got) throw new CorruptImageError('bad remote symlink block');
        parts.push(b.subarray(56, 56 + n));
        got += n;
      }
    }
    if (got !== ino.size) throw new CorruptImageError('remote symlink shorter than its size');
    return Buffer.concat(parts).toString('utf8');
  }

  private fileData(ino: Inode, maxBytes: number): Buffer {
    const n = Math.min(maxBytes, ino.size);
    if (ino.format === FMT_LOCAL) return Buffer.from(ino.fork.subarray(0, Math.min(n, ino.fork.length)));
    return this.readMapped(ino, n);
  }

  // ---- the log -----------------------------------------------------------------------------------------------

  /**
   * Whether the internal log ends in an unmount record (a clean unmount: nothing to replay). The log is a ring of
   * 512-byte sectors, each stamped with the cycle number it was written in (mkfs fills it with empty cycle-0
   * records); the head is where the cycle drops.
   * The last record before it must be a single operation flagged as the unmount transaction. Anything else (writes
   * the kernel would replay on mount, an unreadable log) returns a reason; null when the log is clean.
   */
  private logDirty(): string | null {
    if (this.logStart === 0) return 'an external log is not read';
    const pos = this.fsbPos(this.logStart, this.logBlocks);
    const n = (this.logBlocks * this.blockSize) / 512;
    // A record header keeps its cycle after the magic; every other sector starts with it.
    const cycle = (i: number) => {
      const b = this.src.read(pos + i * 512, 8);
      return b.readUInt32BE(0) === 0xfeedbabe ? b.readUInt32BE(4) : b.readUInt32BE(0);
    };
    const c0 = cycle(0);
    if (c0 === 0) return 'the log is empty';
    let lo = 0;
    let hi = n;
    // First sector written in an older cycle (or never): the head. The whole log in one cycle: the head is at 0.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cycle(mid) === c0) lo = mid + 1;
      else hi = mid;
    }
    const head = lo % n;
    for (let k = 1; k <= Math.min(n, 4096); k++) {
      const i = (head - k + n) % n;
      const h = this.src.read(pos + i * 512, 512);
      if (h.readUInt32BE(0) !== 0xfeedbabe) continue;
      const ops = h.readUInt32BE(40);
      const len = h.readUInt32BE(12);
      const size = h.readUInt32BE(8) === 2 ? h.readUInt32BE(320) : 32768;
      const hdrSectors = Math.max(1, Math.ceil(size / 32768));
      if (i + hdrSectors >= n || len < 12) return 'unreadable log record';
      const op = this.src.read(pos + (i + hdrSectors) * 512, 12);
      return ops === 1 && (op[9]! & 0x20) !== 0 ? null : 'the log holds writes that were never applied (not cleanly unmounted)';
    }
    return 'no log record before the head of the log';
  }

  // ---- the walk --------------------------------------------------------------------------------------------

  private node(ino: Inode): Node<number> {
    const type = typeOfMode(ino.mode);
    const special = type === 'chardev' || type === 'blockdev' || type === 'fifo' || type === 'socket';
    return { type, mode: ino.mode & 0o7777, uid: ino.uid, gid: ino.gid, size: special ? 0 : ino.size, mtime: ino.mtime, ref: ino.ino };
  }

  root(sink: DirSink<number>): Node<number> {
    try {
      const dirty = this.logDirty();
      if (dirty) sink.whole(`xfs log needs recovery: ${dirty}; the listing may miss the latest changes`);
    } catch (err) {
      sink.failed(err, undefined, 'xfs log needs recovery: unreadable log');
    }
    return this.node(this.inode(this.rootIno));
  }

  readDir(dirIno: number, sink: DirSink<number>): void {
    const dir = this.inode(dirIno);
    this.entries(
      dir,
      (name, ino) => {
        let child: Inode;
        try {
          child = this.inode(ino);
        } catch (err) {
          sink.failed(err, name);
          return;
        }
        const node = this.node(child);
        if (node.type === 'symlink') {
          try {
            node.target = this.symlinkTarget(child);
          } catch (err) {
            node.target = '';
            sink.failed(err, name, 'unreadable symlink');
          }
        } else if (node.type === 'file' && child.format !== FMT_EXTENTS && child.format !== FMT_BTREE && !(child.format === FMT_LOCAL && child.size <= child.fork.length)) {
          sink.problem(`regular file with data fork format ${child.format}`, name);
        }
        sink.entry(name, node);
      },
      sink,
    );
  }

  /** Files are read in the order of their inode numbers, which follows the order their data was written. */
  readOrder(ino: number): number {
    return ino;
  }

  dirKey(ino: number): number {
    return ino;
  }

  private fileInode(ino: number): Inode {
    const inode = this.inode(ino);
    if ((inode.mode & 0xf000) !== 0x8000) throw new CorruptImageError(`inode ${ino} is not a regular file`);
    if (inode.format === FMT_DEV) throw new CorruptImageError(`inode ${ino}: regular file with a device fork`);
    return inode;
  }

  readFile(ino: number, maxBytes: number): FileContent {
    const inode = this.fileInode(ino);
    const data = this.fileData(inode, maxBytes);
    return { data, size: inode.size, truncated: inode.size > data.length };
  }

  openFile(ino: number): ByteSource {
    const inode = this.fileInode(ino);
    if (inode.format === FMT_LOCAL) throw new UnsupportedImageError('an inline xfs file cannot be opened as an image');
    return new ExtentSource(this.src, inode.size, this.fileExtents(inode));
  }
}
