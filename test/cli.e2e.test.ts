/** End-to-end: the built CLI on the sample root trees from images-sample/ (built by `npm test`). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../src/types.js';
import { hostleak, json, SAMPLES } from './helpers/cli.js';

const leaky = path.join(SAMPLES, 'leaky');
const clean = path.join(SAMPLES, 'clean');

describe('hostleak scan on the sample trees', () => {
  it('reports the three disko findings on the leaky tree and exits 1', () => {
    const r = hostleak(['scan', leaky, '--format', 'json']);
    expect(r.status).toBe(1);
    const report = json<Report>(r);
    expect(report).toMatchObject({ version: 1, tool: { name: 'hostleak' } });
    const t = report.targets[0]!;
    expect(t).toMatchObject({ target: leaky, status: 'ok', error: null, backend: 'dir' });
    const seeds = t.findings
      .filter((f) => ['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink'].includes(f.ruleId))
      .filter((f) => f.path.startsWith('/home/'))
      .map((f) => [f.ruleId, f.path]);
    expect(seeds).toEqual([
      ['orphaned-home', '/home/bob'],
      ['root-owned-nix-defexpr', '/home/bob/.nix-defexpr'],
      ['dangling-channel-symlink', '/home/bob/.nix-defexpr/channels'],
    ]);
    for (const f of t.findings) {
      expect(f.remediation.length).toBeGreaterThan(20);
      expect(f.path.startsWith('/')).toBe(true);
    }
    // Nothing for the real user's home, nor root's resolvable channels links.
    const paths = t.findings.map((f) => f.path);
    expect(paths.filter((p) => p.startsWith('/home/alice') || p.startsWith('/root/.nix-defexpr'))).toEqual([]);
    expect(t.findings.find((f) => f.ruleId === 'dangling-channel-symlink')!.message).toContain(
      '/tmp/state/profiles/per-user/root/channels',
    );
  });

  it('the text report names the leaked home and ends with the summary', () => {
    const r = hostleak(['scan', leaky]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('/home/bob');
    expect(r.stdout).toMatch(/^ {10}fix: Run the image build with HOME pointing inside the build sandbox/m);
    expect(r.stdout.trimEnd().split('\n').pop()).toMatch(
      /^\d+ errors?, \d+ warnings?(, \d+ info)? in 1 target \(hostleak explain RULE: why it matters, how to fix it\)$/,
    );
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('the clean tree has no finding at warning or above and exits 0', () => {
    const r = hostleak(['scan', clean, '--format', 'json']);
    expect(r.status).toBe(0);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('ok');
    expect(t.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('a missing target next to a good one exits 3 and both are in the report', () => {
    const r = hostleak(['scan', '/nonexistent/disk.raw', clean, '--format', 'json']);
    expect(r.status).toBe(3);
    const report = json<Report>(r);
    expect(report.targets.map((t) => [t.target, t.status])).toEqual([
      ['/nonexistent/disk.raw', 'failed'],
      [clean, 'ok'],
    ]);
    expect(report.targets[0]!.error).toBe('no such file or directory');
    expect(r.stderr.trim().split('\n')).toEqual(['hostleak: /nonexistent/disk.raw: failed: no such file or directory']);
  });

  it('--fail-on moves the threshold', () => {
    expect(hostleak(['scan', leaky, '--fail-on', 'never']).status).toBe(0);
    expect(hostleak(['scan', leaky, '--fail-on', 'warning']).status).toBe(1);
  });

  it('--output writes the report to a file and nothing to stdout', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-out-'));
    try {
      const out = path.join(dir, 'report.json');
      const r = hostleak(['scan', leaky, '--format', 'json', '--output', out]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect((JSON.parse(readFileSync(out, 'utf8')) as Report).targets[0]!.findings.length).toBeGreaterThanOrEqual(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('colours only when asked, and NO_COLOR / --no-color win', () => {
    expect(hostleak(['scan', leaky, '--color']).stdout).toMatch(/\x1b\[31m/);
    expect(hostleak(['scan', leaky, '--color', '--no-color']).stdout).not.toMatch(/\x1b\[/);
    expect(hostleak(['scan', leaky], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } }).stdout).not.toMatch(/\x1b\[/);
    expect(hostleak(['scan', leaky], { env: { FORCE_COLOR: '1' } }).stdout).toMatch(/\x1b\[/);
  });
});

describe('usage errors exit 2', () => {
  it.each([
    [['scan', clean, '--bogus-flag']],
    [['scan']],
    [['scan', clean, '--format', 'yaml']],
    [['scan', clean, '--fail-on', 'sometimes']],
    [['frobnicate']],
    [[]],
    [['explain', 'no-such-rule']],
  ])('%j', (args) => {
    const r = hostleak(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hostleak: /);
  });
});

describe('rules and explain', () => {
  it('lists id, default severity and description', () => {
    const r = hostleak(['rules']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^orphaned-home\s+error\s+A directory under \/home/m);
    expect(r.stdout).toMatch(/^dangling-channel-symlink\s+error\s+/m);
    expect(r.stdout).toMatch(/^root-owned-nix-defexpr\s+error\s+/m);
  });

  it("prints a rule's doc page", () => {
    const r = hostleak(['explain', 'orphaned-home']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync('docs/rules/orphaned-home.md', 'utf8'));
  });

  it('--help and --version exit 0', () => {
    expect(hostleak(['--help'])).toMatchObject({ status: 0 });
    expect(hostleak(['--help']).stdout).toContain('scan [targets..]');
    expect(hostleak(['--version']).stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});

describe('an empty store', () => {
  it('exits 3 instead of passing as a clean audit', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-empty-'));
    try {
      const r = hostleak(['scan', dir, '--recursive']);
      expect(r.status).toBe(3);
      expect(r.stderr).toBe(`hostleak: no images found in ${dir} (is the store mounted?)\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
