/**
 * GUID partition tables (UEFI spec, chapter 5). The primary header at LBA 1 is used; a damaged primary falls back
 * to the backup header at the last LBA. Header and entry-array CRCs are checked; a mismatch is treated like a missing
 * header (as the kernel and blkid do).
 */
import { crc32 } from '../../crc.js';
import { CorruptImageError, type ByteSource } from './source.js';
import { partitionDevice, type Partition } from './partition.js';
import { pushAll } from '../../arrays.js';

const SIGNATURE = 'EFI PART';
const MAX_ENTRIES = 4096;
const ZERO_GUID = '00000000-0000-0000-0000-000000000000';


/** A GUID as stored on disk (first three fields little-endian) in the usual lowercase text form. */
export function formatGuid(b: Buffer, off = 0): string {
  const h = (i: number) => b[off + i]!.toString(16).padStart(2, '0');
  return (
    h(3) + h(2) + h(1) + h(0) + '-' + h(5) + h(4) + '-' + h(7) + h(6) + '-' + h(8) + h(9) + '-' +
    h(10) + h(11) + h(12) + h(13) + h(14) + h(15)
  );
}

function u64(b: Buffer, off: number): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(v);
}

export interface GptTable {
  sectorSize: number;
  diskGuid: string;
  partitions: Partition[];
  problems: string[];
}

interface Header {
  entriesLba: number;
  numEntries: number;
  entrySize: number;
  entriesCrc: number;
  firstUsable: number;
  lastUsable: number;
  diskGuid: string;
}

function parseHeader(src: ByteSource, lba: number, sectorSize: number): Header | string {
  if ((lba + 1) * sectorSize > src.size) return 'header beyond the end of the disk';
  const sec = src.read(lba * sectorSize, sectorSize);
  if (sec.toString('latin1', 0, 8) !== SIGNATURE) return 'no GPT signature';
  const headerSize = sec.readUInt32LE(12);
  if (headerSize < 92 || headerSize > sectorSize) return `bad header size ${headerSize}`;
  const copy = Buffer.from(sec.subarray(0, headerSize));
  const want = copy.readUInt32LE(16);
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== want) return 'header CRC mismatch';
  const h: Header = {
    firstUsable: u64(sec, 40),
    lastUsable: u64(sec, 48),
    diskGuid: formatGuid(sec, 56),
    entriesLba: u64(sec, 72),
    numEntries: sec.readUInt32LE(80),
    entrySize: sec.readUInt32LE(84),
    entriesCrc: sec.readUInt32LE(88),
  };
  if (h.entrySize < 128 || h.entrySize % 8 !== 0 || h.entrySize > 4096) return `bad entry size ${h.entrySize}`;
  if (h.numEntries > MAX_ENTRIES) return `too many partition entries (${h.numEntries})`;
  if ((h.entriesLba * sectorSize) + h.numEntries * h.entrySize > src.size) return 'partition entries beyond the disk';
  return h;
}

/** Whether the disk carries a GPT signature at LBA 1 for 512- or 4096-byte sectors. */
export function detectGpt(src: ByteSource): number | null {
  for (const ss of [512, 4096]) {
    if (src.size >= ss * 2 && src.read(ss, 8).toString('latin1') === SIGNATURE) return ss;
  }
  return null;
}

/**
 * The GPT's header: the primary at LBA 1, else a valid backup at the last LBA (as the kernel does) with a problem
 * noted. A primary wiped to zeros with an intact backup is still a GPT. Null when neither holds a GPT signature.
 */
function findHeader(src: ByteSource): { h: Header; sectorSize: number; problems: string[] } | null {
  const signed = detectGpt(src);
  for (const sectorSize of signed !== null ? [signed] : [512, 4096]) {
    const primary = parseHeader(src, 1, sectorSize);
    if (typeof primary !== 'string') return { h: primary, sectorSize, problems: [] };
    const lastLba = Math.floor(src.size / sectorSize) - 1;
    if (lastLba < 2) continue;
    const backup = parseHeader(src, lastLba, sectorSize);
    if (typeof backup !== 'string') {
      return { h: backup, sectorSize, problems: [`GPT primary header unusable (${primary}); used the backup header at LBA ${lastLba}`] };
    }
    if (signed !== null) throw new CorruptImageError(`GPT: primary header unusable (${primary}), no valid backup`);
  }
  return null;
}

export function readGpt(src: ByteSource): GptTable | null {
  const found = findHeader(src);
  if (!found) return null;
  const { h, sectorSize } = found;
  const problems = [...found.problems];
  const entries = src.read(h.entriesLba * sectorSize, h.numEntries * h.entrySize);
  if (crc32(entries) !== h.entriesCrc) {
    problems.push('GPT partition entry array CRC mismatch');
  }
  const partitions: Partition[] = [];
  for (let i = 0; i < h.numEntries; i++) {
    const off = i * h.entrySize;
    const type = formatGuid(entries, off);
    if (type === ZERO_GUID) continue;
    const first = u64(entries, off + 32);
    const last = u64(entries, off + 40);
    const number = i + 1;
    if (last < first || (last + 1) * sectorSize > src.size) {
      problems.push(`GPT partition ${number} lies outside the disk (LBA ${first}-${last})`);
      continue;
    }
    let name = entries.toString('utf16le', off + 56, off + 128);
    const nul = name.indexOf('\0');
    if (nul >= 0) name = name.slice(0, nul);
    partitions.push({
      number,
      device: partitionDevice(number),
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      partlabel: name,
      partuuid: formatGuid(entries, off + 16),
      partType: type,
    });
  }
  pushAll(problems, overlaps(partitions));
  return { sectorSize, diskGuid: h.diskGuid, partitions, problems };
}

/** Partitions that share bytes: each is still read, but the overlap is reported (once per pair). */
export function overlaps(parts: readonly Partition[]): string[] {
  const sorted = [...parts].sort((a, b) => a.start - b.start || a.number - b.number);
  const out: string[] = [];
  for (let i = 0; i < sorted.length && out.length < 100; i++) {
    const a = sorted[i]!;
    for (let j = i + 1; j < sorted.length && sorted[j]!.start < a.start + a.size; j++) {
      const b = sorted[j]!;
      out.push(`partitions ${a.device} and ${b.device} overlap (bytes ${b.start}-${Math.min(a.start + a.size, b.start + b.size) - 1} are in both)`);
    }
  }
  return out;
}
