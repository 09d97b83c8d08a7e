/**
 * A streaming tar reader: v7, ustar, GNU (long names 'L'/'K', old sparse 'S' with extension blocks, volume labels
 * 'V', incremental directories 'D', multi-volume continuations 'M') and PAX (extended and global headers, Solaris
 * 'X', GNU sparse 0.0, 0.1 and 1.0), numeric fields in octal or base-256. Like GNU tar and bsdtar, any other type
 * flag is read as a regular file (POSIX: unknown types are regular files), so its bytes are audited too.
 *
 * Why our own: the npm readers (tar-stream, node-tar) do not reconstruct GNU sparse members, and Google Compute's
 * `disk.raw` tarballs are made with `tar -S`. The format is small and fixed; every field read here is bounds-checked
 * and a damaged or cut archive is a TargetError (exit 3), never a partial silent read.
 *
 * The reader pulls the archive as a stream of chunks and never holds more than one header plus one chunk: a
 * multi-GB member costs no memory unless its consumer keeps the bytes. Each member's data is handed to an optional
 * sink as logical writes (sparse members: stored segments placed at their logical offsets; holes are zeros).
 */
import { TargetError } from '../errors.js';
import { currentBudget } from '../budget.js';
import { firstNonZero, isZero } from '../arrays.js';
import type { EntryType } from '../types.js';
import type { Compression } from '../image/detect.js';

const BLOCK = 512;
/** Upper bounds for metadata members: a long name or a PAX header bigger than this is hostile. */
const MAX_META = 1024 * 1024;
const MAX_SPARSE_SEGMENTS = 1_000_000;

/** One extent of a member: `length` bytes at logical offset `logical`, stored at absolute archive offset `stored`. */
export interface Extent {
  logical: number;
  stored: number;
  length: number;
}

export interface TarEntry {
  /** The member name exactly as the archive gives it (after GNU long names and PAX `path`). */
  name: string;
  /** Byte offset in the (uncompressed) archive of the member's first header block (its long-name or PAX header). */
  offset: number;
  type: EntryType | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Symlink or hard link target as stored. */
  linkname?: string;
  /** Logical size (a sparse member's real size). */
  size: number;
  /** Where the bytes are in the (uncompressed) archive stream. Empty for members without data. */
  extents: Extent[];
  sparse: boolean;
}

/** Receives a member's data as logical writes (chunk placed at `offset`); may apply backpressure. */
export type Sink = (chunk: Buffer, offset: number) => void | Promise<void>;

/** One sink feeding several (null when none). */
export function teeSinks(sinks: Array<Sink | null>): Sink | null {
  const all = sinks.filter((s): s is Sink => s !== null);
  if (all.length <= 1) return all[0] ?? null;
  // Synchronous while every sink is: a promise only when one returns one (most chunks of most members need none).
  return (chunk, offset) => {
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!(chunk, offset);
      if (r) return r.then(async () => {
        for (const s of all.slice(i + 1)) await s(chunk, offset);
      });
    }
  };
}

/** A value that may be a promise, awaited only when it is one (a promise per 512-byte header adds up). */
export const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

/**
 * Pulls exact byte counts out of an async chunk stream and tracks the absolute position. The buffered bytes are
 * `buf[off ..]`: taking moves `off` on (a view is made only for bytes handed out, none for bytes passed over).
 */
export class Pull {
  pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;

