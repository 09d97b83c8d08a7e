/**
 * GitHub Actions workflow commands (`::error|warning|notice title=...,file=...::message`), so findings show as
 * annotations on the run.
 *
 * The Actions UI keeps at most 10 error and 10 warning annotations per step (more are dropped without a word), so
 * this reporter picks what to annotate: the most important first (targets not audited completely, then findings by
 * severity, then by the rule's security-severity, then by path), at most 10 of each level, and one last notice that
 * counts what it left out. The step summary (`--format markdown`) and the SARIF report list everything.
 * Suppressed findings are not annotated.
 *
 * Escaping follows the runner's own rules: data (the message) escapes `%`, CR and LF; a property value (title, file)
 * also escapes `:` and `,`. Each value is escaped exactly once, and `file` is the plain path inside the image (no
 * URI encoding on top).
 */
import type { Finding, Report, Severity, TargetResult } from '../types.js';
import { splitFindingPath } from '../finding-path.js';
import type { RuleMeta } from '../types.js';
import { SEVERITY_RANK } from '../types.js';
import { securitySeverity } from './security.js';
import { visibleText } from '../escape.js';

/** Annotations GitHub shows per step and level. */
export const ANNOTATION_LIMIT = 10;

export type AnnotationLevel = 'error' | 'warning' | 'notice';

/**
 * Escape a command's message (data): `%`, CR and LF as the runner expects. Every other control, bidi or invisible
 * character (an image name with ESC, BEL, an OSC-8 link) is shown as an escape (`\e`), never handed to the log
 * viewer; CR too, so only our own line breaks remain.
 */
export function escapeData(s: string): string {
  return visibleText(s).replace(/%/g, '%25').replace(/\n/g, '%0A');
}

/** Escape a command property value: like data, plus `:` and `,` which delimit properties. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function workflowCommand(level: AnnotationLevel, props: Record<string, string>, message: string): string {
  const p = Object.entries(props)
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${level}${p ? ` ${p}` : ''}::${escapeData(message)}`;
}

const LEVEL: Record<Severity, AnnotationLevel> = { error: 'error', warning: 'warning', info: 'notice' };

/** The path inside the image as a relative file name (`etc/ssh/x`; `dev/sda2/etc/x` for a standalone filesystem). */
export function annotationFile(findingPath: string): string {
  const { device, path: rest } = splitFindingPath(findingPath);
  const p = (device ? `${device}${rest}` : rest).replace(/^\/+/, '');
  return p === '' ? '.' : p;
}

export interface Annotation {
  level: AnnotationLevel;
  target: TargetResult;
  finding: Finding | null;
}

export interface AnnotationPlan {
  shown: Annotation[];
  /** Per level: how many were found and how many are left out. */
  counts: Record<AnnotationLevel, { total: number; hidden: number }>;
}

/**
 * What to annotate, most important first, within GitHub's per-step limit. One notice slot is kept for the summary
 * line when something is left out (notices count against a limit of their own).
 */
export function planAnnotations(report: Report, rules: readonly RuleMeta[] = []): AnnotationPlan {
  const score = new Map(rules.map((r) => [r.id, securitySeverity(r)]));
  const all: Annotation[] = [];
  for (const t of report.targets) {
    if (t.status !== 'ok') all.push({ level: 'error', target: t, finding: null });
    for (const f of t.findings) if (!f.suppressed) all.push({ level: LEVEL[f.severity], target: t, finding: f });
  }
  const rank = (a: Annotation) => (a.finding ? SEVERITY_RANK[a.finding.severity] : 4);
  all.sort(
    (a, b) =>
      rank(b) - rank(a) ||
      (b.finding ? (score.get(b.finding.ruleId) ?? 0) : 0) - (a.finding ? (score.get(a.finding.ruleId) ?? 0) : 0) ||
      (a.finding && b.finding ? (a.finding.path < b.finding.path ? -1 : a.finding.path > b.finding.path ? 1 : 0) : 0),
  );
  const counts: AnnotationPlan['counts'] = {
    error: { total: 0, hidden: 0 },
    warning: { total: 0, hidden: 0 },
    notice: { total: 0, hidden: 0 },
  };
  for (const a of all) counts[a.level].total++;
  const overflow = all.length > 0 && (['error', 'warning', 'notice'] as const).some((l) => counts[l].total > ANNOTATION_LIMIT);
  const limit: Record<AnnotationLevel, number> = {
    error: ANNOTATION_LIMIT,
    warning: ANNOTATION_LIMIT,
    notice: overflow ? ANNOTATION_LIMIT - 1 : ANNOTATION_LIMIT,
  };
  const shown: Annotation[] = [];
  const used: Record<AnnotationLevel, number> = { error: 0, warning: 0, notice: 0 };
  for (const a of all) {
    if (used[a.level] < limit[a.level]) {
      used[a.level]++;
      shown.push(a);
    } else counts[a.level].hidden++;
  }
  return { shown, counts };
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** "5 errors and 9 warnings" for what the plan left out, or null when nothing was. */
export function hiddenSummary(plan: AnnotationPlan): string | null {
  const parts: string[] = [];
  if (plan.counts.error.hidden > 0) parts.push(plural(plan.counts.error.hidden, 'error'));
  if (plan.counts.warning.hidden > 0) parts.push(plural(plan.counts.warning.hidden, 'warning'));
  if (plan.counts.notice.hidden > 0) parts.push(plural(plan.counts.notice.hidden, 'notice'));
  return parts.length === 0 ? null : parts.join(', ').replace(/, ([^,]*)$/, ' and $1');
}

function line(a: Annotation): string {
  const t = a.target;
  const f = a.finding;
  if (!f) {
    return workflowCommand(
      'error',
      { title: `hostleak: ${t.target} ${t.status === 'failed' ? 'not audited' : 'audited only in part'}` },
      `${t.target}: ${t.error ?? 'unknown error'}`,
    );
  }
  const lines = [`${f.path}: ${f.message}`];
  if (f.evidence) lines.push(`Evidence: ${f.evidence}`);
  lines.push(`How to fix: ${f.remediation}`, `Target: ${t.target}`);
  const props: Record<string, string> = { title: `hostleak ${f.ruleId}: ${f.path}`, file: annotationFile(f.path) };
  if (f.line !== undefined) props.line = String(f.line);
  if (f.column !== undefined) props.col = String(f.column);
  return workflowCommand(a.level, props, lines.join('\n'));
}

export function formatGithub(report: Report, opts: { rules?: readonly RuleMeta[] } = {}): string {
  const plan = planAnnotations(report, opts.rules);
  const out = plan.shown.map(line);
  const hidden = hiddenSummary(plan);
  if (hidden) {
    out.push(
      workflowCommand(
        'notice',
        { title: 'hostleak: more findings than GitHub annotates' },
        `${hidden} not annotated: GitHub shows ${ANNOTATION_LIMIT} error and ${ANNOTATION_LIMIT} warning annotations per step. ` +
          'The job summary, the SARIF report (code scanning) and the JSON report list every finding.',
      ),
    );
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}
