/**
 * Target format detection by magic bytes (never by file name). Backend-neutral: the guestfs and native backends both
 * use it to decide how to open an image and which format to hand to qemu.
 *
 * Detection reads a few fixed offsets of the file; it never trusts a header field enough to read far away from
 * those offsets (except the VHD footer, which lives in the last 512 bytes).
 */
import { fstatSync, promises as fsp } from 'node:fs';
import { crc32 } from '../crc.js';
import { openFailure, TargetError } from '../errors.js';
import { currentReadLog } from './readlog.js';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2';
/** Container formats, named as qemu names them (`vpc` is VHD). */
export type Container = 'raw' | 'qcow2' | 'vmdk' | 'vpc' | 'vhdx' | 'vdi';
/** What a raw container holds. */
export type RawLayout =
  | 'gpt'
  | 'mbr'
  | 'ext2'
  | 'ext3'
  | 'ext4'
  | 'vfat'
  | 'xfs'
  | 'btrfs'
  | 'squashfs'
  | 'iso9660'
  | 'erofs'
  | 'lvm2'
  | 'luks';

export type DetectedFormat =
  | { kind: 'compressed'; compression: Compression; description: string }
  | { kind: 'image'; container: Container; layout: RawLayout | null; description: string };

/** How many bytes of the head detection looks at (the btrfs superblock sits at 64 KiB). */
const HEAD = 0x10100;

const COMPRESSION_MAGIC: Array<[Compression, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
];

/** The LZ4 frame's magic: LZ4 frames and zstd frames share the skippable frames that may come before them. */
const LZ4_MAGIC = Buffer.from([0x04, 0x22, 0x4d, 0x18]);

/**
 * Where the data starts after the skippable frames at the head of a zstd (or LZ4) stream: magic 0x184D2A50 to
 * 0x184D2A5F and a 4-byte length, then that many bytes (pzstd writes one before every frame; `zstd -dc` skips them).
 * Returns 0 when the head does not start with one, or the head's length when they run past it.
 */
function afterSkippableFrames(head: Buffer): number {
  let off = 0;
  while (off + 8 <= head.length && (head.readUInt32LE(off) & 0xfffffff0) === 0x184d2a50) off += 8 + head.readUInt32LE(off + 4);
  return Math.min(off, head.length);
}

/**
 * The compression of a stream's first bytes, or null. Streams that start with skippable frames are zstd's, unless
 * the frame that follows them (within `head`) is LZ4's.
 */
export function compressionOf(head: Buffer): Compression | null {
  for (const [compression, magic] of COMPRESSION_MAGIC) {
    if (!at(head, 0, magic)) continue;
    // bzip2's "BZh" is followed by a block size digit; insist on it to avoid matching text.
    if (compression === 'bzip2' && !(head[3]! >= 0x31 && head[3]! <= 0x39)) continue;
    return compression;
  }
  const data = afterSkippableFrames(head);
  return data > 0 && !at(head, data, LZ4_MAGIC) ? 'zstd' : null;
}

/** Compressors hostleak does not decompress, by their magic: named in the error, with the tool that does. */
const OTHER_COMPRESSIONS: Array<[string, string, (head: Buffer) => boolean]> = [
  ['lz4', 'lz4 -dc', (h) => at(h, 0, LZ4_MAGIC) || at(h, afterSkippableFrames(h), LZ4_MAGIC)],
  ['lzop', 'lzop -dc', (h) => at(h, 0, Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]))],
  ['lzip', 'xz -dc', (h) => at(h, 0, 'LZIP') && (h[4] === 0 || h[4] === 1)],
  // .lzma ("LZMA alone"): properties byte 0x5d (lzma -1 to -9, xz --format=lzma), then a dictionary size.
  ['lzma', 'xz -dc', (h) => h.length >= 13 && h[0] === 0x5d && h[1] === 0 && h[2] === 0 && (h[12] === 0 || h[12] === 0xff)],
  ['compress (.Z)', 'gzip -dc', (h) => at(h, 0, Buffer.from([0x1f, 0x9d]))],
];

/** The error for a file whose head is no format hostleak reads: a compressor it does not handle is named. */
export function unrecognised(head: Buffer): TargetError {
  const other = OTHER_COMPRESSIONS.find(([, , test]) => test(head));
  if (other) {
    return new TargetError(`${other[0]}-compressed, which hostleak does not decompress: decompress it first (\`${other[1]} FILE > OUT\`) and audit that`);
  }
  return new TargetError(
    'unrecognised image format (no known partition table, filesystem, disk-image, archive or compression header): docs/targets.md lists what hostleak reads',
  );
}

function at(buf: Buffer, off: number, magic: string | Buffer): boolean {
  const m = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : magic;
  return buf.length >= off + m.length && buf.subarray(off, off + m.length).equals(m);
}

