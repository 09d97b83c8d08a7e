/**
 * The rpm database, read-only, from its bytes: the three stores rpm writes (SQLite `rpmdb.sqlite`, Berkeley DB hash
 * `Packages`, ndb `Packages.db`) each hold one header blob per installed package; the header holds the package's
 * file list with digests. Written from the formats' published layout (SQLite's file format document, Berkeley DB's
 * hash page layout as rpm's own read-only reader walks it, rpm's ndb slot/blob layout), not from anyone's code.
 *
 * Images are untrusted: every offset and length is checked against the buffer before use, every loop is bounded
 * (pages visited once, counts capped by the bytes that could hold them) and ticks the target's deadline; a database
 * that does not add up throws RpmDbError, which the loader turns into a note ("not read: ...").
 */
import { currentBudget } from '../../budget.js';
import { CorruptImageError } from '../../errors.js';

/** An rpm database that does not add up (in the one error model: a corrupt part of the image). */
export class RpmDbError extends CorruptImageError {
  override name = 'RpmDbError';
}

function fail(what: string): never {
  throw new RpmDbError(what);
}

// ---------------------------------------------------------------------------------------------------------------
// Header blobs: il (entries) and dl (data bytes), big-endian; il index entries of 16 bytes {tag, type, offset,
// count}; then the data store. rpm's database keeps the blob without the 8-byte header intro of a package file.

const TAG = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022,
  OLDFILENAMES: 1027, FILESIZES: 1028, FILEMODES: 1030, FILEDIGESTS: 1035, FILEFLAGS: 1037,
  FILEUSERNAME: 1039, FILEGROUPNAME: 1040, DIRINDEXES: 1116, BASENAMES: 1117, DIRNAMES: 1118,
  LONGFILESIZES: 5008, FILEDIGESTALGO: 5011,
} as const;
const T_INT16 = 3, T_INT32 = 4, T_INT64 = 5, T_STRING = 6, T_STRING_ARRAY = 8, T_I18NSTRING = 9;
/** A header larger than this is not a package's (rpm itself caps headers at 256 MiB; real ones are < 16 MiB). */
const MAX_HEADER = 64 * 1024 * 1024;

export const RPMFILE_CONFIG = 1 << 0;
export const RPMFILE_GHOST = 1 << 6;

