/**
 * FAT12/16/32 reader with VFAT long file names, showing entries the way Linux shows a vfat mounted with default
 * options (as libguestfs mounts it): owner 0:0, permissions 0755 (0555 for read-only files), directory sizes as
 * cluster-chain lengths, the root directory's mtime 0, short names honouring the NT lower-case bits.
 *
 * Untrusted input: cluster numbers are checked against the cluster count, chains are bounded by it, directory
 * cycles are detected through the set of directory start clusters already visited.
 */
import type { FileContent } from '../backend.js';
import type { DirSink, FsReader, Node } from './walk.js';
import { CorruptImageError, type ByteSource } from './source.js';

/** FAT directories hold at most 65536 entries of 32 bytes. */
const FAT_DIR_MAX_BYTES = 65536 * 32;
const ATTR_RO = 0x01;
const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_LFN = 0x0f;

/** Linux's default vfat codepage (437) for bytes 0x80-0xff of short names. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function cp437(b: Buffer, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    s += c < 0x80 ? String.fromCharCode(c) : CP437_HIGH[c - 0x80]!;
  }
  return s;
}

interface Bpb {
  bytesPerSector: number;
  sectorsPerCluster: number;
  reserved: number;
  fats: number;
  rootEntries: number;
  totalSectors: number;
  fatSectors: number;
  fat32: boolean;
}

function parseBpb(bs: Buffer): Bpb | string {
  const bytesPerSector = bs.readUInt16LE(11);
  const sectorsPerCluster = bs[13]!;
  const reserved = bs.readUInt16LE(14);
  const fats = bs[16]!;
  const rootEntries = bs.readUInt16LE(17);
  const tot16 = bs.readUInt16LE(19);
  const media = bs[21]!;
  const fat16Size = bs.readUInt16LE(22);
  const tot32 = bs.readUInt32LE(32);
  const fat32Size = bs.readUInt32LE(36);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return `bytes per sector ${bytesPerSector}`;
  if (sectorsPerCluster === 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) !== 0) {
    return `sectors per cluster ${sectorsPerCluster}`;
  }
  if (reserved === 0) return 'no reserved sectors';
  if (fats === 0 || fats > 4) return `${fats} FATs`;
  if (media !== 0xf0 && media < 0xf8) return `media byte ${media}`;
  const fat32 = fat16Size === 0;
  const fatSectors = fat32 ? fat32Size : fat16Size;
  if (fatSectors === 0) return 'FAT size 0';
  const totalSectors = tot16 !== 0 ? tot16 : tot32;
  if (totalSectors === 0) return 'total sectors 0';
  if (fat32 && rootEntries !== 0) return 'FAT32 with a fixed root directory';
  return { bytesPerSector, sectorsPerCluster, reserved, fats, rootEntries, totalSectors, fatSectors, fat32 };
}

/** Whether sector 0 looks like a FAT boot sector. */
export function isVfat(src: ByteSource): boolean {
  if (src.size < 512) return false;
  const bs = src.read(0, 512);
  if (bs[0] !== 0xeb && bs[0] !== 0xe9) return false;
  return typeof parseBpb(bs) !== 'string';
}

function fatDate(date: number, time: number): number {
  const day = date & 31;
  const month = (date >> 5) & 15;
  const year = (date >> 9) + 1980;
  const sec = (time & 31) * 2;
  const min = (time >> 5) & 63;
  const hour = time >> 11;
  return Math.floor(Date.UTC(year, Math.max(month, 1) - 1, Math.max(day, 1), hour, min, sec) / 1000);
}

function lfnChecksum(b: Buffer, off: number): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) | (sum >> 1)) + b[off + i]! & 0xff;
  return sum;
}

interface DirItem {
  name: string;
  attr: number;
  cluster: number;
  size: number;
  mtime: number;
}

/** Where an entry lives: its first cluster (0: the fixed FAT12/16 root area) and its size. */
export interface FatRef {
  cluster: number;
  size: number;
}

export class VfatFs implements FsReader<FatRef> {
  readonly type = 'vfat';
  readonly label: string | null;
  readonly uuid: string | null;

  private readonly bpb: Bpb;
  private readonly clusterSize: number;
  private readonly clusterCount: number;
  private readonly fatBits: 12 | 16 | 32;
  private readonly dataStart: number;
  private readonly rootStart: number;
  private readonly rootCluster: number;
  private fat: Buffer | null = null;
  /** Clusters of the directories read so far (the walk's). */
  private owned = new Set<number>();

