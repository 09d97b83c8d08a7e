/**
 * squashfs 4.0 reader: superblock, compressed metadata blocks (inode, directory, id and fragment tables, read lazily
 * through a byte-bounded LRU cache), data blocks and fragments (each fragment block decoded once while its own
 * byte-bounded cache holds it); gzip, xz, zstd and lz4 (lzo and lzma are refused with a clear reason). Extended
 * attributes are ignored.
 *
 * Untrusted input: every table position is checked against the filesystem's extent, listing headers and name
 * lengths against squashfs' own limits, directory cycles and entry counts are bounded, and the walk keeps its own
 * stack (no recursion whose depth the image decides). Damage below the superblock is a problem string.
 */
import type { EntryType } from '../../types.js';
import type { FileContent } from '../backend.js';
import { decompressAsync, decompressSync, isSyncCodec, type Codec } from '../../image/codecs.js';
import { LIMITS } from './fs.js';
import type { DirSink, FsReader, Node } from './walk.js';
import { CorruptImageError, UnsupportedImageError, type ByteSource } from './source.js';

const MAGIC = 0x73717368; // "hsqs"
const SB_SIZE = 96;
const META_SIZE = 8192;
const NO_FRAGMENT = 0xffffffff;
const BLOCK_UNCOMPRESSED = 1 << 24;
const FLAG_COMPRESSOR_OPTIONS = 0x0400;
/** Bytes of decompressed metadata blocks kept (8 KiB each, so 4096 blocks). */
const META_CACHE_BYTES = 32 << 20;
/** Bytes of decompressed fragment blocks kept (8 blocks of the largest size, 1 MiB). */
const FRAG_CACHE_BYTES = 8 << 20;
/** squashfs-tools writes at most 256 entries per directory header and names of at most 256 bytes. */
const MAX_HEADER_ENTRIES = 256;
const MAX_NAME = 256;

/**
 * Decompressed blocks by disk offset, least recently used first out, bounded by the bytes held (so a hostile image
 * cannot grow memory, whatever its block sizes). A Map iterates in insertion order: a hit is moved to the end.
 */
class BlockCache<K, V extends { length: number } | { data: { length: number } }> {
  private readonly map = new Map<K, V>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  private static size(v: { length: number } | { data: { length: number } }): number {
    return 'data' in v ? v.data.length : v.length;
  }

  /** The key touched last: already the most recent, so a repeated hit (inodes read one after another from one
   * metadata block) skips the Map's delete and insert, which cost more than the rest of reading an inode. */
  private lastKey: K | undefined;
  private lastValue: V | undefined;

  get(key: K): V | undefined {
    if (key === this.lastKey && this.lastValue !== undefined) return this.lastValue;
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
      this.lastKey = key;
      this.lastValue = v;
    }
    return v;
  }

  set(key: K, v: V): V {
    const size = BlockCache.size(v);
    if (size > this.maxBytes) return v;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes -= BlockCache.size(old);
      this.map.delete(key);
    }
    for (const [k, e] of this.map) {
      if (this.bytes + size <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= BlockCache.size(e);
    }
    this.map.set(key, v);
    this.bytes += size;
    this.lastKey = key;
    this.lastValue = v;
    return v;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
    this.lastKey = this.lastValue = undefined;
  }
}

/**
 * A metadata block an asynchronous codec (xz) has not decoded yet, thrown by the synchronous parsers: the caller
 * decodes it and parses again (`retry`). Synchronous codecs never throw it.
 */
class MetaMiss {
  constructor(
    readonly pos: number,
    readonly lo: number,
  ) {}
}

/** syncOrRetry's answer when the inode's block is not decoded yet. */
const RETRY: Inode = newInode();

const CODECS: Record<number, Codec | string> = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' };


/** A squashfs 4.0 superblock with a compression the native reader decodes. */
export function squashfsSupported(src: ByteSource): boolean {
  if (src.size < SB_SIZE) return false;
  const sb = src.read(0, SB_SIZE);
  const codec = CODECS[sb.readUInt16LE(20)];
  return sb.readUInt32LE(0) === MAGIC && sb.readUInt16LE(28) === 4 && (codec === 'gzip' || codec === 'xz' || codec === 'zstd' || codec === 'lz4');
}

const TYPES: Record<number, EntryType> = {
  1: 'dir',
  2: 'file',
  3: 'symlink',
  4: 'blockdev',
  5: 'chardev',
  6: 'fifo',
  7: 'socket',
};

interface Inode {
  type: number;
  mode: number;
  uidIdx: number;
  gidIdx: number;
  mtime: number;
  size: number;
  // Directories.
  dirBlock: number | undefined;
  dirOffset: number | undefined;
  // Regular files.
  blocksStart: number | undefined;
  fragment: number | undefined;
  fragOffset: number | undefined;
  /** Position of the block size list (metadata cursor) and how many blocks. */
  listPos: { block: number; offset: number } | undefined;
  blockCount: number | undefined;
  // Symlinks.
  target: string | undefined;
}