  /** `format` names the archive in errors ("truncated tar archive"). */
  constructor(
    src: AsyncIterable<Buffer>,
    private readonly format = 'tar',
  ) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.buf = this.buf.length === this.off ? chunk : Buffer.concat([this.buf.subarray(this.off), chunk]);
    this.off = 0;
    return true;
  }

  /** Exactly n bytes when they are buffered already (no promise), else undefined: take() them. */
  takeNow(n: number): Buffer | undefined {
    if (this.buf.length - this.off < n) return undefined;
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.pos += n;
    return out;
  }

  /** Exactly n bytes, or null at a clean end of stream (nothing buffered); throws when cut in the middle. */
  async take(n: number): Promise<Buffer | null> {
    while (this.buf.length - this.off < n) {
      if (!(await this.more())) {
        const left = this.buf.length - this.off;
        if (left === 0) return null;
        throw new TargetError(`truncated ${this.format} archive: stream ends at byte ${this.pos + left}`);
      }
    }
    return this.takeNow(n)!;
  }

  /**
   * `pass` of bytes that are buffered already, synchronously: a promise only when `each` returns one. Undefined
   * when they are not all buffered (then `pass`).
   */
  passNow(n: number, each: ((piece: Buffer, at: number) => void | Promise<void>) | null): void | Promise<void> | false {
    if (this.buf.length - this.off < n) return false;
    if (n === 0) return undefined;
    const at = this.pos;
    this.pos += n;
    this.off += n;
    return each ? each(this.buf.subarray(this.off - n, this.off), at) : undefined;
  }

  /** Hand the next n bytes to `each` in pieces (no copy of the whole range). */
  async pass(n: number, each: ((piece: Buffer, at: number) => void | Promise<void>) | null): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === this.off && !(await this.more())) {
        throw new TargetError(`truncated ${this.format} archive: a member's data ends at byte ${this.pos} of ${this.pos + left}`);
      }
      const k = Math.min(left, this.buf.length - this.off);
      const at = this.pos;
      this.pos += k;
      this.off += k;
      left -= k;
      if (each) {
        const r = each(this.buf.subarray(this.off - k, this.off), at);
        if (r) await r;
      }
    }
  }

  /**
   * Read (and drop) what is left, up to `limit` bytes: where the first byte that is not zero is (null: none), and
   * whether the stream ended within the limit.
   */
  async drain(limit: number): Promise<{ nonZeroAt: number | null; ended: boolean }> {
    let nonZeroAt: number | null = null;
    const start = this.pos;
    for (;;) {
      const rest = this.buf.subarray(this.off);
      if (nonZeroAt === null) {
        const i = firstNonZero(rest);
        if (i >= 0) nonZeroAt = this.pos + i;
      }
      this.pos += rest.length;
      this.buf = Buffer.alloc(0);
      this.off = 0;
      if (this.pos - start >= limit) return { nonZeroAt, ended: !(await this.more()) };
      if (!(await this.more())) return { nonZeroAt, ended: true };
    }
  }

  /** The next n bytes (fewer at the end of the stream) without taking them. */
  async peek(n: number): Promise<Buffer> {
    while (this.buf.length - this.off < n && (await this.more()));
    return this.buf.subarray(this.off, this.off + n);
  }

  /**
   * Pass over zero bytes, up to `limit` of them: 'data' when a byte that is not zero is next (not taken), 'end' when
   * the stream ended, 'limit' when `limit` zeros were passed.
   */
  async skipZeros(limit: number): Promise<'data' | 'end' | 'limit'> {
    const start = this.pos;
    for (;;) {
      const i = firstNonZero(this.buf.subarray(this.off));
      if (i >= 0) {
        this.off += i;
        this.pos += i;
        return 'data';
      }
      this.pos += this.buf.length - this.off;
      this.off = this.buf.length;
      if (this.pos - start >= limit) return 'limit';
      if (!(await this.more())) return 'end';
    }
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return end === off ? '' : b.toString('utf8', off, end);
}

/** A numeric header field: octal ASCII (space/NUL terminated) or GNU base-256 (high bit of the first byte). */
function num(b: Buffer, off: number, len: number, what: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    if (first & 0x40) throw new TargetError(`corrupt tar header: negative ${what}`);
    let v = first & 0x3f;
    for (let i = off + 1; i < off + len; i++) {
      v = v * 256 + b[i]!;
      if (!Number.isSafeInteger(v)) throw new TargetError(`corrupt tar header: ${what} too large`);
    }
    return v;
  }
  // Octal digits between leading and trailing spaces or NULs, read from the bytes (no string, no view per field).
  let i = off;
  let end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  while (end > i && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let v = 0;
  for (let k = i; k < end; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 7) throw new TargetError(`corrupt tar header: ${what} is not a number`);
    v = v * 8 + d;
  }
  if (!Number.isSafeInteger(v)) throw new TargetError(`corrupt tar header: ${what} too large`);
  return v;
}

/**
 * The header's sum with its checksum field read as spaces, as unsigned bytes (POSIX) or signed ones (old Sun tar):
 * the signed sum is the unsigned one less 256 for each byte above 127. No branch per byte: every header of an
 * archive goes through here.
 */