  constructor(
    private readonly src: ByteSource,
    name: string,
  ) {
    if (src.size < 512) throw new CorruptImageError(`${name}: too small for a FAT filesystem`);
    const bs = src.read(0, 512);
    const bpb = parseBpb(bs);
    if (typeof bpb === 'string') throw new CorruptImageError(`${name}: bad FAT boot sector (${bpb})`);
    this.bpb = bpb;
    const bps = bpb.bytesPerSector;
    this.clusterSize = bps * bpb.sectorsPerCluster;
    const rootSectors = Math.ceil((bpb.rootEntries * 32) / bps);
    const firstData = bpb.reserved + bpb.fats * bpb.fatSectors + rootSectors;
    if (firstData >= bpb.totalSectors) throw new CorruptImageError(`${name}: FAT metadata larger than the filesystem`);
    this.clusterCount = Math.floor((bpb.totalSectors - firstData) / bpb.sectorsPerCluster);
    this.fatBits = bpb.fat32 ? 32 : this.clusterCount > 4084 ? 16 : 12;
    const maxByFat = Math.floor((bpb.fatSectors * bps * 8) / this.fatBits) - 2;
    if (maxByFat < this.clusterCount) this.clusterCount = Math.max(0, maxByFat);
    this.rootStart = (bpb.reserved + bpb.fats * bpb.fatSectors) * bps;
    this.dataStart = firstData * bps;
    this.rootCluster = bpb.fat32 ? bs.readUInt32LE(44) : 0;
    if (bpb.fat32 && !this.validCluster(this.rootCluster)) {
      throw new CorruptImageError(`${name}: FAT32 root cluster ${this.rootCluster} out of range`);
    }
    if (this.dataStart > src.size) throw new CorruptImageError(`${name}: FAT filesystem truncated`);
    // The part of the data area the image really holds bounds the clusters we accept.
    const held = Math.floor((src.size - this.dataStart) / this.clusterSize);
    if (held < this.clusterCount) this.clusterCount = held;

    const extOff = bpb.fat32 ? 0x40 : 0x24;
    const hasExt = bs[extOff + 2] === 0x29;
    this.uuid = hasExt
      ? `${bs.toString('hex', extOff + 6, extOff + 7)}${bs.toString('hex', extOff + 5, extOff + 6)}-${bs.toString('hex', extOff + 4, extOff + 5)}${bs.toString('hex', extOff + 3, extOff + 4)}`.toUpperCase()
      : null;
    let label: string | null = null;
    try {
      label = this.rootVolumeLabel();
    } catch {
      label = null;
    }
    if (label === null && (hasExt || bs[extOff + 2] === 0x28)) {
      const raw = bs.subarray(extOff + 7, extOff + 18);
      if (hasExt && raw.toString('latin1') !== 'NO NAME    ') label = cp437(raw, 0, 11).replace(/[ \0]+$/, '');
    }
    this.label = label === '' ? null : label;
  }

  private validCluster(c: number): boolean {
    return c >= 2 && c < this.clusterCount + 2;
  }

  private loadFat(): Buffer {
    if (!this.fat) {
      const bytes = Math.min(this.bpb.fatSectors * this.bpb.bytesPerSector, Math.ceil(((this.clusterCount + 2) * this.fatBits) / 8) + 1);
      this.fat = this.src.read(this.bpb.reserved * this.bpb.bytesPerSector, bytes);
    }
    return this.fat;
  }

  private next(c: number): number {
    const fat = this.loadFat();
    let v: number;
    if (this.fatBits === 12) {
      const o = c + (c >> 1);
      if (o + 2 > fat.length) return -1;
      v = fat.readUInt16LE(o);
      v = c & 1 ? v >> 4 : v & 0xfff;
      return v >= 0xff8 ? 0 : v;
    }
    if (this.fatBits === 16) {
      if (c * 2 + 2 > fat.length) return -1;
      v = fat.readUInt16LE(c * 2);
      return v >= 0xfff8 ? 0 : v;
    }
    if (c * 4 + 4 > fat.length) return -1;
    v = fat.readUInt32LE(c * 4) & 0x0fffffff;
    return v >= 0x0ffffff8 ? 0 : v;
  }

