/**
 * Expand what the user named into targets: globs with fast-glob, and with --recursive, directories walked for
 * files that are disk or filesystem images by their magic bytes (not their names).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import fg from 'fast-glob';
import { detectBuffer, detectFormat, type DetectedFormat } from '../image/detect.js';

export interface ExpandOptions {
  recursive: boolean;
  /** Whether a file is an image, by content. */
  isImage: (file: string) => Promise<boolean>;
  verbose?: (msg: string) => void;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function imagesUnder(dir: string, opts: ExpandOptions): Promise<string[]> {
  const files = await fg('**/*', { cwd: dir, onlyFiles: true, followSymbolicLinks: false, dot: false, suppressErrors: true });
  files.sort();
  const out: string[] = [];
  for (const f of files) {
    const full = path.join(dir, f);
    if (await opts.isImage(full)) out.push(full);
    else opts.verbose?.(`skipping ${full}: not a disk or filesystem image`);
  }
  return out;
}

export async function expandTargets(args: string[], opts: ExpandOptions): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    if (fg.isDynamicPattern(arg)) {
      const matches = (await fg(arg, { onlyFiles: false, followSymbolicLinks: false, suppressErrors: true })).sort();
      if (matches.length === 0) out.push(arg); // reported as a missing target
      for (const m of matches) {
        if (opts.recursive && (await isDir(m))) out.push(...(await imagesUnder(m, opts)));
        else out.push(m);
      }
    } else if (opts.recursive && (await isDir(arg))) {
      out.push(...(await imagesUnder(arg, opts)));
    } else out.push(arg);
  }
  return [...new Set(out)];
}

/** The first bytes of a compressed file's content, from the system decompressor (stopped as soon as we have them). */
async function peekDecompressed(file: string, tool: string, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const child = spawn(tool, ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let got = 0;
    const done = () => {
      child.kill('SIGKILL');
      resolve(Buffer.concat(chunks).subarray(0, bytes));
    };
    const timer = setTimeout(done, 10_000);
    child.stdout.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= bytes) {
        clearTimeout(timer);
        done();
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).subarray(0, bytes));
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve(Buffer.alloc(0));
    });
  });
}

/** A file is an image when its magic bytes (after decompression, for compressed files) name a known format. */
export async function isImageFile(file: string): Promise<boolean> {
  let f: DetectedFormat;
  try {
    f = await detectFormat(file);
  } catch {
    return false;
  }
  if (f.kind === 'image') return true;
  const head = await peekDecompressed(file, f.compression === 'gzip' ? 'gzip' : f.compression, 0x10100);
  return detectBuffer(head)?.kind === 'image';
}
