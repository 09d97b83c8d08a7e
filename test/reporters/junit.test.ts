/**
 * JUnit XML from real scans: well-formed, one suite per target, one case per enabled rule, findings at or above
 * --fail-on as failures (the gate), the others listed in the case's output.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { formatJunit, xmlSafe } from '../../src/reporters/junit.js';
import type { Report } from '../../src/types.js';
import { cli, SAMPLES, scratch, TEST_HOST } from '../helpers/gate.js';
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
    // --fail-on info: every finding counts, so every rule with findings fails.
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), path.join(SAMPLES, 'clean'), '--format', 'junit', '--fail-on', 'info', ...TEST_HOST]);
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

  it('mirrors the gate: findings below --fail-on are not failures but stay visible; --fail-on never has none', async () => {
    const leaky = path.join(SAMPLES, 'leaky');
    const json = JSON.parse((await cli(['scan', leaky, '--format', 'json', ...TEST_HOST])).stdout);
    const findings = json.targets[0].findings;
    const rulesWith = (sev: string) => new Set(findings.filter((f: any) => f.severity === sev).map((f: any) => f.ruleId));
    const errorRules = rulesWith('error');
    const warningOnly = [...rulesWith('warning')].filter((r) => !errorRules.has(r));
    expect(warningOnly.length).toBeGreaterThan(0);
    const suiteFor = async (extra: string[]) => {
      const r = await cli(['scan', leaky, '--format', 'junit', ...TEST_HOST, ...extra]);
      return { code: r.exitCode, s: parse(r.stdout).testsuites.testsuite[0], xml: r.stdout };
    };
    const failingCases = (s: any) => s.testcase.filter((c: any) => c.failure).map((c: any) => c.name).sort();
    const prop = (c: any, name: string) => c.properties?.property?.find((p: any) => p.name === name)?.value;

    // Default (error): exit 1, only the rules with an error finding fail; a warning-only rule passes, listed.
    const byDefault = await suiteFor([]);
    expect(byDefault.code).toBe(1);
    expect(failingCases(byDefault.s)).toEqual([...errorRules].sort());
    const w = byDefault.s.testcase.find((c: any) => c.name === warningOnly[0]);
    expect(w.failure).toBeUndefined();
    const below = findings.filter((f: any) => f.ruleId === warningOnly[0]);
    expect(prop(w, 'below-fail-on')).toBe(String(below.length));
    for (const f of below) expect(w['system-out']).toContain(`below --fail-on error: warning: ${f.path}`);
    expect(byDefault.s.properties.property.find((p: any) => p.name === 'fail-on').value).toBe('error');
    // A rule with error and warning findings fails with the errors only; the warnings are in its output.
    for (const c of byDefault.s.testcase.filter((x: any) => x.failure)) expect(c.failure[0].type).toBe('error');

    // --fail-on warning: the warning rules fail too.
    const warning = await suiteFor(['--fail-on', 'warning']);
    expect(warning.code).toBe(1);
    expect(failingCases(warning.s)).toEqual([...new Set([...errorRules, ...warningOnly])].sort());

    // --fail-on never: exit 0 and no failure at all, every finding still listed.
    const never = await suiteFor(['--fail-on', 'never']);
    expect(never.code).toBe(0);
    expect(Number(never.s.failures)).toBe(0);
    expect(failingCases(never.s)).toEqual([]);
    expect(never.xml).not.toContain('<failure');
    for (const f of findings) expect(never.xml).toContain(`below --fail-on never: ${f.severity}: ${f.path}`);

    // convert mirrors the gate it is told, like scan.
    const s = scratch();
    try {
      const saved = path.join(s.dir, 'report.json');
      writeFileSync(saved, JSON.stringify(json));
      const converted = await cli(['convert', saved, '--format', 'junit', '--fail-on', 'never']);
      expect(converted.exitCode).toBe(0);
      expect(converted.stdout.replace(/ time="[\d.]+"/g, '')).toBe(never.xml.replace(/ time="[\d.]+"/g, ''));
    } finally {
      s.cleanup();
    }
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
    const xml = formatJunit(report, { rules: builtinRules.map((r) => r.meta), failOn: 'warning' });
    const doc = parse(xml);
    const tc = doc.testsuites.testsuite[0].testcase.find((c: any) => c.name === 'orphaned-home');
    expect(tc.failure[0]['#text']).toContain('<&>');
    expect(xmlSafe('x\u0000y')).toBe('x\uFFFDy');
  });
});