  /**
   * The clusters of a chain, at most `limit` of them; a broken chain throws, and so does a chain that meets a
   * cluster twice (a loop: the image decides nothing about how long we walk).
   */
  private chain(first: number, limit = Infinity, loop?: { at: number }): number[] {
    const out: number[] = [];
    const seen = new Set<number>();
    let c = first;
    const max = Math.min(limit, this.clusterCount);
    while (out.length < max) {
      if (!this.validCluster(c)) throw new CorruptImageError(`cluster ${c} out of range`);
      if (seen.has(c)) {
        if (loop) {
          loop.at = c;
          return out;
        }
        throw new CorruptImageError(`cluster chain from ${first} loops (cluster ${c} met twice)`);
      }
      seen.add(c);
      out.push(c);
      const n = this.next(c);
      if (n === 0) return out;
      if (n < 0) throw new CorruptImageError(`cluster ${c} beyond the FAT`);
      c = n;
    }
    if (out.length >= this.clusterCount) throw new CorruptImageError(`cluster chain from ${first} loops`);
    return out;
  }

  private readClusters(clusters: number[], bytes = Infinity): Buffer {
    const total = Math.min(clusters.length * this.clusterSize, bytes);
    const out = Buffer.alloc(total);
    let pos = 0;
    let i = 0;
    while (i < clusters.length && pos < total) {
      // Read runs of consecutive clusters at once.
      let j = i + 1;
      while (j < clusters.length && clusters[j] === clusters[j - 1]! + 1) j++;
      const len = Math.min((j - i) * this.clusterSize, total - pos);
      this.src.read(this.dataStart + (clusters[i]! - 2) * this.clusterSize, len).copy(out, pos);
      pos += len;
      i = j;
    }
    return out;
  }

  /**
   * The clusters of a directory: the fixed FAT12/16 root area has none; a chain is read up to a loop or FAT's 65536
   * entries, whichever comes first, and `cut` says why it was cut.
   */
  private dirChain(cluster: number): { chain: number[]; cut: string | null } {
    if (cluster === 0 && !this.bpb.fat32) return { chain: [], cut: null };
    const c = cluster === 0 ? this.rootCluster : cluster;
    const max = Math.ceil(FAT_DIR_MAX_BYTES / this.clusterSize);
    const loop = { at: -1 };
    let chain = this.chain(c, max + 1, loop);
    let cut: string | null = loop.at >= 0 ? `cluster chain loops at cluster ${loop.at}; read up to the loop` : null;
    if (chain.length > max) {
      chain = chain.slice(0, max);
      cut = `directory longer than FAT's 65536 entries; the rest was not read`;
    }
    return { chain, cut };
  }

  /** A directory's size as Linux shows it: the fixed root area, or its cluster chain's length. */
  private dirSize(cluster: number): number {
    if (cluster === 0 && !this.bpb.fat32) return this.bpb.rootEntries * 32;
    return this.dirChain(cluster).chain.length * this.clusterSize;
  }

  /**
   * Raw directory bytes. With `owned`, a cluster already read for another directory ends the chain there (FAT never
   * shares one; a crafted image that does would list the same entries again under every directory that shares it).
   */
  private dirBytes(cluster: number, owned?: Set<number>): { buf: Buffer; cut: string | null } {
    if (cluster === 0 && !this.bpb.fat32) {
      return { buf: this.src.read(this.rootStart, this.bpb.rootEntries * 32), cut: null };
    }
    let { chain, cut } = this.dirChain(cluster);
    if (owned) {
      const shared = chain.findIndex((x) => owned.has(x));
      if (shared >= 0) {
        cut = `directory cluster ${chain[shared]} is also another directory's; the rest was not read`;
        chain = chain.slice(0, shared);
      }
      for (const x of chain) owned.add(x);
    }
    return { buf: this.readClusters(chain), cut };
  }

  private rootVolumeLabel(): string | null {
    const { buf } = this.dirBytes(0);
    for (let p = 0; p + 32 <= buf.length; p += 32) {
      const first = buf[p]!;
      if (first === 0) break;
      if (first === 0xe5) continue;
      const attr = buf[p + 11]!;
      if ((attr & ATTR_LFN) === ATTR_LFN) continue;
      if (attr & ATTR_VOLUME) return cp437(buf, p, p + 11).replace(/[ \0]+$/, '');
    }
    return null;
  }

