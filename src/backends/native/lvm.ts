/**
 * LVM2 for the native reader: the physical volumes of the image (partitions or the whole disk labelled `LVM2 001`),
 * the volume group's text metadata from each PV's metadata area, and every visible logical volume whose segments
 * are `striped` (a linear LV is striped over one PV) as a ByteSource of its own, named `/dev/VG/LV` like
 * libguestfs names it. Other segment types (thin pools and thin volumes, mirrors, raid, snapshots, cache, vdo)
 * are refused by name: the LV is then a problem natively and `--backend auto` hands the image to libguestfs.
 * All offsets come from untrusted metadata and are checked against the PV before any read.
 */
import { CorruptImageError, checkRange, readIntoFrom, type ByteSource } from './source.js';
import { MAX_VIRTUAL_SIZE } from './mapped.js';

const SECTOR = 512;
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
/** The metadata text of one VG is small (kilobytes); more is corrupt. */
const MAX_METADATA = 4 * 1024 * 1024;
const MAX_DEPTH = 16;
const MAX_SEGMENTS = 4096;

/** A physical volume found on a device, with its metadata text (null when its metadata areas hold none). */
export interface PhysicalVolume {
  device: string;
  source: ByteSource;
  /** The PV UUID without dashes. */
  uuid: string;
  metadata: string | null;
}

/** A logical volume: its source, or why the native reader does not read it. */
export interface LogicalVolume {
  vg: string;
  name: string;
  device: string;
  source: ByteSource | null;
  problem: string | null;
}

export function isLvmPv(src: ByteSource): boolean {
  return labelSector(src) !== null;
}

function labelSector(src: ByteSource): number | null {
  for (let s = 0; s < 4; s++) {
    const at = s * SECTOR;
    if (at + 32 > src.size) return null;
    const h = src.read(at, 32);
    if (h.toString('latin1', 0, 8) === 'LABELONE' && h.toString('latin1', 24, 32) === 'LVM2 001') return s;
  }
  return null;
}

/** The PV label, header and newest metadata text of one device. */
export function readPv(device: string, src: ByteSource): PhysicalVolume {
  const s = labelSector(src);
  if (s === null) throw new CorruptImageError(`${device}: no LVM2 label`);
  const label = src.read(s * SECTOR, SECTOR);
  const off = label.readUInt32LE(20);
  if (off < 32 || off + 40 > SECTOR) throw new CorruptImageError(`${device}: bad LVM2 PV header offset ${off}`);
  const uuid = label.toString('latin1', off, off + 32);
  // Two zero-terminated lists of (offset, size): data areas, then metadata areas.
  const lists: Array<Array<[number, number]>> = [[], []];
  let p = off + 40;
  for (const list of lists) {
    for (;;) {
      if (p + 16 > SECTOR) throw new CorruptImageError(`${device}: LVM2 PV header area lists run past the label sector`);
      const o = Number(label.readBigUInt64LE(p));
      const n = Number(label.readBigUInt64LE(p + 8));
      p += 16;
      if (o === 0) break;
      list.push([o, n]);
    }
  }
  let metadata: string | null = null;
  for (const [mdaOff] of lists[1]!) {
    metadata = readMetadataArea(device, src, mdaOff);
    if (metadata !== null) break;
  }
  return { device, source: src, uuid, metadata };
}

function readMetadataArea(device: string, src: ByteSource, at: number): string | null {
  checkRange(src, at, SECTOR, `${device}: LVM2 metadata area header`);
  const h = src.read(at, SECTOR);
  if (h.toString('latin1', 4, 20) !== MDA_MAGIC) throw new CorruptImageError(`${device}: bad LVM2 metadata area magic`);
  const start = Number(h.readBigUInt64LE(24));
  const size = Number(h.readBigUInt64LE(32));
  if (start !== at || size <= SECTOR || !Number.isSafeInteger(size)) {
    throw new CorruptImageError(`${device}: bad LVM2 metadata area (start ${start}, size ${size})`);
  }
  checkRange(src, at, size, `${device}: LVM2 metadata area`);
  for (let r = 40; r + 24 <= SECTOR; r += 24) {
    const o = Number(h.readBigUInt64LE(r));
    const n = Number(h.readBigUInt64LE(r + 8));
    const flags = h.readUInt32LE(r + 20);
    if (o === 0) return null;
    if (flags & 1) continue; // an ignored location
    if (n > MAX_METADATA || n > size - SECTOR || o < SECTOR || o >= size) {
      throw new CorruptImageError(`${device}: bad LVM2 metadata location (${n} bytes at ${o})`);
    }
    // A circular buffer after the header: text that runs past the end continues right after the header.
    const first = Math.min(n, size - o);
    const text = Buffer.alloc(n);
    readIntoFrom(src, text, at + o, first);
    if (first < n) readIntoFrom(src, text.subarray(first), at + SECTOR, n - first);
    const nul = text.indexOf(0);
    return text.toString('utf8', 0, nul < 0 ? n : nul);
  }
  return null;
}

type Value = string | number | Value[] | Section;
interface Section {
  [key: string]: Value;
}

