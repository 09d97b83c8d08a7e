/**
 * GitLab Code Quality (`artifacts:reports:codequality`): the Code Climate subset GitLab reads, a JSON array of
 * issues with `description`, `check_name` (the rule id), `fingerprint`, `severity`, `location.path` and
 * `location.lines.begin`. GitLab shows new and fixed issues in the merge request by comparing fingerprints with the
 * target branch's report, so the fingerprint is the SARIF one: the finding's fingerprint (what identifies the leak,
 * src/fingerprint.ts) with the image's stable name, the same across rebuilds. GitLab keeps one issue per
 * fingerprint, so a repeat is left out.
 *
 * - `severity`: the finding's severity sets the band and the rule's security-severity picks within it: error ->
 *   `blocker` for a critical rule (> 9.0, secrets) else `critical`; warning -> `major` from 5.0 (instance identity,
 *   permissions, session residue that may hold secrets) else `minor`; info -> `info`.
 * - `location.path`: the path inside the image without its leading slash (`<device>/path` for a filesystem that
 *   stands alone); `lines.begin` is the line of a content match, else 1. The description names the image and
 *   carries the redacted evidence, as every other format does.
 * - Suppressed findings (ignored, baselined) are not issues: they are accepted.
 * - A target that could not be audited completely is a `blocker` issue (`check_name` `target-failed` or
 *   `target-partial`, at the target's stable name), so the widget never shows an unread image as clean.
 * Everything else (evidence, how to fix) is in the JSON, SARIF and HTML reports.
 */
import { nodeCrypto } from '../lazy.js';
import { splitFindingPath } from '../finding-path.js';
import type { Finding, Report, RuleMeta, TargetResult } from '../types.js';
import { imageFingerprint, stableTargetName } from './sarif.js';
import { securitySeverity } from './security.js';

export type CodeQualitySeverity = 'info' | 'minor' | 'major' | 'critical' | 'blocker';

export interface CodeQualityIssue {
  description: string;
  check_name: string;
  fingerprint: string;
  severity: CodeQualitySeverity;
  location: { path: string; lines: { begin: number } };
}

export interface GitlabOptions {
  rules?: readonly RuleMeta[];
}

/** The Code Quality severity of a finding of a rule with this security-severity score. */
export function codeQualitySeverity(f: Pick<Finding, 'severity'>, score: number): CodeQualitySeverity {
  if (f.severity === 'error') return score > 9.0 ? 'blocker' : 'critical';
  if (f.severity === 'warning') return score >= 5.0 ? 'major' : 'minor';
  return 'info';
}

/** The path inside the image, relative: GitLab wants no leading slash. */
function relativePath(findingPath: string): string {
  const { device, path } = splitFindingPath(findingPath);
  const rest = path.replace(/^\/+/, '');
  const p = device ? `${device.replace(/^\/+/, '')}/${rest}` : rest;
  return p === '' ? '.' : p;
}

function incomplete(t: TargetResult): CodeQualityIssue {
  const kind = t.status === 'failed' ? 'target-failed' : 'target-partial';
  return {
    description: `${t.target}: ${t.status === 'failed' ? 'not audited' : 'audited only in part'}: ${t.error ?? 'unknown error'}`,
    check_name: kind,
    fingerprint: nodeCrypto().createHash('sha256').update(`${kind}\0${stableTargetName(t.target)}`).digest('hex'),
    severity: 'blocker',
    location: { path: stableTargetName(t.target) || '.', lines: { begin: 1 } },
  };
}

export function formatGitlab(report: Report, opts: GitlabOptions = {}): string {
  const score = new Map((opts.rules ?? []).map((m) => [m.id, securitySeverity(m)]));
  const issues: CodeQualityIssue[] = [];
  const seen = new Set<string>();
  for (const t of report.targets) {
    if (t.status !== 'ok') issues.push(incomplete(t));
    for (const f of t.findings) {
      if (f.suppressed) continue;
      const fingerprint = imageFingerprint(t.target, f);
      if (seen.has(fingerprint)) continue;
      seen.add(fingerprint);
      issues.push({
        description: `${f.message} (in ${t.target})${f.evidence ? `; evidence: ${f.evidence}` : ''}`,
        check_name: f.ruleId,
        fingerprint,
        severity: codeQualitySeverity(f, score.get(f.ruleId) ?? securitySeverity({ severity: f.severity, tags: [] })),
        location: { path: relativePath(f.path), lines: { begin: f.line ?? 1 } },
      });
    }
  }
  return `${JSON.stringify(issues, null, 2)}\n`;
}
