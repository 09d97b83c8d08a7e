/** Baselines: scan, write a baseline, rescan with it (clean), add one leak (exactly that one finding fails). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createBaseline, parseBaseline } from '../src/engine/gate/baseline.js';
import { fingerprint } from '../src/fingerprint.js';
import type { Finding, Report } from '../src/types.js';
import { cli, copyTree, SAMPLES, scratch, TEST_HOST } from './helpers/gate.js';

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

  it('fingerprints depend on rule, path and evidence only', () => {
    const f: Finding = { ruleId: 'r', severity: 'error', path: '/a', filesystem: '/dev/sda2', message: 'm', evidence: 'e', remediation: 'x' };
    const fp = fingerprint(f);
    const with_ = (over: Partial<Finding>): Finding => ({ ...f, ...over });
    expect(fingerprint(with_({ severity: 'info', message: 'reworded', filesystem: 'dir' }))).toBe(fp);
    expect(fingerprint(with_({ path: '/b' }))).not.toBe(fp);
    expect(fingerprint(with_({ ruleId: 'q' }))).not.toBe(fp);
    expect(fingerprint(with_({ evidence: 'other' }))).not.toBe(fp);
    expect(fingerprint(with_({ evidence: null }))).not.toBe(fp);
    const report = (findings: Finding[]): Report => ({
      version: 1,
      tool: { name: 'hostleak', version: '0' },
      targets: [{ target: 't', status: 'ok', error: null, backend: 'dir', durationMs: 0, filesystems: [], findings }],
    });
    // Ignored findings stay out of a baseline (their ignore entry's expiry must bring them back).
    const b = createBaseline(report([f, { ...f, path: '/c', suppressed: { kind: 'ignore', reason: 'x' } }]));
    expect(b.findings.map((e) => e.path)).toEqual(['/a']);
  });
});
