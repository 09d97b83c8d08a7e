/**
 * `--cache DIR`: audit results keyed by image identity and rule set, so an unchanged image is not read again.
 *
 * Identity. An audit's result is a deterministic function of the image file's size and the bytes it read, so a cold
 * run never reads an image just to hash it:
 *   - natively audited images (raw, qcow2, VHD, VHDX, VMDK, VDI opened as they are): the audit records every byte
 *     range it reads and a sha256 of each range's bytes as it reads them (src/image/readlog.ts); the identity is
 *     `extents:` + a digest over the size, the sorted ranges and their digests. Nothing is read twice.
 *   - everything else (compressed images, which a decompressor reads whole anyway; images qemu reads through
 *     libguestfs; tar archives): `sha256:` + the digest of the whole file, started as soon as the audit knows it
 *     goes that way, alongside the audit rather than before it.
 *   - files behind HTTP(S): known by URL, size and version (a strong ETag, else Last-Modified), asked for with one
 *     1-byte request per run; a matching version is a hit without reading the file. A new version is audited and
 *     stored by what it read (`extents:`, as above, when read natively by range requests) or by URL and version
 *     (archives and compressed images, streamed). Every answer during the audit had that version, or the audit
 *     failed. A server that gives neither validator is not cached.
 * Warm runs: when size, mtime, ctime and inode match what the last run recorded for the path, the recorded identity
 * is used as is and the image is not read at all. Otherwise (a copied, moved or touched image) an index keyed by
 * the size and a digest of the first 4 KiB lists the identities cached for such files (newest first, at most 8);
 * each is checked against the file: an `extents:` one by re-reading only its ranges (kept in an entry of their own,
 * with a short hint of each range's digest: the check stops at the first range that differs), a `sha256:` one by
 * hashing the file. A change to any byte the audit read, or to the size, gives another identity: a miss, never a
 * stale hit. A file that changed while it was audited (its size, mtime, ctime or inode differ afterwards, or a range read
 * twice gave other bytes) is not cached.
 * Entries are written atomically as each target finishes (an interrupted run keeps what it did); an unreadable or
 * corrupt entry is a miss and is rewritten.
 *
 * Trust: the cache directory is untrusted (a CI cache restored from another branch, a shared volume). Every entry is
 * sealed with an HMAC-SHA256 under a key kept outside it (`--cache-key FILE`, `$HOSTLEAK_CACHE_KEY`, or a key file
 * created on first use in the user's state directory), over the entry's payload and what it is stored for (the path,
 * identity or index key, and the rule-set hash). An entry whose seal does not verify was not written by a holder of
 * the key: it is ignored, the image is audited and the entry rewritten. A cached result never names its target: the
 * name is the one asked for.
 * The sealed-file format, and how an entry is read and written without following anything planted, are
 * src/store/seal.ts's.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeCrypto } from '../lazy.js';
import { UsageError } from '../errors.js';
import { ensureCacheDir, readSealed, writeSealed } from './seal.js';
import type { TargetResult } from '../types.js';
import { extentsDigest, fileDigest, HINT_BYTES, MAX_READ, ReadLog } from '../image/readlog.js';
import { isRemoteTarget, remoteVersion } from '../remote/files.js';

/** The folders of a cache directory, one per kind of entry. */
const SUBDIRS = ['paths', 'results', 'index', 'ranges'] as const;

/** What to do when the key cannot be had: both ways named. */
const CACHE_KEY_HELP =
  'set HOSTLEAK_CACHE_KEY to a secret of 32 or more characters (the same for every run), or give --cache-key FILE ' +
  'on a writable path outside the cache folder';

/** Where the cache key lives by default: the user's state directory, never the cache directory. */
export function defaultCacheKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  // No HOME and no account (a container's arbitrary uid): os.homedir() throws; the key file then cannot be made.
  let home: string;
  try {
    home = env.HOME || os.homedir();
  } catch {
    throw new UsageError(`no home directory to keep the cache key in: ${CACHE_KEY_HELP}`);
  }
  const state = env.XDG_STATE_HOME || path.join(home, '.local', 'state');
  return path.join(state, 'hostleak', 'cache.key');
}

/**
 * The key that seals cache entries: `$HOSTLEAK_CACHE_KEY` (a CI secret), else the file given (created with 32 random
 * bytes, mode 0600, when missing). A key file inside the cache directory is refused: it would be as untrusted as the
 * entries.
 */
