/**
 * Turn a target file into something a backend can open: detect its format, decompress it to a temporary sparse
 * file when compressed, refuse host backing files, and catch truncated raw images early.
 * Backend-neutral: used by the guestfs and native backends.
 */
import { TargetError } from '../errors.js';
import { checkBackingFiles, type HostReference } from './backing.js';
import { checkRawExtent, detectFormat, type Compression, type Container, type RawLayout } from './detect.js';

export interface PrepareOptions {
  allowBackingFile?: boolean;
  signal?: AbortSignal;
  verbose?: (msg: string) => void;
  tmpDir?: string;
  /** Most real (non-zero) bytes a decompression may write. */
  maxWrite?: number;
}

export interface PreparedImage {
  /** The file to open (the target itself, or a temporary decompressed copy). */
  path: string;
  container: Container;
  layout: RawLayout | null;
  compression: Compression | null;
  /** One-line description, e.g. `zstd-compressed raw disk (GPT)`. */
  description: string;
  /** Host files the image references (only non-empty with allowBackingFile). */
  hostReferences: HostReference[];
  /** Remove temporary files. Idempotent. */
  cleanup(): void;
}

export async function prepareImage(target: string, opts: PrepareOptions = {}): Promise<PreparedImage> {
  let fmt = await detectFormat(target);
  let file = target;
  let compression: Compression | null = null;
  let cleanup = () => {};
  try {
    if (fmt.kind === 'compressed') {
      compression = fmt.compression;
      const started = Date.now();
      // The decompressors load only for a compressed target (`import()`: a lazy init in the CLI's bundle).
      const { decompressToTemp } = await import('./decompress.js');
      const d = await decompressToTemp(target, fmt.compression, { signal: opts.signal, tmpDir: opts.tmpDir, maxWrite: opts.maxWrite });
      cleanup = d.cleanup;
      file = d.path;
      opts.verbose?.(`decompressed ${fmt.compression} to ${d.path} (${d.size} bytes) in ${Date.now() - started} ms`);
      fmt = await detectFormat(file).catch((err: unknown) => {
        throw err instanceof TargetError ? new TargetError(`inside the ${compression} stream: ${err.message}`) : err;
      });
      if (fmt.kind === 'compressed') throw new TargetError(`doubly compressed image (${compression} inside ${fmt.compression})`);
    }
    const refs = await checkBackingFiles(file, fmt.container, opts.allowBackingFile ?? false);
    for (const r of refs) opts.verbose?.(`allowed ${r.kind} ${r.path}`);
    if (fmt.container === 'raw') {
      const cut = await checkRawExtent(file, fmt.layout);
      if (cut) throw new TargetError(cut);
    }
    const description = compression ? `${compression}-compressed ${fmt.description}` : fmt.description;
    opts.verbose?.(description);
    return {
      path: file,
      container: fmt.container,
      layout: fmt.layout,
      compression,
      description,
      hostReferences: refs,
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Prepare a target, hand it to `open`, and clean up the prepared copy if opening fails (on success, close() does). */
export async function withPreparedImage<T>(
  target: string,
  opts: PrepareOptions,
  open: (prepared: PreparedImage) => Promise<T>,
): Promise<T> {
  const prepared = await prepareImage(target, opts);
  try {
    return await open(prepared);
  } catch (err) {
    prepared.cleanup();
    throw err;
  }
}
