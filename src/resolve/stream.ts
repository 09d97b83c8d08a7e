/**
 * Byte streams for archive targets: a file or a byte range of one, decompressed on the fly by the system
 * decompressors (the same tools src/image/decompress.ts uses), with an optional tap on the raw bytes (digests).
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { oneLine, TargetError } from '../errors.js';
import { cannotDecompress, onPath, ownDecoder, spawnDecompressor, TOOLS } from '../image/decompress.js';
import { registerCleanup } from '../image/cleanup.js';
import { compressionOf, readAt, type Compression } from '../image/detect.js';
import { markOpaqueRead } from '../image/readlog.js';
import { decompressHead } from '../image/codecs.js';
import { isRemoteTarget, remoteInfo, remoteRangeStream, remoteReadRange } from '../remote/files.js';


/**
 * A byte range of a host file, or of a file behind HTTP(S) (`file` is then its URL: src/remote/files.ts reads it):
 * the whole file, or a member of a plain (uncompressed) tar.
 */
export interface FileRange {
  file: string;
  start: number;
  length: number;
  /** Readable only from its start, as a whole (a server without range requests): no reads by offset. */
  sequential?: boolean;
  /** The whole of a local file (wholeFile): a system decompressor may read it by its path. */
  whole?: boolean;
}

export function rangeStream(r: FileRange): Readable {
  markOpaqueRead(r.file, 'read as a stream');
  if (r.length === 0) return Readable.from([]);
  if (isRemoteTarget(r.file)) return remoteRangeStream(r.file, r.start, r.length);
  return createReadStream(r.file, { start: r.start, end: r.start + r.length - 1, highWaterMark: 256 * 1024 });
}

async function* tapped(src: AsyncIterable<Buffer>, tap?: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const c of src) {
    tap?.(c);
    yield c;
  }
}

/** Up to `len` bytes at `start` of a range. */
export async function readRange(r: FileRange, start: number, len: number): Promise<Buffer> {
  if (isRemoteTarget(r.file)) return remoteReadRange(r.file, r.start + start, Math.max(0, Math.min(len, r.length - start)));
  const fh = await fsp.open(r.file, 'r');
  try {
    return await readAt(fh, r.start + start, Math.max(0, Math.min(len, r.length - start)));
  } finally {
    await fh.close();
  }
}

/**
 * The decompressed bytes of a stream, through the system decompressor. Stopping early kills the decompressor.
 * `source` is the compressed stream, or a whole local file (its path) that the system tool then reads itself: its
 * bytes do not pass through this process, and the tool never waits for this process to feed it while it is busy.
 */
export async function* decompressStream(source: Readable | string, compression: Compression, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const tool = TOOLS[compression];
  // gzip: node's zlib, in-process (faster than gzip(1) here, and no process or pipe between); for the others the
  // system tool, else hostleak's own decoder (src/image/decompress.ts), where it has one.
  const inProcess = compression === 'gzip' || !onPath(tool);
  const file = typeof source === 'string' ? source : null;
  if (file) markOpaqueRead(file, 'read as a stream');
  const input: Readable | null = file === null ? (source as Readable) : inProcess ? createReadStream(file, { highWaterMark: 256 * 1024 }) : null;
  const own = inProcess ? ownDecoder(input!, compression) : null;
  if (own) {
    const stop = () => own.destroy();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of own as AsyncIterable<Buffer>) yield chunk;
    } catch (err) {
      if (err instanceof TargetError) throw err;
      throw signal?.aborted ? new TargetError('decompression interrupted') : cannotDecompress(compression, oneLine(err));
    } finally {
      own.destroy();
      input!.destroy();
      signal?.removeEventListener('abort', stop);
    }
    if (signal?.aborted) throw new TargetError('decompression interrupted');
    return;
  }
  const { output, kill, exited, failure } = spawnDecompressor(compression, input ?? file!);
  // A failing input (a remote file's connection dropped, a range it cannot serve) is the reason, not the cut stream.
  let inputFailure: unknown = null;
  input?.on('error', (err: unknown) => {
    inputFailure ??= err;
    kill();
  });
  const release = registerCleanup(kill);
  signal?.addEventListener('abort', kill, { once: true });
  let complete = false;
  try {
    for await (const chunk of output as AsyncIterable<Buffer>) yield chunk;
    complete = true;
  } finally {
    if (!complete) {
      kill();
      input?.destroy();
    }
    const exit = await exited;
    release();
    signal?.removeEventListener('abort', kill);
    // eslint-disable-next-line no-unsafe-finally
    if (inputFailure) throw inputFailure;
    if (complete) {
      // eslint-disable-next-line no-unsafe-finally
      if (signal?.aborted) throw new TargetError('decompression interrupted');
      const failed = failure(exit);
      // eslint-disable-next-line no-unsafe-finally
      if (failed) throw failed;
    }
  }
}