export function loadCacheKey(cacheDir: string, keyFile: string | null, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.HOSTLEAK_CACHE_KEY) return nodeCrypto().createHash('sha256').update(env.HOSTLEAK_CACHE_KEY).digest();
  const file = path.resolve(keyFile ?? defaultCacheKeyFile(env));
  const rel = path.relative(path.resolve(cacheDir), file);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    throw new UsageError(`the cache key ${file} is inside the cache directory, which is not trusted: keep it elsewhere (--cache-key)`);
  }
  try {
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, nodeCrypto().randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    }
    const key = readFileSync(file, 'utf8').trim();
    if (key.length < 32) throw new UsageError(`the cache key ${file} is too short (32 characters at least)`);
    return nodeCrypto().createHash('sha256').update(key).digest();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadCacheKey(cacheDir, file, env);
    throw new UsageError(`cannot read or create the cache key ${file} (${(err as Error).message}): ${CACHE_KEY_HELP}`);
  }
}

export interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** A remote file's version (its strong ETag or Last-Modified); its times and inode are then 0. */
  version?: string;
}

export interface CacheLookup {
  hit: TargetResult | null;
  /** How the hit was found, for --verbose. */
  via: 'stat' | 'digest' | 'extents' | 'etag' | null;
  stat: StatKey | null;
  /** The digest of the first bytes (the index key), when the lookup went past the stat check. */
  head: string | null;
  /** The whole-file digest, when the lookup had to compute it. */
  digest: string | null;
  /** Records what the audit reads (src/image/readlog.ts); null for targets that are not cached (not regular files). */
  log: ReadLog | null;
}

const sha = (s: string) => nodeCrypto().createHash('sha256').update(s).digest('hex');

/** How much of the file's start keys the index of identities (with its size). */
const HEAD_BYTES = 4096;
/** Identities kept per index key (same size and first bytes: successive builds of one image). */
const MAX_CANDIDATES = 8;

/** A stable hash of everything besides the image that decides the findings. */
export function configHash(parts: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
        : v;
  return sha(JSON.stringify(canonical(parts))).slice(0, 32);
}

/** `sha256:<hex>` (the whole file) or `extents:<hex>` (what a native audit read; src/image/readlog.ts). */
type Identity = string;

interface PathEntry {
  stat: StatKey;
  identity: Identity;
}

interface ResultEntry {
  result: Omit<TargetResult, 'target'>;
}

/** One identity cached for files of a size and first bytes (a range identity's ranges are in its RangesEntry). */
type Candidate = { kind: 'file' } | { kind: 'extents'; identity: Identity };

/** What a range identity covers: sorted [offset, length, ...] and a short hint of each range's digest. */
interface RangesEntry {
  extents: number[];
  hints: string;
}

interface IndexEntry {
  candidates: Candidate[];
}

/** A candidate as read from a (sealed, so written by us) index entry, checked for shape anyway. */
function validCandidate(c: unknown): c is Candidate {
  if (!c || typeof c !== 'object') return false;
  const { kind, identity } = c as { kind?: unknown; identity?: unknown };
  return kind === 'file' || (kind === 'extents' && typeof identity === 'string' && identity.startsWith('extents:'));
}

/** A ranges entry (sealed, so written by us) checked for shape and bounds anyway. */
function validRanges(r: unknown, size: number): r is RangesEntry {
  if (!r || typeof r !== 'object') return false;
  const { extents, hints } = r as { extents?: unknown; hints?: unknown };
  if (!Array.isArray(extents) || extents.length % 2 !== 0) return false;
  if (typeof hints !== 'string' || hints.length !== (extents.length / 2) * HINT_BYTES * 2) return false;
  for (let i = 0; i < extents.length; i += 2) {
    const off = extents[i] as unknown;
    const len = extents[i + 1] as unknown;
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || (off as number) < 0 || (len as number) < 0) return false;
    if ((len as number) > MAX_READ || (off as number) + (len as number) > size) return false;
  }
  return true;
}

const sameStat = (a: StatKey, b: StatKey) =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.version === b.version;

function statKey(file: string): { key: StatKey; dev: number; isFile: boolean } | null {
  try {
    const st = statSync(file);
    return { key: { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino }, dev: st.dev, isFile: st.isFile() };
  } catch {
    return null;
  }
}