function newInode(): Inode {
  return {
    type: 0,
    mode: 0,
    uidIdx: 0,
    gidIdx: 0,
    mtime: 0,
    size: 0,
    dirBlock: undefined,
    dirOffset: undefined,
    blocksStart: undefined,
    fragment: undefined,
    fragOffset: undefined,
    listPos: undefined,
    blockCount: undefined,
    target: undefined,
  };
}

/** A metadata position: absolute disk offset of a metadata block + offset inside its decompressed bytes. */
interface Cursor {
  block: number;
  offset: number;
  /** A regular file's place in the read order (`readOrder`), set by the walk. */
  order?: number;
}

export class SquashFs implements FsReader<Cursor> {
  readonly type = 'squashfs';
  readonly label = null;
  readonly uuid = null;
  private readonly codec: Codec;
  /** Whether the codec decodes synchronously: the whole walk then runs without a promise. */
  private readonly syncCodec: boolean;
  private readonly blockSize: number;
  private readonly inodes: number;
  private readonly bytesUsed: number;
  private readonly inodeTable: number;
  private readonly dirTable: number;
  private readonly fragTable: number;
  private readonly fragCount: number;
  private readonly idTable: number;
  private readonly idCount: number;
  private readonly rootRef: bigint;
  private ids: Uint32Array | null = null;
  /** Metadata cache: block offset -> decompressed bytes and the offset of the next block. */
  private readonly meta = new BlockCache<number, { data: Buffer; next: number }>(META_CACHE_BYTES);
  /**
   * Fragment cache: `offset:stored size` -> decompressed fragment block (many small files share one; the size is in
   * the key so that two table entries that disagree about one block each get what they name).
   */
  private readonly frags = new BlockCache<string, Buffer>(FRAG_CACHE_BYTES);
  /** Fragment blocks being decoded asynchronously (xz), so two reads of one block decode it once. */
  private readonly fragsPending = new Map<string, Promise<Buffer>>();
  /** Blocks decompressed so far (what the caches save is counted here; tests read it). */
  readonly decoded = { metadata: 0, fragment: 0, data: 0 };
  private fragPtrs: Float64Array | null = null;

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    if (src.size < SB_SIZE) throw new CorruptImageError(`${name}: too small for a squashfs filesystem`);
    const sb = src.read(0, SB_SIZE);
    if (sb.readUInt32LE(0) !== MAGIC) throw new CorruptImageError(`${name}: no squashfs superblock`);
    const bad = (why: string): never => {
      throw new CorruptImageError(`${name}: corrupt squashfs superblock (${why})`);
    };
    const major = sb.readUInt16LE(28);
    const minor = sb.readUInt16LE(30);
    if (major !== 4) throw new UnsupportedImageError(`${name}: squashfs ${major}.${minor} is not supported (only 4.0)`);
    const codec = CODECS[sb.readUInt16LE(20)];
    if (codec === undefined) bad(`compression id ${sb.readUInt16LE(20)}`);
    if (codec !== 'gzip' && codec !== 'xz' && codec !== 'zstd' && codec !== 'lz4') {
      throw new UnsupportedImageError(`${name}: squashfs with ${codec} compression is not supported by the native reader`);
    }
    this.codec = codec;
    this.inodes = sb.readUInt32LE(4);
    this.syncCodec = isSyncCodec(codec);
    this.blockSize = sb.readUInt32LE(12);
    const blockLog = sb.readUInt16LE(22);
    if (this.blockSize < 4096 || this.blockSize > 1 << 20 || 1 << blockLog !== this.blockSize) bad(`block size ${this.blockSize}`);
    const u64 = (off: number): number => {
      const v = sb.readBigUInt64LE(off);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
    };
    this.bytesUsed = u64(40);
    if (this.bytesUsed < SB_SIZE) bad(`bytes used ${this.bytesUsed}`);
    if (this.bytesUsed > src.size) {
      throw new CorruptImageError(`${name}: the squashfs filesystem is truncated (${this.bytesUsed} bytes, the image holds ${src.size})`);
    }
    this.idTable = u64(48);
    this.inodeTable = u64(64);
    this.dirTable = u64(72);
    this.fragTable = u64(80);
    this.idCount = sb.readUInt16LE(26);
    this.fragCount = sb.readUInt32LE(16);
    this.rootRef = sb.readBigUInt64LE(32);
    const inside = (v: number): boolean => v >= SB_SIZE && v < this.bytesUsed;
    if (!inside(this.inodeTable)) bad('inode table position');
    if (!inside(this.dirTable) || this.dirTable < this.inodeTable) bad('directory table position');
    if (this.idCount === 0 || !inside(this.idTable)) bad('id table');
    if (this.fragCount > 0 && !inside(this.fragTable)) bad('fragment table position');
    if ((sb.readUInt16LE(24) & FLAG_COMPRESSOR_OPTIONS) !== 0 && codec === 'lz4') {
      // lz4's options name its format version; only the legacy (1) one exists.
      const opts = this.metaBlockSync(SB_SIZE);
      if (opts.data.length >= 4 && opts.data.readUInt32LE(0) !== 1) {
        throw new UnsupportedImageError(`${name}: squashfs lz4 version ${opts.data.readUInt32LE(0)} is not supported`);
      }
    }
  }

  // ---- metadata --------------------------------------------------------------------------------------------

  private metaHeader(pos: number, lo: number): { size: number; compressed: boolean } {
    if (pos < lo || pos + 2 > this.bytesUsed) throw new CorruptImageError(`${this.name}: metadata block at ${pos} outside its table`);
    const h = this.src.read(pos, 2).readUInt16LE(0);
    const size = h & 0x7fff;
    if (size === 0 || pos + 2 + size > this.bytesUsed) throw new CorruptImageError(`${this.name}: corrupt metadata block header at ${pos}`);
    return { size, compressed: (h & 0x8000) === 0 };
  }

  private remember(pos: number, data: Buffer, next: number): { data: Buffer; next: number } {
    return this.meta.set(pos, { data, next });
  }

  /** A metadata block synchronously (codecs that decode synchronously). */
  private metaBlockSync(pos: number, lo = SB_SIZE): { data: Buffer; next: number } {
    const hit = this.meta.get(pos);
    if (hit) return hit;
    const { size, compressed } = this.metaHeader(pos, lo);
    const raw = this.src.read(pos + 2, size);
    if (compressed) this.decoded.metadata++;
    const data = compressed ? decompressSync(this.codec, raw, META_SIZE) : raw;
    return this.remember(pos, data, pos + 2 + size);
  }

  private async metaBlock(pos: number, lo = SB_SIZE): Promise<{ data: Buffer; next: number }> {
    const hit = this.meta.get(pos);
    if (hit) return hit;
    if (isSyncCodec(this.codec)) return this.metaBlockSync(pos, lo);
    const { size, compressed } = this.metaHeader(pos, lo);
    const raw = this.src.read(pos + 2, size);
    if (compressed) this.decoded.metadata++;
    const data = compressed ? await decompressAsync(this.codec, raw, META_SIZE) : raw;
    return this.remember(pos, data, pos + 2 + size);
  }

  /** A metadata block now: from the cache, decoded here (synchronous codecs), or a MetaMiss (xz). */
  private metaBlockNow(pos: number, lo: number): { data: Buffer; next: number } {
    const hit = this.meta.get(pos);
    if (hit) return hit;
    if (this.syncCodec) return this.metaBlockSync(pos, lo);
    throw new MetaMiss(pos, lo);
  }

  /**
   * `n` bytes of metadata from `cur` (crossing block boundaries); advances `cur`. Synchronous: the directory walk
   * reads ~150k inodes, and a promise per read was a third of its time (async hooks, garbage); xz parses again
   * after each block it lacked (`retry`).
   */
  private metaRead(cur: Cursor, n: number, lo: number): Buffer {
    let m = this.metaBlockNow(cur.block, lo);
    if (cur.offset + n <= m.data.length) {
      const out = m.data.subarray(cur.offset, cur.offset + n);
      cur.offset += n;
      if (cur.offset === m.data.length) {
        cur.block = m.next;
        cur.offset = 0;
      }
      return out;
    }
    if (cur.offset > m.data.length) throw new CorruptImageError(`${this.name}: metadata offset ${cur.offset} past its block`);
    const out = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const take = Math.min(n - got, m.data.length - cur.offset);
      m.data.copy(out, got, cur.offset, cur.offset + take);
      got += take;
      cur.offset += take;
      if (cur.offset === m.data.length) {
        cur.block = m.next;
        cur.offset = 0;
        if (got < n) m = this.metaBlockNow(cur.block, lo);
      }
    }
    return out;
  }

  /** Where metaSpan's bytes start in the buffer it returned. */
  private spanAt = 0;

  /**
   * Like metaRead without a copy or a view: the buffer holding the `n` bytes at `cur`, which start at `spanAt` in it
   * (the cached block itself when they are in one block; valid until the next metadata read). Advances `cur`.
   */
  private metaSpan(cur: Cursor, n: number, lo: number): Buffer {
    const m = this.metaBlockNow(cur.block, lo);
    const at = cur.offset;
    if (at + n < m.data.length) {
      cur.offset = at + n;
      this.spanAt = at;
      return m.data;
    }
    this.spanAt = 0;
    return this.metaRead(cur, n, lo);
  }

  /**
   * `parse()` (a synchronous parser over metadata) once every block it needs is decoded: for xz, each MetaMiss is
   * decoded and the parse starts again. Bounded: a parse that keeps missing (blocks evicted as fast as they are
   * decoded) is an error, not a loop.
   */
  private async retry<T>(parse: () => T): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return parse();
      } catch (err) {
        if (!(err instanceof MetaMiss) || tries > 4096) throw err instanceof MetaMiss ? new CorruptImageError(`${this.name}: metadata keeps missing from the cache`) : err;
        await this.metaBlock(err.pos, err.lo);
      }
    }
  }

  /** Same as metaRead for synchronous codecs (file block lists read by openFile). */
  private metaReadSync(cur: Cursor, n: number, lo: number): Buffer {
    const out = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const m = this.metaBlockSync(cur.block, lo);
      if (cur.offset >= m.data.length) throw new CorruptImageError(`${this.name}: metadata offset ${cur.offset} past its block`);
      const take = Math.min(n - got, m.data.length - cur.offset);
      m.data.copy(out, got, cur.offset, cur.offset + take);
      got += take;
      cur.offset += take;
      if (cur.offset === m.data.length) {
        cur.block = m.next;
        cur.offset = 0;
      }
    }
    return out;
  }

  /** A table of u64 block pointers followed by the metadata blocks they point at (id and fragment tables). */
  private async lookupTable(start: number, entrySize: number, count: number, index: number, what: string): Promise<Buffer> {
    const perBlock = META_SIZE / entrySize;
    const nPtrs = Math.ceil(count / perBlock);
    if (start + nPtrs * 8 > this.bytesUsed) throw new CorruptImageError(`${this.name}: ${what} table outside the filesystem`);
    const ptrIdx = Math.floor(index / perBlock);
    const ptr = this.src.read(start + ptrIdx * 8, 8).readBigUInt64LE(0);
    if (ptr >= BigInt(this.bytesUsed)) throw new CorruptImageError(`${this.name}: ${what} table block outside the filesystem`);
    const m = await this.metaBlock(Number(ptr));
    const off = (index % perBlock) * entrySize;
    if (off + entrySize > m.data.length) throw new CorruptImageError(`${this.name}: ${what} table block too short`);
    return m.data.subarray(off, off + entrySize);
  }

  private async loadIds(): Promise<Uint32Array> {
    if (this.ids) return this.ids;
    const ids = new Uint32Array(this.idCount);
    for (let i = 0; i < this.idCount; i++) ids[i] = (await this.lookupTable(this.idTable, 4, this.idCount, i, 'id')).readUInt32LE(0);
    this.ids = ids;
    return ids;
  }

  // ---- inodes ----------------------------------------------------------------------------------------------

  private refCursor(ref: bigint | number, base: number): Cursor {
    const r = BigInt(ref);
    const block = Number(r >> 16n) + base;
    const offset = Number(r & 0xffffn);
    if (offset >= META_SIZE) throw new CorruptImageError(`${this.name}: inode reference offset ${offset} past a metadata block`);
    return { block, offset, order: undefined };
  }

  /** The cursor an inode is parsed with (`at` itself stays where it was). */
  private readonly work: Cursor = { block: 0, offset: 0, order: undefined };

  /**
   * An inode, parsed synchronously (a MetaMiss for a block xz has not decoded yet), into `into` when given (the
   * listing's scratch inode) or a new one. Fields are read in place from the cached metadata block (metaSpan).
   */
  private inodeNow(at: Cursor, into?: Inode): Inode {
    const cur = this.work;
    cur.block = at.block;
    cur.offset = at.offset;
    const lo = this.inodeTable;
    let b = this.metaSpan(cur, 16, lo);
    let o = this.spanAt;
    const type = b[o]! | (b[o + 1]! << 8);
    const ino = into ?? newInode();
    ino.type = type;
    ino.mode = (b[o + 2]! | (b[o + 3]! << 8)) & 0o7777;
    ino.uidIdx = b[o + 4]! | (b[o + 5]! << 8);
    ino.gidIdx = b[o + 6]! | (b[o + 7]! << 8);
    ino.mtime = b.readUInt32LE(o + 8);
    ino.size = 0;
    ino.dirBlock = ino.dirOffset = ino.blocksStart = ino.fragment = ino.fragOffset = ino.blockCount = undefined;
    ino.listPos = undefined;
    ino.target = undefined;
    switch (type) {
      case 1: {
        b = this.metaSpan(cur, 16, lo);
        o = this.spanAt;
        ino.dirBlock = b.readUInt32LE(o);
        ino.size = b[o + 8]! | (b[o + 9]! << 8);
        ino.dirOffset = b[o + 10]! | (b[o + 11]! << 8);
        break;
      }
      case 8: {
        b = this.metaSpan(cur, 24, lo);
        o = this.spanAt;
        ino.size = b.readUInt32LE(o + 4);
        ino.dirBlock = b.readUInt32LE(o + 8);
        ino.dirOffset = b[o + 18]! | (b[o + 19]! << 8);
        break;
      }
      case 2:
      case 9: {
        if (type === 2) {
          b = this.metaSpan(cur, 16, lo);
          o = this.spanAt;
          ino.blocksStart = b.readUInt32LE(o);
          ino.fragment = b.readUInt32LE(o + 4);
          ino.fragOffset = b.readUInt32LE(o + 8);
          ino.size = b.readUInt32LE(o + 12);
        } else {
          b = this.metaSpan(cur, 40, lo);
          o = this.spanAt;
          // 64-bit start and size: either past 2^53 is impossible (the high words are checked first).
          const startHi = b.readUInt32LE(o + 4);
          const sizeHi = b.readUInt32LE(o + 12);
          const start = startHi * 0x100000000 + b.readUInt32LE(o);
          const size = sizeHi * 0x100000000 + b.readUInt32LE(o + 8);
          if (startHi >= 0x200000 || sizeHi >= 0x200000 || start > this.bytesUsed) {
            throw new CorruptImageError(`${this.name}: file inode with impossible size or position`);
          }
          ino.blocksStart = start;
          ino.size = size;
          ino.fragment = b.readUInt32LE(o + 28);
          ino.fragOffset = b.readUInt32LE(o + 32);
        }
        const full = Math.floor(ino.size / this.blockSize);
        ino.blockCount = ino.fragment === NO_FRAGMENT ? Math.ceil(ino.size / this.blockSize) : full;
        if (into === undefined) ino.listPos = { block: cur.block, offset: cur.offset };
        break;
      }
      case 3:
      case 10: {
        b = this.metaSpan(cur, 8, lo);
        const len = b.readUInt32LE(this.spanAt + 4);
        if (len === 0 || len > LIMITS.maxSymlink) throw new CorruptImageError(`${this.name}: symlink target length ${len}`);
        ino.size = len;
        b = this.metaSpan(cur, len, lo);
        o = this.spanAt;
        ino.target = b.toString('utf8', o, o + len);
        break;
      }
      case 4:
      case 5:
      case 11:
      case 12:
      case 6:
      case 7:
      case 13:
      case 14:
        break;
      default:
        throw new CorruptImageError(`${this.name}: unknown inode type ${type}`);
    }
    return ino;
  }

  private inode(at: Cursor): Promise<Inode> {
    return this.retry(() => this.inodeNow(at));
  }

  private entryType(t: number): EntryType {
    return TYPES[t > 7 ? t - 7 : t] ?? 'unknown';
  }

  // ---- directories -----------------------------------------------------------------------------------------

  /** The listing of a directory inode: its names, and each one's inode cursor (the entry's ref). */
  private listing(dir: Inode): { names: string[]; cursors: Cursor[] } {
    const names: string[] = [];
    const cursors: Cursor[] = [];
    // file_size counts 3 bytes for the implicit `.` and `..`.
    let left = dir.size - 3;
    if (left <= 0) return { names, cursors };
    const cur: Cursor = { block: this.dirTable + dir.dirBlock!, offset: dir.dirOffset!, order: undefined };
    const lo = this.dirTable;
    while (left >= 12) {
      let b = this.metaSpan(cur, 12, lo);
      let o = this.spanAt;
      left -= 12;
      const count = b.readUInt32LE(o) + 1;
      const start = b.readUInt32LE(o + 4);
      if (count > MAX_HEADER_ENTRIES) throw new CorruptImageError(`directory header with ${count} entries`);
      for (let i = 0; i < count; i++) {
        if (left < 8) throw new CorruptImageError('directory listing cut short');
        b = this.metaSpan(cur, 8, lo);
        o = this.spanAt;
        const offset = b[o]! | (b[o + 1]! << 8);
        const nameLen = (b[o + 6]! | (b[o + 7]! << 8)) + 1;
        left -= 8 + nameLen;
        if (nameLen > MAX_NAME || left < 0) throw new CorruptImageError('corrupt directory entry');
        b = this.metaSpan(cur, nameLen, lo);
        o = this.spanAt;
        names.push(b.toString('utf8', o, o + nameLen));
        cursors.push({ block: this.inodeTable + start, offset, order: undefined });
      }
    }
    return { names, cursors };
  }

  /** The owner or group of id table index `idx` (0 and a problem for an index outside the table). */
  private id(ids: Uint32Array, idx: number, sink: DirSink<Cursor>, name: string | undefined): number {
    if (idx < ids.length) return ids[idx]!;
    sink.problem(`owner index ${idx} outside the id table (shown as 0)`, name);
    return 0;
  }

  /** The walk's node for an inode (into `into` when given: the walk copies what it keeps). */
  private node(ino: Inode, at: Cursor, ids: Uint32Array, sink: DirSink<Cursor>, name: string | undefined, into?: Node<Cursor>): Node<Cursor> {
    // Files whose tails share a fragment block are read together (by fragment index, the order mksquashfs wrote
    // the blocks in), so each block is decoded once; the others by where their data starts.
    if (ino.fragment !== undefined && ino.fragment !== NO_FRAGMENT) at.order = ino.fragment;
    else if (ino.blocksStart !== undefined) at.order = 2 ** 32 + ino.blocksStart;
    const node: Node<Cursor> = into ?? { type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, target: undefined, ref: at };
    node.type = this.entryType(ino.type);
    node.mode = ino.mode;
    node.uid = this.id(ids, ino.uidIdx, sink, name);
    node.gid = this.id(ids, ino.gidIdx, sink, name);
    node.size = ino.size;
    node.mtime = ino.mtime;
    node.target = ino.target;
    node.ref = at;
    return node;
  }

  /** The child inode and node being listed (reused: the walk copies what it keeps). */
  private readonly child = newInode();
  private readonly childNode: Node<Cursor> = { type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, target: undefined, ref: this.work };

  readDir(at: Cursor, sink: DirSink<Cursor>): void | Promise<void> {
    // Without a promise while every metadata block it needs is decoded (always, for synchronous codecs; root()
    // loaded the ids): xz goes on asynchronously from the first block it lacks, decodes it, and parses again.
    if (!this.ids) return this.readDirAsync(at, sink);
    let list: { names: string[]; cursors: Cursor[] };
    try {
      list = this.listing(this.inodeNow(at, this.child));
    } catch (err) {
      if (err instanceof MetaMiss) return this.readDirAsync(at, sink);
      throw err;
    }
    return this.entries(this.ids, list, 0, sink);
  }

  private async readDirAsync(at: Cursor, sink: DirSink<Cursor>): Promise<void> {
    const ids = await this.loadIds();
    const list = await this.retry(() => this.listing(this.inodeNow(at, this.child)));
    return this.entries(ids, list, 0, sink);
  }

  /** The entries of a listing from the `from`th: synchronously until an inode's block is missing (xz). */
  private entries(ids: Uint32Array, list: { names: string[]; cursors: Cursor[] }, from: number, sink: DirSink<Cursor>): void | Promise<void> {
    const { names, cursors } = list;
    for (let i = from; i < names.length; i++) {
      const name = names[i]!;
      let child: Inode;
      try {
        child = this.syncOrRetry(cursors[i]!);
      } catch (err) {
        sink.failed(err, name);
        continue;
      }
      if (child === RETRY) return this.entriesAsync(ids, list, i, sink);
      sink.entry(name, this.node(child, cursors[i]!, ids, sink, name, this.childNode));
    }
  }

  /** The `from`th entry once its inode's block is decoded, then the rest. */
  private async entriesAsync(ids: Uint32Array, list: { names: string[]; cursors: Cursor[] }, from: number, sink: DirSink<Cursor>): Promise<void> {
    const name = list.names[from]!;
    const cur = list.cursors[from]!;
    let child: Inode | null = null;
    try {
      child = await this.retry(() => this.inodeNow(cur, this.child));
    } catch (err) {
      sink.failed(err, name);
    }
    if (child) sink.entry(name, this.node(child, cur, ids, sink, name, this.childNode));
    return this.entries(ids, list, from + 1, sink);
  }

  /** The child inode at `cur` parsed now when its block is cached, else RETRY (xz decodes it first). */
  private syncOrRetry(cur: Cursor): Inode {
    try {
      return this.inodeNow(cur, this.child);
    } catch (err) {
      if (err instanceof MetaMiss) return RETRY;
      throw err;
    }
  }

  readOrder(at: Cursor): number {
    return at.order ?? 0;
  }

  dirKey(at: Cursor): number {
    return at.block * META_SIZE + at.offset;
  }

  /** The superblock's inode count (a hint: the inventory caps it). */
  expectedEntries(): number {
    return this.inodes;
  }

  // ---- public ----------------------------------------------------------------------------------------------

  async root(sink: DirSink<Cursor>): Promise<Node<Cursor>> {
    const ids = await this.loadIds();
    const at = this.refCursor(this.rootRef, this.inodeTable);
    const root = await this.inode(at);
    return this.node(root, at, ids, sink, undefined);
  }

  private async fileInode(at: Cursor): Promise<Inode> {
    const inode = await this.inode(at);
    if (inode.type !== 2 && inode.type !== 9) throw new CorruptImageError(`${this.name}: not a regular file`);
    return inode;
  }

  private async fragmentEntry(index: number): Promise<{ start: number; size: number; compressed: boolean }> {
    if (index >= this.fragCount) throw new CorruptImageError(`${this.name}: fragment ${index} outside the fragment table`);
    const e = await this.lookupTable(this.fragTable, 16, this.fragCount, index, 'fragment');
    return this.fragFields(e);
  }

  private fragFields(e: Buffer): { start: number; size: number; compressed: boolean } {
    const start = e.readBigUInt64LE(0);
    const sz = e.readUInt32LE(8);
    const size = sz & (BLOCK_UNCOMPRESSED - 1);
    if (start + BigInt(size) > BigInt(this.bytesUsed) || size > this.blockSize) {
      throw new CorruptImageError(`${this.name}: fragment block outside the filesystem`);
    }
    return { start: Number(start), size, compressed: (sz & BLOCK_UNCOMPRESSED) === 0 };
  }

  /** A fragment block, decoded once while the cache holds it (synchronous codecs). */
  private fragmentBlockSync(f: { start: number; size: number; compressed: boolean }): Buffer {
    if (!f.compressed) return this.src.read(f.start, f.size);
    const key = `${f.start}:${f.size}`;
    const hit = this.frags.get(key);
    if (hit) return hit;
    this.decoded.fragment++;
    return this.frags.set(key, decompressSync(this.codec, this.src.read(f.start, f.size), this.blockSize));
  }

  /** A fragment block, decoded once while the cache holds it (any codec; concurrent reads share one decode). */
  private async fragmentBlock(f: { start: number; size: number; compressed: boolean }): Promise<Buffer> {
    if (isSyncCodec(this.codec) || !f.compressed) return this.fragmentBlockSync(f);
    const key = `${f.start}:${f.size}`;
    const hit = this.frags.get(key);
    if (hit) return hit;
    let pending = this.fragsPending.get(key);
    if (!pending) {
      this.decoded.fragment++;
      pending = decompressAsync(this.codec, this.src.read(f.start, f.size), this.blockSize).then((block) => this.frags.set(key, block));
      this.fragsPending.set(key, pending);
      const done = (): void => {
        this.fragsPending.delete(key);
      };
      pending.then(done, done);
    }
    return pending;
  }

  /** Most block-size entries a file's list can have: the inode table cannot hold more. */
  private maxBlocks(): number {
    return (Math.floor((this.dirTable - this.inodeTable) / 3) + 1) * (META_SIZE / 4);
  }

  async readFile(at: Cursor, maxBytes: number): Promise<FileContent> {
    const inode = await this.fileInode(at);
    const want = Math.min(maxBytes, inode.size);
    const out = Buffer.alloc(want);
    const blocksWanted = Math.min(inode.blockCount!, Math.ceil(want / this.blockSize));
    if (blocksWanted > this.maxBlocks()) throw new CorruptImageError(`${this.name}: more blocks than the inode table can list`);
    const sizes = new Uint32Array(blocksWanted);
    const list = await this.retry(() => this.metaRead({ ...inode.listPos! }, blocksWanted * 4, this.inodeTable));
    for (let i = 0; i < blocksWanted; i++) sizes[i] = list.readUInt32LE(i * 4);
    let pos = inode.blocksStart!;
    for (let i = 0; i < blocksWanted; i++) {
      const at = i * this.blockSize;
      const len = Math.min(this.blockSize, inode.size - at);
      const size = sizes[i]! & (BLOCK_UNCOMPRESSED - 1);
      if (size === 0) continue; // a sparse block: zeros
      if (pos + size > this.bytesUsed || size > this.blockSize) throw new CorruptImageError(`${this.name}: data block outside the filesystem`);
      const raw = this.src.read(pos, size);
      if ((sizes[i]! & BLOCK_UNCOMPRESSED) === 0) this.decoded.data++;
      const data = (sizes[i]! & BLOCK_UNCOMPRESSED) === 0 ? await decompressAsync(this.codec, raw, len, true) : raw;
      if (data.length !== len) throw new CorruptImageError(`${this.name}: data block of ${data.length} bytes, ${len} expected`);
      data.copy(out, at, 0, Math.min(len, want - at));
      pos += size;
    }
    const tailAt = inode.blockCount! * this.blockSize;
    if (inode.fragment !== NO_FRAGMENT && want > tailAt) {
      const block = await this.fragmentBlock(await this.fragmentEntry(inode.fragment!));
      const tailLen = inode.size - tailAt;
      if (inode.fragOffset! + tailLen > block.length) throw new CorruptImageError(`${this.name}: file tail outside its fragment`);
      block.copy(out, tailAt, inode.fragOffset!, inode.fragOffset! + (want - tailAt));
    }
    return { data: out, size: inode.size, truncated: inode.size > want };
  }

  /**
   * A regular file as a random-access source: data blocks are decoded on demand (one cached), the tail comes from
   * its fragment. Needs a codec that decodes synchronously (gzip, zstd, lz4; not xz).
   */
  openFile(at: Cursor): ByteSource {
    if (!isSyncCodec(this.codec)) {
      throw new UnsupportedImageError(`a file inside an ${this.codec}-compressed squashfs cannot be opened as an image`);
    }
    // The inode is read synchronously: its metadata blocks are in the cache from list(), or decoded here.
    const cur = { ...at };
    const h = this.metaReadSync(cur, 16, this.inodeTable);
    const type = h.readUInt16LE(0);
    let start: number;
    let size: number;
    let fragment: number;
    let fragOffset: number;
    if (type === 2) {
      const b = this.metaReadSync(cur, 16, this.inodeTable);
      [start, fragment, fragOffset, size] = [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)];
    } else if (type === 9) {
      const b = this.metaReadSync(cur, 40, this.inodeTable);
      const s = b.readBigUInt64LE(0);
      const z = b.readBigUInt64LE(8);
      if (s > BigInt(this.bytesUsed) || z > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptImageError(`${this.name}: impossible file inode`);
      [start, size, fragment, fragOffset] = [Number(s), Number(z), b.readUInt32LE(28), b.readUInt32LE(32)];
    } else {
      throw new CorruptImageError(`${this.name}: not a regular file`);
    }
    const count = fragment === NO_FRAGMENT ? Math.ceil(size / this.blockSize) : Math.floor(size / this.blockSize);
    if (count > this.maxBlocks()) {
      throw new CorruptImageError(`${this.name}: file of ${size} bytes has more blocks than its inode table can list`);
    }
    const list = this.metaReadSync(cur, count * 4, this.inodeTable);
    // Disk position of every block (prefix sums), so block i is found without a scan.
    const positions = new Float64Array(count + 1);
    positions[0] = start;
    for (let i = 0; i < count; i++) positions[i + 1] = positions[i]! + (list.readUInt32LE(i * 4) & (BLOCK_UNCOMPRESSED - 1));
    if (positions[count]! > this.bytesUsed) throw new CorruptImageError(`${this.name}: data blocks outside the filesystem`);
    let frag: Buffer | null = null;
    if (fragment !== NO_FRAGMENT) {
      if (fragment >= this.fragCount) throw new CorruptImageError(`${this.name}: fragment ${fragment} outside the fragment table`);
      const perBlock = META_SIZE / 16;
      const ptr = this.src.read(this.fragTable + Math.floor(fragment / perBlock) * 8, 8).readBigUInt64LE(0);
      if (ptr >= BigInt(this.bytesUsed)) throw new CorruptImageError(`${this.name}: fragment table block outside the filesystem`);
      const m = this.metaBlockSync(Number(ptr));
      const off = (fragment % perBlock) * 16;
      if (off + 16 > m.data.length) throw new CorruptImageError(`${this.name}: fragment table block too short`);
      const block = this.fragmentBlockSync(this.fragFields(m.data.subarray(off, off + 16)));
      const tailLen = size - count * this.blockSize;
      if (fragOffset + tailLen > block.length) throw new CorruptImageError(`${this.name}: file tail outside its fragment`);
      frag = Buffer.from(block.subarray(fragOffset, fragOffset + tailLen));
    }
    return new SquashFileSource(this.src, this.codec, this.blockSize, size, list, positions, frag);
  }
}

