/** Facts about home directories that several rules share. */
import type { Inventory } from '../../inventory.js';
import { joinPath } from '../../inventory.js';
import type { Entry } from '../../types.js';
import type { Accounts, User } from './image.js';

/** Where interactive homes live on Linux, macOS and image-based distributions. */
export const HOME_ROOTS = ['/home', '/Users', '/var/home'] as const;

/** Paths that exist only at run time: a symlink into them is not dangling in any useful sense. */
export const RUNTIME_PREFIXES = ['/run', '/proc', '/sys', '/dev'] as const;

const RUNTIME_DIRS = RUNTIME_PREFIXES.map((r) => r + '/');

/** Asked of every entry by several rules: no closure and no string made per call. */
export function isRuntimePath(p: string): boolean {
  for (let i = 0; i < RUNTIME_PREFIXES.length; i++) if (p === RUNTIME_PREFIXES[i] || p.startsWith(RUNTIME_DIRS[i]!)) return true;
  return false;
}

/**
 * `forEachEntry`'s `skip` for a rule that leaves out the run-time trees (`isRuntimePath`) and, unless it scans the
 * store, /nix/store (`isStorePath`).
 */
export function runtimeAndStore(includeStore: boolean): readonly string[] {
  return includeStore ? RUNTIME_PREFIXES : [...RUNTIME_PREFIXES, '/nix/store'];
}

export interface HomeDir {
  /** The path as listed (under the home root as the image names it). */
  path: string;
  /** The path with every symlink resolved inside the image. */
  canonical: string;
  entry: Entry;
}

/** Directories directly under each home root that exists, each once even when roots alias (`/home -> var/home`). */
export function homeDirs(inv: Inventory): HomeDir[] {
  const out: HomeDir[] = [];
  const seen = new Set<string>();
  for (const root of HOME_ROOTS) {
    const r = inv.resolve(root);
    if (!r.ok || r.entry.type !== 'dir') continue;
    for (const name of inv.children(r.path)) {
      if (name === 'lost+found') continue;
      const canonical = joinPath(r.path, name);
      const entry = inv.get(canonical);
      if (!entry || entry.type !== 'dir' || seen.has(canonical)) continue;
      seen.add(canonical);
      out.push({ path: joinPath(root, name), canonical, entry });
    }
  }
  return out;
}

/** The accounts whose home resolves (inside the image) to this canonical directory. */
export function accountsOwningHome(inv: Inventory, accounts: Accounts, canonical: string): User[] {
  return accounts.users.filter((u) => {
    if (u.home === canonical) return true;
    const r = inv.resolve(u.home);
    return r.ok && r.path === canonical;
  });
}

export function ownerName(accounts: Accounts, uid: number): string {
  const u = accounts.userByUid(uid);
  return u ? `${u.name} (uid ${uid})` : `uid ${uid}`;
}