/** LVM's metadata text: `name { ... }` sections, `key = value`, strings, numbers, `[...]` lists, `#` comments. */
export function parseLvmText(text: string): Section {
  let i = 0;
  const bad = (why: string): never => {
    throw new CorruptImageError(`LVM2 metadata: ${why} at character ${i}`);
  };
  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (text[i] !== '#') return;
      while (i < text.length && text[i] !== '\n') i++;
    }
  };
  const ident = (): string => {
    const m = /^[A-Za-z0-9_.+\-]+/.exec(text.slice(i, i + 256));
    if (!m) bad('expected a name');
    i += m![0].length;
    return m![0];
  };
  const value = (depth: number): Value => {
    skip();
    const c = text[i];
    if (c === '"') {
      let s = '';
      for (i++; ; i++) {
        if (i >= text.length) bad('unterminated string');
        if (text[i] === '\\') s += text[++i] ?? '';
        else if (text[i] === '"') break;
        else s += text[i];
      }
      i++;
      return s;
    }
    if (c === '[') {
      if (depth > MAX_DEPTH) bad('nested too deep');
      i++;
      const out: Value[] = [];
      for (;;) {
        skip();
        if (text[i] === ']') {
          i++;
          return out;
        }
        out.push(value(depth + 1));
        skip();
        if (text[i] === ',') i++;
        else if (text[i] !== ']') bad('expected , or ]');
      }
    }
    const m = /^-?\d+(\.\d+)?/.exec(text.slice(i, i + 32));
    if (!m) bad('expected a value');
    i += m![0].length;
    return Number(m![0]);
  };
  const section = (depth: number, top: boolean): Section => {
    if (depth > MAX_DEPTH) bad('nested too deep');
    const out: Section = Object.create(null) as Section;
    for (;;) {
      skip();
      if (i >= text.length) {
        if (top) return out;
        bad('unterminated section');
      }
      if (text[i] === '}') {
        if (top) bad('unbalanced }');
        i++;
        return out;
      }
      const key = ident();
      skip();
      if (text[i] === '{') {
        i++;
        out[key] = section(depth + 1, false);
      } else if (text[i] === '=') {
        i++;
        out[key] = value(depth + 1);
      } else bad(`expected = or { after ${key}`);
    }
  };
  return section(0, true);
}

