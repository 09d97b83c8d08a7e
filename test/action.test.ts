/**
 * The composite action (action.yml), run as GitHub runs it (test/helpers/actions-runner.ts: every `run:` step under
 * `bash --noprofile --norc -eo pipefail` with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, ...), from the tree a
 * release ref ships (scripts/pack-action.sh: the packed package with production dependencies, nothing built), on
 * the leaky and the clean sample disk images.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCompositeAction, runSteps, type ActionRun } from './helpers/actions-runner.js';
import { REPO_ROOT, SAMPLES, scratch } from './helpers/gate.js';
import { sarifValidator } from './helpers/sarif-schema.js';
import { securitySeverity } from '../src/reporters/security.js';
import { builtinRules } from '../rules/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const UPLOAD = 'github/codeql-action/upload-sarif@v3';
const HOST = { 'host-user': 'bob', 'host-home': '/home/bob', 'host-name': 'bobs-laptop' };

describe('action.yml as GitHub runs it', () => {
  let s: ReturnType<typeof scratch>;
  let actionDir: string;
  const validate = sarifValidator();
  const uploaded: any[] = [];

  beforeAll(() => {
    s = scratch('hostleak-action-');
    actionDir = path.join(s.dir, 'action');
    execFileSync(path.join(REPO_ROOT, 'scripts', 'pack-action.sh'), [actionDir], { stdio: 'pipe', timeout: 240_000 });
  }, 300_000);
  afterAll(() => s.cleanup());

  function run(name: string, inputs: Record<string, string>): ActionRun {
    const workspace = path.join(s.dir, name, 'workspace');
    const runnerTemp = path.join(s.dir, name, 'temp');
    mkdirSync(workspace, { recursive: true });
    mkdirSync(runnerTemp, { recursive: true });
    return runCompositeAction(actionDir, {
      inputs,
      workspace,
      runnerTemp,
      uses: {
        // What upload-sarif needs from us: a file that exists and is a SARIF 2.1.0 log code scanning accepts.
        [UPLOAD]: (w) => {
          const log: any = JSON.parse(readFileSync(w.sarif_file!, 'utf8'));
          uploaded.push(log);
          const runs = log.runs.length;
          return { ok: validate(log) === true && runs <= 20 };
        },
      },
    });
  }

  const step = (r: ActionRun, name: string) => r.steps.find((x) => x.name === name)!;

  it('on a leaky image: exit-code 1, SARIF handed to upload-sarif, annotations and summary written, only the Gate fails', () => {
    const junit = path.join(s.dir, 'leaky-junit.xml');
    const r = run('leaky', {
      targets: path.join(SAMPLES, 'leaky.raw'),
      ...HOST,
      'sarif-category': 'image/leaky',
      junit,
      timeout: '120',
      args: '--jobs 1',
    });
    expect(r.steps.map((x) => [x.name, x.conclusion])).toEqual([
      ['Install libguestfs', 'skipped'],
      ['Set up hostleak', 'success'],
      ['Audit', 'success'],
      ['Upload SARIF', 'success'],
      ['Gate', 'failure'],
    ]);
    expect(step(r, 'Gate').exitCode).toBe(1);
    expect(r.conclusion).toBe('failure');
    // Nothing was built: the release tree carries dist/.
    expect(step(r, 'Set up hostleak').commands).toEqual([]);

    expect(r.outputs['exit-code']).toBe('1');
    const report = JSON.parse(readFileSync(r.outputs.report!, 'utf8'));
    const findings = report.targets[0].findings;
    expect(findings.length).toBeGreaterThan(20);
    const log = uploaded.at(-1);
    expect(r.outputs.sarif).toBe(path.join(s.dir, 'leaky', 'temp', 'hostleak', 'hostleak.sarif'));
    expect(log.runs).toHaveLength(1);
    expect(log.runs[0].automationDetails.id).toBe('image/leaky');
    expect(log.runs[0].results).toHaveLength(findings.length);
    expect(existsSync(junit)).toBe(true);
    expect(r.outputs.junit).toBe(junit);

    // Annotations: the most important first, at most 10 per level, and one notice counting the rest.
    const cmds = step(r, 'Audit').commands;
    const errors = cmds.filter((c) => c.level === 'error');
    const warnings = cmds.filter((c) => c.level === 'warning');
    const nErrors = findings.filter((f: any) => f.severity === 'error').length;
    const nWarnings = findings.filter((f: any) => f.severity === 'warning').length;
    expect(errors).toHaveLength(Math.min(10, nErrors));
    expect(warnings).toHaveLength(Math.min(10, nWarnings));
    const score = (id: string) => securitySeverity(builtinRules.find((x) => x.meta.id === id)!.meta);
    const top = Math.max(...findings.filter((f: any) => f.severity === 'error').map((f: any) => score(f.ruleId)));
    expect(score(/^hostleak ([a-z0-9-]+): /.exec(errors[0]!.properties.title!)![1]!)).toBe(top);
    const rest = cmds.filter((c) => c.level === 'notice').at(-1)!;
    expect(rest.message).toContain(`${nErrors - 10} errors and ${nWarnings - 10} warnings not annotated`);
    // file= is the path inside the image, relative (what the title names, without the leading slash).
    for (const c of [...errors, ...warnings]) expect(c.properties.file).toBe(/^hostleak [a-z0-9-]+: \/(.*)$/.exec(c.properties.title!)![1]);

    // The job summary: counts, every finding in the table, what the annotations left out.
    expect(r.summary).toContain('## hostleak: ');
    expect(r.summary).toContain(`**${nErrors}** errors, **${nWarnings}** warnings`);
    expect(r.summary.split('\n').filter((l) => /^\| :/.test(l))).toHaveLength(findings.length);
    expect(r.summary).toContain(`${nErrors - 10} errors and ${nWarnings - 10} warnings are not annotated`);
    // The text report is in the log too.
    expect(step(r, 'Audit').stdout).toContain('orphaned-home');
  }, 180_000);

  it('on a clean image every step passes, with exit-code 0', () => {
    const r = run('clean', { targets: path.join(SAMPLES, 'clean.raw'), ...HOST });
    expect(r.steps.map((x) => [x.name, x.conclusion])).toEqual([
      ['Install libguestfs', 'skipped'],
      ['Set up hostleak', 'success'],
      ['Audit', 'success'],
      ['Upload SARIF', 'success'],
      ['Gate', 'success'],
    ]);
    expect(r.outputs['exit-code']).toBe('0');
    expect(r.conclusion).toBe('success');
    expect(step(r, 'Audit').commands).toEqual([]);
    expect(uploaded.at(-1).runs[0].results).toEqual([]);
    expect(r.summary).toContain('## hostleak: no findings');
  }, 180_000);

  it('a target that cannot be read fails the Gate with 3, after the SARIF upload', () => {
    const r = run('missing', { targets: path.join(SAMPLES, 'no-such-image.raw'), ...HOST, 'upload-sarif': 'true' });
    expect(r.outputs['exit-code']).toBe('3');
    expect(step(r, 'Upload SARIF').conclusion).toBe('success');
    expect(uploaded.at(-1).runs[0].invocations[0].executionSuccessful).toBe(false);
    expect(step(r, 'Gate').exitCode).toBe(3);
    expect(step(r, 'Audit').commands.map((c) => c.level)).toEqual(['error']);
  }, 180_000);

  it('a usage error (an unknown flag in args) writes no report and fails the Gate with 2', () => {
    const r = run('usage', { targets: path.join(SAMPLES, 'clean.raw'), args: '--no-such-flag' });
    expect(step(r, 'Audit').conclusion).toBe('success');
    expect(r.outputs['exit-code']).toBe('2');
    expect(r.outputs.sarif).toBe('');
    expect(step(r, 'Upload SARIF').conclusion).toBe('skipped');
    expect(step(r, 'Gate').exitCode).toBe(2);
  }, 180_000);

  it('the hand-written workflow in docs/ci.md gates the same way: the code captured, SARIF uploaded, Gate fails with 1', () => {
    const md = readFileSync(path.join(REPO_ROOT, 'docs', 'ci.md'), 'utf8');
    const section = md.slice(md.indexOf('## GitHub Actions: by hand'));
    const steps = YAML.parse(/```yaml\n([\s\S]*?)```/.exec(section)![1]!);
    const workspace = path.join(s.dir, 'by-hand', 'workspace');
    const runnerTemp = path.join(s.dir, 'by-hand', 'temp');
    const bin = path.join(s.dir, 'by-hand', 'bin');
    for (const d of [path.join(workspace, 'result'), runnerTemp, bin]) mkdirSync(d, { recursive: true });
    symlinkSync(path.join(SAMPLES, 'leaky.raw'), path.join(workspace, 'result', 'disk.raw'));
    // hostleak on the PATH, as the recipe assumes: the release tree's binary.
    writeFileSync(path.join(bin, 'hostleak'), `#!/bin/sh\nexec node ${JSON.stringify(path.join(actionDir, 'dist', 'src', 'bin', 'hostleak.js'))} "$@"\n`, { mode: 0o755 });
    const sarifs: string[] = [];
    const { run: r } = runSteps(steps, {
      workspace,
      runnerTemp,
      env: { PATH: `${bin}:${process.env.PATH}` },
      uses: {
        [UPLOAD]: (w) => {
          sarifs.push(w.sarif_file!);
          const log: any = JSON.parse(readFileSync(path.join(workspace, w.sarif_file!), 'utf8'));
          return { ok: validate(log) === true };
        },
      },
    });
    expect(r.steps.map((x) => [x.name, x.conclusion, x.exitCode])).toEqual([
      ['hostleak', 'success', 0],
      ['Upload SARIF', 'success', 0],
      ['Gate', 'failure', 1],
    ]);
    expect(r.steps[0]!.outputs.code).toBe('1');
    expect(sarifs).toEqual(['hostleak.sarif']);
    expect(r.steps[0]!.commands.filter((c) => c.level === 'error')).toHaveLength(10);
    expect(r.summary).toContain('## hostleak: ');
  }, 180_000);
});
