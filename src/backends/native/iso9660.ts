/**
 * iso9660 reader: volume descriptors, directory records (multi-extent files), Rock Ridge (PX owners and modes, PN
 * devices, SL symlinks incl. multi-component and continued ones, NM long names, TF times, CL/RE relocated
 * directories, ZF/Z2 zisofs-compressed files: see zisofs.ts) through SUSP continuation areas (CE), and Joliet (UCS-2
 * names) when Rock Ridge is absent — the choice the Linux kernel makes, so names and attributes are what libguestfs
 * sees.
 *
 * Untrusted input: extents are checked against the image, directories are read once each (cycle guard on their
 * extent), continuation chains, names and symlink targets are bounded, and the walk keeps its own stack.
 */
import { SparseBitSet } from '../../arrays.js';
import type { EntryType } from '../../types.js';
import type { FileContent } from '../backend.js';
import { LIMITS } from './fs.js';
import { typeOfMode } from '../../types.js';
import type { DirSink, FsReader, Node } from './walk.js';
import { CorruptImageError, ExtentSource, WindowCache, type ByteSource, type FileExtent } from './source.js';
import { readZisofsEntry, ZisofsSource, type Zisofs } from './zisofs.js';

const SECTOR = 2048;
const FIRST_VD = 16;
/** Volume descriptors read before giving up on a terminator. */
const MAX_VDS = 64;
/** Continuation areas followed per directory record, and bytes of system use data per record. */
const MAX_CE = 16;
const MAX_SU_BYTES = 64 * 1024;
/** Pieces of one multi-extent file. */
const MAX_EXTENTS = 65536;
const MAX_NAME = 1024;

const FLAG_DIR = 0x02;
const FLAG_ASSOCIATED = 0x04;
const FLAG_MULTI = 0x80;

export function isIso9660(src: ByteSource): boolean {
  return src.size >= FIRST_VD * SECTOR + 6 && src.read(FIRST_VD * SECTOR + 1, 5).toString('latin1') === 'CD001';
}

/** Seconds since the epoch of a 7-byte directory-record date (offset in 15-minute units). */
function shortDate(b: Buffer, o: number): number {
  const t = Date.UTC(1900 + b[o]!, Math.max(0, b[o + 1]! - 1), b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!);
  return Math.floor(t / 1000) - b.readInt8(o + 6) * 15 * 60;
}

/** Seconds since the epoch of a 17-byte volume-descriptor date ("YYYYMMDDHHMMSScc" + offset), or null when unset. */
function longDate(b: Buffer, o: number): number | null {
  const s = b.toString('latin1', o, o + 16);
  if (!/^\d{16}$/.test(s) || /^0+$/.test(s)) return null;
  const t = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(8, 10), +s.slice(10, 12), +s.slice(12, 14));
  return Math.floor(t / 1000) - b.readInt8(o + 16) * 15 * 60;
}


/** One directory entry, decoded (the pieces of a multi-extent file merged). */
interface Record {
  name: string;
  isDir: boolean;
  extents: FileExtent[];
  size: number;
  mtime: number;
  /** Rock Ridge attributes, when present. */
  mode?: number;
  uid?: number;
  gid?: number;
  target?: string;
  /** CL: the directory really lives at this sector (relocated). */
  childLink?: number;
  /** RE: this is the relocated directory's placeholder in rr_moved; the kernel hides it. */
  relocated?: boolean;
  /** ZF (or Z2): the file's data is zisofs-compressed; `size` above stays the recorded (compressed) length. */
  zf?: Zisofs;
}

type Flavour = 'rockridge' | 'joliet' | 'plain';

/** Where an entry lives: a directory's extent (its first sector and byte size), or a file's extents (and zisofs header). */
export interface IsoRef {
  sector: number;
  size: number;
  extents?: FileExtent[];
  zf?: Zisofs;
}

/** SUSP / Rock Ridge entry signatures, as their two bytes read big-endian. */
const sig = (name: string): number => (name.charCodeAt(0) << 8) | name.charCodeAt(1);
const SIG_ST = sig('ST');
const SIG_CE = sig('CE');
const SIG_PX = sig('PX');
const SIG_NM = sig('NM');
const SIG_SL = sig('SL');
const SIG_TF = sig('TF');
const SIG_CL = sig('CL');
const SIG_ZF = sig('ZF');
const SIG_Z2 = sig('Z2');
const SIG_RE = sig('RE');

