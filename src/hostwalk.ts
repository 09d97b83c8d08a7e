/**
 * The one walk of a folder on the host (a root tree given as a target, a folder of build products, a store walked
 * with --recursive). Every name the kernel lists is seen, whatever bytes it holds: a newline, glob metacharacters,
 * bytes that are not UTF-8. (fast-glob's `**` silently leaves out names with a newline, and with them whole
 * subtrees, and names that are not UTF-8: a file nobody audited, in a report that says clean.)
 *
 * Names are read as bytes. `rel` is the UTF-8 reading of the path below the root; when that reading does not give the
 * bytes back (a name that is not UTF-8), `host` is the only way to reach the file, and two names may read the same:
 * the caller decides what to do with such an entry (`exact` is false). Symlinks are never followed; directories are
 * listed parents first, each directory's names in byte order.
 */
import { type Dirent, promises as fsp } from 'node:fs';

export interface HostEntry {
  /** The path below the root, `a/b/c`, read as UTF-8. */
  rel: string;
  /** The host path as bytes (root + '/' + the names as listed). */
  host: Buffer;
  /** Whether `rel` gives back the bytes of the names (every name below the root is UTF-8). */
  exact: boolean;
  dirent: Dirent;
  /** 1 for the root's own entries. */
  depth: number;
}

export interface HostWalkOptions {
  /** Entries deeper than this are not listed (1: the root's own entries). */
  deep?: number;
  /** Whether to descend into this directory (asked after the entry was handed out). */
  descend?: (entry: HostEntry) => boolean | Promise<boolean>;
  /** A directory that could not be listed (`rel` '' for the root itself). */
  onError?: (rel: string, err: NodeJS.ErrnoException) => void;
}

const SLASH = Buffer.from('/');

function compareBytes(a: Dirent, b: Dirent): number {
  return Buffer.compare(a.name as unknown as Buffer, b.name as unknown as Buffer);
}

/** Every entry below `root`, parents before children. */
export async function* walkHost(root: string, opts: HostWalkOptions = {}): AsyncGenerator<HostEntry> {
  const deep = opts.deep ?? Infinity;
  // Depth-first with an explicit stack: the tree's shape cannot grow the JavaScript stack.
  const stack: Array<{ host: Buffer; rel: string; exact: boolean; depth: number }> = [
    { host: Buffer.from(root), rel: '', exact: true, depth: 0 },
  ];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let dirents: Dirent[];
    try {
      dirents = (await fsp.readdir(dir.host, { withFileTypes: true, encoding: 'buffer' })) as unknown as Dirent[];
    } catch (err) {
      opts.onError?.(dir.rel, err as NodeJS.ErrnoException);
      continue;
    }
    dirents.sort(compareBytes);
    const below: typeof stack = [];
    for (const d of dirents) {
      const raw = d.name as unknown as Buffer;
      const name = raw.toString('utf8');
      const entry: HostEntry = {
        rel: dir.rel ? `${dir.rel}/${name}` : name,
        host: Buffer.concat([dir.host, SLASH, raw]),
        exact: dir.exact && Buffer.from(name).equals(raw),
        dirent: d,
        depth: dir.depth + 1,
      };
      yield entry;
      if (d.isDirectory() && entry.depth < deep && (opts.descend ? await opts.descend(entry) : true)) {
        below.push({ host: entry.host, rel: entry.rel, exact: entry.exact, depth: entry.depth });
      }
    }
    // Popped in listing order.
    for (let i = below.length - 1; i >= 0; i--) stack.push(below[i]!);
  }
}
