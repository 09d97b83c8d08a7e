/**
 * The read log of one audited image file (`--cache`): which byte ranges of the file the audit read, and a digest of
 * the bytes each range held when it was read. An audit's result is a deterministic function of the file's size and
 * the bytes it read, so size + those ranges + their digests identify the audited content as soundly as a digest of
 * the whole file, at the cost of hashing only what the audit reads anyway (src/store/cache.ts).
 *
 * Only two chokepoints read an image file byte-wise: `readAt` (src/image/detect.ts: format detection, backing-file
 * and truncation checks, archive sniffing) and the native readers' `FileSource` (everything the native backend and
 * the rules read). Both record into the log of the audit they run in (an AsyncLocalStorage context set around one
 * target's audit), when the file they read is that target (same device and inode).
 *
 * The log is *complete* (its ranges are everything the result depends on) only when the target was opened by the
 * native backend directly (not decompressed to a temp file, no backing file) and nothing read the target another
 * way. Every other reader of a target file (a decompressor, an archive stream, qemu) must call `markOpaque`; a log
 * that is not complete falls back to a digest of the whole file, which `markOpaque` starts at once so it runs
 * alongside the audit. Completeness also needs the native open to be declared (`nativeOpened`): a code path that
 * reads the target some new way without marking it can only cost a full digest, never a stale hit, as long as it
 * does not also open the target natively in the same audit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../lazy.js';

const storage = new AsyncLocalStorage<ReadLog>();

/** The identity of what a complete log read: sorted [offset, length, offset, length, ...] and their digest. */
export interface ExtentIdentity {
  extents: number[];
  digest: string;
  /**
   * The first HINT_BYTES of each range's digest, in hex, one after the other: lets a check of another file stop at
   * the first range that differs (a changed image rarely matches for long). Only ever a reason to stop: a match is
   * decided by the full digest.
   */
  hints: string;
}

/** Bytes of each range digest kept as an early-exit hint. */
export const HINT_BYTES = 8;
/**
 * Largest single read of an image ever issued (the native readers refuse bigger ones as corrupt metadata), so the
 * largest read a log can hold.
 */
export const MAX_READ = 256 * 1024 * 1024;