export class Iso9660Fs implements FsReader<IsoRef> {
  readonly type = 'iso9660';
  readonly label: string | null;
  readonly uuid: string | null;
  private readonly flavour: Flavour;
  private readonly rootExtent: number;
  private readonly rootSize: number;
  private readonly volumeBytes: number;
  private suSkip = 0;
  /** Sectors of the directories read so far (the walk's). */
  private dirSectors = new SparseBitSet();
  /**
   * Directories, their "." records and continuation areas through cached 64 KiB windows: mkisofs writes the
   * directories one after another, and a subdirectory's "." record was one pread per directory.
   */
  private readonly meta: WindowCache;

  constructor(
    private readonly src: ByteSource,
    private readonly name: string,
  ) {
    this.meta = new WindowCache(src);
    if (!isIso9660(src)) throw new CorruptImageError(`${name}: no iso9660 volume descriptor`);
    if (src.size < (FIRST_VD + 1) * SECTOR) throw new CorruptImageError(`${name}: truncated iso9660 (its first volume descriptor is cut off)`);
    let pvd: Buffer | null = null;
    let joliet: Buffer | null = null;
    for (let i = 0; i < MAX_VDS; i++) {
      const off = (FIRST_VD + i) * SECTOR;
      if (off + SECTOR > src.size) break;
      const vd = src.read(off, SECTOR);
      if (vd.toString('latin1', 1, 6) !== 'CD001') break;
      const t = vd[0]!;
      if (t === 255) break;
      if (t === 1 && !pvd) pvd = vd;
      if (t === 2 && !joliet) {
        const esc = vd.toString('latin1', 88, 91);
        if (esc === '%/@' || esc === '%/C' || esc === '%/E') joliet = vd;
      }
    }
    if (!pvd) throw new CorruptImageError(`${name}: iso9660 without a primary volume descriptor`);
    const blockSize = pvd.readUInt16LE(128);
    if (blockSize !== SECTOR) throw new CorruptImageError(`${name}: iso9660 logical block size ${blockSize} is not supported`);
    this.volumeBytes = pvd.readUInt32LE(80) * SECTOR;
    const pvdLabel = pvd.toString('latin1', 40, 72).replace(/[ \0]+$/, '');
    const jolietLabel = joliet ? Buffer.from(joliet.subarray(40, 72)).swap16().toString('utf16le').replace(/[ \0]+$/, '') : '';
    // blkid: the Joliet label when it extends the primary one (the primary is upper case and 8-bit).
    this.label =
      jolietLabel && jolietLabel.length >= pvdLabel.length && jolietLabel.toUpperCase().startsWith(pvdLabel.toUpperCase())
        ? jolietLabel
        : pvdLabel || null;
    // blkid: the volume modification date (else creation date) as the UUID.
    const date = (o: number): string | null => {
      const s = pvd!.toString('latin1', o, o + 16);
      return /^\d{16}$/.test(s) && !/^0+$/.test(s)
        ? `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}-${s.slice(8, 10)}-${s.slice(10, 12)}-${s.slice(12, 14)}-${s.slice(14, 16)}`
        : null;
    };
    this.uuid = date(830) ?? date(813);

    const rootOf = (vd: Buffer): { extent: number; size: number } => ({ extent: vd.readUInt32LE(156 + 2), size: vd.readUInt32LE(156 + 10) });
    const root = rootOf(pvd);
    this.checkExtent(root.extent, root.size, 'root directory');
    // Rock Ridge: the root's "." record starts its system use area with SP (check bytes BE EF).
    const first = src.read(root.extent * SECTOR, Math.min(SECTOR, root.size));
    const len = first[0]!;
    const nameLen = first[32]!;
    const su = 33 + nameLen + ((nameLen & 1) === 0 ? 1 : 0);
    let rock = false;
    if (len >= 34 && len <= first.length && su + 7 <= len && first.toString('latin1', su, su + 2) === 'SP' && first[su + 4] === 0xbe && first[su + 5] === 0xef) {
      rock = true;
      this.suSkip = first[su + 6]!;
    }
    if (rock) {
      this.flavour = 'rockridge';
      this.rootExtent = root.extent;
      this.rootSize = root.size;
    } else if (joliet) {
      this.flavour = 'joliet';
      const j = rootOf(joliet);
      this.checkExtent(j.extent, j.size, 'Joliet root directory');
      this.rootExtent = j.extent;
      this.rootSize = j.size;
    } else {
      this.flavour = 'plain';
      this.rootExtent = root.extent;
      this.rootSize = root.size;
    }
  }

