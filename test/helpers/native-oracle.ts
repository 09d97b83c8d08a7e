/**
 * Oracles for the native reader tests: sleuthkit's `fls -r -m /` (an independent reader of ext and FAT) and the
 * host tree an image was built from (symlink targets of any length, file contents).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { EntryType } from '../../src/types.js';

export interface OracleEntry {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** fls leaves targets of 60+ bytes empty: only set when fls printed one. */
  target?: string;
}

const FLS_TYPES: Record<string, EntryType> = {
  r: 'file',
  d: 'dir',
  l: 'symlink',
  c: 'chardev',
  b: 'blockdev',
  p: 'fifo',
  s: 'socket',
};

function parsePerms(s: string): number {
  // s: 9 chars like rwxr-sr-t
  let m = 0;
  const bit = (i: number, v: number) => (s[i] !== '-' && s[i] !== 'S' && s[i] !== 'T' ? v : 0);
  m |= bit(0, 0o400) | bit(1, 0o200) | bit(2, 0o100);
  m |= bit(3, 0o40) | bit(4, 0o20) | bit(5, 0o10);
  m |= bit(6, 0o4) | bit(7, 0o2) | bit(8, 0o1);
  if (s[2] === 's' || s[2] === 'S') m |= 0o4000;
  if (s[5] === 's' || s[5] === 'S') m |= 0o2000;
  if (s[8] === 't' || s[8] === 'T') m |= 0o1000;
  return m;
}

/** `fls -r -m /` of a filesystem at a sector offset: path -> entry (live entries only, no virtual files). */
export function flsEntries(image: string, offsetSectors = 0): Map<string, OracleEntry> {
  const out = execFileSync('fls', ['-r', '-m', '/', '-o', String(offsetSectors), image], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const map = new Map<string, OracleEntry>();
  for (const line of out.split('\n')) {
    if (!line) continue;
    const f = line.split('|');
    if (f.length < 11) continue;
    let name = f.slice(1, f.length - 9).join('|');
    const modeStr = f[f.length - 8]!;
    if (name.includes('(deleted') || name.includes('(Volume Label Entry)') || /^\/\$(OrphanFiles|MBR|FAT\d)/.test(name)) continue;
    const type = FLS_TYPES[modeStr[2]!] ?? 'unknown';
    let target: string | undefined;
    if (type === 'symlink') {
      const i = name.indexOf(' -> ');
      if (i >= 0) {
        target = name.slice(i + 4);
        name = name.slice(0, i);
      }
    }
    const e: OracleEntry = {
      type,
      mode: parsePerms(modeStr.slice(3)),
      uid: Number(f[f.length - 7]),
      gid: Number(f[f.length - 6]),
      size: Number(f[f.length - 5]),
      mtime: Number(f[f.length - 3]),
    };
    if (target !== undefined && target !== '') e.target = target;
    map.set(name, e);
  }
  return map;
}

/** lstat walk of a host tree: image path -> entry (+ symlink targets). */
export function hostTree(root: string): Map<string, OracleEntry> {
  const map = new Map<string, OracleEntry>();
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    const type: EntryType = st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? 'symlink'
        : st.isFile()
          ? 'file'
          : st.isFIFO()
            ? 'fifo'
            : st.isSocket()
              ? 'socket'
              : st.isCharacterDevice()
                ? 'chardev'
                : st.isBlockDevice()
                  ? 'blockdev'
                  : 'unknown';
    const e: OracleEntry = {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: st.size,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (type === 'symlink') e.target = readlinkSync(abs);
    map.set(rel === '' ? '/' : rel, e);
    if (type === 'dir') for (const n of readdirSync(abs)) walk(rel === '' ? `/${n}` : `${rel}/${n}`);
  };
  walk('');
  return map;
}

const DEBUGFS_TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'chardev',
  0o060000: 'blockdev',
  0o010000: 'fifo',
  0o140000: 'socket',
};

/**
 * Walk an ext filesystem with `debugfs -f` (`ls -p` per directory, one process per tree level): path -> type, mode,
 * uid, gid and size for non-directories. Sees inline-data directory
 * entries that fls misses.
 */
