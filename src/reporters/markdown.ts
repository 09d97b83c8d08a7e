/**
 * Markdown for a CI job's summary page (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab/Gitea comments): the counts per
 * target, every finding in one table (most important first), and what the annotation limit left off the run page.
 *
 * Everything from an image (paths, messages, evidence, target names) is escaped so it renders as text: no HTML, no
 * links, no table breaks. GitHub drops a step summary over 1 MiB, so the whole page stays under MAX_BYTES whatever
 * the store's size: targets with nothing to report are counted, not listed, and the tables stop (at MAX_ROWS
 * findings, or at the byte budget) with a note pointing to the full report.
 */
import type { RuleMeta } from '../types.js';
import type { Report, Severity } from '../types.js';
import { SEVERITY_RANK } from '../types.js';
import { ANNOTATION_LIMIT, hiddenSummary, planAnnotations } from './github.js';
import { securityLabel, securitySeverity } from './security.js';
import { visibleText } from '../escape.js';
import { plural } from '../words.js';
import { shortTime } from './text.js';

export const MAX_ROWS = 1000;
/** The page's size limit: GitHub's 1 MiB per step summary, less room for what a workflow appends around it. */
export const MAX_BYTES = 900 * 1024;

export interface MarkdownOptions {
  rules?: readonly RuleMeta[];
  /** Where the full report is (the run's artifacts page): named when the page is cut. */
  fullReport?: string;
}

/** Lines added while they fit in the byte budget; the first that does not closes the section. */
class Budget {
  private used = 0;
  constructor(
    private readonly out: string[],
    private limit: number,
  ) {}
  /** Adds the line if it fits, leaving `reserve` bytes for what must still come. */
  add(line: string, reserve = 0): boolean {
    const n = Buffer.byteLength(line) + 1;
    if (this.used + n + reserve > this.limit) return false;
    this.out.push(line);
    this.used += n;
    return true;
  }
  /** Always added (notes, headings): the reserve kept for them. */
  force(line: string): void {
    this.out.push(line);
    this.used += Buffer.byteLength(line) + 1;
  }
}

/** Room kept for the notes that close a cut table. */
const RESERVE = 2048;

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

export function formatMarkdown(report: Report, opts: MarkdownOptions = {}): string {
  const rules = opts.rules ?? [];
  const score = new Map(rules.map((r) => [r.id, securitySeverity(r)]));
  const out: string[] = [];
  const page = new Budget(out, MAX_BYTES);
  const where = opts.fullReport ? `the full report (${mdCell(opts.fullReport)})` : 'the full JSON or HTML report';
  const active = report.targets.flatMap((t) => t.findings.filter((f) => !f.suppressed).map((f) => ({ t, f })));
  const count = (s: Severity) => active.filter((a) => a.f.severity === s).length;
  const incomplete = report.targets.filter((t) => t.status !== 'ok');
  const verdict =
    incomplete.length > 0
      ? `${incomplete.length} of ${plural(report.targets.length, 'target')} not audited completely`
      : active.length === 0
        ? 'no findings'
        : plural(active.length, 'finding');
  page.force(`## hostleak: ${verdict}`);
  page.force('');
  const problem = report.run?.merged?.problem;
  if (problem) page.force(`> [!WARNING]\n> Incomplete merge: ${mdCell(problem)}. Part of the store is missing or counted twice.\n`);
  if (report.run?.startedAt) page.force(`Run started ${mdCell(shortTime(report.run.startedAt))}.\n`);
  // Targets worth a row: not audited completely, or with findings; the clean ones are counted.
  const listed = report.targets
    .map((t) => ({ t, mine: t.findings.filter((f) => !f.suppressed) }))
    .filter(({ t, mine }) => t.status !== 'ok' || mine.length > 0 || t.findings.length > 0);
  const clean = report.targets.length - listed.length;
  page.force(`| target | status | errors | warnings | info | suppressed |`);
  page.force(`| --- | --- | ---: | ---: | ---: | ---: |`);
  let shown = 0;
  for (const { t, mine } of listed) {
    const n = (s: Severity) => mine.filter((f) => f.severity === s).length;
    const status = t.status === 'ok' ? (t.cached ? 'audited (cached)' : 'audited') : `**${t.status}**: ${mdCell(t.error ?? 'unknown error')}`;
    // The targets' table gets half the page at most: the findings need the rest.
    if (!page.add(`| ${mdCell(t.target)} | ${status} | ${n('error')} | ${n('warning')} | ${n('info')} | ${t.findings.length - mine.length} |`, MAX_BYTES / 2)) break;
    shown++;
  }
  if (shown < listed.length) page.force(`\n${plural(listed.length - shown, 'more target')} with findings or not audited completely: see ${where}.`);
  if (clean > 0) page.force(`\n${plural(clean, 'target')} audited with no findings.`);
  page.force('');
  page.force(`**${count('error')}** errors, **${count('warning')}** warnings, **${count('info')}** info.`);

  const plan = planAnnotations(report, rules);
  const hidden = hiddenSummary(plan);
  if (hidden) {
    page.force('');
    page.force(
      `> [!NOTE]\n> ${hidden} are not annotated on the run page: GitHub shows ${ANNOTATION_LIMIT} error and ` +
        `${ANNOTATION_LIMIT} warning annotations per step. The table below lists the findings.`,
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
    page.force('');
    page.force('### Findings');
    page.force('');
    page.force(`| severity | rule | ${multi ? 'target | ' : ''}path | finding |`);
    page.force(`| --- | --- | ${multi ? '--- | ' : ''}--- | --- |`);
    let rows = 0;
    for (const { t, f } of active.slice(0, MAX_ROWS)) {
      const s = score.get(f.ruleId);
      const sev = `${ICON[f.severity]}${s !== undefined ? ` (${securityLabel(s)})` : ''}`;
      const at = f.line !== undefined ? `${mdCell(f.path)}:${f.line}` : mdCell(f.path);
      const text = f.evidence ? `${mdCell(f.message)}<br>evidence: ${mdCell(f.evidence)}` : mdCell(f.message);
      if (!page.add(`| ${sev} | ${mdCell(f.ruleId)} | ${multi ? `${mdCell(t.target)} | ` : ''}${at} | ${text} |`, RESERVE)) break;
      rows++;
    }
    if (rows < active.length) page.force(`\n${plural(active.length - rows, 'more finding')}: see ${where}.`);
  }
  return out.join('\n') + '\n';
}
