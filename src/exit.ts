/** Exit codes: the contract CI depends on. Only src/cli.ts turns a report into one. */
import type { Report, Severity } from './types.js';
import { SEVERITY_RANK } from './types.js';

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;
export const EXIT_INCOMPLETE = 3;

export type FailOn = Severity | 'never';
export const FAIL_ON_VALUES: readonly FailOn[] = ['error', 'warning', 'info', 'never'];

export function atOrAbove(severity: Severity, failOn: FailOn): boolean {
  return failOn !== 'never' && SEVERITY_RANK[severity] >= SEVERITY_RANK[failOn];
}

/**
 * 3 when any target was not audited completely (a failed scan is never clean), else 1 on findings at --fail-on.
 * Suppressed findings (listed by --show-suppressed) never count.
 */
export function exitCodeFor(report: Report, failOn: FailOn): number {
  if (report.targets.some((t) => t.status !== 'ok')) return EXIT_INCOMPLETE;
  if (report.targets.some((t) => t.findings.some((f) => !f.suppressed && atOrAbove(f.severity, failOn)))) return EXIT_FINDINGS;
  return EXIT_OK;
}
