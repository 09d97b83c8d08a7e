/**
 * `--cache DIR`: audit results keyed by image identity and rule set, so an unchanged image is not read again.
 *
 * Identity: a content digest (sha256) of the image file. Computing it reads the whole file, so a cheap pre-check
 * comes first: when size, mtime, ctime and inode match what the last run recorded for that path, the recorded
 * digest is used as is. Otherwise the digest is computed and looked up, so a copied, moved or touched but unchanged
 * image still hits. Entries are written atomically as each target finishes (an interrupted run keeps what it did);
 * an unreadable or corrupt entry is a miss and is rewritten.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { TargetResult } from '../types.js';

const FORMAT = 1;

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

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

async function writeAtomic(file: string, data: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(data));
  await fsp.rename(tmp, file);
}

interface PathEntry {
  format: number;
  stat: StatKey;
  digest: string;
}

interface ResultEntry {
  format: number;
  result: Omit<TargetResult, 'target'>;
}

export class ResultCache {
  constructor(
    readonly dir: string,
    private readonly rulesHash: string,
  ) {}

  private pathFile(target: string): string {
    return path.join(this.dir, 'paths', `${sha(path.resolve(target) + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private resultFile(digest: string): string {
    return path.join(this.dir, 'results', `${sha(digest + '\0' + this.rulesHash).slice(0, 40)}.json`);
  }

  private async result(target: string, digest: string): Promise<TargetResult | null> {
    const e = await readJson<ResultEntry>(this.resultFile(digest));
    if (!e || e.format !== FORMAT || !e.result || !Array.isArray(e.result.findings)) return null;
    // The target first, as a fresh audit has it: a cached report is byte-identical but for durationMs.
    return { target, ...e.result } as TargetResult;
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
    const known = await readJson<PathEntry>(this.pathFile(target));
    if (known && known.format === FORMAT && JSON.stringify(known.stat) === JSON.stringify(stat)) {
      const hit = await this.result(target, known.digest);
      if (hit) return { hit, via: 'stat', stat, digest: known.digest };
    }
    const digest = await fileDigest(target);
    const hit = await this.result(target, digest);
    if (hit) await writeAtomic(this.pathFile(target), { format: FORMAT, stat, digest } satisfies PathEntry);
    return { hit, via: hit ? 'digest' : null, stat, digest };
  }

  /** Record a finished audit. Failed audits are not cached: the next run tries again. */
  async store(target: string, lookup: CacheLookup, result: TargetResult): Promise<void> {
    if (!lookup.stat || !lookup.digest || result.status === 'failed') return;
    const { target: _t, ...rest } = result;
    await writeAtomic(this.resultFile(lookup.digest), { format: FORMAT, result: rest } satisfies ResultEntry);
    await writeAtomic(this.pathFile(target), { format: FORMAT, stat: lookup.stat, digest: lookup.digest } satisfies PathEntry);
  }
}
