/**
 * VHDX (Hyper-V) as a ByteSource of the guest disk. Parsed like qemu's vhdx driver (and the MS-VHDX spec):
 *   - file identifier "vhdxfile"; two headers at 64 and 128 KiB, the valid one (CRC-32C) with the higher sequence
 *     number wins; two region tables at 192 and 256 KiB (CRC-32C) locating the BAT and the metadata region; an
 *     unknown region or metadata item marked required is refused;
 *   - metadata: file parameters (block size, has-parent), virtual disk size, logical sector size;
 *   - the BAT interleaves one sector-bitmap entry after every `chunk ratio` payload entries; payload blocks that are
 *     not present, undefined, unmapped or zero read as zeros, fully present ones from the file;
 *   - a header whose log GUID is set means writes may sit in the log: the active log sequence is replayed into an
 *     in-memory overlay of the file before anything else is read (qemu replays it too, when it may write). A log that
 *     cannot be replayed makes the image `partial`, never silently stale.
 * A disk with a parent (differencing) has it on the host: refused.
 */
import { TargetError } from '../../errors.js';
import { CorruptImageError, UnsupportedImageError, checkRange, type ByteSource } from './source.js';
import { MappedSource, MAX_TABLE_BYTES, checkedVirtualSize, guidAt, isPowerOfTwo } from './mapped.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HEADER_OFFSETS = [64 * KiB, 128 * KiB];
const REGION_OFFSETS = [192 * KiB, 256 * KiB];
const REGION_SIZE = 64 * KiB;
const BAT_GUID = '2dc27766-f623-4200-9d64-115e9bfd4a08';
const METADATA_GUID = '8b7ca206-4790-4b9a-b8fe-575f050f886e';
const META = {
  fileParameters: 'caa16737-fa36-4d43-b3b6-33f0aa44e76b',
  virtualDiskSize: '2fa54224-cd1b-4876-b211-5dbed83bf4b8',
  page83: 'beca12ab-b2e6-4523-93ef-c309e000c746',
  logicalSectorSize: '8141bf1d-a96f-4709-ba47-f233a8faab5f',
  physicalSectorSize: 'cda348c7-445d-4471-9cc9-e9885251c556',
  parentLocator: 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c',
};
const KNOWN_META = new Set(Object.values(META));
const PAYLOAD_FULLY_PRESENT = 6;
const PAYLOAD_PARTIALLY_PRESENT = 7;
const LOG_SECTOR = 4 * KiB;
/** Bounds on a log replay: the log read into memory, the bytes checksummed while searching, the writes kept. */
const MAX_LOG_LENGTH = 64 * MiB;
const LOG_SEARCH_BUDGET = 512 * MiB;
const MAX_LOG_WRITES = 65536;
const MAX_LOG_ZERO_RANGES = 1024;

