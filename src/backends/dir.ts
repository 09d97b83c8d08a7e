/**
 * The `dir` backend: a directory on the host that is a root tree (an extracted rootfs, a guestmount mountpoint).
 *
 * Listing uses lstat only; symlinks are read with readlink and never followed. Reading a file re-checks on the host
 * that no component of its path is a symlink (O_NOFOLLOW on the file, realpath on its directory), so a tree that
 * changes under us still cannot make us read outside it.
 */
import { constants as C, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type fg from 'fast-glob';
import { fastGlob } from '../lazy.js';
import { Inventory, parentOf } from '../inventory.js';
import type { Entry, EntryType } from '../types.js';
import { TargetError } from '../errors.js';
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

export async function listTree(root: string, fsName: string): Promise<{ inventory: Inventory; problems: string[] }> {
  const problems: string[] = [];
  const inventory = new Inventory();
  inventory.add(toEntry('/', await fsp.lstat(root), fsName));
  const stream = fastGlob().stream('**', {
    cwd: root,
    dot: true,
    onlyFiles: false,
    followSymbolicLinks: false,
    stats: true,
    unique: false,
    suppressErrors: true,
    errorHandler: (err: NodeJS.ErrnoException) => {
      problems.push(`${err.path ?? root}: ${err.code ?? err.message}`);
      return true;
    },
  } as fg.Options);
  const links: Entry[] = [];
  for await (const item of stream as AsyncIterable<fg.Entry>) {
    const st = item.stats as Stats;
    const e = toEntry('/' + item.path, st, fsName);
    if (e.type === 'symlink') links.push(e);
    inventory.add(e);
  }
  await Promise.all(
    links.map(async (e) => {
      try {
        e.target = await fsp.readlink(path.join(root, e.path));
      } catch (err) {
        e.target = '';
        problems.push(`${e.path}: cannot read symlink (${(err as NodeJS.ErrnoException).code ?? err})`);
      }
    }),
  );
  return { inventory, problems };
}

async function readOne(realRoot: string, p: string, maxBytes: number): Promise<FileContent> {
  const host = path.join(realRoot, p);
  const dir = await fsp.realpath(path.dirname(host));
  // path.join keeps the slash of '/' (a file at the top of the tree): resolve, as realpath does not end in one.
  const expectDir = path.resolve(realRoot, `.${parentOf(p)}`);
  if (dir !== expectDir) throw new Error(`refusing to read ${p}: a component is not a plain directory`);
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
      if (err instanceof TargetError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new TargetError(code === 'ENOENT' ? 'no such file or directory' : `cannot open (${code ?? err})`);
    }
    const { inventory, problems } = await listTree(realRoot, 'dir');
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
                  out.set(p, await readOne(realRoot, p, maxBytes));
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