  private checkExtent(sector: number, size: number, what: string): void {
    if (sector * SECTOR + size > this.src.size) {
      throw new CorruptImageError(`${this.name}: ${what} (${size} bytes at sector ${sector}) lies outside the image`);
    }
  }

  // ---- system use (Rock Ridge) -------------------------------------------------------------------------------

  /** Decode the SUSP entries of one record (following CE continuation areas) into `rec`. */
  private rockRidge(area: Buffer, rec: Record, problem: (msg: string) => void): void {
    let nm = '';
    let nmSeen = false;
    const sl: string[] = [];
    let slSeen = false;
    let slCur: string | null = null;
    let slJoin = false;
    let slAbsolute = false;
    let ces = 0;
    let total = 0;
    const queue: Buffer[] = [area];
    while (queue.length > 0) {
      const buf = queue.shift()!;
      total += buf.length;
      if (total > MAX_SU_BYTES) {
        problem('Rock Ridge data too large, rest ignored');
        break;
      }
      let p = 0;
      while (p + 4 <= buf.length) {
        const sig = (buf[p]! << 8) | buf[p + 1]!;
        const len = buf[p + 2]!;
        if (len < 4 || p + len > buf.length) break;
        const e = buf.subarray(p, p + len);
        switch (sig) {
          case SIG_ST:
            p = buf.length;
            continue;
          case SIG_CE:
            if (len >= 28) {
              if (++ces > MAX_CE) {
                problem('too many Rock Ridge continuation areas');
                break;
              }
              const block = e.readUInt32LE(4);
              const off = e.readUInt32LE(12);
              const clen = e.readUInt32LE(20);
              const at = block * SECTOR + off;
              if (off >= SECTOR || clen > SECTOR || at + clen > this.src.size) {
                problem('Rock Ridge continuation area outside the image');
              } else {
                queue.push(this.meta.read(at, clen));
              }
            }
            break;
          case SIG_PX:
            if (len >= 36) {
              rec.mode = e.readUInt32LE(4);
              rec.uid = e.readUInt32LE(20);
              rec.gid = e.readUInt32LE(28);
            }
            break;
          case SIG_NM: {
            const flags = e[4]!;
            if (flags & 0x06) break; // "." / ".."
            nmSeen = true;
            if (nm.length < MAX_NAME) nm += e.toString('utf8', 5);
            break;
          }
          case SIG_SL: {
            // Components, possibly continued across SL entries and continuation areas; a component with the
            // CONTINUE flag is glued to the next one, others are separated by "/".
            slSeen = true;
            let q = 5;
            while (q + 2 <= e.length) {
              const cflags = e[q]!;
              const clen = e[q + 1]!;
              if (q + 2 + clen > e.length) break;
              q += 2 + clen;
              if (cflags & 0x08) {
                slAbsolute = true;
                sl.length = 0;
                slCur = null;
                slJoin = false;
                continue;
              }
              const text = cflags & 0x02 ? '.' : cflags & 0x04 ? '..' : cflags & 0x30 ? '' : e.toString('utf8', q - clen, q);
              if (slJoin && slCur !== null) slCur += text;
              else {
                if (slCur !== null) sl.push(slCur);
                slCur = text;
              }
              slJoin = (cflags & 0x01) !== 0;
              if (sl.length > LIMITS.maxSymlink) break;
            }
            break;
          }
          case SIG_TF: {
            const flags = e[4]!;
            const long = (flags & 0x80) !== 0;
            const size = long ? 17 : 7;
            let q = 5;
            if (flags & 0x01) q += size; // creation
            if (flags & 0x02 && q + size <= e.length) {
              const t = long ? longDate(e, q) : shortDate(e, q);
              if (t !== null) rec.mtime = t;
            }
            break;
          }
          case SIG_CL:
            if (len >= 12) rec.childLink = e.readUInt32LE(4);
            break;
          case SIG_ZF:
          case SIG_Z2:
            rec.zf = readZisofsEntry(e) ?? undefined;
            break;
          case SIG_RE:
            rec.relocated = true;
            break;
          default:
            break;
        }
        p += len;
      }
    }
    if (nmSeen && nm !== '') rec.name = nm;
    if (slSeen) {
      if (slCur !== null) sl.push(slCur);
      let target = (slAbsolute ? '/' : '') + sl.join('/');
      if (target.length > LIMITS.maxSymlink) target = target.slice(0, LIMITS.maxSymlink);
      rec.target = target;
    }
  }

