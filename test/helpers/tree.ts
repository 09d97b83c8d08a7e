/** In-memory image roots built from JSON tree fixtures (the same entry shape as images-sample/trees.json). */
import type { FileContent, ImageRoot } from '../../src/types.js';
import { Inventory, parentOf } from '../../src/inventory.js';
import type { Entry, EntryType } from '../../src/types.js';

export interface TreeEntry {
  path: string;
  type?: EntryType;
  mode?: string | number;
  uid?: number;
  gid?: number;
  content?: string;
  contentBase64?: string;
  target?: string;
}

const EPOCH = 1700000000;

/** A minimal NixOS-like base: root and alice exist, /home and /root are there. */
export const BASE_PASSWD =
  'root:x:0:0:System administrator:/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n';
export const BASE_GROUP = 'root:x:0:\nusers:x:100:\n';

export function memoryRoot(tree: TreeEntry[], prefix: string | null = null): ImageRoot & { reads: string[][] } {
  const inventory = new Inventory();
  const contents = new Map<string, Buffer>();
  const add = (t: TreeEntry) => {
    const type: EntryType = t.type ?? (t.target !== undefined ? 'symlink' : t.content !== undefined || t.contentBase64 !== undefined ? 'file' : 'dir');
    const data = t.contentBase64 !== undefined ? Buffer.from(t.contentBase64, 'base64') : Buffer.from(t.content ?? '');
    const mode = typeof t.mode === 'string' ? parseInt(t.mode, 8) : t.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    const e: Entry = {
      path: t.path,
      type,
      mode,
      uid: t.uid ?? 0,
      gid: t.gid ?? 0,
      size: type === 'file' ? data.length : type === 'symlink' ? Buffer.byteLength(t.target ?? '') : 4096,
      mtime: EPOCH,
      fs: 'mem',
    };
    if (type === 'symlink') e.target = t.target ?? '';
    if (type === 'file') contents.set(t.path, data);
    inventory.add(e);
  };
  add({ path: '/', type: 'dir' });
  for (const t of tree) {
    for (let p = parentOf(t.path); p !== '/' && !inventory.has(p); p = parentOf(p)) add({ path: p, type: 'dir' });
    add(t);
  }
  const reads: string[][] = [];
  return {
    prefix,
    inventory,
    reads,
    async readFiles(paths, maxBytes) {
      reads.push([...paths]);
      const out = new Map<string, FileContent | Error>();
      for (const p of paths) {
        const d = contents.get(p);
        if (!d) out.set(p, new Error(`${p}: not a file`));
        else out.set(p, { data: d.subarray(0, maxBytes), size: d.length, truncated: d.length > maxBytes });
      }
      return out;
    },
  };
}

/** A tree with passwd/group for root and alice, plus whatever the test adds. */
export function withAccounts(tree: TreeEntry[], passwd = BASE_PASSWD, group = BASE_GROUP): TreeEntry[] {
  return [
    { path: '/etc/passwd', content: passwd },
    { path: '/etc/group', content: group },
    { path: '/root', type: 'dir', mode: '0700' },
    { path: '/home/alice', type: 'dir', uid: 1000, gid: 100, mode: '0700' },
    ...tree,
  ];
}
