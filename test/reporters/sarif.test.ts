/** SARIF from a real scan of the leaky sample tree: schema-valid, and shaped the way GitHub code scanning needs. */
import path from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { defaultCategory, formatSarif, imageUri, MAX_RESULTS, sarifLevel, stableTargetName } from '../../src/reporters/sarif.js';
import { securityLabel } from '../../src/reporters/security.js';
import { builtinRules } from '../../rules/index.js';
import { cli, copyTree, REPO_ROOT, SAMPLES, scratch, TEST_HOST } from '../helpers/gate.js';
import { sarifValidator as validator } from '../helpers/sarif-schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Sarif = any;

async function sarifOf(targets: string[], extra: string[] = []): Promise<{ log: Sarif; exitCode: number }> {
  const r = await cli(['scan', ...targets, '--format', 'sarif', ...TEST_HOST, ...extra]);
  return { log: JSON.parse(r.stdout), exitCode: r.exitCode };
}

describe('sarif', () => {
  const validate = validator();

  it('validates against the SARIF 2.1.0 schema, and every result has a relative location and fingerprints', async () => {
    const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky')]);
    expect(exitCode).toBe(1);
    const ok = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The validator does reject what the schema forbids.
    const broken = JSON.parse(JSON.stringify(log));
    broken.runs[0].results[0].level = 'fatal';
    expect(validate(broken)).toBe(false);
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0];
    expect(run.results.length).toBeGreaterThanOrEqual(3);
    for (const r of run.results) {
      const loc = r.locations[0].physicalLocation.artifactLocation;
      expect(loc.uri).not.toMatch(/^\//);
      expect(loc.uri).not.toMatch(/^[a-z]+:/i);
      expect(loc.uriBaseId).toBe('IMAGEROOT');
      expect(r.partialFingerprints['hostleak/v2']).toMatch(/^[0-9a-f]{64}$/);
      expect(['error', 'warning', 'note']).toContain(r.level);
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
    }
    const uris = run.results.map((r: Sarif) => r.locations[0].physicalLocation.artifactLocation.uri);
    expect(uris).toEqual(expect.arrayContaining(['home/bob', 'home/bob/.nix-defexpr', 'home/bob/.nix-defexpr/channels']));
  });

  it('describes every rule with a description, help, helpUri and default level', async () => {
    const { log } = await sarifOf([path.join(SAMPLES, 'clean')]);
    const rules = log.runs[0].tool.driver.rules;
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const d of rules) {
      expect(d.shortDescription.text.length).toBeGreaterThan(0);
      expect(d.help.text.length).toBeGreaterThan(0);
      expect(d.helpUri).toBe(`https://github.com/hostleak/hostleak/blob/main/docs/rules/${d.id}.md`);
      expect(['error', 'warning', 'note']).toContain(d.defaultConfiguration.level);
    }
  });

  it('keeps the image identity in the invocation and each result, never in a URI; the category is stable or set', async () => {
    const target = path.join(SAMPLES, 'leaky');
    const { log } = await sarifOf([target]);
    const run = log.runs[0];
    expect(run.automationDetails.id).toBe('hostleak/out/leaky/');
    expect(run.invocations[0].properties.target).toBe(target);
    for (const r of run.results) {
      expect(r.properties.target).toBe(target);
      expect(r.message.text).toContain(`(in ${target})`);
    }
    expect(run.originalUriBaseIds.IMAGEROOT.uri).toBeUndefined();
    expect(run.originalUriBaseIds.IMAGEROOT.description.text).toMatch(/inside the audited image/);
    const locations = JSON.stringify(run.results.map((r: Sarif) => r.locations));
    expect(locations).not.toContain(SAMPLES);
    const set = await sarifOf([target], ['--sarif-category', 'images/x86_64']);
    expect(set.log.runs[0].automationDetails.id).toBe('images/x86_64');
    // A versioned file name gives the same default category as the next version's.
    expect(defaultCategory(['out/nixos-24.05.20240601.1a2b3c4-x86_64-linux.iso'])).toBe(
      defaultCategory(['out/nixos-24.11.20241201.9f8e7d6-x86_64-linux.iso']),
    );
    expect(stableTargetName('/nix/store/0c2wnk6v6dn3ah1ii2mkmzyc8zm1q4ps-nixos-disk-image/nixos.qcow2')).toBe('nixos-disk-image/nixos.qcow2');
    expect(stableTargetName('./result/disk.raw')).toBe('result/disk.raw');
  });

  it('gives every rule security-severity, the security tag, fullDescription and its doc page as help.markdown', async () => {
    const { log } = await sarifOf([path.join(SAMPLES, 'clean')]);
    const rules = log.runs[0].tool.driver.rules;
    expect(rules.map((d: Sarif) => d.id).sort()).toEqual(builtinRules.map((r) => r.meta.id).sort());
    for (const d of rules) {
      expect(d.properties.tags).toContain('security');
      const score = Number(d.properties['security-severity']);
      expect(score).toBeGreaterThan(0);
      expect(score).toBeLessThanOrEqual(10);
      expect(d.properties['security-severity']).toMatch(/^\d+\.\d$/);
      expect(d.fullDescription.text.length).toBeGreaterThan(d.shortDescription.text.length);
      expect(d.help.markdown).toBe(readFileSync(path.join(REPO_ROOT, 'docs', 'rules', `${d.id}.md`), 'utf8'));
    }
    const score = (id: string) => Number(rules.find((d: Sarif) => d.id === id).properties['security-severity']);
    expect(securityLabel(score('secret-token'))).toBe('critical');
    expect(securityLabel(score('orphaned-home'))).toBe('high');
    expect(securityLabel(score('leftover-temp'))).toBe('medium');
  });

  it('locates content findings at their line and columns: a secret on line 2 has startLine 2', async () => {
    const { log } = await sarifOf([path.join(SAMPLES, 'leaky')]);
    const at = (rule: string, uri: string) =>
      log.runs[0].results.find((r: Sarif) => r.ruleId === rule && r.locations[0].physicalLocation.artifactLocation.uri === uri)
        .locations[0].physicalLocation.region;
    // /root/.bash_history: line 2 is `export GITHUB_TOKEN=ghp_...` (the token starts at column 21, 40 characters).
    expect(at('secret-token', 'root/.bash_history')).toEqual({ startLine: 2, startColumn: 21, endColumn: 61 });
    expect(at('build-path-reference', 'etc/app/app.conf')).toEqual({ startLine: 2, startColumn: 12, endColumn: 19 });
    expect(at('credential-file', 'root/.aws/credentials')).toEqual({ startLine: 3 });
    // Findings about an entry, not its contents, point at line 1.
    expect(at('orphaned-home', 'home/bob')).toEqual({ startLine: 1 });
  });

  it('puts 21 images into one run (code scanning takes at most 20 per file), each result naming its image', async () => {
    const s = scratch();
    try {
      const targets = Array.from({ length: 21 }, (_, i) => path.join(s.dir, `image-${String.fromCharCode(97 + i)}`));
      for (const t of targets) copyTree(path.join(SAMPLES, 'clean'), t);
      copyTree(path.join(SAMPLES, 'leaky'), targets[20]!.replace(/image-u$/, 'leaky'));
      targets[20] = targets[20]!.replace(/image-u$/, 'leaky');
      const { log } = await sarifOf(targets, ['--jobs', '2']);
      expect(validate(log)).toBe(true);
      expect(log.runs).toHaveLength(1);
      expect(log.runs[0].invocations).toHaveLength(21);
      expect(new Set(log.runs[0].results.map((r: Sarif) => r.properties.target))).toEqual(new Set([targets[20]]));
    } finally {
      s.cleanup();
    }
  });

  it('keeps at most 25,000 results per run, the most severe first, and says how many it left out', () => {
    const finding = (i: number, severity: 'error' | 'warning') => ({
      ruleId: 'r', severity, path: `/f${i}`, filesystem: null, message: 'm', evidence: null, remediation: 'x',
    });
    const report = {
      version: 1 as const,
      tool: { name: 'hostleak', version: '0' },
      targets: [{
        target: 't', status: 'ok' as const, error: null, backend: 'dir', durationMs: 0, filesystems: [],
        findings: [...Array.from({ length: 4 }, (_, i) => finding(i, 'warning')), ...Array.from({ length: 3 }, (_, i) => finding(10 + i, 'error'))],
      }],
    };
    const log = JSON.parse(formatSarif(report, { rules: [], maxResults: 5 }));
    expect(validate(log)).toBe(true);
    const run = log.runs[0];
    expect(run.results).toHaveLength(5);
    expect(run.results.filter((r: Sarif) => r.level === 'error')).toHaveLength(3);
    expect(run.properties).toMatchObject({ resultsTotal: 7, resultsIncluded: 5 });
    expect(run.invocations[0].toolExecutionNotifications[0].message.text).toMatch(/^2 of 7 results left out: code scanning accepts 5 per run/);
    expect(MAX_RESULTS).toBe(25_000);
  });

  it('gives the same fingerprints and category when the image is rebuilt under a versioned name; another image differs', async () => {
    const s = scratch();
    try {
      const copy = path.join(s.dir, 'out', 'leaky-24.11.20241201');
      mkdirSync(path.dirname(copy));
      copyTree(path.join(SAMPLES, 'leaky'), copy);
      const a = (await sarifOf([path.join(SAMPLES, 'leaky')])).log.runs[0];
      const b = (await sarifOf([copy])).log.runs[0];
      const fps = (rs: Sarif[]) => rs.map((r) => `${r.ruleId} ${r.partialFingerprints['hostleak/v2']}`).sort();
      expect(fps(b.results)).toEqual(fps(a.results));
      expect(b.automationDetails.id).toBe(a.automationDetails.id);
      // The same leaks in another image are other alerts.
      const other = path.join(s.dir, 'other-image');
      copyTree(path.join(SAMPLES, 'leaky'), other);
      const c = (await sarifOf([other])).log.runs[0];
      expect(fps(c.results).filter((x) => fps(a.results).includes(x))).toEqual([]);
    } finally {
      s.cleanup();
    }
  });

  it('shows a failed target as an unsuccessful invocation with an error notification, in the same run', async () => {
    const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky'), path.join(SAMPLES, 'no-such-image')]);
    expect(exitCode).toBe(3);
    expect(validate(log)).toBe(true);
    expect(log.runs).toHaveLength(1);
    const [ok, failed] = log.runs[0].invocations;
    expect(ok.executionSuccessful).toBe(true);
    expect(failed.executionSuccessful).toBe(false);
    expect(failed.toolExecutionNotifications[0].level).toBe('error');
    expect(failed.toolExecutionNotifications[0].message.text).toContain('no such file or directory');
    expect(failed.properties.status).toBe('failed');
  });

  it('marks findings shown with --show-suppressed as accepted suppressions, still schema-valid', async () => {
    const s = scratch();
    try {
      const base = path.join(s.dir, 'b.json');
      await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--write-baseline', base, ...TEST_HOST]);
      const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky')], ['--baseline', base, '--show-suppressed']);
      expect(exitCode).toBe(0);
      expect(validate(log)).toBe(true);
      const results = log.runs[0].results;
      expect(results.length).toBeGreaterThanOrEqual(3);
      for (const r of results) {
        expect(r.suppressions).toEqual([{ kind: 'external', status: 'accepted', justification: `in baseline ${base}` }]);
      }
    } finally {
      s.cleanup();
    }
  });

  it('maps severities to levels and encodes paths as relative URI references', () => {
    expect(sarifLevel('error')).toBe('error');
    expect(sarifLevel('warning')).toBe('warning');
    expect(sarifLevel('info')).toBe('note');
    expect(imageUri('/etc/ssh/ssh_host_ed25519_key')).toBe('etc/ssh/ssh_host_ed25519_key');
    expect(imageUri('/home/a b/%x#y?')).toBe('home/a%20b/%25x%23y%3F');
    expect(imageUri('/dev/sda1:/loader/random-seed')).toBe('dev/sda1/loader/random-seed');
    expect(imageUri('/')).toBe('.');
  });
});