  // ---- directories -------------------------------------------------------------------------------------------

  /** The records of a directory extent (the pieces of multi-extent files merged), `.`, `..` and associated files left out. */
  private records(extent: number, size: number, sink: DirSink<IsoRef>): Record[] {
    this.checkExtent(extent, size, 'directory');
    const buf = this.meta.read(extent * SECTOR, size);
    const out: Record[] = [];
    let pending: Record | null = null;
    let p = 0;
    while (p < buf.length) {
      const len = buf[p]!;
      if (len === 0) {
        // Records never cross a sector: the rest of this sector is padding.
        p = (Math.floor(p / SECTOR) + 1) * SECTOR;
        continue;
      }
      if (len < 34 || p + len > buf.length || Math.floor(p / SECTOR) !== Math.floor((p + len - 1) / SECTOR)) {
        sink.problem(`corrupt directory record at byte ${p}`);
        p = (Math.floor(p / SECTOR) + 1) * SECTOR;
        continue;
      }
      const r = buf.subarray(p, p + len);
      p += len;
      const nameLen = r[32]!;
      if (33 + nameLen > len) {
        sink.problem('corrupt directory record name');
        continue;
      }
      const flags = r[25]!;
      if (nameLen === 1 && (r[33] === 0 || r[33] === 1)) continue; // "." and ".."
      if (flags & FLAG_ASSOCIATED) continue;
      const extAttr = r[1]!;
      const at = r.readUInt32LE(2) + extAttr;
      const dataLen = r.readUInt32LE(10);
      let name: string;
      if (this.flavour === 'joliet') {
        name = Buffer.from(r.subarray(33, 33 + (nameLen & ~1))).swap16().toString('utf16le');
        name = name.replace(/;\d*$/, '');
      } else {
        name = r.toString('latin1', 33, 33 + nameLen).replace(/;\d*$/, '');
        if (this.flavour === 'plain') name = name.replace(/\.$/, '').toLowerCase();
      }
      const rec: Record = {
        name,
        isDir: (flags & FLAG_DIR) !== 0,
        extents: [{ logical: 0, physical: at * SECTOR, length: dataLen }],
        size: dataLen,
        mtime: shortDate(r, 18),
      };
      if (this.flavour === 'rockridge') {
        const su = 33 + nameLen + ((nameLen & 1) === 0 ? 1 : 0) + this.suSkip;
        if (su < len) this.rockRidge(r.subarray(su), rec, (msg) => sink.problem(msg, name));
      }
      if (pending) {
        // The next piece of a multi-extent file.
        if (pending.extents.length >= MAX_EXTENTS) throw new CorruptImageError('too many file extents');
        pending.extents.push({ logical: pending.size, physical: at * SECTOR, length: dataLen });
        pending.size += dataLen;
        if (!(flags & FLAG_MULTI)) {
          out.push(pending);
          pending = null;
        }
        continue;
      }
      if (flags & FLAG_MULTI && !rec.isDir) {
        pending = rec;
        continue;
      }
      out.push(rec);
    }
    if (pending) {
      sink.problem('multi-extent file without its last extent', pending.name);
      out.push(pending);
    }
    return out;
  }

  /**
   * A directory's own "." record (its first): the kernel takes a directory's attributes from it, not from the
   * record naming it in the parent (the two may differ: plain ISOs keep distinct dates).
   */
  private dotRecord(extent: number, size: number, problem: (msg: string) => void): Record {
    const buf = this.meta.read(extent * SECTOR, Math.min(SECTOR, size));
    const len = buf[0]!;
    if (len < 34 || len > buf.length || buf[32] !== 1 || buf[33] !== 0) {
      throw new CorruptImageError('directory without its "." record');
    }
    const rec: Record = { name: '', isDir: true, extents: [], size: buf.readUInt32LE(10), mtime: shortDate(buf, 18) };
    if (this.flavour === 'rockridge') {
      // 34: the one-byte "." identifier and its padding byte; the root's SP record is not shifted by its own skip.
      this.rockRidge(buf.subarray(34 + (extent === this.rootExtent ? 0 : this.suSkip), len), rec, problem);
    }
    return rec;
  }

