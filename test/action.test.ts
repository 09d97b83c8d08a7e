/**
 * The composite action (action.yml), run as GitHub runs it (test/helpers/actions-runner.ts: every `run:` step under
 * `bash --noprofile --norc -eo pipefail` with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, ...), from the tree a
 * release ref ships (scripts/pack-action.sh: the packed package with production dependencies, nothing built), on
 * the leaky and the clean sample disk images.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCompositeAction, runSteps, type ActionRun } from './helpers/actions-runner.js';
import { releaseTree } from './helpers/fixtures.js';
import { REPO_ROOT, SAMPLES, scratch } from './helpers/gate.js';
import { sarifValidator } from './helpers/sarif-schema.js';
import { securitySeverity } from '../src/reporters/security.js';
import { builtinRules } from '../rules/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const UPLOAD = 'github/codeql-action/upload-sarif@v4';
const ARTIFACT = 'actions/upload-artifact@v7';
const HOST = { 'host-user': 'bob', 'host-home': '/home/bob', 'host-name': 'bobs-laptop' };

describe('action.yml as GitHub runs it', () => {
  let s: ReturnType<typeof scratch>;
  let actionDir: string;
  const validate = sarifValidator();
  const uploaded: any[] = [];
  /** What upload-artifact was handed, per run: the artifact's name and the files under its path. */
  const artifacts: Array<{ name: string; files: string[]; dir: string }> = [];

  beforeAll(() => {
    s = scratch('hostleak-action-');
    // scripts/pack-action.sh's tree, made once for every test file that needs it (test/helpers/fixtures.ts).
    actionDir = releaseTree();
  }, 300_000);
  afterAll(() => s.cleanup());

  function run(name: string, inputs: Record<string, string>, setup?: (workspace: string) => void): ActionRun {
    const workspace = path.join(s.dir, name, 'workspace');
    const runnerTemp = path.join(s.dir, name, 'temp');
    mkdirSync(workspace, { recursive: true });
    mkdirSync(runnerTemp, { recursive: true });
    setup?.(workspace);
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
        // upload-artifact with if-no-files-found: error fails on a path with nothing in it.
        [ARTIFACT]: (w) => {
          const files = existsSync(w.path!) ? readdirSync(w.path!).sort() : [];
          artifacts.push({ name: w.name!, files, dir: w.path! });
          return { ok: w['if-no-files-found'] === 'error' && files.length > 0 };
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
      ['Upload reports', 'success'],
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
    // The reports are kept as the artifact: JSON, HTML, SARIF, JUnit.
    expect(artifacts.at(-1)).toEqual({
      name: 'hostleak-reports',
      dir: path.join(s.dir, 'leaky', 'temp', 'hostleak'),
      files: ['hostleak.sarif', 'junit.xml', 'report.html', 'report.json'],
    });
    expect(readFileSync(r.outputs.html!, 'utf8')).toMatch(/^<!doctype html>/i);
    // JUnit mirrors the gate (fail-on error): the failing cases are the rules with an error finding.
    const xml = readFileSync(junit, 'utf8');
    // Testcase by testcase (a rule with findings on both sides of the gate has properties and a failure).
    const failingRules = xml
      .split('<testcase ')
      .slice(1)
      .filter((c) => c.slice(0, c.indexOf('</testcase>')).includes('<failure'))
      .map((c) => /name="([a-z0-9-]+)"/.exec(c)![1])
      .sort();
    expect(failingRules).toEqual([...new Set(findings.filter((f: any) => f.severity === 'error').map((f: any) => f.ruleId))].sort());

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
      ['Upload reports', 'success'],
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

  it('upload-sarif false: no SARIF handed to code scanning, the reports still kept as an artifact, the Gate still fails with 1', () => {
    const before = uploaded.length;
    const r = run('no-sarif', {
      targets: path.join(SAMPLES, 'leaky.raw'),
      ...HOST,
      'upload-sarif': 'false',
      'artifact-name': 'image-audit',
      'fail-on': 'never',
      junit: 'junit.xml',
    });
    expect(r.steps.map((x) => [x.name, x.conclusion])).toEqual([
      ['Install libguestfs', 'skipped'],
      ['Set up hostleak', 'success'],
      ['Audit', 'success'],
      ['Upload SARIF', 'skipped'],
      ['Upload reports', 'success'],
      ['Gate', 'success'],
    ]);
    expect(uploaded.length).toBe(before);
    expect(artifacts.at(-1)!.name).toBe('image-audit');
    expect(artifacts.at(-1)!.files).toEqual(['hostleak.sarif', 'junit.xml', 'report.html', 'report.json']);
    // --fail-on never: exit 0 and a JUnit report without a single failure, every finding still listed.
    expect(r.outputs['exit-code']).toBe('0');
    const xml = readFileSync(path.join(s.dir, 'no-sarif', 'workspace', 'junit.xml'), 'utf8');
    expect(xml).not.toContain('<failure');
    expect(xml).toContain('below --fail-on never: error: /home/bob');

    // The same with the default threshold: still no SARIF upload, and the Gate fails the job with 1.
    const gated = run('no-sarif-gated', { targets: path.join(SAMPLES, 'leaky.raw'), ...HOST, 'upload-sarif': 'false' });
    expect(uploaded.length).toBe(before);
    expect(step(gated, 'Upload SARIF').conclusion).toBe('skipped');
    expect(step(gated, 'Upload reports').conclusion).toBe('success');
    expect(step(gated, 'Gate').exitCode).toBe(1);
    expect(gated.conclusion).toBe('failure');
  }, 300_000);

  it('a baseline that does not exist yet: the first run writes it, says so and passes; a rebuild then passes against it', () => {
    const base = 'ci/hostleak.baseline.json';
    const first = run('baseline', { targets: path.join(SAMPLES, 'leaky.raw'), ...HOST, baseline: base, junit: 'junit.xml' }, (w) => mkdirSync(path.join(w, 'ci')));
    const workspace = path.join(s.dir, 'baseline', 'workspace');
    const written = JSON.parse(readFileSync(path.join(workspace, base), 'utf8'));
    const report = JSON.parse(readFileSync(first.outputs.report!, 'utf8'));
    expect(written.findings).toHaveLength(report.targets[0].findings.length);
    expect(first.outputs['baseline-written']).toBe(base);
    const said = step(first, 'Audit').commands.filter((c) => c.level === 'warning' && c.message.includes('did not exist'));
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toContain(`baseline ${base} did not exist: this run wrote it`);
    expect(artifacts.at(-1)!.files).toContain('hostleak.baseline.json');
    expect(first.outputs['exit-code']).toBe('0');
    expect(step(first, 'Gate').conclusion).toBe('success');
    // The JUnit report mirrors that gate: the findings are listed, none is a failure.
    const junit = readFileSync(path.join(workspace, 'junit.xml'), 'utf8');
    expect(junit).not.toContain('<failure');
    expect(junit).toContain('below --fail-on never: error: /home/bob');

    // The next build of the same image (a rebuild: new ids, keys, store hashes) with the committed baseline passes
    // without a word about it; write-baseline refreshes a baseline into another file (the same leaks, another format).
    const second = run('baseline', { targets: path.join(SAMPLES, 'leaky-rebuilt.raw'), ...HOST, baseline: base });
    expect(step(second, 'Audit').commands.filter((c) => c.message.includes('did not exist'))).toEqual([]);
    expect(second.outputs['baseline-written']).toBe('');
    expect(second.outputs['exit-code']).toBe('0');
    const other = run('baseline', { targets: path.join(SAMPLES, 'leaky-fixed.vhd'), ...HOST, baseline: base, 'write-baseline': 'refreshed.json' });
    expect(existsSync(path.join(workspace, 'refreshed.json'))).toBe(true);
    expect(other.outputs['baseline-written']).toBe('refreshed.json');
    expect(other.outputs['exit-code']).toBe('0');
    expect(JSON.parse(readFileSync(path.join(workspace, 'refreshed.json'), 'utf8')).findings.length).toBeGreaterThan(0);
  }, 300_000);

  it('a usage error (an unknown flag in args) writes no report and fails the Gate with 2', () => {
    const r = run('usage', { targets: path.join(SAMPLES, 'clean.raw'), args: '--no-such-flag' });
    expect(step(r, 'Audit').conclusion).toBe('success');
    expect(r.outputs['exit-code']).toBe('2');
    expect(r.outputs.sarif).toBe('');
    expect(step(r, 'Upload SARIF').conclusion).toBe('skipped');
    expect(step(r, 'Upload reports').conclusion).toBe('skipped');
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
    const kept: string[][] = [];
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
        [ARTIFACT]: (w) => {
          const files = w.path!.split('\n').filter(Boolean);
          kept.push(files);
          return { ok: files.every((f) => existsSync(path.join(workspace, f))) };
        },
      },
    });
    expect(r.steps.map((x) => [x.name, x.conclusion, x.exitCode])).toEqual([
      ['hostleak', 'success', 0],
      ['Upload SARIF', 'success', 0],
      ['Keep the reports', 'success', 0],
      ['Gate', 'failure', 1],
    ]);
    expect(kept).toEqual([['hostleak.json', 'hostleak.html', 'hostleak.sarif']]);
    expect(r.steps[0]!.outputs.code).toBe('1');
    expect(sarifs).toEqual(['hostleak.sarif']);
    expect(r.steps[0]!.commands.filter((c) => c.level === 'error')).toHaveLength(10);
    expect(r.summary).toContain('## hostleak: ');
  }, 180_000);
});