/** ext2/3/4 from the superblock at 1024: ext4 if it uses an ext4-only incompat/ro feature, ext3 if journalled. */
function extFlavour(buf: Buffer): RawLayout | null {
  if (buf.length < 1024 + 0x68 || buf.readUInt16LE(1024 + 0x38) !== 0xef53) return null;
  const compat = buf.readUInt32LE(1024 + 0x5c);
  const incompat = buf.readUInt32LE(1024 + 0x60);
  const roCompat = buf.readUInt32LE(1024 + 0x64);
  // incompat: extents 0x40, 64bit 0x80, mmp 0x100, flex_bg 0x200, ea_inode 0x400, dirdata 0x1000, csum_seed 0x2000,
  // largedir 0x4000, inline_data 0x8000, encrypt 0x10000, casefold 0x20000; ro_compat: huge_file 0x8, gdt_csum 0x10,
  // dir_nlink 0x20, extra_isize 0x40, quota 0x100, bigalloc 0x200, metadata_csum 0x400.
  if (incompat & 0x3f7c0 || roCompat & 0x778) return 'ext4';
  if (compat & 0x4) return 'ext3';
  return 'ext2';
}

function isVfat(buf: Buffer): boolean {
  if (buf.length < 512 || buf[510] !== 0x55 || buf[511] !== 0xaa) return false;
  const jump = buf[0] === 0xeb || buf[0] === 0xe9;
  const fatName = at(buf, 0x36, 'FAT') || at(buf, 0x52, 'FAT32');
  const bytesPerSector = buf.readUInt16LE(11);
  const sane = [512, 1024, 2048, 4096].includes(bytesPerSector) && buf[13] !== 0 && buf[16] !== 0;
  return jump && sane && fatName;
}

/** A plausible MBR: boot signature and four entries with a valid status byte, at least one used. */
function isMbr(buf: Buffer): boolean {
  if (buf.length < 512 || buf[510] !== 0x55 || buf[511] !== 0xaa) return false;
  let used = 0;
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const status = buf[e]!;
    if (status !== 0 && status !== 0x80) return false;
    if (buf[e + 4] !== 0 && buf.readUInt32LE(e + 12) > 0) used++;
  }
  return used > 0;
}

/**
 * A fixed VHD's footer: cookie, disk type 2 (fixed) and a matching checksum. It wins over what the data holds (a
 * fixed VHD of a GPT disk starts with that disk), as qemu's vpc driver reads it when told the format.
 */
function isFixedVhdFooter(tail: Buffer): boolean {
  if (tail.length < 512 || !at(tail, 0, 'conectix') || tail.readUInt32BE(60) !== 2) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += tail[i]!;
  return (~sum >>> 0) === tail.readUInt32BE(64);
}

/** Classify the first bytes of a file (plus its last 512 bytes, for a fixed VHD's footer). */
export function detectBuffer(head: Buffer, tail?: Buffer): DetectedFormat | null {
  const compression = compressionOf(head);
  if (compression) return { kind: 'compressed', compression, description: `${compression}-compressed` };
  const img = (container: Container, description: string, layout: RawLayout | null = null): DetectedFormat => ({
    kind: 'image',
    container,
    layout,
    description,
  });
  if (at(head, 0, 'QFI\xfb')) return img('qcow2', `qcow2 v${head.length >= 8 ? head.readUInt32BE(4) : '?'}`);
  if (at(head, 0, 'KDMV') || at(head, 0, 'COWD')) return img('vmdk', 'vmdk (sparse)');
  if (at(head, 0, '# Disk DescriptorFile')) return img('vmdk', 'vmdk (descriptor)');
  if (at(head, 0, 'vhdxfile')) return img('vhdx', 'vhdx');
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return img('vdi', 'vdi');
  if (at(head, 0, 'conectix')) return img('vpc', head.length >= 64 && head.readUInt32BE(60) === 4 ? 'vhd (differencing)' : 'vhd (dynamic)');
  if (tail && isFixedVhdFooter(tail)) return img('vpc', 'vhd (fixed)');
  if (at(head, 512, 'EFI PART') || at(head, 4096, 'EFI PART')) return img('raw', 'raw disk (GPT)', 'gpt');
  if (isVfat(head)) return img('raw', 'vfat filesystem', 'vfat');
  // An MBR with used entries wins over a filesystem magic further in (an ext fs's boot block is normally empty).
  if (isMbr(head)) return img('raw', 'raw disk (MBR)', 'mbr');
  const ext = extFlavour(head);
  if (ext) return img('raw', `${ext} filesystem`, ext);
  if (at(head, 0, 'XFSB')) return img('raw', 'xfs filesystem', 'xfs');
  if (at(head, 0x10040, '_BHRfS_M')) return img('raw', 'btrfs filesystem', 'btrfs');
  if (at(head, 0, 'hsqs') || at(head, 0, 'sqsh')) return img('raw', 'squashfs filesystem', 'squashfs');
  if (at(head, 0x8001, 'CD001')) return img('raw', 'iso9660 filesystem', 'iso9660');
  if (head.length >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2) return img('raw', 'erofs filesystem', 'erofs');
  if (at(head, 0, 'LUKS\xba\xbe')) return img('raw', 'LUKS encrypted volume', 'luks');
  for (let s = 0; s < 4; s++) {
    if (at(head, s * 512, 'LABELONE') && at(head, s * 512 + 24, 'LVM2 001')) return img('raw', 'LVM2 physical volume', 'lvm2');
  }
  if (tail && at(tail, 0, 'conectix')) return img('vpc', 'vhd (fixed)');
  return null;
}

