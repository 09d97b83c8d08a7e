/**
 * qcow2 (versions 2 and 3) as a ByteSource of the guest disk: L1/L2 tables, compressed clusters (zlib deflate, or
 * zstd with `compression_type=zstd`), extended L2 entries (`extended_l2=on`: 32 subclusters per cluster, each
 * allocated, zero or unallocated), unallocated and zero clusters read as zeros. Backing files, encryption and
 * external data files are refused with a reason: the native reader never opens another file.
 */
import { inflateRawSync, constants as zc } from 'node:zlib';
import { decompressSync } from '../../image/codecs.js';
import { CorruptImageError, UnsupportedImageError, checkRange, type ByteSource } from './source.js';

const MAGIC = 0x514649fb;
const L2_CACHE = 64;
const CLUSTER_CACHE = 16;

/** Bits 9-55 of a big-endian 64-bit entry (a host offset), from its two 32-bit halves. */
function offset56(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 2 ** 32 + (lo & 0xfffffe00) + 0;
}

/**
 * The length of the zstd frame at the start of `buf` (header, blocks, checksum), from the block sizes its headers
 * give: a compressed cluster's last sector holds other bytes after the frame, which a decoder would take for a
 * second, corrupt frame. Throws when the frame does not fit `buf`.
 */
export function zstdFrameLength(buf: Buffer): number {
  const bad = (why: string): never => {
    throw new CorruptImageError(`zstd frame: ${why}`);
  };
  if (buf.length < 6 || buf.readUInt32LE(0) !== 0xfd2fb528) bad('no zstd frame magic');
  const fhd = buf[4]!;
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  let pos = 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  for (;;) {
    if (pos + 3 > buf.length) bad('frame runs past its sectors');
    const h = buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16);
    const type = (h >> 1) & 3;
    if (type === 3) bad('reserved block type');
    pos += 3 + (type === 1 ? 1 : h >>> 3);
    if (h & 1) break;
  }
  if (fhd & 4) pos += 4;
  if (pos > buf.length) bad('frame runs past its sectors');
  return pos;
}

export function isQcow2(src: ByteSource): boolean {
  return src.size >= 72 && src.read(0, 4).readUInt32BE(0) === MAGIC;
}

export class Qcow2Source implements ByteSource {
  readonly size: number;
  readonly version: number;
  private readonly clusterBits: number;
  private readonly clusterSize: number;
  private readonly l1: Buffer;
  private readonly l2Entries: number;
  /** Extended L2 entries: 16 bytes each, the second 8 a subcluster bitmap. */
  private readonly extendedL2: boolean;
  private readonly zstd: boolean;
  private readonly l2Cache = new Map<number, Buffer>();
  private readonly clusterCache = new Map<number, Buffer>();

  constructor(private readonly file: ByteSource) {
    if (file.size < 72) throw new CorruptImageError('qcow2: file too small for a header');
    const h = file.read(0, Math.min(file.size, 112));
    if (h.readUInt32BE(0) !== MAGIC) throw new CorruptImageError('qcow2: bad magic');
    this.version = h.readUInt32BE(4);
    if (this.version !== 2 && this.version !== 3) {
      throw new UnsupportedImageError(`qcow2: version ${this.version} is not supported`);
    }
    const backingOffset = Number(h.readBigUInt64BE(8));
    const backingSize = h.readUInt32BE(16);
    if (backingOffset !== 0 || backingSize !== 0) {
      let name = '';
      try {
        if (backingSize > 0 && backingSize <= 1023) name = file.read(backingOffset, backingSize).toString('utf8');
      } catch {
        name = '';
      }
      throw new UnsupportedImageError(
        `qcow2: refusing an image with a backing file${name ? ` (${JSON.stringify(name)})` : ''}; flatten it first (qemu-img convert)`,
      );
    }
    this.clusterBits = h.readUInt32BE(20);
    if (this.clusterBits < 9 || this.clusterBits > 21) {
      throw new CorruptImageError(`qcow2: bad cluster bits ${this.clusterBits}`);
    }
    this.clusterSize = 2 ** this.clusterBits;
    const size = h.readBigUInt64BE(24);
    if (size > BigInt(2 ** 50)) throw new CorruptImageError('qcow2: virtual size too large');
    this.size = Number(size);
    const crypt = h.readUInt32BE(32);
    if (crypt !== 0) throw new UnsupportedImageError('qcow2: refusing an encrypted image');
    const l1Size = h.readUInt32BE(36);
    const l1Offset = Number(h.readBigUInt64BE(40));
    let extendedL2 = false;
    let zstd = false;
    if (this.version === 3 && h.length >= 104) {
      const incompat = h.readBigUInt64BE(72);
      const headerLength = h.readUInt32BE(100);
      if (incompat & 4n) throw new UnsupportedImageError('qcow2: refusing an image with an external data file');
      extendedL2 = (incompat & 16n) !== 0n;
      if (incompat & 8n) {
        const type = headerLength > 104 && h.length > 104 ? h[104]! : 0;
        if (type === 1) zstd = true;
        else throw new UnsupportedImageError(`qcow2: unknown compression type ${type}`);
      }
      const known = 1n | 2n | 4n | 8n | 16n;
      if (incompat & ~known) throw new UnsupportedImageError('qcow2: unknown incompatible features');
    }
    if (extendedL2 && this.clusterBits < 14) {
      throw new CorruptImageError(`qcow2: extended L2 entries need clusters of at least 16 KiB (cluster bits ${this.clusterBits})`);
    }
    this.extendedL2 = extendedL2;
    this.zstd = zstd;
    this.l2Entries = this.clusterSize / (extendedL2 ? 16 : 8);
    const needL1 = Math.ceil(this.size / (this.clusterSize * this.l2Entries));
    if (l1Size < needL1) throw new CorruptImageError(`qcow2: L1 table too small (${l1Size} < ${needL1})`);
    if (l1Size > 32 * 1024 * 1024 / 8) throw new CorruptImageError('qcow2: L1 table too large');
    checkRange(file, l1Offset, needL1 * 8, 'qcow2 L1 table');
    this.l1 = file.read(l1Offset, needL1 * 8);
  }