function checksumOk(h: Buffer): boolean {
  const stored = num(h, 148, 8, 'checksum');
  // Four bytes a step (148, 8 and 356 are multiples of 4).
  let unsigned = 8 * 0x20;
  for (let i = 0; i < BLOCK; i += 4) {
    if (i === 148) i = 156;
    unsigned += h[i]! + h[i + 1]! + h[i + 2]! + h[i + 3]!;
  }
  if (stored === unsigned) return true;
  // Some old tars summed the bytes as signed: each byte with its high bit set counts 256 less.
  let high = 0;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) high += h[i]! >> 7;
  return stored === unsigned - 256 * high;
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

const USTAR = Buffer.from('ustar', 'latin1');

/**
 * A numeric PAX record of a member, or `fallback` when it has none. Times may be negative (before 1970) and impossible
 * (1e300): the inventory clamps those (clampTime).
 */
function paxNumber(px: PaxView, k: string, fallback: number, signed: boolean): number {
  if (px === NO_PAX) return fallback;
  const v = px.get(k);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || (n < 0 && !signed)) throw new TargetError(`corrupt PAX header: ${k}=${v.slice(0, 40)}`);
  return Math.floor(n);
}

/** A member's PAX records over the global ones, looked up without copying the globals per member. */
interface PaxView {
  get(k: string): string | undefined;
  has(k: string): boolean;
}
const NO_PAX: PaxView = { get: () => undefined, has: () => false };
function paxView(pax: Array<[string, string]> | null, globalPax: Map<string, string>): PaxView {
  const local = new Map<string, string>(pax ?? []);
  return { get: (k) => local.get(k) ?? globalPax.get(k), has: (k) => local.has(k) || globalPax.has(k) };
}

const TYPES: Record<string, EntryType | 'hardlink'> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'dir',
  '6': 'fifo',
  D: 'dir',
  S: 'file',
  // Continuation of a file from the previous volume: its bytes here are a fragment of that file.
  M: 'file',
};

/** A header block: a valid checksum, a type flag GNU tar or bsdtar reads, numeric fields that parse (v7 has no magic). */
export function isTarHeader(h: Buffer): boolean {
  if (h.length < BLOCK || isZero(h, 0, BLOCK)) return false;
  const flag = h[156]!;
  const alnum = (flag >= 0x30 && flag <= 0x39) || (flag >= 0x41 && flag <= 0x5a) || (flag >= 0x61 && flag <= 0x7a);
  if (flag !== 0 && !alnum) return false;
  try {
    // mode, uid, gid, size, mtime; a value that is not a number throws.
    for (const [off, len] of [[100, 8], [108, 8], [116, 8], [124, 12], [136, 12]] as const) num(h, off, len, 'field');
    return checksumOk(h);
  } catch {
    return false;
  }
}

/** PAX records `"%d %s=%s\n"`, in order (GNU sparse 0.0 repeats keys). */
function paxRecords(data: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break;
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw new TargetError('corrupt PAX header: record without a length');
    const len = Number(data.subarray(i, sp).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= sp - i || i + len > data.length) throw new TargetError('corrupt PAX header: bad record length');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq < 0) throw new TargetError('corrupt PAX header: record without "="');
    out.push([rec.slice(0, eq), rec.slice(eq + 1)]);
    i += len;
  }
  return out;
}

interface Segment {
  offset: number;
  length: number;
}

function sparseSegments(pairs: number[], what: string): Segment[] {
  if (pairs.length % 2 !== 0) throw new TargetError(`corrupt ${what}: odd number of sparse map values`);
  if (pairs.length / 2 > MAX_SPARSE_SEGMENTS) throw new TargetError(`corrupt ${what}: too many sparse segments`);
  const out: Segment[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const offset = pairs[i]!;
    const length = pairs[i + 1]!;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new TargetError(`corrupt ${what}: bad sparse segment`);
    }
    out.push({ offset, length });
  }
  return out;
}

/** How much of what follows the end-of-archive blocks walkTar reads (zeros: padding; a producer writes ~10 KiB). */
export const MAX_TRAILER = 64 * 1024 * 1024;