function headDigest(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
    return nodeCrypto().createHash('sha256').update(buf.subarray(0, n)).digest('hex');
  } finally {
    closeSync(fd);
  }
}

export class ResultCache {
  /** Entries that failed verification this run (for --verbose and tests). */
  forged = 0;
  constructor(
    readonly dir: string,
    private readonly rulesHash: string,
    private readonly key: Buffer,
  ) {
    // Before anything is read from them: a symlinked folder would make every entry read and written elsewhere.
    // (Missing ones are made by the first write, so a read-only cache still serves hits.)
    for (const sub of SUBDIRS) ensureCacheDir(path.join(dir, sub), false);
  }

  private pathContext(target: string): string {
    return `path\0${where(target)}\0${this.rulesHash}`;
  }

  private resultContext(identity: Identity): string {
    return `result\0${identity}\0${this.rulesHash}`;
  }

  private indexContext(size: number, head: string): string {
    return `index\0${size}\0${head}\0${this.rulesHash}`;
  }

  private pathFile(target: string): string {
    return path.join(this.dir, 'paths', `${sha(where(target) + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private resultFile(identity: Identity): string {
    return path.join(this.dir, 'results', `${sha(identity + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private rangesContext(identity: Identity): string {
    return `ranges\0${identity}\0${this.rulesHash}`;
  }

  private rangesFile(identity: Identity): string {
    return path.join(this.dir, 'ranges', `${sha(identity + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private indexFile(size: number, head: string): string {
    return path.join(this.dir, 'index', `${sha(`${size}\0${head}\0${this.rulesHash}`).slice(0, 40)}.json`);
  }

  private read<T>(file: string, context: string): T | null {
    const { value, forged } = readSealed<T>(file, this.key, context);
    if (forged) this.forged++;
    return value;
  }

  private result(target: string, identity: Identity): TargetResult | null {
    const e = this.read<ResultEntry>(this.resultFile(identity), this.resultContext(identity));
    if (!e || !e.result || typeof e.result !== 'object' || !Array.isArray(e.result.findings)) return null;
    // The target first, as a fresh audit has it (a cached report is byte-identical but for durationMs); the name is
    // always the one asked for, whatever the entry holds.
    const { target: _ignored, ...rest } = e.result as TargetResult;
    return { target, ...rest };
  }

  private candidates(size: number, head: string): Candidate[] {
    const e = this.read<IndexEntry>(this.indexFile(size, head), this.indexContext(size, head));
    return e && Array.isArray(e.candidates) ? e.candidates.filter(validCandidate).slice(0, MAX_CANDIDATES) : [];
  }

  /**
   * A file behind HTTP: known by its URL, size and version (strong ETag or Last-Modified), asked for with one 1-byte
   * request; the audit of a new version records what it reads, like a local one.
   */
  private async lookupRemote(url: string, none: CacheLookup): Promise<CacheLookup> {
    const v = await remoteVersion(url);
    if (!v) return none;
    const stat: StatKey = { size: v.size, mtimeMs: 0, ctimeMs: 0, ino: 0, version: v.version };
    const known = this.read<PathEntry>(this.pathFile(url), this.pathContext(url));
    if (known && typeof known.identity === 'string' && known.stat && sameStat(known.stat, stat)) {
      const hit = this.result(url, known.identity);
      if (hit) return { ...none, hit, via: 'etag', stat };
    }
    return { ...none, stat, log: new ReadLog(url, -1, -1, v.size, true) };
  }

  /** Only regular files (and files behind HTTP with a version) are cached: a directory tree has no cheap identity. */
  async lookup(target: string): Promise<CacheLookup> {
    const none: CacheLookup = { hit: null, via: null, stat: null, head: null, digest: null, log: null };
    if (isRemoteTarget(target)) return this.lookupRemote(target, none);
    const s = statKey(target);
    if (!s || !s.isFile) return none;
    const stat = s.key;
    const known = this.read<PathEntry>(this.pathFile(target), this.pathContext(target));
    if (known && typeof known.identity === 'string' && known.stat && sameStat(known.stat, stat)) {
      const hit = this.result(target, known.identity);
      if (hit) return { ...none, hit, via: 'stat', stat };
    }
    const log = new ReadLog(target, s.dev, stat.ino, stat.size);
    const head = headDigest(target);
    let digest: string | null = null;
    for (const c of this.candidates(stat.size, head)) {
      let identity: Identity | null;
      if (c.kind === 'file') {
        digest ??= await fileDigest(target);
        identity = `sha256:${digest}`;
      } else {
        const r = this.read<RangesEntry>(this.rangesFile(c.identity), this.rangesContext(c.identity));
        const d = validRanges(r, stat.size) ? extentsDigest(target, stat.size, r.extents, r.hints) : null;
        identity = d && `extents:${d}` === c.identity ? c.identity : null;
      }
      const hit = identity && this.result(target, identity);
      if (hit) {
        this.write(this.pathFile(target), this.pathContext(target), { stat, identity: identity! } satisfies PathEntry);
        return { hit, via: c.kind === 'file' ? 'digest' : 'extents', stat, head, digest, log: null };
      }
    }
    return { hit: null, via: null, stat, head, digest, log };
  }

  /**
   * A result cached under an identity the caller knows without reading a file (a registry image: `oci-manifest:` +
   * the digest of its image manifest, which names its config and every layer by digest).
   */
  known(target: string, identity: string): TargetResult | null {
    return this.result(target, identity);
  }

  /** Record a finished audit under such an identity (failed audits are not cached). */
  storeKnown(identity: string, result: TargetResult): void {
    if (result.status === 'failed') return;
    this.write(this.resultFile(identity), this.resultContext(identity), { result: omitTarget(result) } satisfies ResultEntry);
  }

  private write(file: string, context: string, data: unknown): void {
    writeSealed(file, this.key, context, data);
  }

  /**
   * Record a finished audit (run under `lookup.log`: withReadLog). Failed audits are not cached: the next run tries
   * again. Returns why nothing was stored, or null.
   */
  async store(target: string, lookup: CacheLookup, result: TargetResult): Promise<string | null> {
    if (!lookup.stat || result.status === 'failed') return null;
    const log = lookup.log;
    if (log?.changed) return 'the file changed while it was audited: not cached';
    if (log?.remote) {
      // What the audit read and its digests when that is all the result depends on; else the URL and its version
      // (every answer of the audit had that version, or it failed).
      const identity = log.complete(result.backend)
        ? `extents:${log.identity().digest}`
        : `remote:${sha(`${target}\0${lookup.stat.size}\0${lookup.stat.version ?? ''}`)}`;
      this.write(this.resultFile(identity), this.resultContext(identity), { result: omitTarget(result) } satisfies ResultEntry);
      this.write(this.pathFile(target), this.pathContext(target), { stat: lookup.stat, identity } satisfies PathEntry);
      return null;
    }
    let identity: Identity;
    let candidate: Candidate;
    let ranges: RangesEntry | null = null;
    if (log?.complete(result.backend)) {
      const x = log.identity();
      identity = `extents:${x.digest}`;
      candidate = { kind: 'extents', identity };
      ranges = { extents: x.extents, hints: x.hints };
    } else {
      identity = `sha256:${lookup.digest ?? (await (log ? log.fullDigest() : fileDigest(target)))}`;
      candidate = { kind: 'file' };
    }
    // What was read must be what the identity and the next run's stat check describe.
    const after = statKey(target);
    if (!after || !sameStat(after.key, lookup.stat)) return 'the file changed while it was audited: not cached';
    const head = lookup.head ?? headDigest(target);
    if (ranges) this.write(this.rangesFile(identity), this.rangesContext(identity), ranges);
    this.write(this.resultFile(identity), this.resultContext(identity), { result: omitTarget(result) } satisfies ResultEntry);
    const size = lookup.stat.size;
    const same = (c: Candidate) => (c.kind === 'file' ? candidate.kind === 'file' : candidate.kind === 'extents' && c.identity === candidate.identity);
    const rest = this.candidates(size, head).filter((c) => !same(c));
    this.write(this.indexFile(size, head), this.indexContext(size, head), {
      candidates: [candidate, ...rest].slice(0, MAX_CANDIDATES),
    } satisfies IndexEntry);
    this.write(this.pathFile(target), this.pathContext(target), { stat: lookup.stat, identity } satisfies PathEntry);
    return null;
  }
}

/** How a target is named in the cache: a local path absolute, a URL as it is. */
function where(target: string): string {
  return isRemoteTarget(target) ? target : path.resolve(target);
}

function omitTarget(result: TargetResult): Omit<TargetResult, 'target'> {
  const { target: _t, ...rest } = result;
  return rest;
}
