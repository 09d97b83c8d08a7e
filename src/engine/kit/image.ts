/**
 * What a rule is told about the image, as contracts only: the read-only file view (ImageFs), the image's accounts and
 * its package database, and the path facts they share. A leaf of the kit: it imports no other kit or runtime module,
 * so the modules that implement these (runtime/imagefs.ts, runtime/accounts.ts, runtime/packages.ts,
 * runtime/textpass.ts) and the rule contract (kit/rule.ts) all point down at it and never in a circle.
 */
import type { ResolveResult } from '../../inventory.js';
import type { Entry } from '../../types.js';

export interface ReadOptions {
  /** Read at most this many bytes (default: the engine's limit, 1 MiB). */
  maxBytes?: number;
  /** Keep the contents in the per-audit cache (default true). Bulk scans pass false so memory stays bounded. */
  cache?: boolean;
}

export interface ReadResult {
  /** Canonical path the read was resolved to inside the image. */
  path: string;
  data: Buffer;
  size: number;
  truncated: boolean;
}

/** The read-only view of the image that rules see. Never touches the host. */
export interface ImageFs {
  /** The entry at exactly this path (no symlink following). */
  lstat(path: string): Entry | undefined;
  /** chroot-like resolution inside the image. */
  resolve(path: string, opts?: { followFinal?: boolean }): ResolveResult;
  /** A regular file's contents, following symlinks inside the image; null when it does not resolve to a file. */
  readFile(path: string, opts?: ReadOptions): Promise<ReadResult | null>;
  /** readFile as UTF-8 text, or null. */
  readText(path: string, opts?: ReadOptions): Promise<string | null>;
  /**
   * Where a regular file sits in the order the backend reads fastest (ImageRoot.readOrder: a compressed archive's
   * byte offset), when it has one: a rule reading many files asks for them in this order.
   */
  readOrder?(path: string): number;
  /** ImageRoot.notAnImage: the backend judged the file's first bytes on the way, and they are no image's. */
  notAnImage?(path: string): boolean;
}

export interface User {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface Group {
  name: string;
  gid: number;
  members: string[];
}

export interface Accounts {
  /** False when the image has no readable passwd: account-based rules then say they could not judge. */
  known: boolean;
  /** Why accounts are unknown (for the message of rules that could not run). */
  reason: string | null;
  users: User[];
  groups: Group[];
  userByName(name: string): User | undefined;
  userByUid(uid: number): User | undefined;
  groupByGid(gid: number): Group | undefined;
  /** Accounts whose home directory is exactly this path. */
  usersWithHome(path: string): User[];
}

export type Manager = 'dpkg' | 'apk' | 'rpm' | 'nix';

export type Provenance =
  /** A package installed it and it still is what the package installed (checksum verified, or a link/folder). */
  | { kind: 'shipped'; pkg: string; manager: Manager; verified: boolean }
  /** A package installed it, but its checksum no longer matches: changed after install. */
  | { kind: 'changed'; pkg: string; manager: Manager }
  /** A package owns the path but installed no contents (rpm `%ghost`): whatever is there was made after install. */
  | { kind: 'ghost'; pkg: string; manager: Manager }
  /** A package installed it with a checksum that could not be checked (too large to read). */
  | { kind: 'unverified'; pkg: string; manager: Manager }
  /** The image has a package database we read, and no package lists this path. */
  | { kind: 'unowned' }
  /** Under /nix/store: build output. */
  | { kind: 'store' }
  /** No package database we can read covers this path. */
  | { kind: 'unknown' };

export interface PackageDb {
  /** Package managers whose database the image has (read or not). */
  managers: Manager[];
  /** Databases we could read (ownership is known only for these). */
  read: Manager[];
  /** Packages and paths read, for verbose output and the accuracy bench. */
  packages: number;
  paths: number;
  /** Why ownership is unknown, if it is (e.g. an rpm database that does not add up). */
  notes: string[];
  owner(path: string): { pkg: string; manager: Manager } | undefined;
  /**
   * A package installed this path and the database records its checksum, and no diversion moved that file away
   * (what `--trust-packages` trusts).
   */
  checksummed(path: string): boolean;
  /** Where the file came from; pass the contents when you have them all (saves a read). */
  provenance(path: string, data?: Buffer): Promise<Provenance>;
}

/**
 * Bytes of each file the content scan reads. A larger file is scanned in its first DEFAULT_TEXT_MAX_BYTES (a token
 * on line 1 of a 2 MiB .env is found) and named at info by content-partly-scanned, never skipped without a word.
 */
export const DEFAULT_TEXT_MAX_BYTES = 1024 * 1024;

/** Under /nix/store: build output, world-readable and usually huge. */
export function isStorePath(p: string): boolean {
  return p === '/nix/store' || p.startsWith('/nix/store/');
}