/** PGPHASHALGO numbers rpm records in FILEDIGESTALGO, as node's hash names (md5 when absent). */
const DIGEST_ALGO: Record<number, string> = { 1: 'md5', 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

export interface RpmFile {
  path: string;
  size: number;
  mode: number;
  flags: number;
  user: string;
  group: string;
  /** Hex digest ('' for a non-regular file or a %ghost). */
  digest: string;
}

export interface RpmPackage {
  name: string;
  version: string;
  release: string;
  arch: string;
  /** Node hash name of the file digests, or undefined when rpm recorded an algorithm we do not know. */
  digestAlgo: string | undefined;
  files: RpmFile[];
}

interface Entry { type: number; offset: number; count: number }

/** Parse one header blob; throws RpmDbError when it does not add up. */
export function parseRpmHeader(blob: Buffer): RpmPackage {
  if (blob.length < 8) fail('header shorter than its counts');
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  if (il > (blob.length - 8) / 16 || 8 + il * 16 + dl > blob.length || dl > MAX_HEADER) fail('header counts pass its size');
  const dataStart = 8 + il * 16;
  const entries = new Map<number, Entry>();
  for (let i = 0; i < il; i++) {
    const o = 8 + i * 16;
    const tag = blob.readUInt32BE(o);
    const type = blob.readUInt32BE(o + 4);
    const offset = blob.readInt32BE(o + 8);
    const count = blob.readUInt32BE(o + 12);
    // Region tags (61-64) mark the signed part of the header and hold no package data; a tag's first entry wins.
    if (tag < 100 || entries.has(tag)) continue;
    if (offset < 0 || offset > dl) fail(`header tag ${tag} points outside its data`);
    entries.set(tag, { type, offset, count });
  }
  const data = blob.subarray(dataStart, dataStart + dl);

  const strings = (tag: number): string[] => {
    const e = entries.get(tag);
    if (!e) return [];
    if (e.type !== T_STRING && e.type !== T_STRING_ARRAY && e.type !== T_I18NSTRING) fail(`header tag ${tag} is not a string`);
    if (e.count > data.length - e.offset) fail(`header tag ${tag} has more strings than bytes`);
    const out: string[] = [];
    let p = e.offset;
    for (let i = 0; i < e.count; i++) {
      const end = data.indexOf(0, p);
      if (end < 0) fail(`header tag ${tag} has an unterminated string`);
      out.push(data.toString('utf8', p, end));
      p = end + 1;
    }
    return out;
  };
  const string = (tag: number): string => strings(tag)[0] ?? '';
  const ints = (tag: number): number[] => {
    const e = entries.get(tag);
    if (!e) return [];
    const width = e.type === T_INT16 ? 2 : e.type === T_INT32 ? 4 : e.type === T_INT64 ? 8 : fail(`header tag ${tag} is not a number`);
    if (e.count > (data.length - e.offset) / width) fail(`header tag ${tag} passes the data store`);
    const out = new Array<number>(e.count);
    for (let i = 0; i < e.count; i++) {
      const o = e.offset + i * width;
      out[i] = width === 2 ? data.readUInt16BE(o) : width === 4 ? data.readUInt32BE(o) : Number(data.readBigUInt64BE(o));
    }
    return out;
  };

  const algoNum = ints(TAG.FILEDIGESTALGO)[0] ?? 1;
  let paths: string[];
  const basenames = strings(TAG.BASENAMES);
  if (basenames.length > 0) {
    const dirnames = strings(TAG.DIRNAMES);
    const dirindexes = ints(TAG.DIRINDEXES);
    if (dirindexes.length !== basenames.length) fail('header DIRINDEXES and BASENAMES differ in count');
    paths = basenames.map((b, i) => {
      const d = dirnames[dirindexes[i]!];
      if (d === undefined) fail('header DIRINDEXES points past DIRNAMES');
      return d + b;
    });
  } else {
    paths = strings(TAG.OLDFILENAMES);
  }
  const n = paths.length;
  const sizes = entries.has(TAG.LONGFILESIZES) ? ints(TAG.LONGFILESIZES) : ints(TAG.FILESIZES);
  const modes = ints(TAG.FILEMODES);
  const flags = ints(TAG.FILEFLAGS);
  const digests = strings(TAG.FILEDIGESTS);
  const users = strings(TAG.FILEUSERNAME);
  const groups = strings(TAG.FILEGROUPNAME);
  for (const [name, arr] of [['FILEMODES', modes], ['FILEDIGESTS', digests]] as const) {
    if (arr.length !== 0 && arr.length !== n) fail(`header ${name} and the file list differ in count`);
  }
  const files: RpmFile[] = [];
  for (let i = 0; i < n; i++) {
    const mode = modes[i] ?? 0;
    const fl = flags[i] ?? 0;
    const d = (digests[i] ?? '').toLowerCase();
    const regular = (mode & 0o170000) === 0o100000;
    files.push({
      path: paths[i]!,
      size: sizes[i] ?? 0,
      mode,
      flags: fl,
      user: users[i] ?? '',
      group: groups[i] ?? '',
      digest: regular && !(fl & RPMFILE_GHOST) && /^[0-9a-f]+$/.test(d) ? d : '',
    });
  }
  return {
    name: string(TAG.NAME),
    version: string(TAG.VERSION),
    release: string(TAG.RELEASE),
    arch: string(TAG.ARCH),
    digestAlgo: DIGEST_ALGO[algoNum],
    files,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SQLite (rpm 4.16+): table `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`; the rowid is hnum, the record holds
// (NULL, blob). Pages the write-ahead log (`rpmdb.sqlite-wal`) committed and no checkpoint copied back yet replace
// the main file's.

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

export function isSqlite(buf: Buffer): boolean {
  return buf.length >= 100 && buf.subarray(0, 16).equals(SQLITE_MAGIC);
}

function varint(buf: Buffer, p: number, end: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (p + i >= end) fail('SQLite varint runs off its page');
    const b = buf[p + i]!;
    if (i === 8) return [v * 256 + b, p + 9];
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) return [v, p + i + 1];
  }
  return [v, p + 9];
}

/** The pages a WAL file committed, newest last (frames after the last valid commit frame are not committed). */
function walPages(wal: Buffer, pageSize: number): { pages: Map<number, Buffer>; dbPages: number } | undefined {
  if (wal.length < 32) return undefined;
  const magic = wal.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined;
  if (wal.readUInt32BE(8) !== pageSize) return undefined;
  const be = magic === 0x377f0683;
  const word = (b: Buffer, o: number) => (be ? b.readUInt32BE(o) : b.readUInt32LE(o));
  const sum = (b: Buffer, from: number, to: number, s: [number, number]): [number, number] => {
    let [s0, s1] = s;
    for (let o = from; o < to; o += 8) {
      s0 = (s0 + word(b, o) + s1) >>> 0;
      s1 = (s1 + word(b, o + 4) + s0) >>> 0;
    }
    return [s0, s1];
  };
  let s = sum(wal, 0, 24, [0, 0]);
  if (s[0] !== wal.readUInt32BE(24) || s[1] !== wal.readUInt32BE(28)) return undefined;
  const salt1 = wal.readUInt32BE(16), salt2 = wal.readUInt32BE(20);
  const pending = new Map<number, Buffer>();
  const pages = new Map<number, Buffer>();
  let dbPages = 0;
  const budget = currentBudget();
  for (let o = 32; o + 24 + pageSize <= wal.length; o += 24 + pageSize) {
    budget?.tick(64);
    if (wal.readUInt32BE(o + 8) !== salt1 || wal.readUInt32BE(o + 12) !== salt2) break;
    s = sum(wal, o, o + 8, s);
    s = sum(wal, o + 24, o + 24 + pageSize, s);
    if (s[0] !== wal.readUInt32BE(o + 16) || s[1] !== wal.readUInt32BE(o + 20)) break;
    pending.set(wal.readUInt32BE(o), wal.subarray(o + 24, o + 24 + pageSize));
    const commit = wal.readUInt32BE(o + 4);
    if (commit !== 0) {
      for (const [k, v] of pending) pages.set(k, v);
      pending.clear();
      dbPages = commit;
    }
  }
  return pages.size > 0 ? { pages, dbPages } : undefined;
}

/** Every blob of the rpm `Packages` table in an SQLite database (with its WAL, when the image has one). */
export function sqlitePackageBlobs(db: Buffer, wal?: Buffer | null): Buffer[] {
  if (!isSqlite(db)) fail('not an SQLite database');
  const ps = db.readUInt16BE(16);
  const pageSize = ps === 1 ? 65536 : ps;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) fail('SQLite page size is not a power of two');
  const usable = pageSize - db[20]!;
  if (usable < 480) fail('SQLite usable page size too small');
  if (db.readUInt32BE(56) > 1) fail('SQLite text encoding is not UTF-8');
  const fromWal = wal ? walPages(wal, pageSize) : undefined;
  const filePages = Math.floor(db.length / pageSize);
  const nPages = fromWal && fromWal.dbPages > 0 ? fromWal.dbPages : filePages;
  const page = (n: number): Buffer => {
    if (n < 1 || n > nPages) fail(`SQLite page ${n} is outside the database`);
    const w = fromWal?.pages.get(n);
    if (w) return w;
    if (n > filePages) fail(`SQLite page ${n} is past the end of the file`);
    return db.subarray((n - 1) * pageSize, n * pageSize);
  };
  const budget = currentBudget();

  /** The payload of one table-leaf cell, following its overflow chain. */
  const payload = (pg: Buffer, p: number, size: number): Buffer => {
    const maxLocal = usable - 35;
    if (size <= maxLocal) {
      if (p + size > usable) fail('SQLite cell runs off its page');
      return pg.subarray(p, p + size);
    }
    const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
    let local = minLocal + ((size - minLocal) % (usable - 4));
    if (local > maxLocal) local = minLocal;
    if (p + local + 4 > usable) fail('SQLite cell runs off its page');
    if (size > db.length + (wal?.length ?? 0)) fail('SQLite cell larger than the database');
    const out = Buffer.allocUnsafe(size);
    pg.copy(out, 0, p, p + local);
    let got = local;
    let next = pg.readUInt32BE(p + local);
    let hops = 0;
    while (got < size) {
      budget?.tick(256);
      if (next === 0 || ++hops > nPages) fail('SQLite overflow chain ends early or loops');
      const ov = page(next);
      const take = Math.min(size - got, usable - 4);
      ov.copy(out, got, 4, 4 + take);
      got += take;
      next = ov.readUInt32BE(0);
    }
    return out;
  };

  /** Walk a table b-tree, calling `leaf` with each cell's payload. */
  const walk = (root: number, leaf: (rec: Buffer) => void): void => {
    const seen = new Set<number>();
    const stack = [root];
    while (stack.length > 0) {
      budget?.tick(64);
      const n = stack.pop()!;
      if (seen.has(n)) fail('SQLite b-tree has a cycle');
      seen.add(n);
      const pg = page(n);
      const h = n === 1 ? 100 : 0;
      const type = pg[h];
      const cells = pg.readUInt16BE(h + 3);
      const hdr = type === 0x05 ? 12 : type === 0x0d ? 8 : fail(`SQLite page ${n} is not a table b-tree page`);
      if (h + hdr + cells * 2 > usable) fail('SQLite cell pointers pass the page');
      if (type === 0x05) stack.push(pg.readUInt32BE(h + 8));
      for (let i = cells - 1; i >= 0; i--) {
        const c = pg.readUInt16BE(h + hdr + i * 2);
        if (c < h + hdr || c >= usable) fail('SQLite cell pointer outside its page');
        if (type === 0x05) stack.push(pg.readUInt32BE(c));
        else {
          const [size, p1] = varint(pg, c, usable);
          const [, p2] = varint(pg, p1, usable);
          leaf(payload(pg, p2, size));
        }
      }
    }
  };

  /** A record's columns: [serial type, start, length]. */
  const columns = (rec: Buffer): Array<[number, number, number]> => {
    const [hsize, p0] = varint(rec, 0, rec.length);
    if (hsize > rec.length) fail('SQLite record header passes the record');
    const out: Array<[number, number, number]> = [];
    let p = p0;
    let body = hsize;
    while (p < hsize) {
      const [t, np] = varint(rec, p, hsize);
      p = np;
      const len = t >= 12 ? Math.floor((t - 12) / 2) : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][t]!;
      if (body + len > rec.length) fail('SQLite record column passes the record');
      out.push([t, body, len]);
      body += len;
    }
    return out;
  };

  let root = 0;
  walk(1, (rec) => {
    const cols = columns(rec);
    const text = (i: number) => {
      const c = cols[i];
      return c && c[0] >= 13 && c[0] % 2 === 1 ? rec.toString('utf8', c[1], c[1] + c[2]) : undefined;
    };
    if (text(0) === 'table' && text(1) === 'Packages') {
      const c = cols[3];
      if (c && c[0] >= 1 && c[0] <= 6) root = rec.readUIntBE(c[1], Math.min(c[2], 6));
    }
  });
  if (root === 0) fail('SQLite database has no Packages table');
  const blobs: Buffer[] = [];
  walk(root, (rec) => {
    const cols = columns(rec);
    const b = cols.find((c) => c[0] >= 12 && c[0] % 2 === 0);
    if (b) blobs.push(rec.subarray(b[1], b[1] + b[2]));
  });
  return blobs;
}

