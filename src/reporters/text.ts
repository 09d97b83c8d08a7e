/** Human-readable report: grouped by target, coloured by severity, with how to fix each rule once per target. */
import { Chalk, type ChalkInstance } from 'chalk';
import type { Finding, Report, Severity, TargetResult } from '../types.js';
import { visible } from '../escape.js';
import { plural } from '../words.js';

export interface TextOptions {
  color: boolean;
  /** Show the rule remediation under each target (default true). */
  remediation?: boolean;
}

function severityLabel(c: ChalkInstance, s: Severity): string {
  const padded = s.padEnd(7);
  return s === 'error' ? c.red.bold(padded) : s === 'warning' ? c.yellow.bold(padded) : c.blue(padded);
}

function formatTarget(c: ChalkInstance, t: TargetResult, opts: TextOptions): string[] {
  const lines: string[] = [];
  const where = t.backend ? ` (${t.backend}, ${t.durationMs} ms)` : '';
  const mounts = t.filesystems
    .filter((f) => f.mountpoint)
    .map((f) => visible(`${f.device}${f.type !== 'dir' ? ` ${f.type}` : ''} on ${f.mountpoint}`));
  lines.push(c.underline.bold(visible(t.target)) + c.dim(where));
  if (mounts.length > 0 && !(mounts.length === 1 && t.filesystems[0]?.type === 'dir')) {
    lines.push(c.dim(`  ${mounts.join(', ')}`));
  }
  if (t.status === 'failed') lines.push(`  ${c.red.bold('FAILED ')} ${visible(t.error ?? '')}`);
  else if (t.status === 'partial') lines.push(`  ${c.red.bold('PARTIAL')} ${visible(t.error ?? '')}`);
  if (!t.findings.some((f) => !f.suppressed) && t.status !== 'failed') lines.push(c.green('  no findings'));
  for (const f of t.findings) {
    const mark = f.suppressed ? c.dim(`  [suppressed by ${f.suppressed.kind}: ${visible(f.suppressed.reason)}]`) : '';
    lines.push(`  ${severityLabel(c, f.severity)} ${c.bold(visible(f.path))}  ${c.dim(visible(f.ruleId))}${mark}`);
    lines.push(`          ${visible(f.message)}`);
    if (f.evidence) lines.push(c.dim(`          evidence: ${visible(f.evidence)}`));
  }
  if (opts.remediation !== false) {
    const byRule = new Map<string, Finding>();
    for (const f of t.findings) if (!f.suppressed && !byRule.has(f.ruleId)) byRule.set(f.ruleId, f);
    if (byRule.size > 0) {
      lines.push('', `  ${c.bold('How to fix')}`);
      for (const [id, f] of byRule) lines.push(`  ${c.cyan(id)}: ${f.remediation}`);
    }
  }
  return lines;
}

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
  const blocks = report.targets.map((t) => formatTarget(c, t, opts).join('\n'));
  const summary = summaryLine(report);
  const hasErrors = report.targets.some((t) => t.status !== 'ok' || t.findings.some((f) => !f.suppressed && f.severity === 'error'));
  return [...blocks, '', hasErrors ? c.red.bold(summary) : c.green.bold(summary)].join('\n\n').replace(/\n{3,}/g, '\n\n') + '\n';
}
