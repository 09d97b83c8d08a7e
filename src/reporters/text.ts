/**
 * Human-readable report: grouped by target, coloured by severity. How to fix a rule comes with its first finding in
 * each target (not in a block after all of them, where the end of a long report showed only remediation text). On a
 * terminal every line wraps at word boundaries to its width, continuation lines indented under the text they
 * continue (wrap-ansi, which keeps colours across the break). The last line counts the findings and points to
 * `hostleak explain RULE`.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import wrapAnsi from 'wrap-ansi';
import type { Report, Severity, TargetResult } from '../types.js';
import { visible } from '../escape.js';
import { filesystemSource } from '../finding-path.js';
import { plural } from '../words.js';

export interface TextOptions {
  color: boolean;
  /** Show how to fix each rule, with its first finding in each target (default true). */
  remediation?: boolean;
  /** Wrap lines to this many columns (a terminal's width); unset: no wrapping (files, pipes). */
  columns?: number;
}

/** The narrowest layout wrapping still makes sense for; below it lines are left as they are. */
const MIN_COLUMNS = 40;
/** Where a finding's text starts: under the path, after the severity column. */
const TEXT_INDENT = 10;

function severityLabel(c: ChalkInstance, s: Severity): string {
  const padded = s.padEnd(7);
  return s === 'error' ? c.red.bold(padded) : s === 'warning' ? c.yellow.bold(padded) : c.blue(padded);
}

/** One logical line: `prefix` then `text`, wrapped so continuation lines start under the text. */
interface Line {
  indent: number;
  prefix?: string;
  text: string;
}

function layout(lines: Line[], columns: number | undefined): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const lead = l.prefix ?? ' '.repeat(l.indent);
    if (!columns || columns < MIN_COLUMNS || l.text === '') {
      out.push(l.text === '' && !l.prefix ? '' : lead + l.text);
      continue;
    }
    const wrapped = wrapAnsi(l.text, columns - l.indent - 1, { hard: true, trim: true }).split('\n');
    out.push(lead + wrapped[0]);
    for (const w of wrapped.slice(1)) out.push(' '.repeat(l.indent) + w);
  }
  return out;
}

/** `2026-12-07 04:58 UTC` from an ISO time; the input when it is not one. */
export function shortTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

function formatTarget(c: ChalkInstance, t: TargetResult, opts: TextOptions): Line[] {
  const lines: Line[] = [];
  const facts = t.backend ? [t.backend, `${t.durationMs} ms`] : [];
  // A registry image: the manifest digest audited (the tag names it only until it moves).
  if (t.digest) facts.push(visible(t.digest));
  if (t.cached) facts.push(`cached from ${t.auditedAt ? shortTime(t.auditedAt) : 'an earlier run'}`);
  const mounts = t.filesystems
    .filter((f) => f.mountpoint)
    .map((f) => visible(`${filesystemSource(f)}${f.type !== 'dir' ? ` ${f.type}` : ''} on ${f.mountpoint}`));
  lines.push({ indent: 0, text: c.underline.bold(visible(t.target)) + (facts.length ? c.dim(` (${facts.join(', ')})`) : '') });
  if (mounts.length > 0 && !(mounts.length === 1 && t.filesystems[0]?.type === 'dir')) {
    lines.push({ indent: 2, text: c.dim(mounts.join(', ')) });
  }
  if (t.status === 'failed') lines.push({ indent: TEXT_INDENT, prefix: `  ${c.red.bold('FAILED ')} `, text: visible(t.error ?? '') });
  else if (t.status === 'partial') lines.push({ indent: TEXT_INDENT, prefix: `  ${c.red.bold('PARTIAL')} `, text: visible(t.error ?? '') });
  if (!t.findings.some((f) => !f.suppressed) && t.status !== 'failed') lines.push({ indent: 2, text: c.green('no findings') });
  const explained = new Set<string>();
  for (const f of t.findings) {
    const mark = f.suppressed ? c.dim(`  [suppressed by ${f.suppressed.kind}: ${visible(f.suppressed.reason)}]`) : '';
    lines.push({
      indent: TEXT_INDENT,
      prefix: `  ${severityLabel(c, f.severity)} `,
      text: `${c.bold(visible(f.path))}  ${c.dim(visible(f.ruleId))}${mark}`,
    });
    lines.push({ indent: TEXT_INDENT, text: visible(f.message) });
    if (f.evidence) lines.push({ indent: TEXT_INDENT, text: c.dim(`evidence: ${visible(f.evidence)}`) });
    if (opts.remediation !== false && !f.suppressed && !explained.has(f.ruleId)) {
      explained.add(f.ruleId);
      lines.push({ indent: TEXT_INDENT, text: `${c.cyan('fix:')} ${visible(f.remediation)}` });
    }
  }
  return lines;
}

/** The counts: `19 errors, 24 warnings, 2 info in 1 target`, and what was not audited completely. */
export function summaryLine(report: Report): string {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  let suppressed = 0;
  for (const t of report.targets) {
    for (const f of t.findings) {
      if (f.suppressed) suppressed++;
      else if (f.severity === 'error') errors++;
      else if (f.severity === 'warning') warnings++;
      else infos++;
    }
  }
  const incomplete = report.targets.filter((t) => t.status !== 'ok').length;
  let line = `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  if (infos > 0) line += `, ${infos} info`;
  line += ` in ${plural(report.targets.length, 'target')}`;
  if (suppressed > 0) line += ` (${suppressed} suppressed shown)`;
  if (incomplete > 0) line += `; ${plural(incomplete, 'target')} not audited completely`;
  return line;
}

export function formatText(report: Report, opts: TextOptions): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const blocks = report.targets.map((t) => layout(formatTarget(c, t, opts), opts.columns).join('\n'));
  const tail: Line[] = [];
  const problem = report.run?.merged?.problem;
  if (problem) tail.push({ indent: 0, text: c.red.bold(`incomplete merge: ${visible(problem)}`) });
  const summary = summaryLine(report);
  const hasErrors = report.targets.some((t) => t.status !== 'ok' || t.findings.some((f) => !f.suppressed && f.severity === 'error'));
  const any = report.targets.some((t) => t.findings.some((f) => !f.suppressed));
  const pointer = any ? c.dim(' (hostleak explain RULE: why it matters, how to fix it)') : '';
  tail.push({ indent: 0, text: (hasErrors || problem ? c.red.bold(summary) : c.green.bold(summary)) + pointer });
  return [...blocks, '', layout(tail, opts.columns).join('\n')].join('\n\n').replace(/\n{3,}/g, '\n\n') + '\n';
}
