/** Exit codes: the contract CI depends on. Only src/cli.ts turns a report into one. */
import type { Report, Severity, TargetResult } from './types.js';
import { SEVERITY_RANK } from './types.js';
import { isUsageError } from './errors.js';

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;
export const EXIT_INCOMPLETE = 3;

/** The exit code an error means: 2 for usage errors, 3 for everything else (a target or an internal error). */
export function exitCodeOf(err: unknown): number {
  return isUsageError(err) ? EXIT_USAGE : EXIT_INCOMPLETE;
}

export type FailOn = Severity | 'never';
export const FAIL_ON_VALUES: readonly FailOn[] = ['error', 'warning', 'info', 'never'];

export function atOrAbove(severity: Severity, failOn: FailOn): boolean {
  return failOn !== 'never' && SEVERITY_RANK[severity] >= SEVERITY_RANK[failOn];
}

/** Folds target results into an exit code one at a time, so streamed reports need not keep them. */
export class ExitTracker {
  private incomplete = false;
  private failing = false;

  constructor(private readonly failOn: FailOn) {}

  see(t: TargetResult): void {
    if (t.status !== 'ok') this.incomplete = true;
    if (t.findings.some((f) => !f.suppressed && atOrAbove(f.severity, this.failOn))) this.failing = true;
  }

  /**
   * 3 when any target was not audited completely (a failed scan is never clean), else 1 on findings at --fail-on.
   * Suppressed findings (listed by --show-suppressed) never count.
   */
  code(): number {
    return this.incomplete ? EXIT_INCOMPLETE : this.failing ? EXIT_FINDINGS : EXIT_OK;
  }
}

export function exitCodeFor(report: Report, failOn: FailOn): number {
  const t = new ExitTracker(failOn);
  for (const r of report.targets) t.see(r);
  return t.code();
}