  /** The entry of a record: Rock Ridge attributes when present, else what a kernel mount shows. */
  private node(r: Record, ref: IsoRef): Node<IsoRef> {
    const rock = this.flavour === 'rockridge' && r.mode !== undefined;
    const type: EntryType = rock ? typeOfMode(r.mode!) : r.isDir ? 'dir' : 'file';
    return {
      type,
      mode: rock ? r.mode! & 0o7777 : 0o555,
      uid: rock ? r.uid! : 0,
      gid: rock ? r.gid! : 0,
      // A zisofs file has the size the kernel shows: the uncompressed one its ZF entry records.
      size: type === 'symlink' ? Buffer.byteLength(r.target ?? '') : type === 'file' && r.zf ? r.zf.size : type === 'file' || type === 'dir' ? r.size : 0,
      mtime: r.mtime,
      target: type === 'symlink' ? (r.target ?? '') : undefined,
      ref,
    };
  }

  /**
   * Directory extents never share a sector: one that overlaps a directory read before is hostile (hundreds of
   * directories over one pool of sectors list the same records over and over) and is not read.
   */
  private claim(extent: number, size: number): boolean {
    const n = Math.max(1, Math.ceil(size / SECTOR));
    for (let i = 0; i < n; i++) if (this.dirSectors.has(extent + i)) return false;
    for (let i = 0; i < n; i++) this.dirSectors.add(extent + i);
    return true;
  }

  readDir(dir: IsoRef, sink: DirSink<IsoRef>): void {
    if (!this.claim(dir.sector, dir.size)) {
      sink.problem(`directory extent at sector ${dir.sector} overlaps another directory's; not read`);
      return;
    }
    for (const r of this.records(dir.sector, dir.size, sink)) {
      if (r.relocated) continue;
      let dirExtent = r.extents[0]!.physical / SECTOR;
      let dirSize = r.size;
      if (r.childLink !== undefined) {
        // A relocated directory: its contents (and its own "." record) live at the CL sector.
        try {
          this.checkExtent(r.childLink, SECTOR, 'relocated directory');
          const dot = this.meta.read(r.childLink * SECTOR, SECTOR);
          dirExtent = r.childLink;
          dirSize = dot.readUInt32LE(10);
          r.isDir = true;
          r.size = dirSize;
          if (r.mode !== undefined) r.mode = (r.mode & 0o7777) | 0x4000;
        } catch (err) {
          sink.failed(err, r.name);
          continue;
        }
      }
      if (r.isDir) {
        // Attributes, like the kernel's, from the directory's own "." record (the name stays the parent's).
        try {
          const dot = this.dotRecord(dirExtent, dirSize, (msg) => sink.problem(msg, r.name));
          r.mtime = dot.mtime;
          r.size = dot.size;
          dirSize = dot.size;
          if (dot.mode !== undefined) [r.mode, r.uid, r.gid] = [dot.mode, dot.uid, dot.gid];
        } catch (err) {
          sink.failed(err, r.name);
          continue;
        }
      }
      const ref: IsoRef = r.isDir ? { sector: dirExtent, size: dirSize } : { sector: 0, size: r.size, extents: r.extents, zf: r.zf };
      sink.entry(r.name, this.node(r, ref));
    }
  }

  /** Files are read in the order of their first sector, which follows the order their data was written. */
  readOrder(ref: IsoRef): number {
    return ref.sector;
  }

  dirKey(dir: IsoRef): number {
    return dir.sector;
  }

  // ---- public ------------------------------------------------------------------------------------------------

  root(sink: DirSink<IsoRef>): Node<IsoRef> {
    this.dirSectors = new SparseBitSet();
    if (this.volumeBytes > this.src.size) {
      sink.whole(`the iso9660 filesystem is truncated (${this.volumeBytes} bytes, the image holds ${this.src.size})`);
    }
    const root = this.dotRecord(this.rootExtent, this.rootSize, (msg) => sink.problem(msg));
    return this.node(root, { sector: this.rootExtent, size: this.rootSize });
  }

  walked(): void {
    this.dirSectors = new SparseBitSet();
    this.meta.dropCache();
  }

  /** A file's data: its extents, decoded when it is zisofs-compressed. */
  openFile(f: IsoRef): ByteSource {
    const raw = new ExtentSource(this.src, f.size, (f.extents ?? []).filter((e) => e.length > 0));
    return f.zf ? new ZisofsSource(raw, f.zf) : raw;
  }

  readFile(f: IsoRef, maxBytes: number): FileContent {
    const src = this.openFile(f);
    const n = Math.min(maxBytes, src.size);
    const data = src.read(0, n);
    return { data, size: src.size, truncated: src.size > n };
  }
}