  private parseDir(buf: Buffer): DirItem[] {
    const items: DirItem[] = [];
    let lfn: string[] = [];
    let lfnSum = -1;
    let lfnNext = 0;
    for (let p = 0; p + 32 <= buf.length; p += 32) {
      const first = buf[p]!;
      if (first === 0) break;
      if (first === 0xe5) {
        lfnNext = 0;
        continue;
      }
      const attr = buf[p + 11]!;
      if ((attr & 0x3f) === ATTR_LFN) {
        const ord = first & 0x1f;
        if (first & 0x40) {
          lfn = new Array<string>(ord).fill('');
          lfnSum = buf[p + 13]!;
          lfnNext = ord;
        }
        if (ord === 0 || ord !== lfnNext || buf[p + 13] !== lfnSum) {
          lfnNext = 0;
          continue;
        }
        let part = '';
        let ended = false;
        for (const [a, n] of [
          [1, 5],
          [14, 6],
          [28, 2],
        ] as const) {
          for (let k = 0; k < n && !ended; k++) {
            const ch = buf.readUInt16LE(p + a + k * 2);
            if (ch === 0) ended = true;
            else part += String.fromCharCode(ch);
          }
        }
        lfn[ord - 1] = part;
        lfnNext = ord - 1;
        continue;
      }
      const useLfn = lfnNext === 0 && lfn.length > 0 && lfnSum === lfnChecksum(buf, p);
      const longName = useLfn ? lfn.join('') : null;
      lfn = [];
      lfnSum = -1;
      lfnNext = 0;
      if (attr & ATTR_VOLUME) continue;
      let name: string;
      if (longName) name = longName;
      else {
        const nt = buf[p + 12]!;
        const raw = Buffer.from(buf.subarray(p, p + 11));
        if (raw[0] === 0x05) raw[0] = 0xe5;
        let base = cp437(raw, 0, 8).replace(/ +$/, '');
        let ext = cp437(raw, 8, 11).replace(/ +$/, '');
        if (nt & 0x08) base = base.toLowerCase();
        if (nt & 0x10) ext = ext.toLowerCase();
        name = ext ? `${base}.${ext}` : base;
      }
      if (name === '.' || name === '..') continue; // the format's own records, not entries
      const hi = this.bpb.fat32 ? buf.readUInt16LE(p + 20) : 0;
      items.push({
        name,
        attr,
        cluster: hi * 65536 + buf.readUInt16LE(p + 26),
        size: buf.readUInt32LE(p + 28),
        mtime: fatDate(buf.readUInt16LE(p + 24), buf.readUInt16LE(p + 22)),
      });
    }
    return items;
  }

  readDir(dir: FatRef, sink: DirSink<FatRef>): void {
    const { buf, cut } = this.dirBytes(dir.cluster, this.owned);
    if (cut) sink.problem(cut);
    for (const item of this.parseDir(buf)) {
      if (item.attr & ATTR_DIR) {
        if (!this.validCluster(item.cluster)) {
          sink.problem(`bad directory start cluster ${item.cluster}`, item.name);
          continue;
        }
        let size: number;
        try {
          size = this.dirSize(item.cluster);
        } catch (err) {
          sink.failed(err, item.name, 'unreadable directory');
          continue;
        }
        sink.entry(item.name, { type: 'dir', mode: 0o755, uid: 0, gid: 0, size, mtime: item.mtime, ref: { cluster: item.cluster, size } });
      } else {
        const mode = item.attr & ATTR_RO ? 0o555 : 0o755;
        sink.entry(item.name, { type: 'file', mode, uid: 0, gid: 0, size: item.size, mtime: item.mtime, ref: { cluster: item.cluster, size: item.size } });
      }
    }
  }

  /** Files are read in the order of their first cluster, which follows the order their data was written. */
  readOrder(ref: FatRef): number {
    return ref.cluster;
  }

  dirKey(dir: FatRef): number {
    return dir.cluster;
  }

  root(sink: DirSink<FatRef>): Node<FatRef> {
    this.owned = new Set<number>();
    if (this.bpb.totalSectors * this.bpb.bytesPerSector > this.src.size) {
      sink.whole(`the FAT filesystem is truncated (${this.bpb.totalSectors * this.bpb.bytesPerSector} bytes, the image holds ${this.src.size})`);
    }
    const cluster = this.bpb.fat32 ? this.rootCluster : 0;
    const size = this.dirSize(cluster);
    return { type: 'dir', mode: 0o755, uid: 0, gid: 0, size, mtime: 0, ref: { cluster, size } };
  }

  walked(): void {
    this.owned = new Set<number>();
  }

  readFile(f: FatRef, maxBytes: number): FileContent {
    const want = Math.min(maxBytes, f.size);
    if (want === 0) return { data: Buffer.alloc(0), size: f.size, truncated: f.size > 0 };
    const chain = this.chain(f.cluster, Math.ceil(want / this.clusterSize));
    if (chain.length * this.clusterSize < want) throw new CorruptImageError('cluster chain shorter than the file');
    const data = this.readClusters(chain, want);
    return { data, size: f.size, truncated: f.size > want };
  }
}
