/**
 * Block decompressors for the compressed native filesystems (squashfs, erofs, zisofs, qcow2 clusters) and the xz
 * stream of image decompression: a leaf under both. Each block decoder decodes one independently compressed block whose decompressed size is known or bounded, and fails with a CorruptImageError (never more
 * output than asked for, never a stack trace) on damaged input.
 *
 * Decoders (chosen for the native readers; see the commit that added them):
 * - gzip/zlib: node:zlib (built in).
 * - zstd: fzstd, pure JavaScript, synchronous, ~8 KB minified, no dependencies (the author of fflate).
 * - lz4: lz4js's raw block decoder, pure JavaScript, synchronous, tiny; the LZ4 block format is frozen. Its
 *   decoder does not check bounds, so input and output are exact-size views and the result length is verified.
 * - xz: xz-decompress, xz-embedded compiled to WebAssembly (14 KB, no native build, maintained by httptoolkit).
 *   Asynchronous only (a web stream), so xz blocks are decoded through `decompressAsync`.
 */
import { createRequire } from 'node:module';
import { createGunzip, inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { lz4js } from '../lazy.js';
import { CorruptImageError, UnsupportedImageError } from '../errors.js';

export type Codec = 'gzip' | 'xz' | 'zstd' | 'lz4';

function fail(codec: string, err: unknown): never {
  if (err instanceof CorruptImageError) throw err;
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  throw new CorruptImageError(`corrupt ${codec} block (${msg})`);
}

function checkSize(codec: string, out: Uint8Array, maxOut: number, exact: boolean): Buffer {
  if (out.length > maxOut || (exact && out.length !== maxOut)) {
    throw new CorruptImageError(`corrupt ${codec} block (${out.length} bytes decompressed, ${exact ? '' : 'at most '}${maxOut} expected)`);
  }
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

/** Whether `codec` decodes synchronously (a file of such a filesystem can be a random-access source). */
export function isSyncCodec(codec: Codec): boolean {
  return codec !== 'xz';
}

/**
 * Decode one block to at most `maxOut` bytes (exactly `maxOut` when `exact`). Synchronous codecs only.
 */
export function decompressSync(codec: Codec, input: Buffer, maxOut: number, exact = false, partial = false): Buffer {
  switch (codec) {
    case 'gzip': {
      let out: Buffer;
      try {
        out = inflateSync(input, { maxOutputLength: Math.max(1, maxOut) });
      } catch (err) {
        fail('gzip', err);
      }
      return checkSize('gzip', out, maxOut, exact);
    }
    case 'zstd': {
      let out: Uint8Array;
      try {
        out = zstdDecompress(input, new Uint8Array(maxOut));
      } catch (err) {
        fail('zstd', err);
      }
      return checkSize('zstd', out, maxOut, exact);
    }
    case 'lz4': {
      const dst = Buffer.alloc(maxOut);
      let end: number;
      try {
        end = lz4js().decompressBlock(input, dst, 0, input.length, 0);
      } catch (err) {
        fail('lz4', err);
      }
      // Partial: the input is followed by unrelated bytes (erofs without zero padding); the first maxOut count.
      if (partial && Number.isInteger(end) && end >= maxOut) return dst;
      if (!Number.isInteger(end) || end < 0 || end > maxOut || (exact && end !== maxOut)) {
        throw new CorruptImageError(`corrupt lz4 block (decoded ${end} bytes, ${exact ? '' : 'at most '}${maxOut} expected)`);
      }
      return dst.subarray(0, end);
    }
    default:
      throw new UnsupportedImageError(`${codec} blocks need asynchronous decoding`);
  }
}

type XzStreamCtor = new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
let xzCtor: XzStreamCtor | null = null;

/** xz-decompress's decoder over a stream of xz bytes (loaded on first use, like the other decoders). */
export function xzStream(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  if (!xzCtor) {
    const mod = createRequire(import.meta.url)('xz-decompress') as { XzReadableStream?: XzStreamCtor; default?: { XzReadableStream: XzStreamCtor } };
    xzCtor = mod.XzReadableStream ?? mod.default!.XzReadableStream;
  }
  return new xzCtor(input);
}

async function xzDecompress(input: Buffer, maxOut: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    const stream = xzStream(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(input.buffer, input.byteOffset, input.length));
          c.close();
        },
      }),
    );
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      n += chunk.length;
      if (n > maxOut) throw new CorruptImageError(`corrupt xz block (more than ${maxOut} bytes decompressed)`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    fail('xz', err);
  }
  return Buffer.concat(chunks, n);
}

/** Decode one block (any codec). */
export async function decompressAsync(codec: Codec, input: Buffer, maxOut: number, exact = false): Promise<Buffer> {
  if (codec !== 'xz') return decompressSync(codec, input, maxOut, exact);
  const out = await xzDecompress(input, maxOut);
  return checkSize('xz', out, maxOut, exact);
}

/**
 * The first `bytes` of what `input` (the start of a gzip, xz or zstd stream) decompresses to, in-process: fed in
 * small slices and stopped once enough came out, so a bomb's head costs no more than a few MiB. A stream that is
 * damaged or cut gives what came out before that.
 */
export async function decompressHead(codec: 'gzip' | 'xz' | 'zstd', input: Buffer, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const take = (c: Uint8Array) => {
    if (n >= bytes) return;
    chunks.push(Buffer.from(c.buffer, c.byteOffset, Math.min(c.length, bytes - n)));
    n += Math.min(c.length, bytes - n);
  };
  try {
    if (codec === 'zstd') {
      const { Decompress } = await import('fzstd');
      const d = new Decompress((c) => take(c));
      // 512 bytes hold at most ~128 RLE blocks of 128 KiB: the most one slice can make.
      for (let i = 0; i < input.length && n < bytes; i += 512) d.push(input.subarray(i, i + 512), false);
    } else if (codec === 'gzip') {
      const z = createGunzip();
      z.on('data', (c: Buffer) => take(c));
      let over = false;
      const done = new Promise<void>((resolve) => {
        const end = () => {
          over = true;
          resolve();
        };
        z.on('error', end);
        z.on('close', end);
      });
      // A write whose data zlib refused never calls back: each one races the stream's end, or a damaged stream
      // leaves this promise unsettled with nothing left to run (the process exits 13 with no report).
      for (let i = 0; i < input.length && n < bytes && !over; i += 4096) {
        await Promise.race([new Promise<void>((resolve) => z.write(input.subarray(i, i + 4096), () => resolve())), done]);
      }
      z.destroy();
      await done;
    } else {
      const stream = xzStream(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new Uint8Array(input.buffer, input.byteOffset, input.length));
            c.close();
          },
        }),
      );
      const reader = stream.getReader();
      while (n < bytes) {
        const r = await reader.read();
        if (r.done) break;
        take(r.value);
      }
      await reader.cancel().catch(() => undefined);
    }
  } catch {
    // damaged or cut: what came out so far is the head
  }
  return Buffer.concat(chunks, n);
}
