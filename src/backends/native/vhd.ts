/**
 * VHD (Virtual PC / Hyper-V gen 1, qemu's `vpc`) as a ByteSource of the guest disk: fixed disks (data followed by a
 * 512-byte footer) and dynamic disks (footer copy, dynamic header, block allocation table, per-block sector bitmap).
 * Parsed the way qemu's vpc driver parses it, so both backends see the same disk:
 *   - the footer at byte 0 makes a dynamic disk; otherwise the last 512 bytes must be a fixed disk's footer;
 *   - the footer checksum must match;
 *   - the disk size is the CHS geometry's for images written by Virtual PC and old qemu ('vpc ', 'qemu'), unless the
 *     geometry is the maximum, else the footer's current size;
 *   - an unallocated block (BAT entry 0xffffffff) reads as zeros; an allocated block is read whole, like qemu (the
 *     sector bitmap is not consulted: reading what is stored never hides data from the audit).
 * A differencing disk names a parent file on the host: refused (src/image/backing.ts names it).
 */
import { CorruptImageError, UnsupportedImageError, type ByteSource } from './source.js';
import { MappedSource, MAX_TABLE_BYTES, checkedVirtualSize, isPowerOfTwo } from './mapped.js';

const FOOTER = 512;
const COOKIE = 'conectix';
const DYN_COOKIE = 'cxsparse';
const TYPE_FIXED = 2;
const TYPE_DYNAMIC = 3;
const TYPE_DIFFERENCING = 4;
const MAX_GEOMETRY = 65535 * 16 * 255;
const UNALLOCATED = 0xffffffff;

function footerChecksumOk(f: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < FOOTER; i++) if (i < 64 || i >= 68) sum += f[i]!;
  return ((~sum) >>> 0) === f.readUInt32BE(64);
}

function isFooter(b: Buffer): boolean {
  return b.length >= FOOTER && b.subarray(0, 8).toString('latin1') === COOKIE;
}

/** A VHD: the footer copy at byte 0 (dynamic, differencing) or a footer in the last 512 bytes (fixed). */
export function isVhd(src: ByteSource): boolean {
  if (src.size < FOOTER) return false;
  if (isFooter(src.read(0, FOOTER))) return true;
  const tail = src.read(src.size - FOOTER, FOOTER);
  return isFooter(tail) && tail.readUInt32BE(60) === TYPE_FIXED;
}

interface VhdLayout {
  size: number;
  type: 'fixed' | 'dynamic';
  blockSize: number;
  bat: Buffer | null;
  bitmapBytes: number;
}

function parseVhd(file: ByteSource): VhdLayout {
  if (file.size < FOOTER) throw new CorruptImageError('vhd: file too small for a footer');
  let footer = file.read(0, FOOTER);
  let atStart = true;
  if (!isFooter(footer)) {
    footer = file.read(file.size - FOOTER, FOOTER);
    atStart = false;
    if (!isFooter(footer) || footer.readUInt32BE(60) !== TYPE_FIXED) throw new CorruptImageError('vhd: no VHD footer');
  }
  if (!footerChecksumOk(footer)) throw new CorruptImageError('vhd: footer checksum mismatch');
  const type = footer.readUInt32BE(60);
  if (type === TYPE_DIFFERENCING) {
    throw new UnsupportedImageError('vhd: refusing a differencing disk (its parent is a file on the host); merge it first (qemu-img convert)');
  }
  if (type !== TYPE_FIXED && type !== TYPE_DYNAMIC) throw new CorruptImageError(`vhd: unknown disk type ${type}`);
  if (type === TYPE_DYNAMIC && !atStart) throw new CorruptImageError('vhd: dynamic disk without its footer copy at byte 0');
  const creator = footer.subarray(28, 32).toString('latin1');
  const chs = footer.readUInt16BE(56) * footer[58]! * footer[59]!;
  const useChs = (creator === 'vpc ' || creator === 'qemu') && chs !== MAX_GEOMETRY;
  const size = checkedVirtualSize(useChs ? BigInt(chs) * 512n : footer.readBigUInt64BE(48) & ~511n, 'vhd');

  if (type === TYPE_FIXED) {
    if (size > file.size - FOOTER) {
      throw new CorruptImageError(`vhd: fixed disk of ${size} bytes but the file holds ${file.size - FOOTER}`);
    }
    return { size, type: 'fixed', blockSize: 1024 * 1024, bat: null, bitmapBytes: 0 };
  }
  const dynOffset = footer.readBigUInt64BE(16);
  if (file.size < 1024 || dynOffset > BigInt(file.size - 1024)) throw new CorruptImageError('vhd: dynamic header beyond the end of the file');
  const dyn = file.read(Number(dynOffset), 1024);
  if (dyn.subarray(0, 8).toString('latin1') !== DYN_COOKIE) throw new CorruptImageError('vhd: bad dynamic header');
  const tableOffset = dyn.readBigUInt64BE(16);
  const maxEntries = dyn.readUInt32BE(28);
  const blockSize = dyn.readUInt32BE(32);
  if (!isPowerOfTwo(blockSize) || blockSize < 512 || blockSize > 256 * 1024 * 1024) {
    throw new CorruptImageError(`vhd: invalid block size ${blockSize}`);
  }
  const needed = Math.ceil(size / blockSize);
  if (maxEntries < needed) throw new CorruptImageError(`vhd: block table too small (${maxEntries} < ${needed} entries)`);
  if (needed * 4 > MAX_TABLE_BYTES) throw new CorruptImageError('vhd: block table too large');
  if (tableOffset > BigInt(file.size)) throw new CorruptImageError('vhd: block table beyond the end of the file');
  const bat = file.read(Number(tableOffset), needed * 4);
  // One bit per 512-byte sector, padded to whole sectors, precedes each block's data.
  return { size, type: 'dynamic', blockSize, bat, bitmapBytes: Math.ceil(blockSize / 512 / 8 / 512) * 512 };
}

export class VhdSource extends MappedSource {
  readonly size: number;
  readonly diskType: 'fixed' | 'dynamic';
  private readonly bat: Buffer | null;
  private readonly bitmapBytes: number;

  constructor(file: ByteSource) {
    const l = parseVhd(file);
    super(file, l.blockSize);
    this.size = l.size;
    this.diskType = l.type;
    this.bat = l.bat;
    this.bitmapBytes = l.bitmapBytes;
  }

  protected readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void {
    if (!this.bat) {
      this.copyFromFile(index * this.blockSize + inBlock, len, out, outPos, 'vhd data');
      return;
    }
    const entry = this.bat.readUInt32BE(index * 4);
    if (entry === UNALLOCATED) {
      out.fill(0, outPos, outPos + len);
      return;
    }
    this.copyFromFile(entry * 512 + this.bitmapBytes + inBlock, len, out, outPos, `vhd block ${index}`);
  }
}
