/**
 * Decompress a compressed image to a temporary sparse file, streaming, with the system decompressors (xz, zstd,
 * bzip2, gzip). Runs of zero blocks are skipped (seek instead of write), so a 64 GiB mostly-empty disk image costs
 * only its used blocks. The file is removed by `cleanup()`, and on SIGINT/SIGTERM/exit if we are interrupted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TargetError } from '../errors.js';
import { registerCleanup } from './cleanup.js';
import type { Compression } from './detect.js';

const TOOLS: Record<Compression, string> = { gzip: 'gzip', xz: 'xz', zstd: 'zstd', bzip2: 'bzip2' };
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
}

function isZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

export async function decompressToTemp(
  file: string,
  compression: Compression,
  opts: DecompressOptions = {},
): Promise<Decompressed> {
  const base = opts.tmpDir ?? process.env.HOSTLEAK_TMPDIR ?? os.tmpdir();
  const dir = mkdtempSync(path.join(base, 'hostleak-'));
  const release = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'image.raw');
  let fh: fsp.FileHandle | null = null;
  try {
    fh = await fsp.open(out, 'w', 0o600);
    const tool = TOOLS[compression];
    const child = spawn(tool, ['-dc', '--', path.resolve(file)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killChild = () => child.kill('SIGKILL');
    const releaseChild = registerCleanup(killChild);
    opts.signal?.addEventListener('abort', killChild, { once: true });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, error }));
      child.on('close', (code) => resolve({ code }));
    });
    let pos = 0;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async (final: boolean) => {
      if (pendingLen === 0) return;
      const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      const usable = final ? buf.length : buf.length - (buf.length % BLOCK);
      for (let off = 0; off < usable; off += BLOCK) {
        const end = Math.min(off + BLOCK, usable);
        if (!isZero(buf, off, end)) await fh!.write(buf, off, end - off, pos + off);
      }
      pos += usable;
      const rest = buf.subarray(usable);
      pending = rest.length > 0 ? [rest] : [];
      pendingLen = rest.length;
    };
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= 16 * BLOCK) await flush(false);
      }
      await flush(true);
    } finally {
      const { code, error } = await exited;
      releaseChild();
      opts.signal?.removeEventListener('abort', killChild);
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        // eslint-disable-next-line no-unsafe-finally
        throw new TargetError(missing ? `cannot decompress: '${tool}' is not installed` : `cannot decompress: ${error.message}`);
      }
      if (opts.signal?.aborted) {
        // eslint-disable-next-line no-unsafe-finally
        throw new TargetError('decompression interrupted');
      }
      if (code !== 0) {
        const why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit status ${code}`;
        // eslint-disable-next-line no-unsafe-finally
        throw new TargetError(`cannot decompress (${compression}): ${why}`);
      }
    }
    await fh.truncate(pos);
    await fh.close();
    fh = null;
    if (pos === 0) throw new TargetError(`cannot decompress (${compression}): empty output`);
    return { path: out, size: pos, cleanup: release };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    release();
    throw err;
  }
}
