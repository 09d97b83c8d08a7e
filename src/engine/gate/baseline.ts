/**
 * Baselines: the fingerprints of accepted findings. `--write-baseline FILE` records the current findings;
 * `--baseline FILE` then suppresses every finding whose fingerprint is in it, so only new leaks fail the build.
 * The file is JSON, sorted and free of timestamps, so it diffs well in review.
 *
 * Versions: `version` is the file layout, `fingerprintVersion` the recipe of its fingerprints
 * (src/fingerprint.ts). Files written by hostleak 0.1.0 (version 1, fingerprint version 1) still load and
 * match with the recipe they were written with; the run suggests writing them again, because version-1 fingerprints
 * include the evidence, which a rebuild changes.
 */
import { byCodePoint } from '../../arrays.js';
import { BaselineError } from '../../errors.js';
import type { Finding, Report } from '../../types.js';
import { fingerprint, FINGERPRINT_VERSION, legacyFingerprint } from '../../fingerprint.js';

export const BASELINE_VERSION = 2;
/** Layout versions this hostleak reads, and the fingerprint recipes it can match. */
const READS = new Set([1, 2]);
const RECIPES = new Set([1, FINGERPRINT_VERSION]);

export interface BaselineEntry {
  fingerprint: string;
  /** For humans reading the file (and for messages about entries that matched nothing); matching uses the fingerprint. */
  ruleId: string;
  path: string;
}

export interface BaselineFile {
  version: number;
  tool: 'hostleak';
  fingerprintVersion: number;
  findings: BaselineEntry[];
}

/** A baseline ready to match findings against. */
export interface LoadedBaseline {
  source: string;
  fingerprintVersion: number;
  entries: BaselineEntry[];
  fingerprints: Set<string>;
}

/**
 * The baseline of a report: every finding that counts now, plus those an earlier baseline suppressed (they stay
 * accepted). Findings an ignore entry suppressed are left out, so that entry's expiry still brings them back.
 */
export function createBaseline(report: Report): BaselineFile {
  const byFp = new Map<string, BaselineEntry>();
  for (const t of report.targets) {
    for (const f of t.findings) {
      if (f.suppressed?.kind === 'ignore') continue;
      const fp = fingerprint(f);
      if (!byFp.has(fp)) byFp.set(fp, { fingerprint: fp, ruleId: f.ruleId, path: f.path });
    }
  }
  const findings = [...byFp.values()].sort(
    (a, b) => byCodePoint(a.ruleId, b.ruleId) || byCodePoint(a.path, b.path) || byCodePoint(a.fingerprint, b.fingerprint),
  );
  return { version: BASELINE_VERSION, tool: 'hostleak', fingerprintVersion: FINGERPRINT_VERSION, findings };
}

export function serializeBaseline(b: BaselineFile): string {
  return JSON.stringify(b, null, 2) + '\n';
}

/** Parse and check a baseline file's text; `source` names it in errors. */
export function parseBaseline(text: string, source: string): BaselineFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new BaselineError(`${source}: not JSON (${(err as Error).message})`);
  }
  const d = data as Partial<BaselineFile> | null;
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new BaselineError(`${source}: not a hostleak baseline`);
  if (typeof d.version !== 'number' || !READS.has(d.version)) {
    throw new BaselineError(`${source}: version: ${String(d.version)} is not one this hostleak reads (${[...READS].join(', ')})`);
  }
  if (typeof d.fingerprintVersion !== 'number' || !RECIPES.has(d.fingerprintVersion)) {
    throw new BaselineError(
      `${source}: fingerprintVersion: ${String(d.fingerprintVersion)} is not one this hostleak knows; write the baseline again`,
    );
  }
  if (!Array.isArray(d.findings)) throw new BaselineError(`${source}: findings: expected a list`);
  d.findings.forEach((e, i) => {
    if (!e || typeof e.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(e.fingerprint)) {
      throw new BaselineError(`${source}: findings[${i}].fingerprint: expected 64 hex digits`);
    }
  });
  return d as BaselineFile;
}

export function loadBaseline(text: string, source: string): LoadedBaseline {
  const b = parseBaseline(text, source);
  return {
    source,
    fingerprintVersion: b.fingerprintVersion,
    entries: b.findings,
    fingerprints: new Set(b.findings.map((e) => e.fingerprint)),
  };
}

/** A warning for a baseline written with an older fingerprint recipe, or null. */
export function baselineUpgradeNote(b: LoadedBaseline): string | null {
  if (b.fingerprintVersion === FINGERPRINT_VERSION) return null;
  return (
    `${b.source}: written by hostleak 0.1.0 (fingerprint version ${b.fingerprintVersion}): its fingerprints include ` +
    'the evidence, which changes when the image is rebuilt; write it again with --write-baseline'
  );
}

/** The baseline fingerprint this finding matches, or null. */
export function baselineMatch(f: Finding, b: LoadedBaseline): string | null {
  const fp = b.fingerprintVersion === 1 ? legacyFingerprint(f) : fingerprint(f);
  return b.fingerprints.has(fp) ? fp : null;
}
