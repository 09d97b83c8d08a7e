/**
 * The store use case behind one entry: audit many targets the way a scheduled audit of an artifact store needs it.
 * Expand directories (`--recursive`) and build-product folders, keep this run's shard, audit `jobs` targets at once
 * with appliances capped by memory, reuse cached results of unchanged images, and hand each result on as it finishes
 * (streamed reports). The CLI only turns flags into a StoreRequest.
 */
import { statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { VERSION } from '../paths.js';
import { expandProducts, isAuditableFile, isContainerFolder } from '../resolve/index.js';
import { targetTimeoutS, type ScanOptions } from '../scan.js';
import type { Report, RunInfo, TargetResult } from '../types.js';
import { FINGERPRINT_VERSION } from '../fingerprint.js';
// The result cache (and the sealing and HTTP code under it) loads when a run uses it (--cache, --shard): `import()`
// is a lazy init in the bundle (scripts/bundle.mjs), so a plain scan never initialises it.
import type { ResultCache } from './cache.js';
import { defaultJobs, Semaphore } from './pool.js';
import { logProgress, terminalProgress } from './progress.js';
import { auditTargets } from './run.js';
import { inShard, type Shard } from './shard.js';
import { expandTargets } from './targets.js';

export interface StoreRequest extends ScanOptions {
  /** Targets as the user named them. */
  targets: string[];
  /** Find images in directories by their magic bytes. */
  recursive: boolean;
  /** Audit only this shard of the targets (src/store/shard.ts resolves the flags). */
  shard?: Shard | null;
  /** Called once the run's facts (start time, shard) are known, before the first target is audited. */
  onStart?: (run: RunInfo) => void | Promise<void>;
  /** Targets audited at once (default: fits the machine). */
  jobs?: number;
  /** Result-cache directory (absolute), or none. */
  cacheDir?: string | null;
  /** File holding the key that seals cache entries (default: the user's state directory). */
  cacheKeyFile?: string | null;
  /** A progress bar on a terminal, or (`everyS`) a line every `everyS` seconds and one at the end, for logs. */
  progress?: { write: (s: string) => void; columns?: number; everyS?: number };
  /** Called as each target finishes, in completion order, with its place in the report's targets. */
  onResult?: (r: TargetResult, index: number) => void | Promise<void>;
  /** Keep every result in the returned report (false for streamed formats: memory stays flat). */
  retain: boolean;
}

/**
 * What decides a cached result besides the image's bytes. The cache holds raw audit results; ignores and baselines
 * are applied after it, so they never need a rescan.
 */
export async function cacheKey(req: Pick<StoreRequest, 'backend' | 'host' | 'rules' | 'allowBackingFile' | 'nested'>): Promise<string> {
  return (await import('./cache.js')).configHash({ ...auditParts(req), host: req.host });
}

/**
 * The rule set and configuration a report's shard records: the cache key's parts without the host identity, which
 * defaults to each machine's own (every pod of a Kubernetes Job has its own host name) and so would tell the shards
 * of one audit apart.
 */
export async function ruleSetHash(req: Pick<StoreRequest, 'backend' | 'rules' | 'allowBackingFile' | 'nested'>): Promise<string> {
  return (await import('./cache.js')).configHash(auditParts(req));
}

function auditParts(req: Pick<StoreRequest, 'backend' | 'rules' | 'allowBackingFile' | 'nested'>) {
  return {
    version: VERSION,
    // Findings carry their fingerprint: a new recipe must not reuse results fingerprinted by the old one.
    fingerprintVersion: FINGERPRINT_VERSION,
    backend: req.backend,
    // A rule edited under the same id (a YAML rule, or a built-in between two builds) must not hit old results.
    rules: req.rules.map((r) => ({
      meta: r.rule.meta,
      code: String(r.rule.check),
      definition: r.rule.definition ?? null,
      severity: r.severity,
      options: r.options,
    })),
    // With backing files allowed an overlay audits to other findings than when it is refused.
    allowBackingFile: req.allowBackingFile ?? false,
    // --no-nested audits less of the same image.
    nested: req.nested ?? true,
  };
}

async function openCache(req: StoreRequest, dir: string): Promise<ResultCache> {
  const { loadCacheKey, ResultCache } = await import('./cache.js');
  return new ResultCache(dir, await cacheKey(req), loadCacheKey(dir, req.cacheKeyFile ?? null));
}

/** Audit the store; null when there was nothing to audit (an empty or unmounted store is never a clean audit). */
export async function auditStore(req: StoreRequest): Promise<Report | null> {
  if (req.cacheDir && statSync(req.cacheDir, { throwIfNoEntry: false })?.isDirectory() === false) {
    // `scan --cache IMG OTHER`: the first image was taken for the cache folder.
    throw new UsageError(`--cache ${req.cacheDir} is a file, not a folder: hostleak scan --cache DIR TARGET...`);
  }
  const startedAt = new Date().toISOString();
  const shard = req.shard ?? null;
  const jobsDefault = defaultJobs();
  const jobs = req.jobs === undefined ? jobsDefault.jobs : Number(req.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs takes a whole number >= 1, not '${req.jobs}'`);
  const { verbose } = req;
  const listed = await expandTargets(req.targets, { recursive: req.recursive, isImage: isAuditableFile, isImageFolder: isContainerFolder, verbose });
  // A folder of build products (a nix `result`, a Hydra output) is one target per product.
  const expanded = req.backend === 'auto' ? await expandProducts(listed, verbose, targetTimeoutS(req)) : listed;
  // Only --recursive can find nothing: a named target is always audited, if only to fail.
  if (expanded.length === 0) return null;
  const targets = expanded.filter((t) => inShard(t, shard));
  if (shard) verbose?.(`shard ${shard.index}/${shard.count}: ${targets.length} of ${expanded.length} targets`);
  const run: RunInfo = { startedAt };
  if (shard) run.shard = { index: shard.index, count: shard.count, store: req.targets, configHash: await ruleSetHash(req) };
  await req.onStart?.(run);
  const report = await auditTargets(targets, {
    ...req,
    jobs,
    appliances: new Semaphore(Math.min(jobs, jobsDefault.appliances)),
    cache: req.cacheDir ? await openCache(req, req.cacheDir) : null,
    progress: !req.progress
      ? undefined
      : req.progress.everyS !== undefined
        ? logProgress(targets.length, req.progress.write, req.progress.everyS)
        : terminalProgress(targets.length, req.progress.write, req.progress.columns),
  });
  return { version: report.version, tool: report.tool, run, targets: report.targets };
}