/** A squashfs regular file read block by block (the last decoded block cached). */
class SquashFileSource implements ByteSource {
  private cachedIdx = -1;
  private cached: Buffer = Buffer.alloc(0);
  constructor(
    private readonly src: ByteSource,
    private readonly codec: Codec,
    private readonly blockSize: number,
    readonly size: number,
    private readonly sizes: Buffer,
    private readonly positions: Float64Array,
    private readonly frag: Buffer | null,
  ) {}

  private block(i: number): Buffer {
    if (i === this.cachedIdx) return this.cached;
    const count = this.positions.length - 1;
    const len = Math.min(this.blockSize, this.size - i * this.blockSize);
    let data: Buffer;
    if (i >= count) {
      data = this.frag ?? Buffer.alloc(len);
    } else {
      const entry = this.sizes.readUInt32LE(i * 4);
      const sz = entry & (BLOCK_UNCOMPRESSED - 1);
      if (sz === 0) data = Buffer.alloc(len);
      else {
        const raw = this.src.read(this.positions[i]!, sz);
        data = (entry & BLOCK_UNCOMPRESSED) === 0 ? decompressSync(this.codec, raw, len, true) : raw;
        if (data.length !== len) throw new CorruptImageError(`squashfs data block of ${data.length} bytes, ${len} expected`);
      }
    }
    this.cachedIdx = i;
    this.cached = data;
    return data;
  }

  read(offset: number, length: number): Buffer {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new CorruptImageError(`read out of bounds: ${length} bytes at offset ${offset} (size ${this.size})`);
    }
    const out = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const pos = offset + got;
      const i = Math.floor(pos / this.blockSize);
      const b = this.block(i);
      const from = pos - i * this.blockSize;
      const n = Math.min(length - got, b.length - from);
      if (n <= 0) throw new CorruptImageError('squashfs file block shorter than expected');
      b.copy(out, got, from, from + n);
      got += n;
    }
    return out;
  }
}
