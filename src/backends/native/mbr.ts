/**
 * MBR (DOS) partition tables with extended partitions: primaries are 1-4, logical partitions inside the extended
 * partition follow the EBR chain and are numbered from 5, like Linux names them. The chain is bounded and cycles
 * are detected.
 */
import type { ByteSource } from './source.js';
import { partitionDevice, type Partition } from './partition.js';
import { overlaps } from './gpt.js';

const SECTOR = 512;
const MAX_LOGICAL = 256;
const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);

interface RawEntry {
  status: number;
  type: number;
  lbaStart: number;
  sectors: number;
}

function entries(sec: Buffer): RawEntry[] {
  const out: RawEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const o = 446 + i * 16;
    out.push({
      status: sec[o]!,
      type: sec[o + 4]!,
      lbaStart: sec.readUInt32LE(o + 8),
      sectors: sec.readUInt32LE(o + 12),
    });
  }
  return out;
}

/** A plausible DOS partition table in sector 0: boot signature, sane status bytes, at least one entry. */
export function looksLikeMbr(sec0: Buffer): boolean {
  if (sec0.length < 512 || sec0[510] !== 0x55 || sec0[511] !== 0xaa) return false;
  const es = entries(sec0);
  if (es.some((e) => e.status !== 0 && e.status !== 0x80)) return false;
  return es.some((e) => e.type !== 0 && e.sectors > 0);
}

export interface MbrTable {
  diskSignature: string;
  partitions: Partition[];
  problems: string[];
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export function readMbr(src: ByteSource): MbrTable | null {
  if (src.size < SECTOR) return null;
  const sec0 = src.read(0, SECTOR);
  if (!looksLikeMbr(sec0)) return null;
  const sig = sec0.readUInt32LE(440).toString(16).padStart(8, '0');
  const problems: string[] = [];
  const partitions: Partition[] = [];
  const mk = (number: number, lbaStart: number, sectors: number, type: number): Partition | null => {
    const start = lbaStart * SECTOR;
    const size = sectors * SECTOR;
    if (sectors === 0) return null;
    if (start + size > src.size) {
      // A partition that runs past the end of a truncated image: keep what is there, like the kernel does.
      if (start >= src.size) {
        problems.push(`MBR partition ${number} starts beyond the end of the disk`);
        return null;
      }
      problems.push(`MBR partition ${number} extends beyond the end of the disk`);
    }
    return {
      number,
      device: partitionDevice(number),
      start,
      size: Math.min(size, src.size - start),
      partlabel: null,
      partuuid: `${sig}-${hex2(number)}`,
      partType: hex2(type),
    };
  };
  let extended: RawEntry | null = null;
  entries(sec0).forEach((e, i) => {
    if (e.type === 0) return;
    if (EXTENDED_TYPES.has(e.type)) {
      if (!extended) extended = e;
      // The extended partition itself is listed (like the kernel's sdaN of 1 KiB) but holds no filesystem.
      return;
    }
    const p = mk(i + 1, e.lbaStart, e.sectors, e.type);
    if (p) partitions.push(p);
  });
  if (extended) {
    const ext = extended as RawEntry;
    const extStart = ext.lbaStart;
    const extEnd = ext.lbaStart + ext.sectors;
    let ebr = extStart;
    const seen = new Set<number>();
    let number = 5;
    for (let n = 0; n < MAX_LOGICAL; n++) {
      if (seen.has(ebr)) {
        problems.push('MBR: loop in the extended partition chain');
        break;
      }
      seen.add(ebr);
      if ((ebr + 1) * SECTOR > src.size) {
        problems.push(`MBR: extended boot record at sector ${ebr} is beyond the disk`);
        break;
      }
      const sec = src.read(ebr * SECTOR, SECTOR);
      if (sec[510] !== 0x55 || sec[511] !== 0xaa) {
        if (n > 0) problems.push(`MBR: bad extended boot record at sector ${ebr}`);
        break;
      }
      const [data, link] = entries(sec);
      if (data && data.type !== 0 && data.sectors > 0) {
        const p = mk(number, ebr + data.lbaStart, data.sectors, data.type);
        if (p) partitions.push(p);
        number++;
      }
      if (!link || link.type === 0 || !EXTENDED_TYPES.has(link.type) || link.sectors === 0) break;
      const next = extStart + link.lbaStart;
      if (next < extStart || next >= extEnd) {
        problems.push(`MBR: extended boot record link outside the extended partition`);
        break;
      }
      ebr = next;
      if (n === MAX_LOGICAL - 1) problems.push('MBR: too many logical partitions');
    }
  }
  for (const o of overlaps(partitions)) problems.push(o);
  return { diskSignature: sig, partitions, problems };
}
