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
 * - lzo: LZO1X (the format btrfs and squashfs store), decoded here: no maintained pure-JavaScript decoder exists;
 *   it is the kernel's lzo1x_decompress_safe, every input read, look-behind and output write bounds-checked.
 * - xz: xz-decompress, xz-embedded compiled to WebAssembly (14 KB, no native build, maintained by httptoolkit).
 *   Asynchronous only (a web stream), so xz blocks are decoded through `decompressAsync`.
 */
import { createGunzip, inflateSync } from 'node:zlib';
import { Decompress as ZstdDecompress, decompress as zstdDecompress } from 'fzstd';
import { lz4js, xzModule } from '../lazy.js';
import { CorruptImageError, UnsupportedImageError } from '../errors.js';
import { xzFilterPlan, type XzFilterPlan } from './xz-filters.js';

export type Codec = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzo';

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
        // Partial: the frames are followed by padding (btrfs stores a frame in whole sectors).
        const frames = zstdFrames(input);
        const data = partial ? input.subarray(0, frames.length) : input;
        // fzstd decodes about 7x faster into buffers it sizes itself than into a given one (1 MiB squashfs blocks:
        // 12 against 82 ms), but sizes them from the frame headers: only when every frame declares its size, and
        // the sizes fit, is it let to. Frames that declare more than asked are damage (into a given buffer fzstd
        // would cut them at its end without a word).
        const declared = data.length === frames.length ? frames.declared : null;
        if (declared !== null && declared > maxOut) throw new CorruptImageError(`corrupt zstd block (${declared} bytes declared, at most ${maxOut} expected)`);
        out = declared !== null ? zstdDecompress(data) : zstdDecompress(data, new Uint8Array(maxOut));
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
    case 'lzo':
      return lzo1x(input, maxOut, exact);
    default:
      throw new UnsupportedImageError(`${codec} blocks need asynchronous decoding`);
  }
}

/**
 * The zstd frames at the start of `input` (RFC 8878 3.1), walked by their frame and block headers without decoding:
 * the bytes they take (skippable frames included; padding after them left out) and the decompressed size they
 * declare, null when a frame does not declare it. A frame cut short or a reserved block type is corrupt.
 */
export function zstdFrames(input: Buffer): { length: number; declared: number | null } {
  let p = 0;
  let declared: number | null = 0;
  while (p + 8 <= input.length) {
    const magic = input.readUInt32LE(p);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      p += 8 + input.readUInt32LE(p + 4);
      if (p > input.length) throw new CorruptImageError('corrupt zstd block (frame cut short)');
      continue;
    }
    if (magic !== 0xfd2fb528) break;
    const fhd = input[p + 4]!;
    const single = (fhd >> 5) & 1;
    const fcs = fhd >> 6;
    const sizeBytes = fcs === 0 ? single : [0, 2, 4, 8][fcs]!;
    p += 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
    if (p + sizeBytes > input.length) throw new CorruptImageError('corrupt zstd block (frame cut short)');
    let size = 0;
    for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + input[p + i]!;
    if (fcs === 1) size += 256;
    declared = declared === null || sizeBytes === 0 || !Number.isSafeInteger(size) ? null : declared + size;
    p += sizeBytes;
    for (;;) {
      if (p + 3 > input.length) throw new CorruptImageError('corrupt zstd block (frame cut short)');
      const h = input.readUIntLE(p, 3);
      const type = (h >> 1) & 3;
      if (type === 3) throw new CorruptImageError('corrupt zstd block (reserved block type)');
      p += 3 + (type === 1 ? 1 : h >> 3);
      if (h & 1) break;
    }
    if ((fhd >> 2) & 1) p += 4;
    if (p > input.length) throw new CorruptImageError('corrupt zstd block (frame cut short)');
  }
  return { length: p, declared };
}

/**
 * LZO1X: the kernel's lzo1x_decompress_safe (lib/lzo/lzo1x_decompress_safe.c), without its lzo-rle extension.
 * Literal runs and back references are checked against the input, the output so far and `maxOut`.
 */
