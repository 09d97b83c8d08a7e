/**
 * `--cache DIR`: audit results keyed by image identity and rule set, so an unchanged image is not read again.
 *
 * Identity: a content digest (sha256) of the image file. Computing it reads the whole file, so a cheap pre-check
 * comes first: when size, mtime, ctime and inode match what the last run recorded for that path, the recorded
 * digest is used as is. Otherwise the digest is computed and looked up, so a copied, moved or touched but unchanged
 * image still hits. Entries are written atomically as each target finishes (an interrupted run keeps what it did);
 * an unreadable or corrupt entry is a miss and is rewritten.
 *
 * Trust: the cache directory is untrusted (a CI cache restored from another branch, a shared volume). Every entry is
 * sealed with an HMAC-SHA256 under a key kept outside it (`--cache-key FILE`, `$HOSTLEAK_CACHE_KEY`, or a key file
 * created on first use in the user's state directory), over the entry's payload and what it is stored for (the path
 * or digest and the rule-set hash). An entry whose seal does not verify was not written by a holder of the key: it is
 * ignored, the image is audited and the entry rewritten. A cached result never names its target: the name is the one
 * asked for.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { TargetResult } from '../types.js';

const FORMAT = 2;

/** Where the cache key lives by default: the user's state directory, never the cache directory. */
export function defaultCacheKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'hostleak', 'cache.key');
}

/**
 * The key that seals cache entries: `$HOSTLEAK_CACHE_KEY` (a CI secret), else the file given (created with 32 random
 * bytes, mode 0600, when missing). A key file inside the cache directory is refused: it would be as untrusted as the
 * entries.
 */
export function loadCacheKey(cacheDir: string, keyFile: string | null, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.HOSTLEAK_CACHE_KEY) return createHash('sha256').update(env.HOSTLEAK_CACHE_KEY).digest();
  const file = path.resolve(keyFile ?? defaultCacheKeyFile(env));
  const rel = path.relative(path.resolve(cacheDir), file);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    throw new UsageError(`the cache key ${file} is inside the cache directory, which is not trusted: keep it elsewhere (--cache-key)`);
  }
  try {
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    }
    const key = readFileSync(file, 'utf8').trim();
    if (key.length < 32) throw new UsageError(`the cache key ${file} is too short (32 characters at least)`);
    return createHash('sha256').update(key).digest();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadCacheKey(cacheDir, file, env);
    throw new UsageError(`cannot read or create the cache key ${file}: ${(err as Error).message}`);
  }
}

export interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface CacheLookup {
  hit: TargetResult | null;
  /** How the hit was found, for --verbose. */
  via: 'stat' | 'digest' | null;
  stat: StatKey | null;
  digest: string | null;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

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

/** A sealed entry on disk: the payload as written (JSON text) and its HMAC. */
interface Sealed {
  format: number;
  payload: string;
  mac: string;
}

function mac(key: Buffer, context: string, payload: string): string {
  return createHmac('sha256', key).update(context).update('\0').update(payload).digest('hex');
}

/** The payload of a sealed entry whose MAC verifies for this context; null for anything else (a miss). */
async function readSealed<T>(file: string, key: Buffer, context: string): Promise<{ value: T | null; forged: boolean }> {
  let sealed: Sealed;
  try {
    sealed = JSON.parse(await fsp.readFile(file, 'utf8')) as Sealed;
  } catch {
    return { value: null, forged: false };
  }
  if (!sealed || sealed.format !== FORMAT || typeof sealed.payload !== 'string' || typeof sealed.mac !== 'string') {
    return { value: null, forged: false };
  }
  const want = Buffer.from(mac(key, context, sealed.payload), 'hex');
  const got = Buffer.from(sealed.mac, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { value: null, forged: true };
  try {
    return { value: JSON.parse(sealed.payload) as T, forged: false };
  } catch {
    return { value: null, forged: true };
  }
}

async function writeSealed(file: string, key: Buffer, context: string, data: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const payload = JSON.stringify(data);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify({ format: FORMAT, payload, mac: mac(key, context, payload) } satisfies Sealed));
  await fsp.rename(tmp, file);
}

interface PathEntry {
  stat: StatKey;
  digest: string;
}

interface ResultEntry {
  result: Omit<TargetResult, 'target'>;
}

export class ResultCache {
  /** Entries that failed verification this run (for --verbose and tests). */
  forged = 0;
  constructor(
    readonly dir: string,
    private readonly rulesHash: string,
    private readonly key: Buffer,
  ) {}

  private pathContext(target: string): string {
    return `path\0${path.resolve(target)}\0${this.rulesHash}`;
  }

  private resultContext(digest: string): string {
    return `result\0${digest}\0${this.rulesHash}`;
  }

  private pathFile(target: string): string {
    return path.join(this.dir, 'paths', `${sha(path.resolve(target) + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private resultFile(digest: string): string {
    return path.join(this.dir, 'results', `${sha(digest + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private async result(target: string, digest: string): Promise<TargetResult | null> {
    const { value: e, forged } = await readSealed<ResultEntry>(this.resultFile(digest), this.key, this.resultContext(digest));
    if (forged) this.forged++;
    if (!e || !e.result || typeof e.result !== 'object' || !Array.isArray(e.result.findings)) return null;
    // The target first, as a fresh audit has it (a cached report is byte-identical but for durationMs); the name is
    // always the one asked for, whatever the entry holds.
    const { target: _ignored, ...rest } = e.result as TargetResult;
    return { target, ...rest };
  }

  /** Only regular files are cached: a directory tree has no cheap identity. */
  async lookup(target: string): Promise<CacheLookup> {
    let st;
    try {
      st = await fsp.stat(target);
    } catch {
      return { hit: null, via: null, stat: null, digest: null };
    }
    if (!st.isFile()) return { hit: null, via: null, stat: null, digest: null };
    const stat: StatKey = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
    const { value: known, forged } = await readSealed<PathEntry>(this.pathFile(target), this.key, this.pathContext(target));
    if (forged) this.forged++;
    if (known && typeof known.digest === 'string' && JSON.stringify(known.stat) === JSON.stringify(stat)) {
      const hit = await this.result(target, known.digest);
      if (hit) return { hit, via: 'stat', stat, digest: known.digest };
    }
    const digest = await fileDigest(target);
    const hit = await this.result(target, digest);
    if (hit) await writeSealed(this.pathFile(target), this.key, this.pathContext(target), { stat, digest } satisfies PathEntry);
    return { hit, via: hit ? 'digest' : null, stat, digest };
  }

  /** Record a finished audit. Failed audits are not cached: the next run tries again. */
  async store(target: string, lookup: CacheLookup, result: TargetResult): Promise<void> {
    if (!lookup.stat || !lookup.digest || result.status === 'failed') return;
    const { target: _t, ...rest } = result;
    await writeSealed(this.resultFile(lookup.digest), this.key, this.resultContext(lookup.digest), { result: rest } satisfies ResultEntry);
    await writeSealed(this.pathFile(target), this.key, this.pathContext(target), { stat: lookup.stat, digest: lookup.digest } satisfies PathEntry);
  }
}
