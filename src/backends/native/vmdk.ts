/**
 * VMDK sparse extents (hosted sparse, "KDMV", versions 1-3) as a ByteSource of the guest disk: monolithicSparse and
 * streamOptimized. The grain directory and grain tables map grains; an unallocated grain (0) and, with the
 * zeroed-grain flag, a zeroed grain (1) read as zeros. Compressed grains (streamOptimized) carry a marker (LBA, size)
 * and a zlib stream inflated with node:zlib, bounded to one grain. When the header says the grain directory is at
 * the end (GD_AT_END), the footer copy of the header (1536 bytes before the end: footer marker, header, end marker)
 * is used, as qemu does.
 *
 * Only the file itself is read: a text descriptor naming extent files, and an embedded descriptor naming a parent
 * disk, are refused (src/image/backing.ts decides what is a host reference, the way qemu parses descriptors).
 */
import { inflateSync } from 'node:zlib';
import { vmdkRefs } from '../../image/backing.js';
import { CorruptImageError, UnsupportedImageError, type ByteSource } from './source.js';
import { MappedSource, MAX_TABLE_BYTES, SmallCache, checkedVirtualSize, isPowerOfTwo } from './mapped.js';

const SECTOR = 512;
const MAGIC = 'KDMV';
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_ZERO_GRAIN = 1 << 2;
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;
const COMPRESS_DEFLATE = 1;
const MARKER_EOS = 0;
const MARKER_FOOTER = 3;
const GT_CACHE = 64;
const GRAIN_CACHE = 64;

export function isVmdkSparse(src: ByteSource): boolean {
  return src.size >= SECTOR && src.read(0, 4).toString('latin1') === MAGIC;
}

interface VmdkHeader {
  version: number;
  flags: number;
  capacity: bigint;
  grainSectors: bigint;
  gtes: number;
  gdOffset: bigint;
  compression: number;
}

function header(b: Buffer): VmdkHeader {
  return {
    version: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    capacity: b.readBigUInt64LE(12),
    grainSectors: b.readBigUInt64LE(20),
    gtes: b.readUInt32LE(44),
    gdOffset: b.readBigUInt64LE(56),
    compression: b.readUInt16LE(77),
  };
}

interface VmdkLayout {
  size: number;
  grainSize: number;
  gtes: number;
  gd: Buffer;
  compressed: boolean;
  markers: boolean;
  zeroGrain: boolean;
}

function parseVmdk(file: ByteSource): VmdkLayout {
  if (file.size < SECTOR) throw new CorruptImageError('vmdk: file too small for a header');
  const first = file.read(0, SECTOR);
  if (first.subarray(0, 4).toString('latin1') !== MAGIC) throw new UnsupportedImageError('vmdk: only hosted sparse extents (KDMV) are read natively');
  let h = header(first);
  if (h.version < 1 || h.version > 3) throw new UnsupportedImageError(`vmdk: version ${h.version} is not supported`);

  // A parent disk or extent files named by the descriptor are host files (the shared check, parsing as qemu does).
  const refs = vmdkRefs(first, (off, len) => (off >= file.size ? Buffer.alloc(0) : file.read(off, Math.min(len, file.size - off))));
  if (refs.length > 0) {
    throw new UnsupportedImageError(`vmdk: refusing an image with a ${refs[0]!.kind} on the host; flatten it first (qemu-img convert)`);
  }

  if (h.gdOffset === GD_AT_END) {
    // streamOptimized: footer marker, footer (a header copy with the real GD offset), end-of-stream marker.
    if (file.size < 3 * SECTOR) throw new CorruptImageError('vmdk: stream-optimized image too small for its footer');
    const tail = file.read(file.size - 3 * SECTOR, 3 * SECTOR);
    const marker = (o: number) => ({ size: tail.readUInt32LE(o + 8), type: tail.readUInt32LE(o + 12) });
    const fm = marker(0);
    const eos = marker(2 * SECTOR);
    if (fm.size !== 0 || fm.type !== MARKER_FOOTER || eos.size !== 0 || eos.type !== MARKER_EOS ||
      tail.subarray(SECTOR, SECTOR + 4).toString('latin1') !== MAGIC) {
      throw new CorruptImageError('vmdk: grain directory at the end but no valid footer');
    }
    h = header(tail.subarray(SECTOR, 2 * SECTOR));
    if (h.gdOffset === GD_AT_END) throw new CorruptImageError('vmdk: footer without a grain directory offset');
  }

  const compressed = (h.flags & FLAG_COMPRESSED) !== 0;
  if (compressed && h.compression !== COMPRESS_DEFLATE) throw new UnsupportedImageError(`vmdk: compression ${h.compression} is not supported`);
  if (!isPowerOfTwo(Number(h.grainSectors)) || h.grainSectors > 2n ** 16n) throw new CorruptImageError(`vmdk: invalid grain size ${h.grainSectors}`);
  if (h.gtes === 0 || h.gtes > 512) throw new CorruptImageError(`vmdk: invalid grain table size ${h.gtes}`);
  const grainSize = Number(h.grainSectors) * SECTOR;
  const size = checkedVirtualSize(h.capacity * BigInt(SECTOR), 'vmdk');
  const gdEntries = Math.ceil(size / (grainSize * h.gtes));
  if (gdEntries * 4 > MAX_TABLE_BYTES) throw new CorruptImageError('vmdk: grain directory too large');
  const gdAt = h.gdOffset * BigInt(SECTOR);
  if (gdAt + BigInt(gdEntries * 4) > BigInt(file.size)) throw new CorruptImageError('vmdk: grain directory beyond the end of the file');
  return {
    size,
    grainSize,
    gtes: h.gtes,
    gd: file.read(Number(gdAt), gdEntries * 4),
    compressed,
    markers: (h.flags & FLAG_MARKERS) !== 0,
    zeroGrain: (h.flags & FLAG_ZERO_GRAIN) !== 0,
  };
}