function lzo1x(input: Buffer, maxOut: number, exact: boolean): Buffer {
  const out = Buffer.alloc(maxOut);
  const n = input.length;
  let ip = 0;
  let op = 0;
  const bad = (why: string): never => {
    throw new CorruptImageError(`corrupt lzo block (${why})`);
  };
  const byte = (): number => (ip < n ? input[ip++]! : bad('input overrun'));
  /** A run length continued in zero bytes (255 each) and a final byte. */
  const extended = (base: number): number => {
    let t = base;
    while (ip < n && input[ip] === 0) {
      t += 255;
      ip++;
      if (t > maxOut + 255) bad('run longer than the output');
    }
    return t + byte();
  };
  const literals = (t: number): void => {
    if (ip + t > n) bad('input overrun');
    if (op + t > maxOut) bad(`more than ${maxOut} bytes decompressed`);
    input.copy(out, op, ip, ip + t);
    ip += t;
    op += t;
  };
  const match = (dist: number, t: number): void => {
    const from = op - dist;
    if (from < 0) bad('look-behind overrun');
    if (op + t > maxOut) bad(`more than ${maxOut} bytes decompressed`);
    for (let i = 0; i < t; i++) out[op + i] = out[from + i]!;
    op += t;
  };
  let state = 0;
  let t: number;
  let next: number;
  if (n > 0 && input[0]! > 17) {
    t = byte() - 17;
    if (t < 4) {
      literals(t);
      state = t;
    } else {
      literals(t);
      state = 4;
    }
  }
  for (;;) {
    t = byte();
    if (t < 16) {
      if (state === 0) {
        if (t === 0) t = extended(15);
        literals(t + 3);
        state = 4;
        continue;
      }
      next = t & 3;
      if (state !== 4) {
        match(1 + (t >> 2) + (byte() << 2), 2);
      } else {
        match(1 + 0x800 + (t >> 2) + (byte() << 2), 3);
      }
    } else if (t >= 64) {
      next = t & 3;
      match(1 + ((t >> 2) & 7) + (byte() << 3), (t >> 5) + 1);
    } else if (t >= 32) {
      t = (t & 31) + 2;
      if (t === 2) t = extended(31 + 2);
      if (ip + 2 > n) bad('input overrun');
      const v = input.readUInt16LE(ip);
      ip += 2;
      next = v & 3;
      match(1 + (v >> 2), t);
    } else {
      let dist = (t & 8) << 11;
      t = (t & 7) + 2;
      if (t === 2) t = extended(7 + 2);
      if (ip + 2 > n) bad('input overrun');
      const v = input.readUInt16LE(ip);
      ip += 2;
      next = v & 3;
      dist += v >> 2;
      if (dist === 0) {
        // The end marker: a match of length 3 at distance 0x4000.
        if (t !== 3) bad('bad end marker');
        break;
      }
      match(dist + 0x4000, t);
    }
    literals(next);
    state = next;
  }
  if (exact && op !== maxOut) bad(`${op} bytes decompressed, ${maxOut} expected`);
  return out.subarray(0, op);
}

type XzStreamCtor = new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
let xzCtor: XzStreamCtor | null = null;

/** xz-decompress's decoder over a stream of xz bytes (loaded on first use, like the other decoders). */
export function xzStream(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  if (!xzCtor) {
    const mod = xzModule();
    xzCtor = mod.XzReadableStream ?? mod.default!.XzReadableStream;
  }
  return new xzCtor(input);
}

/** An xz stream (a filesystem's block), its filters before LZMA2 (BCJ, Delta) undone here (src/image/xz-filters.ts). */
async function xzDecompress(input: Buffer, maxOut: number): Promise<Buffer> {
  let plan: XzFilterPlan | null;
  try {
    plan = xzFilterPlan(input);
  } catch (err) {
    if (err instanceof UnsupportedImageError) throw err;
    fail('xz', err);
  }
  if (!plan) return xzLzma2(input, maxOut);
  return plan.finish(await xzLzma2(plan.stream, maxOut));
}

async function xzLzma2(input: Buffer, maxOut: number): Promise<Buffer> {
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
      // The decoder hands out chunks it made for us (copies of its output buffer): kept as they are.
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    }
  } catch (err) {
    fail('xz', err);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
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
      const d = new ZstdDecompress((c) => take(c));
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
