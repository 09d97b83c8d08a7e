/**
 * Decompress a compressed image to a temporary sparse file, streaming. The system decompressors (xz, zstd, bzip2,
 * gzip) are the fast path; where one is not installed, hostleak decodes gzip (node:zlib), zstd (fzstd) and xz
 * (xz-decompress) itself, so a machine with only Node reads `.raw.zst` and `.tar.xz` too (bzip2 still needs the
 * tool: no maintained pure-JavaScript streaming decoder was found). Runs of zero blocks are skipped (seek instead of write), so a 64 GiB mostly-empty disk image costs
 * only its used blocks. The file is removed by `cleanup()`, and on SIGINT/SIGTERM/exit if we are interrupted.
 *
 * A compressed image is hostile input too: decompression stops when the target's deadline aborts `signal`, and when
 * the real bytes written pass `maxWrite` (default: 80% of the space free on the temp filesystem when it starts), so a
 * data bomb cannot fill the disk.
 */
import { accessSync, constants, createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { Decompress as ZstdStream } from 'fzstd';
import { xzStream } from './codecs.js';
import { currentBudget, mib } from '../budget.js';
import { oneLine, TargetError } from '../errors.js';
import { registerCleanup } from './cleanup.js';
import { defaultWriteLimit, tempDir, tmpBase } from './tmp.js';
import { markOpaqueRead } from './readlog.js';
import type { Compression } from './detect.js';
import { childProcess } from '../lazy.js';
import { isZero } from '../arrays.js';
import type { ChildProcess } from 'node:child_process';

export const TOOLS: Record<Compression, string> = { gzip: 'gzip', xz: 'xz', zstd: 'zstd', bzip2: 'bzip2' };
const BLOCK = 64 * 1024;

export interface Decompressed {
  path: string;
  size: number;
  cleanup(): void;
}

export interface DecompressOptions {
  signal?: AbortSignal;
  /** Directory for the temporary file (default: $HOSTLEAK_TMPDIR or the OS temp dir). */
  tmpDir?: string;
  /** Most real (non-zero) bytes to write; default: 80% of the free space of the temp filesystem. */
  maxWrite?: number;
  /** The compressed bytes, when they do not come from `file` (a remote image's body): its error is the reason. */
  input?: Readable;
}

/** Whether `tool` is an executable on the PATH (checked before spawning: the fallback must be chosen up front). */
export function onPath(tool: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** A zstd stream decoded by fzstd, as a Node transform. */
function zstdTransform(): Transform {
  let decoder: ZstdStream;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        decoder.push(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  // fzstd may hand out views of its window: each chunk is copied before the window moves on.
  decoder = new ZstdStream((chunk) => void t.push(Buffer.from(chunk)));
  return t;
}

/** A system decompressor's process: its output (through dd when it writes in small pieces), its exit and why it failed. */
export interface ToolProcess {
  output: Readable;
  kill(): void;
  /** The tool's exit; when the tool ended well and dd did not, dd's, as an error. */
  exited: Promise<ToolExit>;
  /** What to say of an exit that failed (the tool missing, its first line on stderr), or null when it ended well. */
  failure(exit: ToolExit): TargetError | null;
}

export interface ToolExit {
  code: number | null;
  error?: Error;
}

/**
 * Flags before `-dc`. xz decompresses a file of several blocks on two threads (xz 5.4 and later: the files `xz -T`
 * writes, and every file xz 5.6 writes by default); a file of one block, as before, on one; older xz ignores the flag
 * when decompressing. Two, not one per core: this process needs the other core for the listing, and each thread
 * holds a block (tens of MiB), within xz's own memory limit for threads (past it, xz decompresses on one).
 */
const TOOL_FLAGS: Partial<Record<Compression, string[]>> = { xz: ['-T2'] };

/**
 * A compressed stream its decoder refused (the system tool's first line, or hostleak's own decoder's error): what it
 * said and what to do, the same for every reader of compressed data.
 */
export function cannotDecompress(compression: Compression, why: string): TargetError {
  return new TargetError(
    `cannot decompress (${compression}): ${why}; the file is damaged or cut short: copy or build it again (\`${TOOLS[compression]} -t FILE\` checks a copy)`,
  );
}

/** Debian's package for each tool (the only one whose name differs is xz's). */
const PACKAGES: Record<string, string> = { xz: 'xz-utils' };

/**
 * Start `tool -dc`: on `source`, a local file's path (the tool reads it itself) or the compressed stream (piped to its
 * stdin; a tool that stops reading is not an error here, its exit status says why). Tools that write their output
 * in small pieces (xz 8 KiB, bzip2 5,000 bytes) would wake this process once a piece, about 22,000 times for a 200 MB
 * stream, which cost more CPU than what is done with the bytes: dd between them collects whole MiB before it writes,
 * so reads here come as full 64 KiB chunks (a sixth as many).
 */
export function spawnDecompressor(compression: Compression, source: string | Readable): ToolProcess {
  const tool = TOOLS[compression];
  const file = typeof source === 'string' ? source : null;
  const args = [...(TOOL_FLAGS[compression] ?? []), '-dc', ...(file ? ['--', file] : [])];
  const child = childProcess().spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Before anything reads it (no await in between): dd takes the tool's output and this process lets go of it.
  const dd = SMALL_WRITES.has(compression) && rebuffers() ? childProcess().spawn('dd', DD_ARGS, { stdio: [child.stdout, 'pipe', 'ignore'] }) : null;
  if (dd) child.stdout.destroy();
  child.stdin.on('error', () => undefined);
  if (typeof source === 'string') child.stdin.end();
  else source.pipe(child.stdin);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exit = (p: ChildProcess) =>
    new Promise<ToolExit>((resolve) => {
      p.on('error', (error) => resolve({ code: null, error }));
      p.on('close', (code) => resolve({ code }));
    });
  const toolExit = exit(child);
  const ddExit = dd ? exit(dd) : null;
  return {
    output: dd ? dd.stdout! : child.stdout,
    kill() {
      child.kill('SIGKILL');
      dd?.kill('SIGKILL');
    },
    exited: (async () => {
      const t = await toolExit;
      const d = await ddExit;
      if (t.code !== 0 || t.error || !d || d.code === 0) return t;
      return { code: d.code, error: new Error(`dd stopped (${d.error?.message ?? `exit status ${d.code}`})`) };
    })(),
    failure({ code, error }) {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        return new TargetError(missing ? `cannot decompress: '${tool}' is not installed (install ${PACKAGES[tool] ?? tool})` : `cannot decompress: ${error.message}`);
      }
      if (code === 0) return null;
      // The first line the tool wrote, else its exit status. A tool that read the file itself names it ("xz: FILE:
      // ...", "FILE : ..."), which the error does not repeat: the target is named already.
      let why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit status ${code}`;
      if (file) why = why.replace(`${tool}: `, '').split(`${file}: `).join('').split(`${file} : `).join('');
      return cannotDecompress(compression, why);
    },
  };
}

const SMALL_WRITES: ReadonlySet<Compression> = new Set(['xz', 'bzip2']);
const DD_ARGS = ['bs=1M', 'iflag=fullblock', 'status=none'];
let ddWorks: boolean | null = null;

/** Whether a GNU-compatible dd is here (coreutils, busybox): asked once, with nothing to copy. */
function rebuffers(): boolean {
  ddWorks ??= childProcess().spawnSync('dd', [...DD_ARGS, 'count=0'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return ddWorks;
}

/** hostleak's own decoder for `compression` over `input`; null for bzip2 (the tool is needed). */
export function ownDecoder(input: Readable, compression: Compression): Readable | null {
  if (compression === 'bzip2') return null;
  if (compression === 'xz') return Readable.fromWeb(xzStream(Readable.toWeb(input) as ReadableStream<Uint8Array>) as never);
  // 128 KiB output chunks: a tar reader's per-chunk work stays small against the bytes (zlib's default is 16 KiB).
  return pipeline(input, compression === 'gzip' ? createGunzip({ chunkSize: 128 * 1024, readableHighWaterMark: 1024 * 1024 } as ZlibOptions) : zstdTransform(), () => undefined);
}

export { defaultWriteLimit };

/** Why the decompression was stopped before the stream ended. */
class Stop extends TargetError {}

export async function decompressToTemp(
  file: string,
  compression: Compression,
  opts: DecompressOptions = {},
): Promise<Decompressed> {
  // The decompressor reads the file itself: under --cache its digest is the whole file's (src/image/readlog.ts).
  markOpaqueRead(file, 'decompressed');
  const base = opts.tmpDir ?? tmpBase();
  const { dir, cleanup: release } = tempDir(base);
  const out = path.join(dir, 'image.raw');
  // The target's budget: one write cap for everything the target writes (its other members, copy-outs).
  const budget = currentBudget();
  const maxWrite = opts.maxWrite ?? (budget ? Infinity : defaultWriteLimit(base));
  let written = 0;
  let stopped: TargetError | null = null;
  let fh: fsp.FileHandle | null = null;
  try {
    fh = await fsp.open(out, 'w', 0o600);
    const tool = TOOLS[compression];
    // The system tool where there is one (the fast path); hostleak's own decoder otherwise.
    const input = opts.input;
    const own = onPath(tool) ? null : ownDecoder(input ?? createReadStream(path.resolve(file), { highWaterMark: 1024 * 1024 }), compression);
    const proc = own ? null : spawnDecompressor(compression, input ?? path.resolve(file));
    const output = (own ?? proc!.output) as Readable;
    const killChild = () => {
      proc?.kill();
      output.destroy();
      input?.destroy();
    };
    // A failing input (a connection dropped mid-body) is the reason, not what the decompressor says of a cut stream.
    let inputFailure: unknown = null;
    input?.on('error', (err) => {
      inputFailure ??= err;
      killChild();
    });
    const releaseChild = registerCleanup(killChild);
    opts.signal?.addEventListener('abort', killChild, { once: true });
    const exited = proc ? proc.exited : Promise.resolve<ToolExit>({ code: 0 });
    let pos = 0;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async (final: boolean) => {
      if (pendingLen === 0) return;
      const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      const usable = final ? buf.length : buf.length - (buf.length % BLOCK);
      for (let off = 0; off < usable; off += BLOCK) {
        const end = Math.min(off + BLOCK, usable);
        if (isZero(buf, off, end)) continue;
        try {
          if (written + (end - off) > maxWrite) {
            throw new Stop(
              `decompressed data passes the limit of ${mib(maxWrite)} written to the temp directory (--max-decompressed; default 80% of its free space)`,
            );
          }
          budget?.chargeWrite(end - off);
        } catch (err) {
          stopped = err as TargetError;
          killChild();
          return;
        }
        written += end - off;
        await fh!.write(buf, off, end - off, pos + off);
      }
      pos += usable;
      const rest = buf.subarray(usable);
      pending = rest.length > 0 ? [rest] : [];
      pendingLen = rest.length;
    };
    let finished = false;
    let failure: unknown = null;
    try {
      for await (const chunk of output as AsyncIterable<Buffer>) {
        if (opts.signal?.aborted || stopped) break;
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= 16 * BLOCK) await flush(false);
      }
      if (!opts.signal?.aborted && !stopped) await flush(true);
      finished = !opts.signal?.aborted && !stopped;
    } catch (err) {
      // A destroyed stdout (killed on abort or at the limit) ends the loop with an error; the reason is below.
      if (!opts.signal?.aborted && !stopped) {
        const code = (err as NodeJS.ErrnoException).code;
        failure =
          code === 'ENOSPC' || code === 'EDQUOT'
            ? new TargetError(`the temp directory filled up while decompressing (${mib(written)} written; set HOSTLEAK_TMPDIR or --max-decompressed)`)
            : own
              ? cannotDecompress(compression, oneLine(err))
              : err;
      }
    } finally {
      if (!finished) killChild();
      const exit = await exited;
      releaseChild();
      opts.signal?.removeEventListener('abort', killChild);
      // eslint-disable-next-line no-unsafe-finally
      if (inputFailure && !opts.signal?.aborted) throw inputFailure;
      // eslint-disable-next-line no-unsafe-finally
      if (failure) throw failure;
      if (stopped) {
        // eslint-disable-next-line no-unsafe-finally
        throw stopped;
      }
      if (opts.signal?.aborted) {
        const reason: unknown = opts.signal.reason;
        // eslint-disable-next-line no-unsafe-finally
        throw reason instanceof TargetError ? new TargetError(`while decompressing: ${reason.message}`) : new TargetError('decompression interrupted');
      }
      const failed = proc?.failure(exit);
      // eslint-disable-next-line no-unsafe-finally
      if (failed) throw failed;
    }
    await fh.truncate(pos);
    await fh.close();
    fh = null;
    if (pos === 0) throw cannotDecompress(compression, 'empty output');
    return { path: out, size: pos, cleanup: release };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    release();
    throw err;
  }
}
