/**
 * The package loader: the image's own package database, read once per audit (lazily, on the first rule that asks)
 * and handed to rules as a shared fact, like `accounts` (the kit's packages.ts judges findings against it).
 *
 * - dpkg: `/var/lib/dpkg/info/<pkg>.list` (every path a package installed) and `<pkg>.md5sums` (md5 of each regular
 *   file), plus the `Conffiles:` md5s in `/var/lib/dpkg/status`, plus ucf's registry and hashfile
 *   (`/var/lib/ucf/`) for the configuration files maintainer scripts write (Debian's sshd_config), plus
 *   `/var/lib/dpkg/diversions` (a diverted path holds another file than the one its package's checksum describes).
 * - apk (Alpine): `/lib/apk/db/installed` (`P:` package, `F:` folder, `R:` file, `Z:Q1<base64 sha1>` checksum).
 * - rpm: the database in whichever store rpm wrote it (SQLite `rpmdb.sqlite` with its WAL, rpm 4.16+; Berkeley DB
 *   hash `Packages`, RHEL 7/8; ndb `Packages.db`, openSUSE/SLE), under `/usr/lib/sysimage/rpm` or `/var/lib/rpm`
 *   (./rpmdb.ts): each package's header lists its files with their digests (md5 or sha256, FILEDIGESTALGO) and
 *   flags. A `%ghost` file has no contents from the package (whatever is there was made after install: judged like
 *   an unowned file); a `%config` file is verified like any other, and `--trust-packages` never skips one. A database
 *   that does not add up, or is larger than the memory the target has left, is not used, and the report says so.
 * - Nix: everything under /nix/store is build output (the builder made it, whoever wrote the derivation).
 *
 * A path listed by a package, whose checksum still matches, is the distribution's: a build path or an example key
 * inside it was put there when the package was built, not by the image's builder. A packaged file whose checksum no
 * longer matches, or a file no package owns, is where the image's builder left its mark.
 */
import { nodeCrypto } from '../../lazy.js';
import { BudgetError, currentBudget, mib } from '../../budget.js';
import type { Inventory } from '../../inventory.js';
import { baseName, joinPath, normalizePath, parentOf } from '../../inventory.js';
// The rpm reader loads only for an image with an rpm database (`import()`: a lazy init in the CLI's bundle).
import type { RpmPackage } from './rpmdb.js';
import { DEFAULT_TEXT_MAX_BYTES, isStorePath, type ImageFs, type Manager, type PackageDb, type Provenance } from '../kit/image.js';

interface Owned {
  pkg: string;
  manager: Manager;
  /** Hex digest (md5 for dpkg, sha1 for apk, md5 or sha256 for rpm), when the database records one. */
  sum?: string;
  /** Node hash name of `sum` (by its length when absent: sha1 or md5). */
  algo?: string;
  /** rpm `%config`: the admin's to edit, so `--trust-packages` reads it anyway. */
  config?: boolean;
  /** rpm `%ghost`: the package owns the path but installed no contents. */
  ghost?: boolean;
}

export const MAX_DB_FILE = 32 * 1024 * 1024;
/** The package databases' files (besides rpm's, RPM_DB_DIRS): what loadPackageDb reads, named once. */
export const DPKG_INFO = '/var/lib/dpkg/info';
const DPKG_STATUS = '/var/lib/dpkg/status';
const DPKG_DIVERSIONS = '/var/lib/dpkg/diversions';
const UCF_REGISTRY = '/var/lib/ucf/registry';
const UCF_HASHFILE = '/var/lib/ucf/hashfile';
const APK_INSTALLED = '/lib/apk/db/installed';
/** The database files read whole (up to MAX_DB_FILE), beside every file in DPKG_INFO. */
export const DB_FILES: readonly string[] = [DPKG_STATUS, UCF_REGISTRY, UCF_HASHFILE, DPKG_DIVERSIONS, APK_INSTALLED];
/** Files larger than this are not re-read to verify a checksum. */
const MAX_VERIFY = 256 * 1024 * 1024;
/**
 * Where rpm keeps its database (%_dbpath: /usr/lib/sysimage/rpm since rpm 4.16 on Fedora/openSUSE, where
 * /var/lib/rpm is often a link to it; /var/lib/rpm before), and the stores rpm writes there, newest first.
 */
