/**
 * How bad a finding is for code scanning: GitHub turns a rule's `properties.security-severity` (0.0-10.0, with the
 * `security` tag) into Critical (> 9.0), High (7.0-8.9), Medium (4.0-6.9) or Low (< 4.0).
 *
 * The score derives from the rule's metadata, so a new rule gets a sane one without being listed here:
 * its default severity sets the base (error 7.0, warning 4.0, info 1.0) and its most serious tag adds to it
 * (`secret` +2.5, `instance-identity` +1.0, `permissions` +1.0). A rule may set `meta.securitySeverity` to override.
 * docs/ci.md prints the resulting table; test/reporters/security.test.ts checks every rule has a score.
 */
import type { RuleMeta } from '../types.js';
import type { Severity } from '../types.js';

export const SECURITY_BASE: Record<Severity, number> = { error: 7.0, warning: 4.0, info: 1.0 };
export const SECURITY_TAG_BONUS: Readonly<Record<string, number>> = {
  secret: 2.5,
  'instance-identity': 1.0,
  permissions: 1.0,
};

/** The rule's security-severity, one decimal, within 0.0-10.0. */
export function securitySeverity(meta: Pick<RuleMeta, 'severity' | 'tags' | 'securitySeverity'>): number {
  if (typeof meta.securitySeverity === 'number' && meta.securitySeverity >= 0 && meta.securitySeverity <= 10) {
    return Math.round(meta.securitySeverity * 10) / 10;
  }
  const bonus = Math.max(0, ...meta.tags.map((t) => SECURITY_TAG_BONUS[t] ?? 0));
  return Math.min(10, Math.round((SECURITY_BASE[meta.severity] + bonus) * 10) / 10);
}

/** The label GitHub shows for a score. */
export function securityLabel(score: number): 'critical' | 'high' | 'medium' | 'low' | 'none' {
  return score > 9.0 ? 'critical' : score >= 7.0 ? 'high' : score >= 4.0 ? 'medium' : score > 0 ? 'low' : 'none';
}
