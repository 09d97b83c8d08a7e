/**
 * Expand what the user named into targets: globs with fast-glob, and with --recursive, directories walked (src/hostwalk.ts) for
 * files that are disk or filesystem images by their magic bytes (not their names).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fastGlob, isDynamicPattern } from '../lazy.js';
import { pushAll } from '../arrays.js';
import { walkHost } from '../hostwalk.js';
import { isRegistryReference, isRemoteTarget } from '../remote/reference.js';

export interface ExpandOptions {
  recursive: boolean;
  /** Whether a file is an image, by content. */
  isImage: (file: string) => Promise<boolean>;
  /** Whether a folder is one container image (an OCI layout, a docker-dir): one target, its blobs never targets. */
  isImageFolder?: (dir: string) => Promise<boolean>;
  verbose?: (msg: string) => void;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every image under `dir`, by content. Hidden files count (an image is an image whatever its name). A symlink to a
 * regular file is audited under the link's name (a directory of `result-*` links is a store too); symlinked
 * directories are not descended (no loops, no walking out of the store), and devices, FIFOs and sockets are never
 * opened. Whatever is skipped is named in --verbose.
 */
async function imagesUnder(dir: string, opts: ExpandOptions): Promise<string[]> {
  const out: string[] = [];
  // A container image folder is one target: its layer blobs are tars that mean nothing alone (no config, no
  // whiteouts applied), so it is not descended.
  const folders = new Set<string>();
  const walk = walkHost(dir, {
    descend: (e) => !folders.has(e.rel),
    onError: (rel, err) => opts.verbose?.(`skipping ${path.join(dir, rel)}: cannot list (${err.code ?? err.message})`),
  });
  for await (const e of walk) {
    // A name that is not UTF-8 has no string path: it stays a target under the name it reads as, and its audit
    // fails with the reason (exit 3), so it does not vanish from the report.
    const full = path.join(dir, e.rel);
    if (e.dirent.isDirectory()) {
      if (e.exact && (await opts.isImageFolder?.(full))) {
        out.push(full);
        folders.add(e.rel);
      }
      continue;
    }
    let regular = e.dirent.isFile();
    if (e.dirent.isSymbolicLink()) {
      const st = await fsp.stat(e.host).catch(() => null);
      if (!st?.isFile()) {
        opts.verbose?.(`skipping ${full}: symlink to ${st ? (st.isDirectory() ? 'a directory' : 'a special file') : 'nothing'}`);
        continue;
      }
      regular = true;
    }
    if (!regular) opts.verbose?.(`skipping ${full}: not a regular file`);
    else if (!e.exact) out.push(full);
    else if (await opts.isImage(full)) out.push(full);
    // Named like an image but not recognised: a corrupt image must not vanish from a store's report. It is a target,
    // and its audit fails with the reason (exit 3).
    else if (IMAGE_NAME.test(e.rel)) out.push(full);
    else opts.verbose?.(`skipping ${full}: not a disk or filesystem image`);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** File names that say "disk image" (and their compressed forms). */
export const IMAGE_NAME = /\.(?:img|raw|qcow2?|vmdk|vhdx?|vdi|iso|ova)(?:\.(?:gz|xz|zst|zstd|bz2))?$/i;

export async function expandTargets(args: string[], opts: ExpandOptions): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    // A URL (its `?` and `*` are not globs) or an image in a registry (`[::1]` in it is no glob) is one target as it is.
    if (isRemoteTarget(arg) || isRegistryReference(arg)) out.push(arg);
    else if (isDynamicPattern(arg)) {
      const matches = (await fastGlob()(arg, { onlyFiles: false, followSymbolicLinks: false, suppressErrors: true })).sort();
      if (matches.length === 0) out.push(arg); // reported as a missing target
      for (const m of matches) {
        if (opts.recursive && (await isDir(m))) pushAll(out, await imagesUnder(m, opts));
        else out.push(m);
      }
    } else if (opts.recursive && (await isDir(arg))) {
      pushAll(out, await imagesUnder(arg, opts));
    } else out.push(arg);
  }
  return [...new Set(out)];
}