  private l2(index: number): Buffer | null {
    const o = index * 8;
    const off = offset56(this.l1.readUInt32BE(o), this.l1.readUInt32BE(o + 4));
    if (off === 0) return null;
    if (off % this.clusterSize !== 0) throw new CorruptImageError(`qcow2: unaligned L2 table at ${off}`);
    let t = this.l2Cache.get(off);
    if (!t) {
      t = this.file.read(off, this.clusterSize);
      if (this.l2Cache.size >= L2_CACHE) this.l2Cache.delete(this.l2Cache.keys().next().value as number);
      this.l2Cache.set(off, t);
    }
    return t;
  }

  /** Copy the guest bytes [gOff, gOff+len) of one cluster into out at outPos. */
  private readCluster(gOff: number, len: number, out: Buffer, outPos: number): void {
    const cluster = Math.floor(gOff / this.clusterSize);
    const inCluster = gOff - cluster * this.clusterSize;
    const l2 = this.l2(Math.floor(cluster / this.l2Entries));
    if (!l2) {
      out.fill(0, outPos, outPos + len);
      return;
    }
    const e = (cluster % this.l2Entries) * (this.extendedL2 ? 16 : 8);
    const hi = l2.readUInt32BE(e);
    const lo = l2.readUInt32BE(e + 4);
    if (hi & 0x40000000) {
      const data = this.compressed(hi, lo);
      data.copy(out, outPos, inCluster, inCluster + len);
      return;
    }
    const host = offset56(hi, lo);
    if (this.extendedL2) {
      this.readSubclusters(host, l2.readUInt32BE(e + 8), l2.readUInt32BE(e + 12), inCluster, len, out, outPos);
      return;
    }
    if (host === 0 || (this.version === 3 && lo & 1)) {
      out.fill(0, outPos, outPos + len);
      return;
    }
    if (host % this.clusterSize !== 0) throw new CorruptImageError(`qcow2: unaligned data cluster at ${host}`);
    this.file.read(host + inCluster, len).copy(out, outPos);
  }

  /**
   * A standard cluster with extended L2 entries: subcluster i is read from the host cluster when allocation bit i
   * (the bitmap's low word) is set; it reads as zeros when its zero bit (the high word) is set or when neither is
   * (unallocated, and there is never a backing file). Both set is corrupt.
   */
  private readSubclusters(host: number, zeroBits: number, allocBits: number, inCluster: number, len: number, out: Buffer, outPos: number): void {
    if (allocBits & zeroBits) throw new CorruptImageError('qcow2: a subcluster is both allocated and zero');
    if (allocBits !== 0) {
      if (host === 0) throw new CorruptImageError('qcow2: allocated subclusters without a host cluster');
      if (host % this.clusterSize !== 0) throw new CorruptImageError(`qcow2: unaligned data cluster at ${host}`);
    }
    const sub = this.clusterSize / 32;
    let pos = 0;
    while (pos < len) {
      const at = inCluster + pos;
      const i = Math.floor(at / sub);
      const allocated = ((allocBits >>> i) & 1) === 1;
      // Neighbouring subclusters of the same kind are one read.
      let j = i + 1;
      while (j < 32 && (((allocBits >>> j) & 1) === 1) === allocated) j++;
      const n = Math.min(len - pos, j * sub - at);
      if (allocated) this.file.read(host + at, n).copy(out, outPos + pos);
      else out.fill(0, outPos + pos, outPos + pos + n);
      pos += n;
    }
  }

  private compressed(hi: number, lo: number): Buffer {
    const x = 62 - (this.clusterBits - 8);
    // Split the 62 low bits into host offset (x bits) and sector count (the rest) without 64-bit integers.
    const v = BigInt(hi & 0x3fffffff) * 2n ** 32n + BigInt(lo >>> 0);
    const host = Number(v & ((1n << BigInt(x)) - 1n));
    const sectors = Number(v >> BigInt(x)) + 1;
    const key = host;
    const hit = this.clusterCache.get(key);
    if (hit) return hit;
    const avail = Math.min(sectors * 512 - (host & 511), this.file.size - host);
    if (avail <= 0) throw new CorruptImageError(`qcow2: compressed cluster at ${host} beyond the file`);
    const raw = this.file.read(host, avail);
    let data: Buffer;
    try {
      data = this.zstd
        ? decompressSync('zstd', raw.subarray(0, zstdFrameLength(raw)), this.clusterSize)
        : inflateRawSync(raw, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: this.clusterSize });
    } catch (err) {
      throw new CorruptImageError(`qcow2: bad compressed cluster at ${host} (${(err as Error).message})`);
    }
    if (data.length < this.clusterSize) {
      const full = Buffer.alloc(this.clusterSize);
      data.copy(full);
      data = full;
    }
    if (this.clusterCache.size >= CLUSTER_CACHE) this.clusterCache.delete(this.clusterCache.keys().next().value as number);
    this.clusterCache.set(key, data);
    return data;
  }

  read(offset: number, length: number): Buffer {
    checkRange(this, offset, length);
    const out = Buffer.allocUnsafe(length);
    let pos = 0;
    while (pos < length) {
      const g = offset + pos;
      const n = Math.min(length - pos, this.clusterSize - (g % this.clusterSize));
      this.readCluster(g, n, out, pos);
      pos += n;
    }
    return out;
  }

  close(): void {
    this.file.close?.();
  }
}
