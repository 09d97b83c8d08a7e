/**
 * `--format gitlab`: a GitLab Code Quality report (the Code Climate subset GitLab documents for
 * `artifacts:reports:codequality`), checked against a schema of that subset, on real scans of the sample trees.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { codeQualityValidator } from '../helpers/code-quality.js';
import { cli, SAMPLES, scratch } from '../helpers/gate.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];

const validate = codeQualityValidator();

async function scan(targets: string[], extra: string[] = []): Promise<{ code: number; issues: any[]; json: any }> {
  const r = await cli(['scan', ...targets, '--format', 'gitlab', ...HOST, ...extra]);
  const issues = JSON.parse(r.stdout);
  const json = JSON.parse((await cli(['scan', ...targets, '--format', 'json', ...HOST, ...extra])).stdout);
  return { code: r.exitCode, issues, json };
}

describe('gitlab code quality', () => {
  it('is a valid Code Quality report with one issue per finding, unique fingerprints and mapped severities', async () => {
    const { code, issues, json } = await scan([path.join(SAMPLES, 'leaky')]);
    expect(code).toBe(1);
    expect(validate(issues)).toBe(true);
    const findings = json.targets[0].findings;
    expect(findings.length).toBeGreaterThan(20);
    expect(issues).toHaveLength(new Set(issues.map((i: any) => i.fingerprint)).size);
    expect(issues).toHaveLength(findings.length);
    // Every finding is there, at its path inside the image without the leading slash, at its line.
    for (const f of findings) {
      const i = issues.find((x: any) => x.check_name === f.ruleId && x.location.path === f.path.slice(1));
      expect(i).toBeDefined();
      expect(i.location.lines.begin).toBe(f.line ?? 1);
      expect(i.description).toContain(f.message);
      if (f.evidence) expect(i.description).toContain(`; evidence: ${f.evidence}`);
    }
    const sev = (rule: string) => new Set(issues.filter((i: any) => i.check_name === rule).map((i: any) => i.severity));
    expect(sev('baked-ssh-host-key')).toEqual(new Set(['blocker'])); // error, secret: > 9.0
    expect(sev('orphaned-home')).toEqual(new Set(['critical'])); // error, 7.0
    expect(sev('baked-machine-id')).toEqual(new Set(['major'])); // warning, 5.0
    expect(sev('leftover-temp')).toEqual(new Set(['minor'])); // warning, 4.0
    const content = findings.find((f: any) => f.line !== undefined && f.line > 1);
    expect(content).toBeDefined();
  });

  it('a target that could not be read is a blocker issue, never an empty (clean) report', async () => {
    const r = await cli(['scan', path.join(SAMPLES, 'no-such-image.raw'), '--format', 'gitlab', ...HOST]);
    expect(r.exitCode).toBe(3);
    const issues = JSON.parse(r.stdout);
    expect(validate(issues)).toBe(true);
    expect(issues).toEqual([
      expect.objectContaining({ check_name: 'target-failed', severity: 'blocker', location: { path: 'out/no-such-image.raw', lines: { begin: 1 } } }),
    ]);
    expect(issues[0].description).toContain('not audited');
  });

  it('fingerprints are the same for a rebuild of the same image (same target name), like the baseline', async () => {
    const s = scratch();
    try {
      for (const [dir, tree] of [['first', 'leaky'], ['second', 'leaky-rebuilt']] as const) {
        mkdirSync(path.join(s.dir, dir, 'ci'), { recursive: true });
        symlinkSync(path.join(SAMPLES, tree), path.join(s.dir, dir, 'ci', 'result'));
      }
      const a = await scan([path.join(s.dir, 'first', 'ci', 'result')]);
      const b = await scan([path.join(s.dir, 'second', 'ci', 'result')]);
      const fps = (x: any[]) => x.map((i) => `${i.check_name} ${i.fingerprint}`).sort();
      expect(a.issues.length).toBeGreaterThan(20);
      expect(fps(b.issues)).toEqual(fps(a.issues));
      // ...while the findings' evidence differs from build to build.
      const ev = (j: any) => j.targets[0].findings.find((f: any) => f.ruleId === 'baked-machine-id')?.evidence;
      expect(ev(b.json)).not.toBe(ev(a.json));
      // The same leaks in another image are other issues.
      const other = await scan([path.join(SAMPLES, 'leaky')]);
      expect(new Set(other.issues.map((i: any) => i.fingerprint))).not.toEqual(new Set(a.issues.map((i: any) => i.fingerprint)));
      // Accepted findings (baseline) are not issues.
      const base = path.join(s.dir, 'baseline.json');
      await cli(['scan', path.join(s.dir, 'first', 'ci', 'result'), '--write-baseline', base, ...HOST]);
      const accepted = await scan([path.join(s.dir, 'second', 'ci', 'result')], ['--baseline', base, '--show-suppressed']);
      expect(accepted.code).toBe(0);
      expect(accepted.issues).toEqual([]);
    } finally {
      s.cleanup();
    }
  });
});
