/**
 * VDI (VirtualBox) as a ByteSource of the guest disk: the pre-header and header v1.1, the block map (one 32-bit
 * entry per block; 0xffffffff free and 0xfffffffe zero blocks read as zeros), normal (dynamic) and fixed images.
 * A differencing image (type 4, or a non-null parent/link UUID) has its parent on the host: refused.
 */
import { CorruptImageError, UnsupportedImageError, type ByteSource } from './source.js';
import { MappedSource, MAX_TABLE_BYTES, checkedVirtualSize, isPowerOfTwo } from './mapped.js';

const SIGNATURE = 0xbeda107f;
const TYPE_NORMAL = 1;
const TYPE_FIXED = 2;
const TYPE_DIFF = 4;
/** Map entries at or above this are not allocated (free 0xffffffff, zero 0xfffffffe). */
const FIRST_UNALLOCATED = 0xfffffffe;

export function isVdi(src: ByteSource): boolean {
  return src.size >= 0x200 && src.read(0x40, 4).readUInt32LE(0) === SIGNATURE;
}

function isNullUuid(b: Buffer): boolean {
  return b.every((x) => x === 0);
}

interface VdiLayout {
  size: number;
  blockSize: number;
  blockExtra: number;
  dataOffset: number;
  map: Buffer;
}

function parseVdi(file: ByteSource): VdiLayout {
  if (file.size < 0x200) throw new CorruptImageError('vdi: file too small for a header');
  const h = file.read(0, 0x200);
  if (h.readUInt32LE(0x40) !== SIGNATURE) throw new CorruptImageError('vdi: bad signature');
  const version = h.readUInt32LE(0x44);
  if (version >>> 16 !== 1) throw new UnsupportedImageError(`vdi: header version ${version >>> 16}.${version & 0xffff} is not supported`);
  const headerSize = h.readUInt32LE(0x48);
  if (headerSize < 0x180 || headerSize > 0x200 - 0x48) throw new CorruptImageError(`vdi: bad header size ${headerSize}`);
  const type = h.readUInt32LE(0x4c);
  if (type === TYPE_DIFF || !isNullUuid(h.subarray(0x1a8, 0x1b8)) || !isNullUuid(h.subarray(0x1b8, 0x1c8))) {
    throw new UnsupportedImageError('vdi: refusing a differencing image (its parent is a file on the host); clone it first (VBoxManage clonemedium)');
  }
  if (type !== TYPE_NORMAL && type !== TYPE_FIXED) throw new UnsupportedImageError(`vdi: image type ${type} is not supported`);
  const mapOffset = h.readUInt32LE(0x154);
  const dataOffset = h.readUInt32LE(0x158);
  const sectorSize = h.readUInt32LE(0x168);
  if (sectorSize !== 512) throw new UnsupportedImageError(`vdi: sector size ${sectorSize} is not supported`);
  const size = checkedVirtualSize(h.readBigUInt64LE(0x170), 'vdi');
  const blockSize = h.readUInt32LE(0x178);
  const blockExtra = h.readUInt32LE(0x17c);
  const blocks = h.readUInt32LE(0x180);
  if (!isPowerOfTwo(blockSize) || blockSize < 512 || blockSize > 256 * 1024 * 1024) {
    throw new CorruptImageError(`vdi: invalid block size ${blockSize}`);
  }
  if (blockExtra % 512 !== 0 || blockExtra > blockSize) throw new CorruptImageError(`vdi: invalid block extra size ${blockExtra}`);
  if (blocks * blockSize < size) throw new CorruptImageError(`vdi: ${blocks} blocks of ${blockSize} bytes cannot hold ${size} bytes`);
  const needed = Math.ceil(size / blockSize);
  if (needed * 4 > MAX_TABLE_BYTES) throw new CorruptImageError('vdi: block map too large');
  if (mapOffset % 512 !== 0 || dataOffset % 512 !== 0) throw new CorruptImageError('vdi: unaligned block map or data');
  if (mapOffset + needed * 4 > file.size) throw new CorruptImageError('vdi: block map beyond the end of the file');
  return { size, blockSize, blockExtra, dataOffset, map: file.read(mapOffset, needed * 4) };
}

export class VdiSource extends MappedSource {
  readonly size: number;
  private readonly map: Buffer;
  private readonly dataOffset: number;
  private readonly blockExtra: number;

  constructor(file: ByteSource) {
    const l = parseVdi(file);
    super(file, l.blockSize);
    this.size = l.size;
    this.map = l.map;
    this.dataOffset = l.dataOffset;
    this.blockExtra = l.blockExtra;
  }

  protected readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void {
    const entry = this.map.readUInt32LE(index * 4);
    if (entry >= FIRST_UNALLOCATED) {
      out.fill(0, outPos, outPos + len);
      return;
    }
    const at = this.dataOffset + entry * (this.blockSize + this.blockExtra) + this.blockExtra + inBlock;
    this.copyFromFile(at, len, out, outPos, `vdi block ${index}`);
  }
}
