/**
 * GitHub Actions workflow commands: one `::error|warning|notice title=...,file=...::message` line per finding, so
 * findings show as annotations on the run. Targets that were not audited completely get an `::error` of their own.
 * Suppressed findings are not annotated.
 */
import type { Finding, Report, Severity } from '../types.js';
import { imageUri } from './sarif.js';

/** Escape a command's message (data). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escape a command property value: like data, plus `:` and `,` which delimit properties. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function command(level: 'error' | 'warning' | 'notice', props: Record<string, string>, message: string): string {
  const p = Object.entries(props)
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${level}${p ? ` ${p}` : ''}::${escapeData(message)}`;
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'notice'> = { error: 'error', warning: 'warning', info: 'notice' };

function findingLine(target: string, f: Finding): string {
  const lines = [`${f.path}: ${f.message}`];
  if (f.evidence) lines.push(`Evidence: ${f.evidence}`);
  lines.push(`How to fix: ${f.remediation}`, `Target: ${target}`);
  return command(LEVEL[f.severity], { title: `hostleak ${f.ruleId}: ${f.path}`, file: imageUri(f.path) }, lines.join('\n'));
}

export function formatGithub(report: Report): string {
  const out: string[] = [];
  for (const t of report.targets) {
    if (t.status !== 'ok') {
      out.push(
        command(
          'error',
          { title: `hostleak: ${t.target} ${t.status === 'failed' ? 'not audited' : 'audited only in part'}` },
          `${t.target}: ${t.error ?? 'unknown error'}`,
        ),
      );
    }
    for (const f of t.findings) if (!f.suppressed) out.push(findingLine(t.target, f));
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}