export interface TarWalkOptions {
  /** Called for every member; return a sink to receive its data (null: skip the bytes). */
  onEntry(entry: TarEntry): Sink | null | Promise<Sink | null>;
  /**
   * Read the whole stream after the end-of-archive blocks (for digests over every byte). Without it, what follows
   * them is read up to MAX_TRAILER (see walkTar).
   */
  drain?: boolean;
  /** The target's deadline: stop between members once it fires. */
  signal?: AbortSignal;
  /** cpio: stop where an archive in a compression of its own follows, and say where (TarWalkResult.next). */
  segments?: boolean;
}

export interface TarWalkResult {
  entries: number;
  bytes: number;
  /** What the archive holds that cannot be read completely from it alone (a file continued from another volume). */
  problems: string[];
  /**
   * An archive in a compression of its own follows at this byte of the stream (an initramfs whose uncompressed
   * microcode archive comes first): only when the walk was asked to stop there (cpio's `segments`).
   */
  next?: { offset: number; compression: Compression };
}

/** Read every member of a tar stream. Throws TargetError on a damaged, hostile or truncated archive. */
export async function walkTar(src: AsyncIterable<Buffer>, opts: TarWalkOptions): Promise<TarWalkResult> {
  const pull = new Pull(src);
  let entries = 0;
  const problems: string[] = [];
  // Where the current member's first header (a long name, a PAX header) starts.
  let memberStart: number | null = null;
  /** Where the end-of-archive blocks begin (null: the stream ended without them). */
  let endOfArchive: number | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let pax: Array<[string, string]> | null = null;
  // PAX global records stay for every later member: what they hold is charged to the target's memory budget.
  const globalPax = new Map<string, string>();
  const budget = currentBudget();
  const recBytes = (k: string, v: string) => 64 + 2 * (k.length + v.length);
  const readMeta = async (size: number, what: string): Promise<Buffer> => {
    if (size > MAX_META) throw new TargetError(`corrupt tar archive: ${what} of ${size} bytes`);
    const b = await pull.take(padded(size));
    if (!b) throw new TargetError(`truncated tar archive: ${what} cut off`);
    return Buffer.from(b.subarray(0, size));
  };
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new TargetError('tar archive: stopped at the deadline');
      budget?.check();
      const h = pull.takeNow(BLOCK) ?? (await pull.take(BLOCK));
      if (!h) {
        if (entries === 0) throw new TargetError('empty tar archive');
        break; // tolerated: archive without the end-of-archive blocks
      }
      if (isZero(h)) {
        endOfArchive = pull.pos - BLOCK;
        break;
      }
      if (!checksumOk(h)) {
        throw new TargetError(`corrupt tar archive: bad header checksum at byte ${pull.pos - BLOCK}`);
      }
      memberStart ??= pull.pos - BLOCK;
      const flag = String.fromCharCode(h[156]!);
      const hdrSize = num(h, 124, 12, 'size');
      if (flag === 'L' || flag === 'K') {
        const v = cstr(await readMeta(hdrSize, 'GNU long name'), 0, hdrSize);
        if (flag === 'L') longName = v;
        else longLink = v;
        continue;
      }
      // 'X': Solaris' extended header, the same records as PAX 'x'.
      if (flag === 'x' || flag === 'X' || flag === 'g') {
        const recs = paxRecords(await readMeta(hdrSize, 'PAX header'));
        if (flag === 'g') {
          for (const [k, v] of recs) {
            const was = globalPax.get(k);
            if (was !== undefined) budget?.releaseMemory(recBytes(k, was));
            budget?.chargeMemory(recBytes(k, v), 'PAX global headers');
            globalPax.set(k, v);
          }
        } else pax = recs;
        continue;
      }
      // 'V': a GNU volume label (tar -V), a name only; 'A': a Solaris ACL for the next member.
      if (flag === 'V' || flag === 'A') {
        await pull.pass(padded(hdrSize), null);
        if (flag === 'V') memberStart = null;
        continue;
      }
      // v7 archives have no directory type: a "regular" member whose name ends in `/` is a directory (GNU tar, bsdtar).
      const v7dir = (flag === '\0' || flag === '0') && hdrSize === 0 && /\/$/.test(cstr(h, 0, 100));
      const type = v7dir ? 'dir' : (TYPES[flag] ?? 'file');
      // This member's records over the global ones, looked up without copying the globals per member.
      const px = pax === null && globalPax.size === 0 ? NO_PAX : paxView(pax, globalPax);
      // 'ustar\0' (POSIX) or 'ustar ' (GNU), compared as bytes.
      const ustar = h[257] === USTAR[0] && h[258] === USTAR[1] && h[259] === USTAR[2] && h[260] === USTAR[3] && h[261] === USTAR[4] && (h[262] === 0 || h[262] === 0x20);
      const posix = ustar && h[262] === 0;
      let name = cstr(h, 0, 100);
      if (posix) {
        const prefix = cstr(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      name = px.get('GNU.sparse.name') ?? px.get('path') ?? longName ?? name;
      const linkname = px.get('linkpath') ?? longLink ?? cstr(h, 157, 100);
      const stored = paxNumber(px, 'size', hdrSize, false);
      const entry: TarEntry = {
        name,
        offset: memberStart,
        type,
        mode: num(h, 100, 8, 'mode') & 0o7777,
        uid: paxNumber(px, 'uid', num(h, 108, 8, 'uid'), false),
        gid: paxNumber(px, 'gid', num(h, 116, 8, 'gid'), false),
        mtime: paxNumber(px, 'mtime', num(h, 136, 12, 'mtime'), true),
        size: type === 'file' ? stored : 0,
        extents: [],
        sparse: false,
      };
      if (type === 'symlink' || type === 'hardlink') entry.linkname = linkname;
      const localPax = pax;
      longName = longLink = null;
      pax = null;
      memberStart = null;
      if (flag === 'M') {
        const at = num(h, 369, 12, 'continuation offset');
        problems.push(`${name.slice(0, 200)}: continues from a previous volume at byte ${at}; only the ${stored} bytes in this volume are audited`);
      }

      // Where the member's bytes are. Sparse: a map of logical segments whose bytes are stored back to back.
      let segments: Segment[] | null = null;
      let realSize = stored;
      let dataStart = pull.pos;
      // A hard link carries data only in PAX archives that say so with a `size` record.
      let dataLen = type === 'file' || flag === 'D' ? stored : type === 'hardlink' && px.has('size') ? stored : 0;
      if (flag === 'S') {
        if (!ustar) throw new TargetError('corrupt tar archive: GNU sparse member without a GNU header');
        const pairs: number[] = [];
        const readPairs = (b: Buffer, off: number, count: number) => {
          for (let i = 0; i < count; i++) {
            const o = off + i * 24;
            if (b[o] === 0) return;
            pairs.push(num(b, o, 12, 'sparse offset'), num(b, o + 12, 12, 'sparse size'));
          }
        };
        readPairs(h, 386, 4);
        let extended = h[482] !== 0;
        while (extended) {
          const ext = await pull.take(BLOCK);
          if (!ext) throw new TargetError('truncated tar archive: sparse map cut off');
          readPairs(ext, 0, 21);
          extended = ext[504] !== 0;
          if (pairs.length / 2 > MAX_SPARSE_SEGMENTS) throw new TargetError('corrupt tar archive: too many sparse segments');
        }
        segments = sparseSegments(pairs, 'GNU sparse header');
        realSize = num(h, 483, 12, 'sparse real size');
        dataStart = pull.pos;
      } else if (px.has('GNU.sparse.major') || px.has('GNU.sparse.map') || px.has('GNU.sparse.offset')) {
        const major = px.get('GNU.sparse.major');
        if (major === '1') {
          // 1.0: the map is at the start of the data, decimal numbers one per line, padded to a block.
          realSize = paxNumber(px, 'GNU.sparse.realsize', stored, false);
          const first = await pull.take(BLOCK);
          if (!first) throw new TargetError('truncated tar archive: sparse map cut off');
          let text = first.toString('latin1');
          let blocks = 1;
          const numbers = (): number[] | null => {
            const lines = text.split('\n');
            const count = Number(lines[0]);
            if (lines.length < 2 || !Number.isSafeInteger(count) || count < 0 || count > MAX_SPARSE_SEGMENTS) {
              if (lines.length >= 2) throw new TargetError('corrupt PAX sparse map');
              return null;
            }
            if (lines.length < 2 + count * 2) return null;
            return lines.slice(1, 1 + count * 2).map(Number);
          };
          let vals = numbers();
          while (!vals) {
            if (blocks * BLOCK > MAX_META) throw new TargetError('corrupt PAX sparse map: too long');
            const more = await pull.take(BLOCK);
            if (!more) throw new TargetError('truncated tar archive: sparse map cut off');
            text += more.toString('latin1');
            blocks++;
            vals = numbers();
          }
          segments = sparseSegments(vals, 'PAX sparse map');
          dataStart = pull.pos;
          dataLen = stored - blocks * BLOCK;
          if (dataLen < 0) throw new TargetError('corrupt PAX sparse map: longer than the member');
        } else {
          realSize = paxNumber(px, 'GNU.sparse.size', paxNumber(px, 'GNU.sparse.realsize', stored, false), false);
          const map = px.get('GNU.sparse.map');
          if (map !== undefined) segments = sparseSegments(map === '' ? [] : map.split(',').map(Number), 'PAX sparse map');
          else {
            const pairs: number[] = [];
            for (const [k, v] of localPax ?? []) if (k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes') pairs.push(Number(v));
            segments = sparseSegments(pairs, 'PAX sparse map');
          }
        }
      }
      if (segments) {
        let at = dataStart;
        let total = 0;
        let prevEnd = 0;
        for (const s of segments) {
          if (s.offset < prevEnd || s.offset + s.length > realSize) throw new TargetError(`corrupt sparse map of ${name.slice(0, 200)}`);
          prevEnd = s.offset + s.length;
          if (s.length > 0) entry.extents.push({ logical: s.offset, stored: at, length: s.length });
          at += s.length;
          total += s.length;
        }
        if (total > dataLen) throw new TargetError(`corrupt sparse map of ${name.slice(0, 200)}: more data than stored`);
        entry.size = realSize;
        entry.sparse = true;
      } else if (type === 'file' && dataLen > 0) {
        entry.extents = [{ logical: 0, stored: dataStart, length: dataLen }];
      }
      entries++;
      const given = opts.onEntry(entry);
      const sink = isPromise(given) ? await given : given;
      // Hand the stored bytes to the sink at their logical offsets: a member in one piece straight to the sink (most
      // are, and are buffered whole: no promise), a sparse one by its extents.
      let ext = 0;
      const one = entry.extents.length === 1 && entry.extents[0]!.length === dataLen ? entry.extents[0]! : null;
      const each = !sink || entry.extents.length === 0 ? null : one ? (piece: Buffer, pos: number) => sink(piece, one.logical + (pos - one.stored)) : async (piece: Buffer, pos: number) => {
            let p = piece;
            let at = pos;
            while (p.length > 0 && ext < entry.extents.length) {
              const e = entry.extents[ext]!;
              if (at >= e.stored + e.length) {
                ext++;
                continue;
              }
              const skip = Math.max(0, e.stored - at);
              if (skip >= p.length) break;
              p = p.subarray(skip);
              at += skip;
              const k = Math.min(p.length, e.stored + e.length - at);
              await sink(p.subarray(0, k), e.logical + (at - e.stored));
              p = p.subarray(k);
              at += k;
            }
          };
      const passed = pull.passNow(dataLen, each);
      if (passed === false) await pull.pass(dataLen, each);
      else if (passed) await passed;
      const pad = (BLOCK - (pull.pos % BLOCK)) % BLOCK;
      if (pull.passNow(pad, null) === false) await pull.pass(pad, null);
    }
    // What follows the end-of-archive blocks is read too: a read that fails there, or a compressed stream damaged
    // after the last member, is not an audit that looks complete. Producers pad with zeros (GNU tar to its 10 KiB
    // record); anything else there (a second archive appended with cat) is not part of this one, as tar lists it.
    const end = endOfArchive ?? pull.pos;
    const trailer = await pull.drain(opts.drain ? Infinity : MAX_TRAILER);
    if (trailer.nonZeroAt !== null) {
      problems.push(`data after the end of the archive (byte ${trailer.nonZeroAt}) is not part of it and was not audited (tar lists it only with --ignore-zeros)`);
    } else if (!trailer.ended) {
      problems.push(`more than ${MAX_TRAILER / (1024 * 1024)} MiB of zeros after the end of the archive (byte ${end}): the rest was not read`);
    }
  } finally {
    await pull.close();
    for (const [k, v] of globalPax) budget?.releaseMemory(recBytes(k, v));
  }
  return { entries, bytes: pull.pos, problems };
}

