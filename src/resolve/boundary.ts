/**
 * The host boundary: every host path a target itself names (the products of a result folder, the lines of
 * `nix-support/hydra-build-products`, the blobs of an OCI layout, the files of a docker folder) is resolved here, and
 * only here, before anything opens it. A named path is relative to the target's folder, its folders are real folders
 * of the target (a symlinked folder inside the target is never followed), and the file it resolves to (realpath) lies
 * inside the target, or inside the Nix store when the target is itself in the store (a `result` link). Whatever fails
 * gets one message whether or not the host path exists, so the check is no file-existence oracle either.
 */
import { lstatSync, promises as fsp, realpathSync } from 'node:fs';
import path from 'node:path';
import { TargetError } from '../errors.js';

/** A path the target names that leads outside it (or nowhere): the target holds no such file. */
export class BoundaryError extends TargetError {
  override name = 'BoundaryError';
}

/** The Nix store (NIX_STORE_DIR, like nix itself). */
export function nixStoreDir(): string {
  return path.resolve(process.env.NIX_STORE_DIR || '/nix/store');
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

export interface Boundary {
  /** The target folder, canonical. */
  readonly real: string;
  /** Folders a named path may resolve into: the target, and the store when the target is in it. */
  readonly allowed: readonly string[];
  /**
   * The canonical host path of `rel` (relative to the target folder), or a BoundaryError: `rel` climbs (`..`), is
   * absolute, goes through a symlinked folder, or resolves outside `allowed` or to nothing.
   */
  resolve(rel: string, what?: string): Promise<string>;
  /** `resolve` that returns null instead of throwing a BoundaryError. */
  tryResolve(rel: string): Promise<string | null>;
}

/** The boundary of a target folder. */
export async function boundaryOf(dir: string): Promise<Boundary> {
  const real = await fsp.realpath(dir);
  const store = nixStoreDir();
  const allowed = inside(real, store) && real !== store ? [real, store] : [real];
  const folders = new Set<string>();
  const resolve = async (rel: string, what = rel): Promise<string> => {
    const shown = what.slice(0, 200);
    const parts = rel.split('/').filter((c) => c !== '' && c !== '.');
    if (rel.startsWith('/') || parts.length === 0 || parts.some((c) => c === '..' || c.includes('\0'))) {
      throw new BoundaryError(`${shown}: not a path inside the target`);
    }
    // Every folder on the way is a real folder of the target: a symlinked folder inside it is not followed. (Sync
    // calls that open nothing: a folder of thousands of products is checked without a thread-pool trip per step.)
    let cur = real;
    for (const c of parts.slice(0, -1)) {
      cur = path.join(cur, c);
      if (folders.has(cur)) continue;
      const st = lstatSync(cur, { throwIfNoEntry: false });
      if (!st?.isDirectory()) throw new BoundaryError(`${shown}: not a file inside the target (${st?.isSymbolicLink() ? 'a symlinked folder is not followed' : 'no such folder'})`);
      folders.add(cur);
    }
    // The file itself may be a link (a store path's product), as long as where it leads is inside.
    const full = path.join(cur, parts[parts.length - 1]!);
    let resolved: string | null = null;
    try {
      resolved = realpathSync.native(full);
    } catch {
      /* read below as "does not resolve" */
    }
    if (!resolved || !allowed.some((a) => inside(resolved, a))) {
      // Missing and outside read the same: the answer says nothing about host files.
      throw new BoundaryError(`${shown}: does not resolve to a file inside the target`);
    }
    return resolved;
  };
  return {
    real,
    allowed,
    resolve,
    async tryResolve(rel) {
      try {
        return await resolve(rel);
      } catch (err) {
        if (err instanceof BoundaryError) return null;
        throw err;
      }
    },
  };
}
