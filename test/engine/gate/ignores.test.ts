/** Ignore entries: a live one suppresses, an expired one stops suppressing and the run warns. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileIgnores, expiryWarnings, ignoreFor, isExpired } from '../../../src/engine/gate/ignores.js';
import type { Finding } from '../../../src/types.js';
import { cli, SAMPLES, scratch, TEST_HOST } from '../../helpers/gate.js';

const finding = (ruleId: string, p: string): Finding => ({
  ruleId,
  severity: 'error',
  path: p,
  filesystem: null,
  message: 'm',
  evidence: null,
  remediation: 'r',
});

describe('ignores', () => {
  it('expire after their date (UTC day granularity)', () => {
    const e = { rule: 'x', reason: 'r', expires: '2026-03-01' };
    expect(isExpired(e, new Date('2026-03-01T23:59:59Z'))).toBe(false);
    expect(isExpired(e, new Date('2026-03-02T00:00:00Z'))).toBe(true);
    expect(isExpired({ rule: 'x', reason: 'r' }, new Date('2999-01-01'))).toBe(false);
  });

  it('match by rule and image-path globs, also on device-prefixed paths', () => {
    const ig = compileIgnores(
      [
        { rule: 'ssh-host-key', paths: ['/etc/ssh/ssh_host_*'], reason: 'injected on purpose' },
        { rule: '*', paths: ['/loader/**'], reason: 'esp' },
      ],
      new Date('2026-01-01'),
    );
    expect(ignoreFor(finding('ssh-host-key', '/etc/ssh/ssh_host_ed25519_key'), ig)?.index).toBe(0);
    expect(ignoreFor(finding('ssh-host-key', '/etc/ssh/sshd_config'), ig)).toBeUndefined();
    expect(ignoreFor(finding('other', '/etc/ssh/ssh_host_ed25519_key'), ig)).toBeUndefined();
    expect(ignoreFor(finding('any', '/dev/sda1:/loader/random-seed'), ig)?.index).toBe(1);
    expect(ignoreFor(finding('any', '/loader/.hidden'), ig)?.index).toBe(1);
  });

  it('warn once per expired entry', () => {
    const ig = compileIgnores(
      [
        { rule: 'a', reason: 'old', expires: '2020-01-01' },
        { rule: 'b', reason: 'new', expires: '2999-01-01' },
      ],
      new Date('2026-01-01'),
    );
    const w = expiryWarnings(ig, 'cfg.yaml');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^cfg\.yaml: ignore\[0\] \(rule a\) expired on 2020-01-01 and no longer suppresses/);
  });

  describe('end to end', () => {
    let s: ReturnType<typeof scratch>;
    beforeEach(() => {
      s = scratch();
    });
    afterEach(() => s.cleanup());

    const config = (expires: string) =>
      [
        'ignore:',
        '  - rule: orphaned-home',
        '    paths: [/home/bob]',
        '    reason: bob is created by first-boot provisioning',
        `    expires: ${expires}`,
        '',
      ].join('\n');

    it('a live entry suppresses its finding', async () => {
      writeFileSync(path.join(s.dir, 'hostleak.config.yaml'), config('2999-12-31'));
      const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', ...TEST_HOST], { cwd: s.dir });
      const findings = JSON.parse(r.stdout).targets[0].findings as Finding[];
      expect(findings.map((f) => f.ruleId)).not.toContain('orphaned-home');
      expect(findings.length).toBeGreaterThan(0); // the other leaks are still reported
      expect(r.stderr).toContain('1 finding suppressed by ignore entries in hostleak.config.yaml');
      expect(r.stderr).not.toContain('expired');
    });

    it('an expired entry no longer suppresses, and the run warns', async () => {
      writeFileSync(path.join(s.dir, 'hostleak.config.yaml'), config('2021-06-30'));
      const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', ...TEST_HOST], { cwd: s.dir });
      expect(r.exitCode).toBe(1);
      const findings = JSON.parse(r.stdout).targets[0].findings as Finding[];
      expect(findings.filter((f) => f.ruleId === 'orphaned-home').map((f) => f.path)).toEqual(['/home/bob']);
      expect(r.stderr).toMatch(/hostleak: warning: hostleak\.config\.yaml: ignore\[0\] \(rule orphaned-home, \/home\/bob\) expired on 2021-06-30/);
    });

    it('suppressed findings can be shown, marked with the reason', async () => {
      writeFileSync(path.join(s.dir, 'hostleak.config.yaml'), config('2999-12-31'));
      const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--show-suppressed', ...TEST_HOST], { cwd: s.dir });
      const bob = (JSON.parse(r.stdout).targets[0].findings as Finding[]).find((f) => f.ruleId === 'orphaned-home');
      expect(bob?.suppressed).toEqual({ kind: 'ignore', reason: 'bob is created by first-boot provisioning' });
    });
  });
});

describe('gate run, target by target', () => {
  it('filters each target once, however often it is asked (streamed reports), and counts once', async () => {
    const { prepare, startRun } = await import('../../../src/engine/gate/index.js');
    const s = scratch();
    try {
      writeFileSync(path.join(s.dir, 'hostleak.config.json'), JSON.stringify({ ignore: [{ rule: '*', paths: ['/a'], reason: 'ok' }] }));
      const gate = await prepare({}, { cwd: s.dir, builtins: [], backendChoices: ['auto', 'dir'] });
      const run = startRun(gate, {}, s.dir);
      const t = {
        target: 't',
        status: 'ok' as const,
        error: null,
        backend: 'dir',
        durationMs: 0,
        filesystems: [],
        findings: [finding('x', '/b'), finding('x', '/a')],
      };
      const once = run.target(t);
      expect(run.target(t)).toBe(once);
      expect(once.findings.map((f) => f.path)).toEqual(['/b']);
      expect(await run.finish()).toEqual(['1 finding suppressed by ignore entries in hostleak.config.json (--show-suppressed lists them)']);
    } finally {
      s.cleanup();
    }
  });
});