export function debugfsWalk(image: string, offsetBytes = 0): Map<string, Omit<OracleEntry, 'mtime'>> {
  const dev = offsetBytes ? `${image}?offset=${offsetBytes}` : image;
  const map = new Map<string, Omit<OracleEntry, 'mtime'>>();
  let level = ['/'];
  for (let depth = 0; level.length > 0 && depth < 64; depth++) {
    const script = level.map((d) => `ls -p "${d.replace(/"/g, '\\"')}"`).join('\n') + '\n';
    const out = execFileSync('debugfs', ['-f', '-', dev], { input: script, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    const next: string[] = [];
    let cur = '';
    for (const line of out.split('\n')) {
      const cmd = /^debugfs: ls -p "(.*)"$/.exec(line);
      if (cmd) {
        cur = cmd[1]!.replace(/\\"/g, '"');
        continue;
      }
      const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
      if (!m || !cur) continue;
      const name = m[5]!;
      if (name === '.' || name === '..' || name === '' || m[1] === '0') continue;
      const mode = parseInt(m[2]!, 8);
      const p = cur === '/' ? `/${name}` : `${cur}/${name}`;
      const type = DEBUGFS_TYPES[mode & 0o170000] ?? 'unknown';
      map.set(p, { type, mode: mode & 0o7777, uid: Number(m[3]), gid: Number(m[4]), size: m[6] === '' ? -1 : Number(m[6]) });
      if (type === 'dir') next.push(p);
    }
    level = next;
  }
  return map;
}

const LS_TYPES: Record<string, EntryType> = { '-': 'file', d: 'dir', l: 'symlink', c: 'chardev', b: 'blockdev', p: 'fifo', s: 'socket' };

/**
 * `unsquashfs -lln` of a squashfs image: path -> type, mode, uid, gid, size and symlink target, as squashfs-tools
 * reads them (mtime is printed to the minute only: compare it with the host tree).
 */
export function unsquashfsEntries(image: string): Map<string, Omit<OracleEntry, 'mtime'>> {
  const out = execFileSync('unsquashfs', ['-lln', '-UTC', '-d', '', image], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const map = new Map<string, Omit<OracleEntry, 'mtime'>>();
  for (const line of out.split('\n')) {
    // drwxr-xr-x 0/0                     209 2023-11-14 22:13 path[ -> target]
    const m = /^(.)([rwxsStT-]{9}) (\d+)\/(\d+) +(\d+|\d+, *\d+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
    if (!m) continue;
    const type = LS_TYPES[m[1]!] ?? 'unknown';
    let name = m[6]!;
    let target: string | undefined;
    if (type === 'symlink') {
      const i = name.indexOf(' -> ');
      target = name.slice(i + 4);
      name = name.slice(0, i);
    }
    const e: Omit<OracleEntry, 'mtime'> = {
      type,
      mode: parsePerms(m[2]!),
      uid: Number(m[3]),
      gid: Number(m[4]),
      size: m[5]!.includes(',') ? 0 : Number(m[5]),
    };
    if (target !== undefined) e.target = target;
    map.set(name === '' ? '/' : name, e);
  }
  return map;
}

/**
 * `xorriso -find / -exec lsdl` of an ISO with Rock Ridge: path -> type, mode, uid, gid, target and (regular files
 * only) size, as libisofs reads them.
 */
export function xorrisoEntries(image: string): Map<string, Partial<OracleEntry>> {
  const out = execFileSync('xorriso', ['-indev', image, '-find', '/', '-exec', 'lsdl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
  const unquote = (s: string): string => s.replace(/'\\''/g, "'");
  const map = new Map<string, Partial<OracleEntry>>();
  for (const line of out.split('\n')) {
    const m = /^(.)([rwxsStT-]{9})\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+\w{3}\s+\d+\s+\S+ '(.*?)'(?: -> '(.*)')?$/.exec(line);
    if (!m) continue;
    const type = LS_TYPES[m[1]!] ?? 'unknown';
    const e: Partial<OracleEntry> = { type, mode: parsePerms(m[2]!), uid: Number(m[3]), gid: Number(m[4]) };
    if (type === 'file') e.size = Number(m[5]);
    if (m[7] !== undefined) e.target = unquote(m[7]);
    map.set(unquote(m[6]!), e);
  }
  return map;
}

/** `isoinfo -l [-J]` names of an ISO (Joliet names with -J; 8.3 names, version stripped and lower-cased, without). */
export function isoinfoNames(image: string, joliet: boolean): Map<string, Partial<OracleEntry>> {
  // isoinfo prints Joliet names in ISO-8859-1.
  const out = execFileSync('isoinfo', ['-l', ...(joliet ? ['-J'] : []), '-i', image], { encoding: 'latin1', maxBuffer: 1 << 30 });
  const map = new Map<string, Partial<OracleEntry>>([['/', { type: 'dir' }]]);
  let dir = '/';
  for (const line of out.split('\n')) {
    const d = /^Directory listing of (.*)$/.exec(line);
    if (d) {
      dir = joliet ? d[1]! : d[1]!.toLowerCase();
      continue;
    }
    const m = /^(.)[rwx-]{9}\s+\d+\s+\d+\s+\d+\s+(\d+) .*?\]  (.*?) ?$/.exec(line);
    if (!m || m[3] === '.' || m[3] === '..') continue;
    let name = m[3]!.replace(/;\d+$/, '');
    if (!joliet) name = name.replace(/\.$/, '').toLowerCase();
    const type = m[1] === 'd' ? 'dir' : 'file';
    map.set(dir + name, type === 'file' ? { type, size: Number(m[2]) } : { type });
  }
  return map;
}