class LogTooLarge extends TargetError {
  override name = 'LogTooLarge';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** CRC-32C tables for slicing by 8 (table k: the CRC of a byte followed by k zero bytes). */
let crcTables: Uint32Array[] | null = null;
/** CRC-32C (Castagnoli), as VHDX checksums its headers, region tables and log entries (and btrfs its metadata). */
export function crc32c(buf: Buffer, start = 0, end = buf.length): number {
  if (!crcTables) {
    const t0 = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      t0[n] = c >>> 0;
    }
    crcTables = [t0];
    for (let k = 1; k < 8; k++) {
      const prev = crcTables[k - 1]!;
      const t = new Uint32Array(256);
      for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
      crcTables.push(t);
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = 0xffffffff;
  let i = start;
  if (LITTLE_ENDIAN && (buf.byteOffset + i) % 4 === 0 && end - i >= 8) {
    // Aligned: two 32-bit words per step (btrfs checksums every tree node read, so this is on the listing's path).
    const words = new Uint32Array(buf.buffer, buf.byteOffset + i, (end - i) >>> 3 << 1);
    for (let w = 0; w < words.length; w += 2) {
      const lo = (crc ^ words[w]!) >>> 0;
      const hi = words[w + 1]!;
      crc =
        t7[lo & 0xff]! ^
        t6[(lo >>> 8) & 0xff]! ^
        t5[(lo >>> 16) & 0xff]! ^
        t4[lo >>> 24]! ^
        t3[hi & 0xff]! ^
        t2[(hi >>> 8) & 0xff]! ^
        t1[(hi >>> 16) & 0xff]! ^
        t0[hi >>> 24]!;
    }
    i += words.length * 4;
  }
  for (; i + 8 <= end; i += 8) {
    const lo = (crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum of a structure whose own 4-byte checksum field sits at `at`, computed as if that field were zero. */
function checksumOk(buf: Buffer, at: number): boolean {
  const copy = Buffer.from(buf);
  copy.writeUInt32LE(0, at);
  return crc32c(copy) === buf.readUInt32LE(at);
}

export function isVhdx(src: ByteSource): boolean {
  return src.size >= 8 && src.read(0, 8).toString('latin1') === 'vhdxfile';
}

interface VhdxHeader {
  seq: bigint;
  logGuid: string;
  logLength: number;
  logOffset: number;
}

const NULL_GUID = '00000000-0000-0000-0000-000000000000';

function readHeader(file: ByteSource): VhdxHeader {
  let best: VhdxHeader | null = null;
  for (const off of HEADER_OFFSETS) {
    if (off + 4 * KiB > file.size) continue;
    const b = file.read(off, 4 * KiB);
    if (b.subarray(0, 4).toString('latin1') !== 'head' || !checksumOk(b, 4)) continue;
    const h = { seq: b.readBigUInt64LE(8), logGuid: guidAt(b, 48), logLength: b.readUInt32LE(68), logOffset: Number(b.readBigUInt64LE(72)) };
    const version = b.readUInt16LE(66);
    if (version !== 1) throw new UnsupportedImageError(`vhdx: version ${version} is not supported`);
    if (!best || h.seq > best.seq) best = h;
  }
  if (!best) throw new CorruptImageError('vhdx: no valid header');
  return best;
}

interface Region {
  offset: number;
  length: number;
}

function readRegions(file: ByteSource): { bat: Region; metadata: Region } {
  for (const off of REGION_OFFSETS) {
    if (off + REGION_SIZE > file.size) continue;
    const t = file.read(off, REGION_SIZE);
    if (t.subarray(0, 4).toString('latin1') !== 'regi' || !checksumOk(t, 4)) continue;
    const count = t.readUInt32LE(8);
    if (count > 2047) throw new CorruptImageError(`vhdx: region table with ${count} entries`);
    let bat: Region | null = null;
    let metadata: Region | null = null;
    for (let i = 0; i < count; i++) {
      const e = 16 + i * 32;
      const guid = guidAt(t, e);
      const region = { offset: Number(t.readBigUInt64LE(e + 16)), length: t.readUInt32LE(e + 24) };
      const required = (t.readUInt32LE(e + 28) & 1) !== 0;
      if (region.offset % MiB !== 0 || region.length % MiB !== 0 || region.offset < MiB) {
        throw new CorruptImageError(`vhdx: misaligned region ${guid}`);
      }
      if (guid === BAT_GUID) bat = region;
      else if (guid === METADATA_GUID) metadata = region;
      else if (required) throw new UnsupportedImageError(`vhdx: unknown required region ${guid}`);
    }
    if (!bat || !metadata) throw new CorruptImageError('vhdx: region table lacks the BAT or the metadata region');
    return { bat, metadata };
  }
  throw new CorruptImageError('vhdx: no valid region table');
}

interface Metadata {
  blockSize: number;
  hasParent: boolean;
  virtualSize: number;
  logicalSectorSize: number;
}

function readMetadata(file: ByteSource, region: Region): Metadata {
  if (region.offset + 64 * KiB > file.size) throw new CorruptImageError('vhdx: metadata region beyond the end of the file');
  const t = file.read(region.offset, 64 * KiB);
  if (t.subarray(0, 8).toString('latin1') !== 'metadata') throw new CorruptImageError('vhdx: bad metadata table');
  const count = t.readUInt16LE(10);
  if (count > 2047) throw new CorruptImageError(`vhdx: metadata table with ${count} entries`);
  const items = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const e = 32 + i * 32;
    const id = guidAt(t, e);
    const offset = t.readUInt32LE(e + 16);
    const length = t.readUInt32LE(e + 20);
    const required = (t.readUInt32LE(e + 24) & 4) !== 0;
    if (!KNOWN_META.has(id)) {
      if (required) throw new UnsupportedImageError(`vhdx: unknown required metadata item ${id}`);
      continue;
    }
    if (offset < 64 * KiB || length > MiB || offset + length > region.length || region.offset + offset + length > file.size) {
      throw new CorruptImageError(`vhdx: metadata item ${id} out of bounds`);
    }
    if (items.has(id)) throw new CorruptImageError(`vhdx: duplicate metadata item ${id}`);
    items.set(id, file.read(region.offset + offset, length));
  }
  const need = (id: string, min: number): Buffer => {
    const b = items.get(id);
    if (!b || b.length < min) throw new CorruptImageError(`vhdx: missing metadata item ${id}`);
    return b;
  };
  const params = need(META.fileParameters, 8);
  const blockSize = params.readUInt32LE(0);
  const hasParent = (params.readUInt32LE(4) & 2) !== 0 || items.has(META.parentLocator);
  if (!isPowerOfTwo(blockSize) || blockSize < MiB || blockSize > 256 * MiB) throw new CorruptImageError(`vhdx: invalid block size ${blockSize}`);
  const logicalSectorSize = need(META.logicalSectorSize, 4).readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) throw new CorruptImageError(`vhdx: invalid logical sector size ${logicalSectorSize}`);
  const virtualSize = checkedVirtualSize(need(META.virtualDiskSize, 8).readBigUInt64LE(0), 'vhdx');
  return { blockSize, hasParent, virtualSize, logicalSectorSize };
}

/** A valid log entry's descriptors, read from the log region (positions are relative to the log start). */
interface LogEntry {
  seq: bigint;
  tail: number;
  length: number;
  writes: Array<{ fileOffset: number; data: Buffer | null; zeroLength: number }>;
  lastFileOffset: number;
}

function readLogEntry(log: Buffer, pos: number, logGuid: string, budget: { bytes: number }): LogEntry | null {
  if (pos + 64 > log.length || log.subarray(pos, pos + 4).toString('latin1') !== 'loge') return null;
  const length = log.readUInt32LE(pos + 8);
  const tail = log.readUInt32LE(pos + 12);
  const seq = log.readBigUInt64LE(pos + 16);
  const count = log.readUInt32LE(pos + 24);
  if (length < LOG_SECTOR || length % LOG_SECTOR !== 0 || pos + length > log.length || tail % LOG_SECTOR !== 0 || tail >= log.length) return null;
  if (guidAt(log, pos + 32) !== logGuid) return null;
  budget.bytes -= length;
  if (budget.bytes < 0) throw new LogTooLarge();
  if (!checksumOk(log.subarray(pos, pos + length), 4)) return null;
  const descSectors = Math.ceil((64 + count * 32) / LOG_SECTOR);
  let dataPos = pos + descSectors * LOG_SECTOR;
  const writes: LogEntry['writes'] = [];
  for (let i = 0; i < count; i++) {
    const d = pos + 64 + i * 32;
    if (d + 32 > pos + length) return null;
    const sig = log.subarray(d, d + 4).toString('latin1');
    const fileOffset = Number(log.readBigUInt64LE(d + 16));
    if (log.readBigUInt64LE(d + 24) !== seq || fileOffset % LOG_SECTOR !== 0) return null;
    if (sig === 'zero') {
      const zeroLength = Number(log.readBigUInt64LE(d + 8));
      if (zeroLength % LOG_SECTOR !== 0 || zeroLength > 2 ** 40) return null;
      writes.push({ fileOffset, data: null, zeroLength });
    } else if (sig === 'desc') {
      if (dataPos + LOG_SECTOR > pos + length) return null;
      const s = log.subarray(dataPos, dataPos + LOG_SECTOR);
      if (s.subarray(0, 4).toString('latin1') !== 'data' || s.readUInt32LE(4) !== Number(seq >> 32n) || s.readUInt32LE(4092) !== Number(seq & 0xffffffffn)) return null;
      // The sector is: 8 leading bytes (from the descriptor), 4084 data bytes, 4 trailing bytes (descriptor).
      const data = Buffer.concat([log.subarray(d + 8, d + 16), s.subarray(8, 4092), log.subarray(d + 4, d + 8)]);
      writes.push({ fileOffset, data, zeroLength: 0 });
      dataPos += LOG_SECTOR;
    } else return null;
  }
  return { seq, tail, length, writes, lastFileOffset: Number(log.readBigUInt64LE(pos + 56)) };
}

/**
 * The active log sequence (MS-VHDX 2.3.3): the valid run of entries with consecutive sequence numbers that ends with
 * the highest sequence number found, and whose head entry's tail lies inside the run.
 */
function activeSequence(log: Buffer, logGuid: string): LogEntry[] | null {
  let best: LogEntry[] | null = null;
  const budget = { bytes: LOG_SEARCH_BUDGET };
  for (let start = 0; start < log.length; start += LOG_SECTOR) {
    const first = readLogEntry(log, start, logGuid, budget);
    if (!first) continue;
    const run = [first];
    const positions = [start];
    let pos = (start + first.length) % log.length;
    for (let guard = 0; guard < log.length / LOG_SECTOR; guard++) {
      const next = readLogEntry(log, pos, logGuid, budget);
      if (!next || next.seq !== run[run.length - 1]!.seq + 1n) break;
      run.push(next);
      positions.push(pos);
      pos = (pos + next.length) % log.length;
    }
    const head = run[run.length - 1]!;
    if (!positions.includes(head.tail)) continue;
    const from = positions.indexOf(head.tail);
    const seqRun = run.slice(from);
    if (!best || head.seq > best[best.length - 1]!.seq) best = seqRun;
  }
  return best;
}

/** The image file with the log's writes applied in memory (the file itself is never written). */
class ReplayedFile implements ByteSource {
  readonly size: number;
  private readonly sectors = new Map<number, Buffer | null>();
  private readonly zeroRanges: Array<[number, number]> = [];

  constructor(
    private readonly file: ByteSource,
    entries: LogEntry[],
  ) {
    let size = file.size;
    if (entries.reduce((n, e) => n + e.writes.length, 0) > MAX_LOG_WRITES) throw new LogTooLarge();
    if (entries.reduce((n, e) => n + e.writes.filter((w) => !w.data).length, 0) > MAX_LOG_ZERO_RANGES) throw new LogTooLarge();
    for (const e of entries) {
      for (const w of e.writes) {
        if (w.data) {
          this.sectors.set(w.fileOffset / LOG_SECTOR, w.data);
          size = Math.max(size, w.fileOffset + LOG_SECTOR);
        } else {
          // A later zero range overrides earlier sector writes inside it.
          for (const k of this.sectors.keys()) if (k * LOG_SECTOR >= w.fileOffset && k * LOG_SECTOR < w.fileOffset + w.zeroLength) this.sectors.set(k, null);
          this.zeroRanges.push([w.fileOffset, w.fileOffset + w.zeroLength]);
          size = Math.max(size, w.fileOffset + w.zeroLength);
        }
      }
      size = Math.max(size, Math.min(e.lastFileOffset, 2 ** 50));
    }
    this.size = size;
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.readInto(out, offset, length);
    return out;
  }

  readInto(out: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    const fromFile = Math.max(0, Math.min(length, this.file.size - offset));
    if (fromFile > 0) this.file.read(offset, fromFile).copy(out, 0);
    out.fill(0, fromFile, length);
    for (const [a, b] of this.zeroRanges) {
      const s = Math.max(a, offset);
      const e = Math.min(b, offset + length);
      if (s < e) out.fill(0, s - offset, e - offset);
    }
    for (let k = Math.floor(offset / LOG_SECTOR); k * LOG_SECTOR < offset + length; k++) {
      if (!this.sectors.has(k)) continue;
      const data = this.sectors.get(k);
      const s = Math.max(k * LOG_SECTOR, offset);
      const e = Math.min((k + 1) * LOG_SECTOR, offset + length);
      if (data) data.copy(out, s - offset, s - k * LOG_SECTOR, e - k * LOG_SECTOR);
      else out.fill(0, s - offset, e - offset);
    }
  }

  close(): void {
    this.file.close?.();
  }
}

interface VhdxLayout {
  file: ByteSource;
  meta: Metadata;
  bat: Buffer;
  chunkRatio: number;
  problems: string[];
}

function parseVhdx(original: ByteSource): VhdxLayout {
  if (original.size < 320 * KiB) throw new CorruptImageError('vhdx: file too small');
  if (original.read(0, 8).toString('latin1') !== 'vhdxfile') throw new CorruptImageError('vhdx: bad file identifier');
  const h = readHeader(original);
  let file = original;
  const problems: string[] = [];
  if (h.logGuid !== NULL_GUID) {
    if (h.logLength === 0 || h.logLength % MiB !== 0 || h.logOffset % MiB !== 0 || h.logLength > MAX_LOG_LENGTH ||
      h.logOffset + h.logLength > original.size) {
      problems.push('vhdx: the log (not cleanly closed) is unreadable; the disk may be read without its last writes');
    } else {
      try {
        const entries = activeSequence(original.read(h.logOffset, h.logLength), h.logGuid);
        if (entries && entries.some((e) => e.writes.length > 0)) file = new ReplayedFile(original, entries);
      } catch (err) {
        if (!(err instanceof LogTooLarge)) throw err;
        problems.push('vhdx: the log (not cleanly closed) is too large to replay; the disk may be read without its last writes');
      }
    }
  }
  const regions = readRegions(file);
  const meta = readMetadata(file, regions.metadata);
  if (meta.hasParent) {
    throw new UnsupportedImageError('vhdx: refusing a differencing disk (its parent is a file on the host); merge it first (qemu-img convert)');
  }
  const chunkRatio = (2 ** 23 * meta.logicalSectorSize) / meta.blockSize;
  const dataBlocks = Math.ceil(meta.virtualSize / meta.blockSize);
  const entries = dataBlocks + Math.floor((dataBlocks - 1) / chunkRatio);
  if (entries * 8 > MAX_TABLE_BYTES) throw new CorruptImageError('vhdx: BAT too large');
  if (entries * 8 > regions.bat.length) throw new CorruptImageError(`vhdx: BAT region too small for ${entries} entries`);
  if (regions.bat.offset + entries * 8 > file.size) throw new CorruptImageError('vhdx: BAT beyond the end of the file');
  return { file, meta, bat: file.read(regions.bat.offset, entries * 8), chunkRatio, problems };
}

export class VhdxSource extends MappedSource {
  readonly size: number;
  private readonly bat: Buffer;
  private readonly chunkRatio: number;

  constructor(file: ByteSource) {
    const l = parseVhdx(file);
    super(l.file, l.meta.blockSize);
    this.size = l.meta.virtualSize;
    this.bat = l.bat;
    this.chunkRatio = l.chunkRatio;
    this.problems.push(...l.problems);
  }

  protected readBlock(index: number, inBlock: number, len: number, out: Buffer, outPos: number): void {
    const at = (index + Math.floor(index / this.chunkRatio)) * 8;
    const lo = this.bat.readUInt32LE(at);
    const hi = this.bat.readUInt32LE(at + 4);
    const state = lo & 7;
    if (state === PAYLOAD_FULLY_PRESENT) {
      const offset = hi * 2 ** 32 + ((lo & 0xfff00000) >>> 0);
      if (offset === 0) throw new CorruptImageError(`vhdx: block ${index} present at offset 0`);
      this.copyFromFile(offset + inBlock, len, out, outPos, `vhdx block ${index}`);
    } else if (state === PAYLOAD_PARTIALLY_PRESENT) {
      throw new CorruptImageError(`vhdx: block ${index} partially present in a disk without a parent`);
    } else if (state <= 3) {
      out.fill(0, outPos, outPos + len);
    } else {
      throw new CorruptImageError(`vhdx: block ${index} has an invalid state ${state}`);
    }
  }
}