// ---------------------------------------------------------------------------------------------------------------
// Berkeley DB hash (`Packages`, rpm < 4.16, RHEL 7/8): a metadata page (magic 0x061561, either byte order), then
// bucket pages holding alternating key/value items; a value too large for its page lives on a chain of overflow
// pages. Keys are 4-byte package numbers; key 0 is rpm's counter, not a package.

export function isBdbHash(buf: Buffer): boolean {
  return buf.length >= 512 && (buf.readUInt32LE(12) === 0x061561 || buf.readUInt32BE(12) === 0x061561);
}

export function bdbPackageBlobs(db: Buffer): Buffer[] {
  if (!isBdbHash(db)) fail('not a Berkeley DB hash database');
  const le = db.readUInt32LE(12) === 0x061561;
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const version = u32(db, 16);
  if (version < 8 || version > 10) fail(`Berkeley DB hash version ${version} is not one rpm wrote`);
  const pageSize = u32(db, 20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) fail('Berkeley DB page size is not a power of two');
  if (db[24] !== 0) fail('Berkeley DB database is encrypted');
  const nPages = Math.floor(db.length / pageSize);
  const maxBucket = u32(db, 72);
  if (maxBucket >= nPages) fail('Berkeley DB has more buckets than pages');
  const spares: number[] = [];
  for (let i = 0; i < 32; i++) spares.push(u32(db, 96 + i * 4));
  const page = (n: number): Buffer => {
    if (n >= nPages) fail(`Berkeley DB page ${n} is past the end of the file`);
    return db.subarray(n * pageSize, (n + 1) * pageSize);
  };
  const budget = currentBudget();
  const seen = new Set<number>();

  const item = (pg: Buffer, off: number, len: number): Buffer => {
    if (len <= 0 || off + len > pageSize) fail('Berkeley DB item runs off its page');
    if (pg[off] === 1) return pg.subarray(off + 1, off + len);
    if (pg[off] !== 3 || len !== 12) fail('Berkeley DB item of an unknown kind');
    let next = u32(pg, off + 4);
    const total = u32(pg, off + 8);
    if (total > db.length) fail('Berkeley DB overflow item larger than the database');
    const out = Buffer.allocUnsafe(total);
    let got = 0;
    let hops = 0;
    while (got < total) {
      budget?.tick(256);
      if (++hops > nPages) fail('Berkeley DB overflow chain loops');
      const ov = page(next);
      if (ov[25] !== 7) fail('Berkeley DB overflow chain reaches a page that is not an overflow page');
      const n = u16(ov, 22);
      if (n + 26 > pageSize || n > total - got || n === 0) fail('Berkeley DB overflow page length is wrong');
      ov.copy(out, got, 26, 26 + n);
      got += n;
      next = u32(ov, 16);
    }
    return out;
  };

  const blobs: Buffer[] = [];
  for (let bucket = 0; bucket <= maxBucket; bucket++) {
    let bits = 0;
    for (let b = bucket; b; b >>>= 1) bits++;
    let pg = bucket + spares[bits]!;
    while (pg !== 0) {
      budget?.tick(64);
      if (seen.has(pg)) fail('Berkeley DB bucket chain loops');
      seen.add(pg);
      const p = page(pg);
      if (p[25] !== 2 && p[25] !== 13 && p[25] !== 8) fail(`Berkeley DB page ${pg} is not a hash page`);
      const entries = u16(p, 20);
      if (26 + entries * 2 > pageSize) fail('Berkeley DB item offsets pass the page');
      for (let i = 0; i + 1 < entries; i += 2) {
        const koff = u16(p, 26 + i * 2);
        const voff = u16(p, 28 + i * 2);
        const klen = (i === 0 ? pageSize : u16(p, 24 + i * 2)) - koff;
        const key = item(p, koff, klen);
        if (key.length === 4 && key.readUInt32LE(0) === 0) continue;
        blobs.push(item(p, voff, koff - voff));
      }
      pg = u32(p, 16);
    }
  }
  return blobs;
}

