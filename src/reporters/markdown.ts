/**
 * Markdown for a CI job's summary page (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab/Gitea comments): the counts per
 * target, every finding in one table (most important first), and what the annotation limit left off the run page.
 *
 * Everything from an image (paths, messages, evidence, target names) is escaped so it renders as text: no HTML, no
 * links, no table breaks. GitHub caps a step summary at 1 MiB, so the table stops at MAX_ROWS with a note.
 */
import type { RuleMeta } from '../types.js';
import type { Report, Severity } from '../types.js';
import { SEVERITY_RANK } from '../types.js';
import { ANNOTATION_LIMIT, hiddenSummary, planAnnotations } from './github.js';
import { securityLabel, securitySeverity } from './security.js';
import { visibleText } from '../escape.js';

export const MAX_ROWS = 1000;

/** Text for one table cell: HTML-escaped, Markdown punctuation backslash-escaped, one line. */
export function mdCell(s: string): string {
  return visibleText(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_{}[\]()#+!|~]/g, (c) => `\\${c}`)
    // No autolinks from image data: URLs, e-mail addresses and www. names stay text.
    .replace(/:/g, '&#58;')
    .replace(/@/g, '&#64;')
    .replace(/www\./gi, (m) => `${m.slice(0, 3)}&#46;`)
    .replace(/\n/g, '<br>');
}

const ICON: Record<Severity, string> = { error: ':red_circle: error', warning: ':warning: warning', info: ':information_source: info' };

export function formatMarkdown(report: Report, opts: { rules?: readonly RuleMeta[] } = {}): string {
  const rules = opts.rules ?? [];
  const score = new Map(rules.map((r) => [r.id, securitySeverity(r)]));
  const out: string[] = [];
  const active = report.targets.flatMap((t) => t.findings.filter((f) => !f.suppressed).map((f) => ({ t, f })));
  const count = (s: Severity) => active.filter((a) => a.f.severity === s).length;
  const incomplete = report.targets.filter((t) => t.status !== 'ok');
  const verdict =
    incomplete.length > 0
      ? `${incomplete.length} of ${report.targets.length} target${report.targets.length === 1 ? '' : 's'} not audited completely`
      : active.length === 0
        ? 'no findings'
        : `${active.length} finding${active.length === 1 ? '' : 's'}`;
  out.push(`## hostleak: ${verdict}`, '');
  out.push(`| target | status | errors | warnings | info | suppressed |`, `| --- | --- | ---: | ---: | ---: | ---: |`);
  for (const t of report.targets) {
    const mine = t.findings.filter((f) => !f.suppressed);
    const n = (s: Severity) => mine.filter((f) => f.severity === s).length;
    const status = t.status === 'ok' ? 'audited' : `**${t.status}**: ${mdCell(t.error ?? 'unknown error')}`;
    out.push(`| ${mdCell(t.target)} | ${status} | ${n('error')} | ${n('warning')} | ${n('info')} | ${t.findings.length - mine.length} |`);
  }
  out.push('', `**${count('error')}** errors, **${count('warning')}** warnings, **${count('info')}** info.`);

  const plan = planAnnotations(report, rules);
  const hidden = hiddenSummary(plan);
  if (hidden) {
    out.push(
      '',
      `> [!NOTE]\n> ${hidden} are not annotated on the run page: GitHub shows ${ANNOTATION_LIMIT} error and ` +
        `${ANNOTATION_LIMIT} warning annotations per step. The table below lists every finding.`,
    );
  }
  if (active.length > 0) {
    active.sort(
      (a, b) =>
        SEVERITY_RANK[b.f.severity] - SEVERITY_RANK[a.f.severity] ||
        (score.get(b.f.ruleId) ?? 0) - (score.get(a.f.ruleId) ?? 0) ||
        (a.f.path < b.f.path ? -1 : a.f.path > b.f.path ? 1 : 0),
    );
    const multi = report.targets.length > 1;
    out.push('', '### Findings', '');
    out.push(`| severity | rule | ${multi ? 'target | ' : ''}path | finding |`, `| --- | --- | ${multi ? '--- | ' : ''}--- | --- |`);
    for (const { t, f } of active.slice(0, MAX_ROWS)) {
      const s = score.get(f.ruleId);
      const sev = `${ICON[f.severity]}${s !== undefined ? ` (${securityLabel(s)})` : ''}`;
      const where = f.line !== undefined ? `${mdCell(f.path)}:${f.line}` : mdCell(f.path);
      const text = f.evidence ? `${mdCell(f.message)}<br>evidence: ${mdCell(f.evidence)}` : mdCell(f.message);
      out.push(`| ${sev} | ${mdCell(f.ruleId)} | ${multi ? `${mdCell(t.target)} | ` : ''}${where} | ${text} |`);
    }
    if (active.length > MAX_ROWS) out.push('', `${active.length - MAX_ROWS} more findings are in the JSON and SARIF reports.`);
  }
  return out.join('\n') + '\n';
}
