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

/**
 * Cases that cannot test anything are refused before they run: an invalid case that expects no finding (it would
 * pass for a rule that finds nothing; make it a valid case), and duplicate cases (the same name, or the same tree,
 * host and options twice).
 */
export function checkCases(id: string, cases: { valid: Case[]; invalid: InvalidCase[] }): void {
  const names = new Set<string>();
  const inputs = new Map<string, string>();
  for (const [kind, list] of [['valid', cases.valid], ['invalid', cases.invalid]] as const) {
    for (const c of list) {
      if (names.has(`${kind}: ${c.name}`)) throw new Error(`rule ${id}: duplicate ${kind} case name '${c.name}'`);
      names.add(`${kind}: ${c.name}`);
      const input = JSON.stringify({ tree: c.tree, host: c.host ?? null, options: c.options ?? null });
      const twin = inputs.get(input);
      if (twin !== undefined) throw new Error(`rule ${id}: ${kind} case '${c.name}' repeats case '${twin}' (same tree, host and options)`);
      inputs.set(input, c.name);
      if (kind === 'invalid' && (c as InvalidCase).findings.length === 0) {
        throw new Error(`rule ${id}: invalid case '${c.name}' expects no finding; make it a valid case`);
      }
    }
  }
}

export function ruleTester(rule: Rule, cases: { valid: Case[]; invalid: InvalidCase[] }): void {
  checkCases(rule.meta.id, cases);
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