/** Full sha256 of a file, streamed. */
export async function fileDigest(file: string): Promise<string> {
  const h = nodeCrypto().createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

const rangeDigest = (buf: Buffer): Buffer => nodeCrypto().createHash('sha256').update(buf).digest();

/** The digest over size and the (sorted) ranges with the digests of their bytes. */
function combine(size: number, ranges: Array<[number, number, Buffer]>): string {
  const h = nodeCrypto().createHash('sha256').update(`hostleak-extents-1\0${size}\0`);
  const head = Buffer.alloc(16);
  for (const [off, len, d] of ranges) {
    head.writeDoubleLE(off, 0);
    head.writeDoubleLE(len, 8);
    h.update(head).update(d);
  }
  return h.digest('hex');
}

export class ReadLog {
  private readonly reads = new Map<string, [number, number, Buffer]>();
  private readonly resolved: string;
  /** A range read twice gave different bytes: the file changed while it was audited. */
  changed = false;
  /** Why the log is not a complete account of what the audit read (null: nothing says so yet). */
  opaque: string | null = null;
  /** The native backend opened the target itself (no decompression, no backing file). */
  private native = false;
  /** Native byte sources opened on the target under this log (each records its reads). */
  private sources = 0;
  private full: Promise<string> | null = null;

  constructor(
    readonly file: string,
    readonly dev: number,
    readonly ino: number,
    readonly size: number,
    /** The log of a file behind HTTP (`file` is its URL): no whole-file digest, the cache keys it by its ETag. */
    readonly remote = false,
  ) {
    this.resolved = remote ? file : path.resolve(file);
  }

  /** Whether a file (by its stat) is this log's target. */
  matches(st: { dev: number; ino: number }): boolean {
    return st.dev === this.dev && st.ino === this.ino;
  }

  isTarget(file: string): boolean {
    return (this.remote ? file : path.resolve(file)) === this.resolved;
  }

  /** `length` bytes of `buf` were read at `offset` of the target. */
  record(offset: number, buf: Buffer, length: number): void {
    const key = `${offset}:${length}`;
    const digest = rangeDigest(buf.subarray(0, length));
    const seen = this.reads.get(key);
    // The same range read again with other bytes: the file changed under the audit (its stat may not show it
    // within a timestamp's granularity). Such a result describes no one content: it is not cached.
    if (seen) {
      if (!seen[2].equals(digest)) this.changed = true;
      return;
    }
    this.reads.set(key, [offset, length, digest]);
  }

  /** The target was read other than through the recording chokepoints: fall back to a digest of the whole file. */
  markOpaque(why: string): void {
    this.opaque ??= why;
    if (!this.remote) this.fullDigest();
  }

  /** The native backend opened `prepared` for the audit; complete only if it is the target itself, as is. */
  nativeOpened(file: string, decompressed: boolean, hostReferences: number): void {
    // Another file (a nested image copied out, a decompressed temp copy) holds bytes the log or markOpaque covers.
    if (!this.isTarget(file)) return;
    if (decompressed || hostReferences > 0) this.markOpaque('not the image file as is');
    else this.native = true;
  }

  sourceOpened(): void {
    this.sources++;
  }

  /** Whether the recorded ranges are everything a result from `backend` depends on. */
  complete(backend: string | null): boolean {
    return this.native && this.sources > 0 && this.opaque === null && backend === 'native' && this.reads.size > 0;
  }

  identity(): ExtentIdentity {
    const ranges = [...this.reads.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return {
      extents: ranges.flatMap(([o, l]) => [o, l]),
      digest: combine(this.size, ranges),
      hints: ranges.map(([, , d]) => d.toString('hex', 0, HINT_BYTES)).join(''),
    };
  }

  /** The whole-file digest, started once (alongside the audit when markOpaque started it). */
  fullDigest(): Promise<string> {
    if (!this.full) {
      this.full = fileDigest(this.file);
      this.full.catch(() => undefined); // awaited (and its error reported) by whoever stores the result
    }
    return this.full;
  }
}

/**
 * The digest a complete log of `file` would have given for these ranges, re-reading only them; null when the file
 * is not that size, a range cannot be read whole, or a range's digest does not start with its hint (no need to read
 * on: the result would not match).
 */
export function extentsDigest(file: string, size: number, extents: number[], hints = ''): string | null {
  const fd = openSync(file, 'r');
  try {
    if (fstatSync(fd).size !== size) return null;
    const ranges: Array<[number, number, Buffer]> = [];
    let buf = Buffer.allocUnsafe(64 * 1024);
    for (let i = 0; i + 1 < extents.length; i += 2) {
      const off = extents[i]!;
      const len = extents[i + 1]!;
      if (buf.length < len) buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, off + got);
        if (n === 0) return null;
        got += n;
      }
      const d = rangeDigest(buf.subarray(0, len));
      const h = HINT_BYTES * 2;
      if (hints.length > 0 && d.toString('hex', 0, HINT_BYTES) !== hints.slice((i / 2) * h, (i / 2) * h + h)) return null;
      ranges.push([off, len, d]);
    }
    return combine(size, ranges);
  } finally {
    closeSync(fd);
  }
}

/** Run one target's audit with its read log as the current one. */
export function withReadLog<T>(log: ReadLog, fn: () => Promise<T>): Promise<T> {
  return storage.run(log, fn);
}

/** The read log of the audit running now, if any. */
export function currentReadLog(): ReadLog | undefined {
  return storage.getStore();
}

/** The current log when the file just opened (its stat) is the log's target: the opener records into it. */
export function readLogFor(st: { dev: number; ino: number }): ReadLog | null {
  const log = storage.getStore();
  if (!log || !log.matches(st)) return null;
  log.sourceOpened();
  return log;
}

/** The current log when it is the one of the remote image at `url` (src/remote/source.ts records into it). */
export function remoteReadLog(url: string): ReadLog | null {
  const log = storage.getStore();
  if (!log?.remote || log.file !== url) return null;
  log.sourceOpened();
  return log;
}

/** Something reads `file` other than through readAt or FileSource: if it is the current audit's target, say so. */
export function markOpaqueRead(file: string, why: string): void {
  const log = storage.getStore();
  if (log?.isTarget(file)) log.markOpaque(why);
}
