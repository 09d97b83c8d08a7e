/**
 * The package loader: the image's own package database, read once per audit (lazily, on the first rule that asks)
 * and handed to rules as a shared fact, like `accounts` (the kit's packages.ts judges findings against it).
 *
 * - dpkg: `/var/lib/dpkg/info/<pkg>.list` (every path a package installed) and `<pkg>.md5sums` (md5 of each regular
 *   file), plus the `Conffiles:` md5s in `/var/lib/dpkg/status`, plus ucf's registry and hashfile
 *   (`/var/lib/ucf/`) for the configuration files maintainer scripts write (Debian's sshd_config), plus
 *   `/var/lib/dpkg/diversions` (a diverted path holds another file than the one its package's checksum describes).
 * - apk (Alpine): `/lib/apk/db/installed` (`P:` package, `F:` folder, `R:` file, `Z:Q1<base64 sha1>` checksum).
 * - rpm: the database (`rpmdb.sqlite`, Berkeley DB `Packages`, ndb `Packages.db`) is recognised but not read: it is a
 *   binary SQLite/BDB file of rpm header blobs, and reading it natively would mean an SQLite reader plus an rpm
 *   header parser. Findings on rpm images keep their severity and say nothing about packages.
 * - Nix: everything under /nix/store is build output (the builder made it, whoever wrote the derivation).
 *
 * A path listed by a package, whose checksum still matches, is the distribution's: a build path or an example key
 * inside it was put there when the package was built, not by the image's builder. A packaged file whose checksum no
 * longer matches, or a file no package owns, is where the image's builder left its mark.
 */
import { createHash } from 'node:crypto';
import type { Inventory } from '../../inventory.js';
import { baseName, joinPath, normalizePath, parentOf } from '../../inventory.js';
import { DEFAULT_TEXT_MAX_BYTES, isStorePath, type ImageFs, type Manager, type PackageDb, type Provenance } from '../kit/image.js';

interface Owned {
  pkg: string;
  manager: Manager;
  /** Hex digest (md5 for dpkg, sha1 for apk), when the database records one. */
  sum?: string;
}

const MAX_DB_FILE = 32 * 1024 * 1024;
/** Files larger than this are not re-read to verify a checksum. */
const MAX_VERIFY = 256 * 1024 * 1024;
const RPM_DBS = ['/var/lib/rpm/rpmdb.sqlite', '/usr/lib/sysimage/rpm/rpmdb.sqlite', '/var/lib/rpm/Packages', '/var/lib/rpm/Packages.db', '/usr/lib/sysimage/rpm/Packages.db'];

/** Canonical path of a path a package lists (`/lib/x` is `/usr/lib/x` on a merged-/usr system). */
function canonicalizer(inv: Inventory): (p: string) => string {
  const dirs = new Map<string, string>();
  const dirOf = (d: string): string => {
    let c = dirs.get(d);
    if (c === undefined) {
      const r = inv.resolve(d);
      c = r.ok ? r.path : d;
      dirs.set(d, c);
    }
    return c;
  };
  return (raw) => {
    const p = normalizePath(raw.startsWith('/') ? raw : `/${raw}`);
    if (p === '/' || inv.get(p)) return p;
    return joinPath(dirOf(parentOf(p)), baseName(p));
  };
}

export function parseDpkgMd5sums(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32})\s+(.+)$/.exec(line);
    if (m) out.push([m[2]!, m[1]!]);
  }
  return out;
}

/**
 * The paths `/var/lib/dpkg/diversions` diverts (records of three lines: the diverted path, where the packaged file
 * went, and the diverting package or `:` for a local diversion).
 */
export function parseDpkgDiversions(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i + 2 < lines.length; i += 3) if (lines[i]!.startsWith('/')) out.push(lines[i]!);
  return out;
}

/** `Conffiles:` entries of installed packages in a dpkg status file: [package, path, md5]. */
export function parseDpkgConffiles(text: string): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const pkg = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    const cf = /^Conffiles:\n((?:[ \t].*\n?)*)/m.exec(stanza);
    if (!pkg || !cf) continue;
    for (const line of cf[1]!.split('\n')) {
      const m = /^\s+(\/\S+)\s+([0-9a-f]{32})(?:\s|$)/.exec(line);
      if (m && !/\sobsolete\s*$/.test(line)) out.push([pkg, m[1]!, m[2]!]);
    }
  }
  return out;
}

/** Alpine's installed database: [package, path, sha1 hex or undefined]. */
export function parseApkInstalled(text: string): Array<[string, string, string | undefined]> {
  const out: Array<[string, string, string | undefined]> = [];
  let pkg = '';
  let dir = '';
  for (const line of text.split('\n')) {
    if (line === '') { pkg = ''; dir = ''; continue; }
    const k = line.slice(0, 2);
    const v = line.slice(2);
    if (k === 'P:') pkg = v;
    else if (k === 'F:') { dir = v; out.push([pkg, `/${v}`, undefined]); }
    else if (k === 'R:') out.push([pkg, `/${dir ? `${dir}/` : ''}${v}`, undefined]);
    else if (k === 'Z:' && v.startsWith('Q1') && out.length > 0) {
      const last = out[out.length - 1]!;
      if (last[0] === pkg) last[2] = Buffer.from(v.slice(2), 'base64').toString('hex');
    }
  }
  return out;
}