export const RPM_DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm'];
const RPM_DB_FILES = ['rpmdb.sqlite', 'Packages.db', 'Packages'];
/** An rpm database larger than this is not read (a Fedora workstation's is ~100 MiB; a container's a few MiB). */
export const MAX_RPM_DB = 256 * 1024 * 1024;

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

  const info = inv.resolve(DPKG_INFO);
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
      text(DPKG_STATUS),
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
      text(UCF_REGISTRY),
      text(UCF_HASHFILE),
      text(DPKG_DIVERSIONS),
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

  const apk = await text(APK_INSTALLED);
  if (apk !== null) {
    managers.push('apk');
    for (const [pkg, p, sum] of parseApkInstalled(apk)) {
      pkgs.add(pkg);
      owned.set(canon(p), sum ? { pkg, manager: 'apk', sum } : { pkg, manager: 'apk' });
    }
    read.push('apk');
  }

  const rpm = await loadRpm(fs, inv);
  if (rpm) {
    managers.push('rpm');
    if ('error' in rpm) notes.push(`rpm database ${rpm.path} not read (${rpm.error}): file ownership unknown`);
    else {
      const { RPMFILE_CONFIG, RPMFILE_GHOST } = await import('./rpmdb.js');
      for (const p of rpm.packages) {
        pkgs.add(p.name);
        for (const f of p.files) {
          const o: Owned = { pkg: p.name, manager: 'rpm' };
          if (f.digest && p.digestAlgo) Object.assign(o, { sum: f.digest, algo: p.digestAlgo });
          if (f.flags & RPMFILE_CONFIG) o.config = true;
          if (f.flags & RPMFILE_GHOST) o.ghost = true;
          owned.set(canon(f.path), o);
        }
      }
      read.push('rpm');
    }
  }
  if (inv.get('/nix/store')) managers.push('nix');

  const provenance = async (path: string, data?: Buffer): Promise<Provenance> => {
    if (isStorePath(path)) return { kind: 'store' };
    if (read.length === 0) return { kind: 'unknown' };
    const o = owned.get(path);
    if (!o) return { kind: 'unowned' };
    if (o.ghost) return { kind: 'ghost', pkg: o.pkg, manager: o.manager };
    const e = inv.get(path);
    if (!e || e.type !== 'file' || !o.sum) return { kind: 'shipped', pkg: o.pkg, manager: o.manager, verified: false };
    let bytes = data && data.length === e.size ? data : undefined;
    if (!bytes) {
      if (e.size > MAX_VERIFY) return { kind: 'unverified', pkg: o.pkg, manager: o.manager };
      const r = await fs.readFile(path, { maxBytes: e.size, cache: false });
      if (!r || r.truncated) return { kind: 'unverified', pkg: o.pkg, manager: o.manager };
      bytes = r.data;
    }
    const algo = o.algo ?? (o.sum.length === 40 ? 'sha1' : 'md5');
    const sum = nodeCrypto().createHash(algo).update(bytes).digest('hex');
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
    checksummed: (p) => {
      const o = owned.get(p);
      return o?.sum !== undefined && !o.config && !diverted.has(p);
    },
    provenance,
  };
}

/**
 * The image's rpm database: the first store found under rpm's database folders, read whole (within the target's
 * memory budget) and parsed; undefined when the image has none, `error` when it has one we could not use.
 */
async function loadRpm(fs: ImageFs, inv: Inventory): Promise<{ path: string; packages: RpmPackage[] } | { path: string; error: string } | undefined> {
  const seen = new Set<string>();
  let found: string | undefined;
  for (const d of RPM_DB_DIRS) {
    const r = inv.resolve(d);
    if (!r.ok || r.entry.type !== 'dir' || seen.has(r.path)) continue;
    seen.add(r.path);
    const name = RPM_DB_FILES.find((n) => inv.get(joinPath(r.path, n))?.type === 'file');
    if (name) {
      found = joinPath(r.path, name);
      break;
    }
  }
  if (!found) return undefined;
  const { readRpmDb, RpmDbError } = await import('./rpmdb.js');
  const path = found;
  const wal = path.endsWith('.sqlite') ? inv.get(`${path}-wal`) : undefined;
  const size = (inv.get(path)?.size ?? 0) + (wal?.type === 'file' ? wal.size : 0);
  const budget = currentBudget();
  const left = budget ? budget.maxMemory - budget.memory : Infinity;
  if (size > MAX_RPM_DB || size * 2 > left) return { path, error: `${mib(size)}, more than this audit reads into memory` };
  // The bytes, and the overflow copies parsing makes, are held only while parsing.
  budget?.chargeMemory(size * 2, 'rpm database');
  try {
    const db = await fs.readFile(path, { maxBytes: MAX_RPM_DB, cache: false });
    if (!db || db.truncated) return { path, error: 'could not be read whole' };
    const w = wal?.type === 'file' && wal.size > 0 ? await fs.readFile(`${path}-wal`, { maxBytes: MAX_RPM_DB, cache: false }) : null;
    return { path, packages: readRpmDb(db.data, w && !w.truncated ? w.data : null).packages };
  } catch (err) {
    // Only the reader's own verdicts (and a hostile buffer's RangeError) make it unusable; the deadline ends the audit.
    if (err instanceof BudgetError) throw err;
    if (err instanceof RpmDbError || err instanceof RangeError) return { path, error: err.message };
    throw err;
  } finally {
    budget?.releaseMemory(size * 2);
  }
}