export class VmdkSource extends MappedSource {
  readonly size: number;
  private readonly l: VmdkLayout;
  private readonly gtCache = new SmallCache<number, Buffer>(GT_CACHE);
  private readonly grainCache = new SmallCache<number, Buffer>(GRAIN_CACHE);

  constructor(file: ByteSource) {
    const l = parseVmdk(file);
    super(file, l.grainSize);
    this.size = l.size;
    this.l = l;
  }

  private gt(index: number): Buffer | null {
    const sector = this.l.gd.readUInt32LE(index * 4);
    if (sector === 0) return null;
    const hit = this.gtCache.get(sector);
    if (hit) return hit;
    const at = sector * SECTOR;
    const len = this.l.gtes * 4;
    if (at + len > this.file.size) throw new CorruptImageError(`vmdk: grain table ${index} beyond the end of the file`);
    return this.gtCache.set(sector, this.file.read(at, len));
  }

  protected readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void {
    const table = this.gt(Math.floor(index / this.l.gtes));
    const sector = table ? table.readUInt32LE((index % this.l.gtes) * 4) : 0;
    if (sector === 0 || (sector === 1 && this.l.zeroGrain)) {
      out.fill(0, outPos, outPos + len);
      return;
    }
    if (!this.l.compressed) {
      this.copyFromFile(sector * SECTOR + inBlock, len, out, outPos, `vmdk grain ${index}`);
      return;
    }
    this.grain(index, sector).copy(out, outPos, inBlock, inBlock + len);
  }

  /** A compressed grain, inflated (zero-padded to a whole grain). */
  private grain(index: number, sector: number): Buffer {
    const hit = this.grainCache.get(sector);
    if (hit) return hit;
    const at = sector * SECTOR;
    const headLen = this.l.markers ? 12 : 0;
    if (at + headLen > this.file.size) throw new CorruptImageError(`vmdk: grain ${index} beyond the end of the file`);
    let dataLen: number;
    if (this.l.markers) {
      dataLen = this.file.read(at, 12).readUInt32LE(8);
      if (dataLen === 0 || at + 12 + dataLen > this.file.size) throw new CorruptImageError(`vmdk: bad compressed grain ${index} at byte ${at}`);
    } else {
      dataLen = Math.min(this.file.size - at, this.l.grainSize * 2);
    }
    if (dataLen > this.l.grainSize * 2 + 1024) throw new CorruptImageError(`vmdk: compressed grain ${index} of ${dataLen} bytes`);
    let data: Buffer;
    try {
      data = inflateSync(this.file.read(at + headLen, dataLen), { maxOutputLength: this.l.grainSize });
    } catch (err) {
      throw new CorruptImageError(`vmdk: bad compressed grain ${index} at byte ${at} (${(err as Error).message})`);
    }
    if (data.length < this.l.grainSize) {
      const full = Buffer.alloc(this.l.grainSize);
      data.copy(full);
      data = full;
    }
    return this.grainCache.set(sector, data);
  }
}