export async function loadPackageDb(fs: ImageFs, inv: Inventory): Promise<PackageDb> {
  const owned = new Map<string, Owned>();
  const managers: Manager[] = [];
  const read: Manager[] = [];
  const notes: string[] = [];
  const pkgs = new Set<string>();
  /** Paths dpkg-divert moved the packaged file away from: whatever is there now, the package's checksum is not its. */
  const diverted = new Set<string>();
  const canon = canonicalizer(inv);
  // The content pass reads these same text files: a small one stays in the audit's cache, so it crosses once.
  const text = (p: string) => fs.readText(p, { maxBytes: MAX_DB_FILE, cache: (inv.get(p)?.size ?? Infinity) <= DEFAULT_TEXT_MAX_BYTES });

  const info = inv.resolve('/var/lib/dpkg/info');
  if (info.ok && info.entry.type === 'dir') {
    managers.push('dpkg');
    const names = inv.children(info.path);
    const present = new Set(names);
    const lists = names.filter((n) => n.endsWith('.list'));
    const [listTexts, sumTexts, status] = await Promise.all([
      Promise.all(lists.map((n) => text(joinPath(info.path, n)))),
      Promise.all(lists.map((n) => {
        const sums = n.replace(/\.list$/, '.md5sums');
        return present.has(sums) ? text(joinPath(info.path, sums)) : Promise.resolve(null);
      })),
      text('/var/lib/dpkg/status'),
    ]);
    lists.forEach((n, i) => {
      const pkg = n.replace(/\.list$/, '');
      const list = listTexts[i];
      if (list === null || list === undefined) return;
      pkgs.add(pkg);
      for (const line of list.split('\n')) if (line.startsWith('/')) owned.set(canon(line), { pkg, manager: 'dpkg' });
      for (const [p, sum] of parseDpkgMd5sums(sumTexts[i] ?? '')) {
        const c = canon(p);
        owned.set(c, { pkg, manager: 'dpkg', sum });
      }
    });
    if (status) for (const [pkg, p, sum] of parseDpkgConffiles(status)) owned.set(canon(p), { pkg, manager: 'dpkg', sum });
    // ucf: configuration files a package's maintainer scripts generate (sshd_config...), not dpkg conffiles. The
    // registry names the package, the hashfile the md5 of what the package wrote.
    const [registry, hashfile, diversions] = await Promise.all([
      text('/var/lib/ucf/registry'),
      text('/var/lib/ucf/hashfile'),
      text('/var/lib/dpkg/diversions'),
    ]);
    for (const from of parseDpkgDiversions(diversions ?? '')) diverted.add(canon(from));
    const ucfSums = new Map(parseDpkgMd5sums(hashfile ?? '').map(([p, sum]) => [canon(p), sum] as const));
    for (const line of (registry ?? '').split('\n')) {
      const m = /^(\S+)\s+(\/\S+)\s*$/.exec(line);
      if (!m) continue;
      const c = canon(m[2]!);
      const sum = ucfSums.get(c);
      owned.set(c, sum ? { pkg: m[1]!, manager: 'dpkg', sum } : { pkg: m[1]!, manager: 'dpkg' });
    }
    if (lists.length > 0) read.push('dpkg');
  }

  const apk = await text('/lib/apk/db/installed');
  if (apk !== null) {
    managers.push('apk');
    for (const [pkg, p, sum] of parseApkInstalled(apk)) {
      pkgs.add(pkg);
      owned.set(canon(p), sum ? { pkg, manager: 'apk', sum } : { pkg, manager: 'apk' });
    }
    read.push('apk');
  }

  const rpm = RPM_DBS.find((p) => inv.resolve(p).ok);
  if (rpm) {
    managers.push('rpm');
    notes.push(`rpm database ${rpm} found but not read (binary ${rpm.endsWith('.sqlite') ? 'SQLite' : 'Berkeley DB/ndb'} of rpm headers): file ownership unknown`);
  }
  if (inv.get('/nix/store')) managers.push('nix');

  const provenance = async (path: string, data?: Buffer): Promise<Provenance> => {
    if (isStorePath(path)) return { kind: 'store' };
    if (read.length === 0) return { kind: 'unknown' };
    const o = owned.get(path);
    if (!o) return { kind: 'unowned' };
    const e = inv.get(path);
    if (!e || e.type !== 'file' || !o.sum) return { kind: 'shipped', pkg: o.pkg, manager: o.manager, verified: false };
    let bytes = data && data.length === e.size ? data : undefined;
    if (!bytes) {
      if (e.size > MAX_VERIFY) return { kind: 'unverified', pkg: o.pkg, manager: o.manager };
      const r = await fs.readFile(path, { maxBytes: e.size, cache: false });
      if (!r || r.truncated) return { kind: 'unverified', pkg: o.pkg, manager: o.manager };
      bytes = r.data;
    }
    const algo = o.sum.length === 40 ? 'sha1' : 'md5';
    const sum = createHash(algo).update(bytes).digest('hex');
    return sum === o.sum ? { kind: 'shipped', pkg: o.pkg, manager: o.manager, verified: true } : { kind: 'changed', pkg: o.pkg, manager: o.manager };
  };

  return {
    managers,
    read,
    packages: pkgs.size,
    paths: owned.size,
    notes,
    owner: (p) => {
      const o = owned.get(p);
      return o ? { pkg: o.pkg, manager: o.manager } : undefined;
    },
    checksummed: (p) => owned.get(p)?.sum !== undefined && !diverted.has(p),
    provenance,
  };
}
