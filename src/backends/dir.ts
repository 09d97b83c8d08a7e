/**
 * The `dir` backend: a directory on the host that is a root tree (an extracted rootfs, a guestmount mountpoint).
 *
 * Listing uses lstat only; symlinks are read with readlink and never followed. Reading a file re-checks on the host
 * that no component of its path is a symlink (O_NOFOLLOW on the file, realpath on its directory), so a tree that
 * changes under us still cannot make us read outside it.
 */
import { constants as C, lstatSync, promises as fsp, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { walkHost } from '../hostwalk.js';
import { Inventory, parentOf } from '../inventory.js';
import type { Entry, EntryType } from '../types.js';
import { openFailure, TargetError } from '../errors.js';
import type { Backend, FileContent, OpenedImage } from './backend.js';

export function entryTypeOf(st: Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

function toEntry(p: string, st: Stats, fsName: string, target?: string): Entry {
  const e: Entry = {
    path: p,
    type: entryTypeOf(st),
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtime: Math.floor(st.mtimeMs / 1000),
    fs: fsName,
  };
  if (target !== undefined) e.target = target;
  return e;
}

export interface HostTree {
  inventory: Inventory;
  problems: string[];
  /** The host path (bytes) of each entry whose name is not UTF-8 (its inventory path cannot give it back). */
  rawPaths: Map<string, Buffer>;
}

export async function listTree(root: string, fsName: string): Promise<HostTree> {
  const problems: string[] = [];
  const inventory = new Inventory();
  const rawPaths = new Map<string, Buffer>();
  inventory.add(toEntry('/', await fsp.lstat(root), fsName));
  const skipped = new Set<string>();
  const walk = walkHost(root, {
    descend: (e) => !skipped.has(e.rel),
    onError: (rel, err) => problems.push(`/${rel}: cannot list (${err.code ?? err.message})`),
  });
  for await (const item of walk) {
    const p = '/' + item.rel;
    let st: Stats;
    let target: string | undefined;
    try {
      st = lstatSync(item.host);
      if (st.isSymbolicLink()) target = readlinkSync(item.host, 'utf8');
    } catch (err) {
      problems.push(`${p}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
      skipped.add(item.rel);
      continue;
    }
    if (inventory.has(p)) {
      // Two names that are not UTF-8 and read the same: the second cannot be told apart in any report.
      problems.push(`${p}: two names in one directory read the same (not UTF-8); the second was not audited`);
      skipped.add(item.rel);
      continue;
    }
    if (!item.exact) rawPaths.set(p, item.host);
    inventory.add(toEntry(p, st, fsName, target));
  }
  return { inventory, problems, rawPaths };
}

async function readOne(realRoot: string, p: string, raw: Buffer | undefined, maxBytes: number): Promise<FileContent> {
  const host = raw ?? Buffer.from(path.join(realRoot, p));
  // The file's directory must be where the listing found it: no component of the path may have become a symlink.
  const slash = host.lastIndexOf(0x2f);
  const dirBytes = slash <= 0 ? Buffer.from('/') : host.subarray(0, slash);
  const dir = await fsp.realpath(dirBytes, { encoding: 'buffer' });
  if (!dir.equals(dirBytes)) throw new Error(`refusing to read ${p}: a component is not a plain directory`);
  const fh = await fsp.open(host, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${p} is not a regular file`);
    const want = Math.min(st.size, maxBytes);
    const data = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(data, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { data: data.subarray(0, got), size: st.size, truncated: st.size > got };
  } finally {
    await fh.close();
  }
}

export const dirBackend: Backend = {
  name: 'dir',
  async open(target: string): Promise<OpenedImage> {
    let realRoot: string;
    try {
      realRoot = await fsp.realpath(target);
      const st = await fsp.stat(realRoot);
      if (!st.isDirectory()) throw new TargetError('not a directory');
    } catch (err) {
      throw openFailure(target, err);
    }
    const { inventory, problems, rawPaths } = await listTree(realRoot, 'dir');
    return {
      backend: 'dir',
      filesystems: [{ device: 'dir', type: 'dir', label: null, mountpoint: '/' }],
      roots: [
        {
          prefix: null,
          inventory,
          async readFiles(paths, maxBytes) {
            const out = new Map<string, FileContent | Error>();
            await Promise.all(
              paths.map(async (p) => {
                try {
                  out.set(p, await readOne(realRoot, p, rawPaths.get(p), maxBytes));
                } catch (err) {
                  out.set(p, err as Error);
                }
              }),
            );
            return out;
          },
        },
      ],
      problems,
      async close() {},
    };
  },
};
