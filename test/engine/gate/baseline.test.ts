/** Baselines: scan, write a baseline, rescan with it (clean), add one leak (exactly that one finding fails). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createBaseline, parseBaseline } from '../../../src/engine/gate/baseline.js';
import { fingerprint, fingerprintOf } from '../../../src/fingerprint.js';
import type { Finding, Report } from '../../../src/types.js';
import { cli, copyTree, REPO_ROOT as REPO, SAMPLES, scratch, TEST_HOST } from '../../helpers/gate.js';

describe('baseline', () => {
  let s: ReturnType<typeof scratch>;
  beforeEach(() => {
    s = scratch();
  });
  afterEach(() => s.cleanup());

  it('round trip: rescan is clean, one new leak is exactly one finding, independent of the image name', async () => {
    const base = path.join(s.dir, 'baseline.json');
    const first = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--write-baseline', base, ...TEST_HOST]);
    expect(first.exitCode).toBe(1);
    const before = JSON.parse(first.stdout).targets[0].findings as Finding[];
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(first.stderr).toContain(`wrote ${before.length} fingerprints to baseline ${base}`);
    const file = parseBaseline(readFileSync(base, 'utf8'), base);
    expect(file.findings.map((e) => e.fingerprint).sort()).toEqual(before.map((f) => fingerprint(f)).sort());

    // The same image, rebuilt under another name.
    const rebuilt = path.join(s.dir, 'nixos-rebuilt.img.d');
    copyTree(path.join(SAMPLES, 'leaky'), rebuilt);
    const again = await cli(['scan', rebuilt, '--format', 'json', '--baseline', base, ...TEST_HOST]);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout).targets[0].findings).toEqual([]);
    expect(again.stderr).toContain(`${before.length} findings suppressed by baseline ${base}`);

    // One new leak: a builder's home for an account the image does not have.
    mkdirSync(path.join(rebuilt, 'home', 'carol'));
    const leak = await cli(['scan', rebuilt, '--format', 'json', '--baseline', base, ...TEST_HOST]);
    expect(leak.exitCode).toBe(1);
    const now = JSON.parse(leak.stdout).targets[0].findings as Finding[];
    expect(now.map((f) => `${f.ruleId} ${f.path}`)).toEqual(['orphaned-home /home/carol']);
  });

  it('--show-suppressed lists baselined findings marked as suppressed, and they do not fail the run', async () => {
    const base = path.join(s.dir, 'b.json');
    await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--write-baseline', base, ...TEST_HOST]);
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--baseline', base, '--show-suppressed', ...TEST_HOST]);
    expect(r.exitCode).toBe(0);
    const findings = JSON.parse(r.stdout).targets[0].findings as Finding[];
    expect(findings.length).toBeGreaterThanOrEqual(3);
    for (const f of findings) expect(f.suppressed).toEqual({ kind: 'baseline', reason: base });
    const text = await cli(['scan', path.join(SAMPLES, 'leaky'), '--baseline', base, '--show-suppressed', ...TEST_HOST]);
    expect(text.stdout).toContain('[suppressed by baseline');
    expect(text.stdout).toContain('0 errors');
  });

  it('rejects an unreadable or foreign baseline with exit 2 before auditing', async () => {
    const missing = await cli(['scan', path.join(SAMPLES, 'leaky'), '--baseline', path.join(s.dir, 'nope.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope\.json: cannot read baseline \(ENOENT\)/);
    const bad = path.join(s.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, tool: 'hostleak', fingerprintVersion: 1, findings: [{ fingerprint: 'xyz' }] }));
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--baseline', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('findings[0].fingerprint');
    expect(r.stdout).toBe('');
  });

  it('fingerprints depend on rule, path (store hashes out) and the rule\'s key only', () => {
    const f: Finding = {
      ruleId: 'r', severity: 'error', path: '/a', filesystem: '/dev/sda2', message: 'm', evidence: 'e', remediation: 'x',
      fingerprint: fingerprintOf('r', '/a', 'k'),
    };
    const fp = fingerprint(f);
    const with_ = (over: Partial<Finding>): Finding => ({ ...f, ...over });
    expect(fingerprint(with_({ severity: 'info', message: 'reworded', filesystem: 'dir', evidence: 'other' }))).toBe(fp);
    expect(fingerprintOf('r', '/b', 'k')).not.toBe(fp);
    expect(fingerprintOf('q', '/a', 'k')).not.toBe(fp);
    expect(fingerprintOf('r', '/a', 'k2')).not.toBe(fp);
    // A report from elsewhere without fingerprints: rule and path.
    expect(fingerprint({ ruleId: 'r', path: '/a' })).toBe(fingerprintOf('r', '/a', null));
    const report = (findings: Finding[]): Report => ({
      version: 1,
      tool: { name: 'hostleak', version: '0' },
      targets: [{ target: 't', status: 'ok', error: null, backend: 'dir', durationMs: 0, filesystems: [], findings }],
    });
    // Ignored findings stay out of a baseline (their ignore entry's expiry must bring them back).
    const b = createBaseline(report([f, { ...f, path: '/c', suppressed: { kind: 'ignore', reason: 'x' } }]));
    expect(b.findings.map((e) => e.path)).toEqual(['/a']);
  });

  it('loads a baseline written by hostleak 0.1.0 (fingerprint version 1) and says to write it again', async () => {
    const old = path.join(REPO, 'test', 'fixtures', 'baseline-0.1.0.json');
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--baseline', old, ...TEST_HOST]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${old}: written by hostleak 0.1.0 (fingerprint version 1)`);
    const left = (JSON.parse(r.stdout).targets[0].findings as Finding[]).map((f) => `${f.ruleId} ${f.path}`);
    // Version-1 fingerprints hash the evidence: findings whose evidence did not change since are suppressed.
    expect(left).not.toContain('orphaned-home /home/bob');
    expect(left).not.toContain('dangling-channel-symlink /home/bob/.nix-defexpr/channels');
    const m = /(\d+) findings suppressed by baseline/.exec(r.stderr);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(20);
    // Written again, it is the current version.
    const again = path.join(s.dir, 'again.json');
    await cli(['scan', path.join(SAMPLES, 'leaky'), '--baseline', old, '--write-baseline', again, ...TEST_HOST]);
    expect(JSON.parse(readFileSync(again, 'utf8'))).toMatchObject({ version: 2, fingerprintVersion: 2 });
  });

  it('warns about ignore entries and baseline entries that matched nothing', async () => {
    const base = path.join(s.dir, 'b.json');
    writeFileSync(base, JSON.stringify({
      version: 2, tool: 'hostleak', fingerprintVersion: 2,
      findings: [{ fingerprint: fingerprintOf('orphaned-home', '/home/gone', null), ruleId: 'orphaned-home', path: '/home/gone' }],
    }));
    writeFileSync(path.join(s.dir, 'hostleak.config.json'), JSON.stringify({
      ignore: [
        { rule: 'orphaned-home', paths: ['/home/bob'], reason: 'used' },
        { rule: 'world-writable', paths: ['/nowhere/**'], reason: 'stale' },
      ],
    }));
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--baseline', base, ...TEST_HOST], { cwd: s.dir });
    expect(r.stderr).toContain('hostleak: warning: hostleak.config.json: ignore[1] (rule world-writable, /nowhere/**) matched no finding; remove it if the leak is fixed');
    expect(r.stderr).not.toContain('ignore[0]');
    expect(r.stderr).toContain(`hostleak: warning: ${base}: 1 entry matched no finding: orphaned-home /home/gone. Write the baseline again to drop fixed leaks`);
  });
});
