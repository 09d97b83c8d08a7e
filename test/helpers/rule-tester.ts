/**
 * ESLint-style RuleTester: every rule gets valid cases (no finding) and invalid cases (exactly these findings),
 * false-positive cases included, run through the real engine on in-memory trees.
 */
import { runRules } from '../../src/engine/runtime/runner.js';
import type { Rule } from '../../src/engine/kit/rule.js';
import type { Finding, HostIdentity, Severity } from '../../src/types.js';
import { memoryRoot, type TreeEntry } from './tree.js';

export interface ExpectedFinding {
  path: string;
  severity?: Severity;
  /** Substrings the message must contain. */
  message?: string[];
  /** Substrings the evidence must contain. */
  evidence?: string[];
  /** Substrings that must appear nowhere in the finding (redaction). */
  absent?: string[];
}

export interface Case {
  name: string;
  tree: TreeEntry[];
  host?: Partial<HostIdentity>;
  options?: Record<string, unknown>;
}

export interface InvalidCase extends Case {
  findings: ExpectedFinding[];
}

const NO_HOST: HostIdentity = { user: null, home: null, name: null };

export async function findingsFor(rule: Rule, c: Case): Promise<Finding[]> {
  const root = memoryRoot(c.tree);
  const { findings } = await runRules(
    root,
    [{ rule, severity: rule.meta.severity, options: c.options ?? {} }],
    { ...NO_HOST, ...c.host },
  );
  return findings;
}

export function ruleTester(rule: Rule, cases: { valid: Case[]; invalid: InvalidCase[] }): void {
  describe(`rule ${rule.meta.id}`, () => {
    for (const c of cases.valid) {
      it(`valid: ${c.name}`, async () => {
        const findings = await findingsFor(rule, c);
        expect(findings.map((f) => `${f.severity} ${f.path}: ${f.message}`)).toEqual([]);
      });
    }
    for (const c of cases.invalid) {
      it(`invalid: ${c.name}`, async () => {
        const findings = await findingsFor(rule, c);
        expect(findings.map((f) => f.path).sort()).toEqual(c.findings.map((f) => f.path).sort());
        for (const want of c.findings) {
          const got = findings.find((f) => f.path === want.path)!;
          expect(got.ruleId).toBe(rule.meta.id);
          expect(got.severity).toBe(want.severity ?? rule.meta.severity);
          expect(got.remediation).toBe(rule.meta.remediation);
          for (const s of want.message ?? []) expect(got.message).toContain(s);
          for (const s of want.evidence ?? []) expect(got.evidence ?? '').toContain(s);
          for (const s of want.absent ?? []) expect(JSON.stringify(got)).not.toContain(s);
        }
      });
    }
  });
}