function isSection(v: Value | undefined): v is Section {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(s: Section, key: string, what: string): number {
  const v = s[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CorruptImageError(`LVM2 metadata: ${what}: bad ${key}`);
  return v;
}

/** One stripe of a segment: where its first extent lies on a PV. */
interface Stripe {
  src: ByteSource;
  at: number;
}
interface Segment {
  start: number;
  length: number;
  /** Bytes per stripe chunk (the whole segment for one stripe). */
  chunk: number;
  stripes: Stripe[];
}

/** A logical volume's bytes: its segments, each striped over one or more PVs. */
export class LvSource implements ByteSource {
  constructor(
    readonly size: number,
    private readonly segments: Segment[],
  ) {}

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.readInto(out, offset, length);
    return out;
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    let pos = 0;
    let k = 0;
    while (pos < length) {
      const g = offset + pos;
      while (k < this.segments.length && this.segments[k]!.start + this.segments[k]!.length <= g) k++;
      const seg = this.segments[k];
      if (!seg || seg.start > g) throw new CorruptImageError(`LVM2: no segment maps byte ${g} of the logical volume`);
      const inSeg = g - seg.start;
      const c = Math.floor(inSeg / seg.chunk);
      const n = seg.stripes.length;
      const stripe = seg.stripes[c % n]!;
      const inChunk = inSeg - c * seg.chunk;
      const len = Math.min(length - pos, seg.chunk - inChunk, seg.length - inSeg);
      readIntoFrom(stripe.src, buf.subarray(pos), stripe.at + Math.floor(c / n) * seg.chunk + inChunk, len);
      pos += len;
    }
  }
}

/** Whether a logical volume is shown (hidden ones are the internals of pools, mirrors and snapshots). */
function visible(lv: Section): boolean {
  const st = lv.status;
  return Array.isArray(st) && st.includes('VISIBLE');
}

/**
 * The logical volumes of every volume group the PVs describe. A VG's metadata is taken from the PV holding the
 * newest copy (highest seqno); a PV named in it but absent from the image makes its LVs problems.
 */
export function logicalVolumes(pvs: PhysicalVolume[]): { volumes: LogicalVolume[]; problems: string[] } {
  const problems: string[] = [];
  const byUuid = new Map(pvs.map((p) => [p.uuid, p]));
  const vgs = new Map<string, { vg: Section; seqno: number }>();
  for (const pv of pvs) {
    if (pv.metadata === null) continue;
    let top: Section;
    try {
      top = parseLvmText(pv.metadata);
    } catch (err) {
      problems.push(`${pv.device}: ${(err as Error).message}`);
      continue;
    }
    for (const [name, vg] of Object.entries(top)) {
      if (!isSection(vg) || !isSection(vg.physical_volumes)) continue;
      const seqno = typeof vg.seqno === 'number' ? vg.seqno : 0;
      const had = vgs.get(name);
      if (!had || had.seqno < seqno) vgs.set(name, { vg, seqno });
    }
  }
  const volumes: LogicalVolume[] = [];
  for (const [vgName, { vg }] of vgs) {
    let extent: number;
    const pvOf = new Map<string, { pv: PhysicalVolume | null; peStart: number; peCount: number }>();
    try {
      extent = num(vg, 'extent_size', vgName) * SECTOR;
      if (extent === 0) throw new CorruptImageError(`LVM2 metadata: ${vgName}: extent size 0`);
      for (const [key, p] of Object.entries(vg.physical_volumes as Section)) {
        if (!isSection(p) || typeof p.id !== 'string') continue;
        pvOf.set(key, { pv: byUuid.get(p.id.replace(/-/g, '')) ?? null, peStart: num(p, 'pe_start', key) * SECTOR, peCount: num(p, 'pe_count', key) });
      }
    } catch (err) {
      problems.push(`${vgName}: ${(err as Error).message}`);
      continue;
    }
    const lvs = isSection(vg.logical_volumes) ? vg.logical_volumes : {};
    for (const [lvName, lv] of Object.entries(lvs)) {
      if (!isSection(lv) || !visible(lv)) continue;
      const device = `/dev/${vgName}/${lvName}`;
      try {
        volumes.push({ vg: vgName, name: lvName, device, source: lvSource(lv, lvName, extent, pvOf), problem: null });
      } catch (err) {
        volumes.push({ vg: vgName, name: lvName, device, source: null, problem: (err as Error).message });
      }
    }
  }
  // In the order libguestfs lists them (`lvs`: by VG, then LV name).
  volumes.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  return { volumes, problems };
}

function lvSource(
  lv: Section,
  lvName: string,
  extent: number,
  pvOf: Map<string, { pv: PhysicalVolume | null; peStart: number; peCount: number }>,
): LvSource {
  const count = num(lv, 'segment_count', lvName);
  if (count === 0 || count > MAX_SEGMENTS) throw new CorruptImageError(`LVM2 metadata: ${lvName}: bad segment count ${count}`);
  const segments: Segment[] = [];
  for (let k = 1; k <= count; k++) {
    const s = lv[`segment${k}`];
    if (!isSection(s)) throw new CorruptImageError(`LVM2 metadata: ${lvName}: segment${k} missing`);
    const type = typeof s.type === 'string' ? s.type : '?';
    if (type !== 'striped') {
      throw new CorruptImageError(`logical volume with ${JSON.stringify(type)} segments is not read natively (thin pools, mirrors, raid, snapshots, cache: try --backend guestfs)`);
    }
    const startExtent = num(s, 'start_extent', lvName);
    const extents = num(s, 'extent_count', lvName);
    const list = s.stripes;
    const n = num(s, 'stripe_count', lvName);
    if (!Array.isArray(list) || n === 0 || list.length !== 2 * n) throw new CorruptImageError(`LVM2 metadata: ${lvName}: bad stripes`);
    if (extents % n !== 0) throw new CorruptImageError(`LVM2 metadata: ${lvName}: ${extents} extents over ${n} stripes`);
    const perStripe = extents / n;
    const stripes: Stripe[] = [];
    for (let j = 0; j < n; j++) {
      const key = list[2 * j];
      const first = list[2 * j + 1];
      const pv = typeof key === 'string' ? pvOf.get(key) : undefined;
      if (!pv || typeof first !== 'number' || !Number.isSafeInteger(first) || first < 0) throw new CorruptImageError(`LVM2 metadata: ${lvName}: bad stripe ${j}`);
      if (!pv.pv) throw new CorruptImageError(`its physical volume ${key as string} is not in this image`);
      if (first + perStripe > pv.peCount) throw new CorruptImageError(`LVM2 metadata: ${lvName}: extents past the end of ${key as string}`);
      const at = pv.peStart + first * extent;
      checkRange(pv.pv.source, at, 0, `LVM2 ${lvName} on ${key as string}`);
      if (at + perStripe * extent > pv.pv.source.size) throw new CorruptImageError(`LVM2: ${lvName}: extents past the end of ${pv.pv.device}`);
      stripes.push({ src: pv.pv.source, at });
    }
    const chunk = n === 1 ? perStripe * extent : num(s, 'stripe_size', lvName) * SECTOR;
    if (chunk === 0 || (n > 1 && extent % chunk !== 0)) throw new CorruptImageError(`LVM2 metadata: ${lvName}: bad stripe size`);
    segments.push({ start: startExtent * extent, length: extents * extent, chunk, stripes });
  }
  segments.sort((a, b) => a.start - b.start);
  let end = 0;
  for (const seg of segments) {
    if (seg.start !== end) throw new CorruptImageError(`LVM2 metadata: ${lvName}: segments overlap or leave a gap`);
    end += seg.length;
  }
  if (end > MAX_VIRTUAL_SIZE) throw new CorruptImageError(`LVM2 metadata: ${lvName}: implausible size`);
  return new LvSource(end, segments);
}
