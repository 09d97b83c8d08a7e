/** JUnit XML from real scans: well-formed, one suite per target, one case per enabled rule, findings as failures. */
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { formatJunit, xmlSafe } from '../../src/reporters/junit.js';
import type { Report } from '../../src/types.js';
import { cli, SAMPLES, TEST_HOST } from '../helpers/gate.js';
import { builtinRules } from '../../rules/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'property'].includes(name),
});

function parse(xml: string): any {
  const valid = XMLValidator.validate(xml);
  expect(valid).toBe(true);
  return parser.parse(xml);
}

describe('junit', () => {
  it('is well-formed, with a suite per target, a case per enabled rule and a failure per finding', async () => {
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), path.join(SAMPLES, 'clean'), '--format', 'junit', ...TEST_HOST]);
    expect(r.exitCode).toBe(1);
    const doc = parse(r.stdout);
    const suites = doc.testsuites.testsuite;
    expect(suites.map((s: any) => s.name)).toEqual([path.join(SAMPLES, 'leaky'), path.join(SAMPLES, 'clean')]);
    const ruleIds = builtinRules.map((x) => x.meta.id).sort();
    for (const s of suites) {
      expect(s.testcase.map((c: any) => c.name).sort()).toEqual(ruleIds);
      expect(Number(s.tests)).toBe(ruleIds.length);
    }
    const [leaky, clean] = suites;
    const failing = leaky.testcase.filter((c: any) => c.failure);
    expect(failing.map((c: any) => c.name).sort()).toEqual(
      expect.arrayContaining(['dangling-channel-symlink', 'orphaned-home', 'root-owned-nix-defexpr']),
    );
    expect(Number(leaky.failures)).toBe(failing.length);
    // One <failure> per testcase (JUnit's schema; GitLab and Jenkins read one), listing every finding of the rule.
    for (const c of leaky.testcase) expect((c.failure ?? []).length).toBeLessThanOrEqual(1);
    const json = JSON.parse((await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', ...TEST_HOST])).stdout);
    const byRule = new Map<string, string[]>();
    for (const f of json.targets[0].findings) byRule.set(f.ruleId, [...(byRule.get(f.ruleId) ?? []), f.path]);
    const multi = [...byRule].filter(([, paths]) => paths.length > 1);
    expect(multi.length).toBeGreaterThan(0);
    for (const [rule, paths] of multi) {
      const c = leaky.testcase.find((x: any) => x.name === rule);
      expect(c.failure[0].message).toMatch(new RegExp(`^${paths.length} findings: `));
      for (const p of paths) expect(c.failure[0]['#text']).toContain(`: ${p}`);
    }
    const orphaned = leaky.testcase.find((c: any) => c.name === 'orphaned-home');
    expect(orphaned.failure[0].type).toBe('error');
    expect(orphaned.failure[0]['#text']).toContain('/home/bob');
    // The clean tree passes every case.
    expect(clean.testcase.filter((c: any) => c.failure || c.error)).toEqual([]);
    expect(Number(clean.failures)).toBe(0);
    expect(Number(doc.testsuites.tests)).toBe(2 * ruleIds.length);
    expect(Number(doc.testsuites.failures)).toBe(failing.length);
  });

  it('shows a target that could not be audited as an error', async () => {
    const r = await cli(['scan', path.join(SAMPLES, 'no-such-image'), '--format', 'junit', ...TEST_HOST]);
    expect(r.exitCode).toBe(3);
    const s = parse(r.stdout).testsuites.testsuite[0];
    expect(Number(s.errors)).toBe(1);
    const audit = s.testcase.find((c: any) => c.name === 'audit');
    expect(audit.error[0].type).toBe('target-failed');
    expect(audit.error[0].message).toContain('no such file or directory');
    expect(s.testcase.filter((c: any) => c.skipped).length).toBe(builtinRules.length);
  });

  it('stays well-formed whatever bytes an image holds', () => {
    const nasty = 'a\u0000b\u0001<&>"\'\uFFFE]]>\u{1F600}';
    const report: Report = {
      version: 1,
      tool: { name: 'hostleak', version: '0.0.0' },
      targets: [
        {
          target: `img${nasty}`,
          status: 'ok',
          error: null,
          backend: 'dir',
          durationMs: 5,
          filesystems: [],
          findings: [
            {
              ruleId: 'orphaned-home',
              severity: 'warning',
              path: `/home/${nasty}`,
              filesystem: null,
              message: `message ${nasty}`,
              evidence: nasty,
              remediation: 'fix',
            },
          ],
        },
      ],
    };
    const xml = formatJunit(report, { rules: builtinRules.map((r) => r.meta) });
    const doc = parse(xml);
    const tc = doc.testsuites.testsuite[0].testcase.find((c: any) => c.name === 'orphaned-home');
    expect(tc.failure[0]['#text']).toContain('<&>');
    expect(xmlSafe('x\u0000y')).toBe('x\uFFFDy');
  });
});