/** Read up to `len` bytes at `pos` (fewer at the end of the file). */
export async function readAt(fh: fsp.FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  // Under --cache, what is read of the audited image is part of its identity (src/image/readlog.ts).
  const log = currentReadLog();
  if (log && log.matches(fstatSync(fh.fd))) log.record(pos, buf, got);
  return buf.subarray(0, got);
}

/** Detect the format of a file. Throws TargetError for unreadable or unrecognised files. */
export async function detectFormat(file: string): Promise<DetectedFormat> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    throw openFailure(file, err);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) {
      // An image backend given a folder (`--backend native result/`): only `auto` looks inside folders.
      throw new TargetError('a folder, not an image: name the image files in it, or leave --backend at auto to audit the images it holds');
    }
    if (!st.isFile() && !st.isBlockDevice()) throw new TargetError('not a regular file or block device');
    if (st.isFile() && st.size === 0) throw new TargetError('empty file');
    const head = await readAt(fh, 0, HEAD);
    const tail = st.size >= 512 ? await readAt(fh, st.size - 512, 512) : undefined;
    const found = detectBuffer(head, tail);
    if (!found) throw unrecognised(head);
    return found;
  } finally {
    await fh.close();
  }
}

/**
 * Cheap truncation checks on a raw container: a partition table or filesystem that claims more bytes than the file
 * has is a truncated image. Returns a one-line reason, or null when nothing looks cut.
 */
export async function checkRawExtent(file: string, layout: RawLayout | null): Promise<string | null> {
  const fh = await fsp.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = await readAt(fh, 0, 0x1000 + 512);
    const beyond = (what: string, end: number) =>
      end > size ? `truncated image: ${what} ends at byte ${end} but the file has ${size} bytes` : null;
    if (layout === 'gpt') {
      const sector = at(head, 512, 'EFI PART') ? 512 : 4096;
      const hdr = head.subarray(sector, sector + 92);
      if (hdr.length < 92) return 'truncated image: GPT header cut off';
      // A primary header whose CRC fails is not trusted here: the readers (native, the kernel) use the backup.
      const hdrSize = hdr.readUInt32LE(12);
      if (hdrSize < 92 || hdrSize > sector) return null;
      const copy = Buffer.from(head.subarray(sector, sector + hdrSize));
      const want = copy.readUInt32LE(16);
      copy.writeUInt32LE(0, 16);
      if (crc32(copy) !== want) return null;
      const entriesLba = Number(hdr.readBigUInt64LE(72));
      const count = hdr.readUInt32LE(80);
      const entSize = hdr.readUInt32LE(84);
      if (entSize < 128 || entSize > 4096 || count > 1024) return 'corrupt GPT header (implausible partition entry array)';
      const table = await readAt(fh, entriesLba * sector, count * entSize);
      if (table.length < count * entSize) return beyond('the GPT partition array', entriesLba * sector + count * entSize);
      for (let i = 0; i < count; i++) {
        const e = table.subarray(i * entSize, (i + 1) * entSize);
        if (e.subarray(0, 16).every((b) => b === 0)) continue;
        const last = Number(e.readBigUInt64LE(40));
        const r = beyond(`partition ${i + 1}`, (last + 1) * sector);
        if (r) return r;
      }
      return null;
    }
    if (layout === 'mbr') {
      for (let i = 0; i < 4; i++) {
        const e = 446 + i * 16;
        const type = head[e + 4]!;
        if (type === 0 || type === 0xee) continue;
        const r = beyond(`partition ${i + 1}`, (head.readUInt32LE(e + 8) + head.readUInt32LE(e + 12)) * 512);
        if (r) return r;
      }
      return null;
    }
    if (layout === 'ext2' || layout === 'ext3' || layout === 'ext4') {
      const sb = 1024;
      const logBlock = head.readUInt32LE(sb + 0x18);
      if (logBlock > 6) return 'corrupt ext superblock (block size)';
      const blockSize = 1024 << logBlock;
      const blocks = head.readUInt32LE(sb + 0x4);
      const incompat = head.readUInt32LE(sb + 0x60);
      const hi = incompat & 0x80 ? head.readUInt32LE(sb + 0x150) : 0;
      const total = (hi * 2 ** 32 + blocks) * blockSize;
      return beyond('the ext filesystem', total);
    }
    return null;
  } finally {
    await fh.close();
  }
}
