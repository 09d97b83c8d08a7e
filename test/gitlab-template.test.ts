/**
 * The GitLab CI template (hostleak.gitlab-ci.yml) as GitLab runs it: parsed, its `hostleak` job resolved through
 * `extends`, its script run in one `bash` with `set -eo pipefail` and the job's variables in the environment (what
 * GitLab's runner does with a bash shell), hostleak on the PATH, on the sample disk images; then what the job
 * publishes is read back: the Code Quality report against GitLab's format, JUnit, HTML, a written baseline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import YAML from 'yaml';
import { codeQualityValidator } from './helpers/code-quality.js';
import { REPO_ROOT, SAMPLES, scratch } from './helpers/gate.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const TEMPLATE = path.join(REPO_ROOT, 'hostleak.gitlab-ci.yml');
const HOST_ARGS = '--host-user bob --host-home /home/bob --host-name bobs-laptop';

/** A job with its `extends` chain merged (GitLab's deep merge of hashes, the job's own keys winning). */
function resolveJob(doc: any, name: string): any {
  const job = doc[name];
  if (!job.extends) return job;
  const merge = (a: any, b: any): any =>
    a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)
      ? Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, k in b ? merge(a[k], b[k]) : a[k]]))
      : b;
  const { extends: parent, ...own } = job;
  return merge(resolveJob(doc, parent), own);
}

describe('the GitLab CI template', () => {
  const doc = YAML.parse(readFileSync(TEMPLATE, 'utf8'));
  const job = resolveJob(doc, 'hostleak');
  const validate = codeQualityValidator();
  let s: ReturnType<typeof scratch>;
  let bin: string;
  beforeAll(() => {
    s = scratch('hostleak-gitlab-');
    bin = path.join(s.dir, 'bin');
    mkdirSync(bin);
    // hostleak on the PATH, as in an image that has it: the template's npm install line is then skipped.
    writeFileSync(path.join(bin, 'hostleak'), `#!/bin/sh\nexec node ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'bin', 'hostleak.js'))} "$@"\n`, { mode: 0o755 });
  });
  afterAll(() => s.cleanup());

  function runJob(name: string, variables: Record<string, string>) {
    const dir = path.join(s.dir, name);
    mkdirSync(dir, { recursive: true });
    const script = ['set -eo pipefail', ...job.script].join('\n');
    const r = spawnSync('bash', ['--noprofile', '--norc', '-c', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 240_000,
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? '/root', CI: 'true', GITLAB_CI: 'true', ...doc.variables, ...variables },
    });
    const published = (p: string) => path.join(dir, p);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, dir, published };
  }

  it('is a job in the test stage (after build) that publishes codequality, junit and the HTML report, always', () => {
    expect(job.stage).toBe('test');
    expect(job.artifacts.when).toBe('always');
    expect(Object.keys(job.artifacts.reports).sort()).toEqual(['codequality', 'junit']);
    expect(job.artifacts.paths).toEqual(['hostleak-reports/']);
    expect(job.image.entrypoint).toEqual(['']);
    // Every script line is a plain string (a `key: value` in a line would make YAML read it as a mapping).
    for (const l of job.script) expect(typeof l).toBe('string');
    // Every script line that runs hostleak is a scan or a convert of the report it wrote.
    const calls = job.script.flatMap((l: string) => [...l.matchAll(/\bhostleak (\w+)/g)].map((m) => m[1]));
    expect([...new Set(calls)].sort()).toEqual(['convert', 'scan']);
  });

  it('on a leaky image: exit 1, and every report it publishes is there and valid', () => {
    const j = runJob('leaky', { HOSTLEAK_TARGETS: path.join(SAMPLES, 'leaky.raw'), HOSTLEAK_ARGS: HOST_ARGS });
    expect(j.stderr).not.toMatch(/npm|command not found|unknown option/);
    expect(j.code).toBe(1);
    for (const p of [job.artifacts.reports.codequality, job.artifacts.reports.junit, 'hostleak-reports/report.html']) {
      expect([p, existsSync(j.published(p))]).toEqual([p, true]);
    }
    const report = JSON.parse(readFileSync(j.published('hostleak-reports/report.json'), 'utf8'));
    const findings = report.targets[0].findings;
    const issues = JSON.parse(readFileSync(j.published(job.artifacts.reports.codequality), 'utf8'));
    expect(validate(issues)).toBe(true);
    expect(issues).toHaveLength(findings.length);
    // JUnit fails exactly the rules the gate fails on (fail-on error).
    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'testcase' }).parse(
      readFileSync(j.published(job.artifacts.reports.junit), 'utf8'),
    );
    const failing = junit.testsuites.testsuite.testcase.filter((c: any) => c.failure).map((c: any) => c.name).sort();
    expect(failing).toEqual([...new Set(findings.filter((f: any) => f.severity === 'error').map((f: any) => f.ruleId))].sort());
    expect(readFileSync(j.published('hostleak-reports/report.html'), 'utf8')).toMatch(/^<!doctype html>/i);
    // The text report is in the job log.
    expect(j.stdout).toContain('orphaned-home');
  }, 240_000);

  it('HOSTLEAK_FAIL_ON=never passes with a JUnit report without failures; a missing baseline is written and said', () => {
    const never = runJob('never', { HOSTLEAK_TARGETS: path.join(SAMPLES, 'leaky.raw'), HOSTLEAK_ARGS: HOST_ARGS, HOSTLEAK_FAIL_ON: 'never' });
    expect(never.code).toBe(0);
    expect(readFileSync(never.published('hostleak-reports/junit.xml'), 'utf8')).not.toContain('<failure');

    const first = runJob('baseline', { HOSTLEAK_TARGETS: path.join(SAMPLES, 'leaky.raw'), HOSTLEAK_ARGS: HOST_ARGS, HOSTLEAK_BASELINE: 'hostleak.baseline.json' });
    expect(first.stdout).toContain('baseline hostleak.baseline.json did not exist, so this run wrote it');
    expect(first.code).toBe(0);
    expect(readdirSync(path.join(first.dir, 'hostleak-reports'))).toContain('hostleak.baseline.json');
    // Every finding is accepted on that run: JUnit mirrors the passing gate.
    expect(readFileSync(first.published('hostleak-reports/junit.xml'), 'utf8')).not.toContain('<failure');
    const next = runJob('baseline', { HOSTLEAK_TARGETS: path.join(SAMPLES, 'leaky-rebuilt.raw'), HOSTLEAK_ARGS: HOST_ARGS, HOSTLEAK_BASELINE: 'hostleak.baseline.json' });
    expect(next.stdout).not.toContain('did not exist');
    expect(next.code).toBe(0);
    expect(JSON.parse(readFileSync(next.published('hostleak-reports/gl-code-quality-report.json'), 'utf8'))).toEqual([]);
  }, 240_000);

  it('a target that cannot be read fails the job with 3 and still publishes a Code Quality issue for it', () => {
    const j = runJob('missing', { HOSTLEAK_TARGETS: path.join(SAMPLES, 'no-such-image.raw') });
    expect(j.code).toBe(3);
    const issues = JSON.parse(readFileSync(j.published('hostleak-reports/gl-code-quality-report.json'), 'utf8'));
    expect(issues.map((i: any) => [i.check_name, i.severity])).toEqual([['target-failed', 'blocker']]);
  }, 240_000);
});