// ---------------------------------------------------------------------------------------------------------------
// ndb (`Packages.db`, openSUSE, SLE 15): a 32-byte header (magic 'RpmP', little-endian), slot pages of 16-byte slots
// {'Slot', package index, block offset, block count} (blocks of 16 bytes), and each package's blob framed by a head
// {'BlbS', index, generation, length} and a tail {adler32, length, 'BlbE'} at the end of its blocks.

const NDB_MAGIC = 0x506d7052; // 'RpmP'
const SLOT_MAGIC = 0x746f6c53; // 'Slot'
const BLOB_HEAD = 0x53626c42; // 'BlbS'
const BLOB_TAIL = 0x45626c42; // 'BlbE'

export function isNdb(buf: Buffer): boolean {
  return buf.length >= 32 && buf.readUInt32LE(0) === NDB_MAGIC;
}

export function ndbPackageBlobs(db: Buffer): Buffer[] {
  if (!isNdb(db)) fail('not an ndb database');
  if (db.readUInt32LE(4) !== 0) fail(`ndb version ${db.readUInt32LE(4)} is not one rpm wrote`);
  const slotPages = db.readUInt32LE(12);
  if (slotPages === 0 || slotPages * 4096 > db.length) fail('ndb slot pages pass the file');
  const fileBlocks = Math.floor(db.length / 16);
  const minBlock = slotPages * 256;
  const budget = currentBudget();
  const blobs: Buffer[] = [];
  for (let o = 32; o < slotPages * 4096; o += 16) {
    budget?.tick(256);
    if (db.readUInt32LE(o) !== SLOT_MAGIC) fail('ndb slot without its magic');
    const idx = db.readUInt32LE(o + 4);
    const blkoff = db.readUInt32LE(o + 8);
    const blkcnt = db.readUInt32LE(o + 12);
    if (blkoff === 0) continue;
    if (idx === 0 || blkcnt < 2 || blkoff < minBlock || blkoff + blkcnt > fileBlocks) fail('ndb slot points outside the file');
    const start = blkoff * 16;
    const end = start + blkcnt * 16;
    if (db.readUInt32LE(start) !== BLOB_HEAD || db.readUInt32LE(start + 4) !== idx) fail('ndb blob head does not match its slot');
    const len = db.readUInt32LE(start + 12);
    if (Math.ceil((16 + len + 12) / 16) !== blkcnt) fail('ndb blob length does not match its slot');
    if (db.readUInt32LE(end - 4) !== BLOB_TAIL || db.readUInt32LE(end - 8) !== len) fail('ndb blob tail is damaged');
    if (adler32(db.subarray(start, end - 12)) !== db.readUInt32LE(end - 12)) fail('ndb blob checksum mismatch');
    blobs.push(db.subarray(start + 16, start + 16 + len));
  }
  return blobs;
}

function adler32(b: Buffer): number {
  let a = 1, s = 0;
  for (let i = 0; i < b.length; ) {
    const stop = Math.min(b.length, i + 3800);
    for (; i < stop; i++) {
      a += b[i]!;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** Which store these bytes are, by magic. */
export function rpmDbKind(buf: Buffer): 'sqlite' | 'bdb' | 'ndb' | undefined {
  return isSqlite(buf) ? 'sqlite' : isBdbHash(buf) ? 'bdb' : isNdb(buf) ? 'ndb' : undefined;
}

/** Every package in an rpm database, whichever store it is. */
export function readRpmDb(db: Buffer, wal?: Buffer | null): { kind: 'sqlite' | 'bdb' | 'ndb'; packages: RpmPackage[] } {
  const kind = rpmDbKind(db) ?? fail('not an rpm database (neither SQLite, Berkeley DB hash nor ndb)');
  const blobs = kind === 'sqlite' ? sqlitePackageBlobs(db, wal) : kind === 'bdb' ? bdbPackageBlobs(db) : ndbPackageBlobs(db);
  const budget = currentBudget();
  const packages = blobs.map((b) => {
    budget?.tick(16);
    return parseRpmHeader(b);
  });
  return { kind, packages };
}
