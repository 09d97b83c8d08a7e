/**
 * zisofs: iso9660 files compressed block by block, marked by a Rock Ridge ZF entry (or Z2, which kernels that do
 * not know zisofs2 ignore). Format facts from libisofs' doc/zisofs_format.txt and zisofs2_format.txt, and the
 * kernel's fs/isofs (which decodes version 1 by the ZF entry's parameters alone):
 *
 * - ZF/Z2 entry (16 bytes): version, algorithm (2 chars), header size / 4, log2 of the block size, uncompressed size
 *   (version 1, "pz": 32-bit both-endian; version 2: 64-bit little-endian).
 * - The file's data: a header of that size, then ceil(size / block size) + 1 block pointers (4-byte little-endian in
 *   version 1, 8-byte in version 2) giving each compressed block's start and the end of the last; a block whose start
 *   and end are equal is a block of zeros. Each block decodes to the block size (the last to what remains).
 *
 * Version 1 and version 2 "PZ" blocks are zlib streams (what libisofs, xorriso and libarchive write); the other
 * zisofs2 algorithms (XZ, L4, ZD, B2) are refused by name when the file is read, so the target is `partial`.
 */
import { decompressSync } from '../../image/codecs.js';
import { MappedSource } from './mapped.js';
import { CorruptImageError, UnsupportedImageError, type ByteSource } from './source.js';

export interface Zisofs {
  /** 1 ("pz", 4-byte pointers) or 2 (8-byte pointers). */
  version: 1 | 2;
  /** The algorithm's two characters as recorded ("pz", "PZ", "XZ", ...). */
  algorithm: string;
  headerSize: number;
  blockLog: number;
  /** Uncompressed size. */
  size: number;
}

const ALGORITHMS: Record<string, string> = { XZ: 'xz', L4: 'lz4', ZD: 'zstd', B2: 'bzip2' };
/** Block sizes libisofs writes: 32 KiB to 1 MiB (version 1: up to 128 KiB). */
const MIN_BLOCK_LOG = 15;
const MAX_BLOCK_LOG = 20;

/** The parameters of a ZF or Z2 entry (the whole SUSP entry, signature included), or null when it is malformed. */
export function readZisofsEntry(e: Buffer): Zisofs | null {
  if (e.length < 16) return null;
  const algorithm = e.toString('latin1', 4, 6);
  const v1 = algorithm === 'pz';
  const size = v1 ? e.readUInt32LE(8) : Number(e.readBigUInt64LE(8));
  if (!Number.isSafeInteger(size)) return null;
  return { version: v1 ? 1 : 2, algorithm, headerSize: e[6]! * 4, blockLog: e[7]!, size };
}

/**
 * A zisofs file's uncompressed contents as a random-access source over its recorded (compressed) data: the block
 * splitting of the block-mapped containers, each block decoded on demand (the last one kept).
 */
export class ZisofsSource extends MappedSource {
  readonly size: number;
  private readonly pointerSize: number;
  private cached: { index: number; data: Buffer } | null = null;

  constructor(
    raw: ByteSource,
    private readonly zf: Zisofs,
  ) {
    if (zf.algorithm !== 'pz' && zf.algorithm !== 'PZ') {
      const name = ALGORITHMS[zf.algorithm] ?? `unknown ("${zf.algorithm.replace(/[^\x20-\x7e]/g, '?')}")`;
      throw new UnsupportedImageError(`zisofs2 ${name} compression is not supported`);
    }
    if (zf.blockLog < MIN_BLOCK_LOG || zf.blockLog > (zf.version === 1 ? 17 : MAX_BLOCK_LOG)) {
      throw new CorruptImageError(`zisofs block size 2^${zf.blockLog} is not one zisofs allows`);
    }
    super(raw, 2 ** zf.blockLog);
    this.size = zf.size;
    this.pointerSize = zf.version === 1 ? 4 : 8;
  }

  private pointer(buf: Buffer, at: number): number {
    const v = this.pointerSize === 4 ? buf.readUInt32LE(at) : Number(buf.readBigUInt64LE(at));
    if (!Number.isSafeInteger(v) || v > this.file.size) throw new CorruptImageError(`zisofs block pointer ${v} outside the file's ${this.file.size} bytes`);
    return v;
  }

  private block(index: number): Buffer {
    if (this.cached?.index === index) return this.cached.data;
    const want = Math.min(this.blockSize, this.size - index * this.blockSize);
    const ptrs = this.file.read(this.zf.headerSize + index * this.pointerSize, 2 * this.pointerSize);
    const start = this.pointer(ptrs, 0);
    const end = this.pointer(ptrs, this.pointerSize);
    if (end < start) throw new CorruptImageError(`zisofs block ${index} ends before it starts`);
    // A zlib stream of one block never needs much more than the block itself.
    if (end - start > 2 * this.blockSize + 1024) throw new CorruptImageError(`zisofs block ${index} of ${end - start} bytes is too large`);
    const data = end === start ? Buffer.alloc(want) : decompressSync('gzip', this.file.read(start, end - start), want, true);
    this.cached = { index, data };
    return data;
  }

  protected readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void {
    this.block(index).copy(out, outPos, inBlock, inBlock + len);
  }
}