/**
 * A tar stream source: a range of a host file or a blob of a registry, maybe compressed. `open()` yields the
 * uncompressed tar bytes from the start (a fresh read each call); `pread` reads the uncompressed bytes by offset when
 * they are not compressed and the bytes are at hand (a host file).
 */
export interface TarSource {
  compression: Compression | null;
  open(opts?: { tap?: (raw: Buffer) => void; signal?: AbortSignal }): AsyncIterable<Buffer>;
  pread: ((pos: number, len: number) => Promise<Buffer>) | null;
}

/**
 * A tar source over raw bytes that `raw()` streams from the start each time it is called. `file`: the raw bytes are
 * this whole local file, which a system decompressor may read itself when nothing taps them.
 */
export function streamSource(
  raw: (signal?: AbortSignal) => Readable,
  compression: Compression | null,
  pread: TarSource['pread'] = null,
  file: string | null = null,
): TarSource {
  return {
    compression,
    open(opts = {}) {
      if (compression && file && !opts.tap) return decompressStream(file, compression, opts.signal);
      const input = raw(opts.signal);
      if (!compression) return tapped(input as AsyncIterable<Buffer>, opts.tap);
      const tap = opts.tap;
      if (tap) input.on('data', (c: Buffer | string) => tap(c as Buffer)); // alongside the pipe into the decompressor
      return decompressStream(input, compression, opts.signal);
    },
    pread,
  };
}

export function tarSource(range: FileRange, compression: Compression | null): TarSource {
  return streamSource(
    () => rangeStream(range),
    compression,
    compression || range.sequential ? null : (pos, len) => readRange(range, pos, len),
    range.whole ? range.file : null,
  );
}

/** The first `bytes` of a compressed range's content, from the system decompressor (stopped once we have them). */
export async function peekDecompressed(range: FileRange, compression: Compression, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of decompressStream(rangeStream(range), compression)) {
      chunks.push(c);
      got += c.length;
      if (got >= bytes) break;
    }
  } catch {
    // a damaged stream: whatever came out before the damage is all there is
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}

/** Compressed bytes read to find a compressed range's head in-process (a head that needs more is not an image's). */
const SNIFF_INPUT = 1024 * 1024;

/**
 * The head of a range's content (decompressed when compressed), and its compression. gzip, xz and zstd are
 * decompressed in-process from the range's first MiB (a folder of 3,000 small .gz logs is looked at in well under a
 * second); bzip2 goes through the system decompressor.
 */
export async function sniffRange(range: FileRange, bytes: number): Promise<{ head: Buffer; compression: Compression | null }> {
  const raw = await readRange(range, 0, Math.max(bytes, 16));
  const compression = compressionOf(raw);
  if (!compression) return { head: raw.subarray(0, bytes), compression };
  if (compression === 'bzip2') return { head: await peekDecompressed(range, compression, bytes), compression };
  const input = raw.length >= Math.min(SNIFF_INPUT, range.length) ? raw : await readRange(range, 0, SNIFF_INPUT);
  return { head: await decompressHead(compression, input, bytes), compression };
}

export async function wholeFile(file: string): Promise<FileRange> {
  if (isRemoteTarget(file)) {
    const info = await remoteInfo(file);
    return { file, start: 0, length: info.size ?? Number.MAX_SAFE_INTEGER, sequential: !info.ranges };
  }
  const st = await fsp.stat(file);
  return { file, start: 0, length: st.size, whole: true };
}
