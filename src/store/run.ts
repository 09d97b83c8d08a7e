/**
 * The store's loop over many targets: `jobs` at once, each through the result cache when there is one, redacted,
 * handed on as it finishes. It calls scan.ts for each target (the store drives scan, never the reverse).
 */
import { oneLine } from '../errors.js';
import { TOOL } from '../paths.js';
import { redactResult } from '../engine/runtime/redact-result.js';
import { withReadLog } from '../image/readlog.js';
import { scanTarget, targetTimeoutS, type ScanOptions } from '../scan.js';
import { isRegistryReference } from '../remote/reference.js';
import type { RegistrySession } from '../remote/registry.js';
import type { Report, TargetResult } from '../types.js';
import type { ResultCache } from './cache.js';
import { mapPool, type Semaphore } from './pool.js';
import { NO_PROGRESS, type Progress } from './progress.js';

export interface StoreOptions {
  /** How many targets are audited at once. */
  jobs?: number;
  /** Caps concurrent guestfs appliances (memory), below `jobs`. */
  appliances?: Semaphore;
  cache?: ResultCache | null;
  progress?: Progress;
  /**
   * Called as each target finishes (in completion order), with its place in the report's targets, e.g. to stream
   * jsonl, or json in report order.
   */
  onResult?: (r: TargetResult, index: number) => void | Promise<void>;
  /** Keep every result in the returned report (false for streamed formats: memory stays flat). */
  retain?: boolean;
}

/**
 * A registry image through the cache: keyed by the digest of its image manifest (asked of the registry, no blob
 * read); on a miss the audit reads that manifest by its digest, and the result is stored only when it did.
 */
async function scanRegistryCached(target: string, cache: ResultCache, opts: ScanOptions & StoreOptions): Promise<TargetResult> {
  let digest: string;
  // One login for the lookup and the audit after it: the audit's client starts with the lookup's token.
  const session: RegistrySession = { authorization: null };
  try {
    const { registryIdentity } = await import('../resolve/registry.js');
    digest = await registryIdentity(target, { ...opts.registry, session }, AbortSignal.timeout(targetTimeoutS(opts) * 1000), opts.verbose);
  } catch (err) {
    opts.verbose?.(`${target}: cache lookup failed: ${oneLine(err)}`);
    return scanTarget(target, opts);
  }
  const identity = `oci-manifest:${digest}`;
  const hit = cache.known(target, identity);
  if (hit) {
    opts.verbose?.(`${target}: cached result (matched by manifest digest ${digest})`);
    const { filesystems, findings, ...head } = hit;
    return { ...head, cached: true, filesystems, findings };
  }
  // The audit reads the manifest by the digest just resolved: no second tag and index lookup, no tag moving between.
  const result = await scanTarget(target, { ...opts, registry: { ...opts.registry, digest, session } });
  if (result.digest === digest) {
    try {
      cache.storeKnown(identity, result);
    } catch (err) {
      opts.verbose?.(`${target}: cache write failed: ${oneLine(err)}`);
    }
  } else if (result.status !== 'failed') opts.verbose?.(`${target}: the tag moved while it was audited: not cached`);
  return result;
}

/** One target, through the cache when there is one. */
async function scanCached(target: string, opts: ScanOptions & StoreOptions): Promise<TargetResult> {
  if (!opts.cache) return scanTarget(target, opts);
  if (isRegistryReference(target)) return scanRegistryCached(target, opts.cache, opts);
  let lookup;
  try {
    lookup = await opts.cache.lookup(target);
  } catch (err) {
    // The file vanished or became unreadable between stat and digest: audit it uncached (the audit says why).
    opts.verbose?.(`${target}: cache lookup failed: ${oneLine(err)}`);
    return scanTarget(target, opts);
  }
  if (lookup.hit) {
    opts.verbose?.(`${target}: cached result (matched by ${lookup.via})`);
    // Marked, next to the old audit's time and duration, so no one reads them as this run's.
    const { filesystems, findings, ...head } = lookup.hit;
    return { ...head, cached: true, filesystems, findings };
  }
  // Under the target's read log: the audit records what it reads of the image, which becomes its identity.
  const log = lookup.log;
  const result = log ? await withReadLog(log, () => scanTarget(target, opts)) : await scanTarget(target, opts);
  const why = await opts.cache.store(target, lookup, result).catch((err: unknown) => `cache write failed: ${oneLine(err)}`);
  if (why) opts.verbose?.(`${target}: ${why}`);
  return result;
}

/**
 * Audit targets as they are: the store use case (src/store/index.ts) has already expanded directories and folders of
 * build products into the targets of the report, in its order.
 */
export async function auditTargets(targets: string[], opts: ScanOptions & StoreOptions): Promise<Report> {
  const retain = opts.retain ?? true;
  const progress = opts.progress ?? NO_PROGRESS;
  const results = await mapPool(targets, opts.jobs ?? 1, async (t, i) => {
    progress.start(t);
    // The one place results are redacted (src/engine/runtime/redact-result.ts): before the stream, the gate and
    // every reporter see them.
    const r = redactResult(await scanCached(t, opts));
    progress.done(t, r.status);
    await opts.onResult?.(r, i);
    return retain ? r : { ...r, findings: [], filesystems: [] };
  });
  progress.finish();
  return { version: 1, tool: { ...TOOL }, targets: results };
}
