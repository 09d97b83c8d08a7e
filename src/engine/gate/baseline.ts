/**
 * Baselines: the fingerprints of accepted findings. `--write-baseline FILE` records the current findings;
 * `--baseline FILE` then suppresses every finding whose fingerprint is in it, so only new leaks fail the build.
 * The file is JSON, sorted and free of timestamps, so it diffs well in review.
 */
import { BaselineError } from '../../errors.js';
import type { Finding, Report } from '../../types.js';
import { fingerprint, FINGERPRINT_VERSION } from '../../fingerprint.js';

export const BASELINE_VERSION = 1;

export interface BaselineEntry {
  fingerprint: string;
  /** For humans reading the file; matching uses the fingerprint only. */
  ruleId: string;
  path: string;
}

export interface BaselineFile {
  version: typeof BASELINE_VERSION;
  tool: 'hostleak';
  fingerprintVersion: number;
  findings: BaselineEntry[];
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
    (a, b) => a.ruleId.localeCompare(b.ruleId) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) ||
      a.fingerprint.localeCompare(b.fingerprint),
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
  if (d.version !== BASELINE_VERSION) throw new BaselineError(`${source}: version: expected ${BASELINE_VERSION}`);
  if (d.fingerprintVersion !== FINGERPRINT_VERSION) {
    throw new BaselineError(
      `${source}: fingerprintVersion: ${String(d.fingerprintVersion)} is not ${FINGERPRINT_VERSION}; write the baseline again`,
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

export function baselineSet(b: BaselineFile): Set<string> {
  return new Set(b.findings.map((e) => e.fingerprint));
}

export function inBaseline(f: Finding, set: Set<string>): boolean {
  return set.has(fingerprint(f));
}
