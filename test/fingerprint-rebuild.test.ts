/**
 * Fingerprints identify the leak, not the build's random bytes: the leaky sample image and a second build of it
 * (images-sample/rebuilds.json: new machine id, host key, random seeds, channels temp dir, store hashes, longer
 * history and logs, other filesystem UUIDs), both real GPT disk images built by images-sample/. The first build's
 * baseline passes the second with exit 0 and no new finding; a rotated secret is new.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fingerprintOf, legacyFingerprint, secretKey, stablePath } from '../src/fingerprint.js';
import type { Finding } from '../src/types.js';
import { cli, copyTree, REPO_ROOT, SAMPLES, scratch } from './helpers/gate.js';
import { builtinRules } from '../rules/index.js';

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
const FIRST = path.join(SAMPLES, 'leaky.raw');
const SECOND = path.join(SAMPLES, 'leaky-rebuilt.raw');

async function findings(target: string, extra: string[] = []): Promise<{ code: number; findings: Finding[]; stderr: string }> {
  const r = await cli(['scan', target, '--format', 'json', ...HOST, ...extra]);
  return { code: r.exitCode, findings: JSON.parse(r.stdout).targets[0].findings, stderr: r.stderr };
}

describe('fingerprints across a rebuild', () => {
  let s: ReturnType<typeof scratch>;
  beforeEach(() => {
    s = scratch();
  });
  afterEach(() => s.cleanup());

  it('the rebuilt image really differs where rebuilds differ', async () => {
    const a = await findings(FIRST);
    const b = await findings(SECOND);
    const ev = (fs: Finding[], rule: string, p: string) => fs.find((f) => f.ruleId === rule && f.path === p)?.evidence;
    // Evidence that changes with every build: what 0.1.0 fingerprinted.
    expect(ev(b.findings, 'baked-machine-id', '/var/lib/dbus/machine-id')).not.toBe(ev(a.findings, 'baked-machine-id', '/var/lib/dbus/machine-id'));
    expect(ev(b.findings, 'baked-ssh-host-key', '/etc/ssh/ssh_host_ed25519_key')).not.toBe(ev(a.findings, 'baked-ssh-host-key', '/etc/ssh/ssh_host_ed25519_key'));
    expect(ev(b.findings, 'dangling-channel-symlink', '/home/bob/.nix-defexpr/channels')).toContain('/tmp/nix-build-');
    expect(ev(b.findings, 'shell-history', '/root/.bash_history')).not.toBe(ev(a.findings, 'shell-history', '/root/.bash_history'));
    expect(b.findings.some((f) => f.ruleId === 'setuid-in-store' && f.path.includes('2c9wzq4k'))).toBe(true);
    const legacy = (fs: Finding[]) => new Set(fs.map(legacyFingerprint));
    const sharedV1 = [...legacy(b.findings)].filter((fp) => legacy(a.findings).has(fp)).length;
    expect(sharedV1).toBeLessThan(b.findings.length);
    // ...and the fingerprints are the same, one for one.
    const fps = (fs: Finding[]) => fs.map((f) => `${f.ruleId} ${f.fingerprint}`).sort();
    expect(fps(b.findings)).toEqual(fps(a.findings));
  });

  it("the first build's baseline passes the rebuilt image: exit 0, no new finding, no stale entry", async () => {
    const base = path.join(s.dir, 'baseline.json');
    const first = await cli(['scan', FIRST, '--write-baseline', base, ...HOST]);
    expect(first.exitCode).toBe(1);
    const r = await findings(SECOND, ['--baseline', base]);
    expect(r.findings).toEqual([]);
    expect(r.code).toBe(0);
    const n = JSON.parse(readFileSync(base, 'utf8')).findings.length;
    expect(r.stderr).toContain(`${n} findings suppressed by baseline ${base}`);
    expect(r.stderr).not.toContain('matched no finding');
  });

  it('a rotated secret is a new finding; a fixed leak leaves a baseline entry that the run names', async () => {
    const base = path.join(s.dir, 'baseline.json');
    await cli(['scan', path.join(SAMPLES, 'leaky'), '--write-baseline', base, ...HOST]);
    const tree = path.join(s.dir, 'tree');
    copyTree(path.join(SAMPLES, 'leaky-rebuilt'), tree);
    const history = path.join(tree, 'root', '.bash_history');
    writeFileSync(history, readFileSync(history, 'utf8').replace('ghp_FAKEfakeFAKEfake0123456789abcdefABCD', 'ghp_ROTATEDrotatedROTATED0123456789abcdEF'));
    const r = await findings(tree, ['--baseline', base]);
    expect(r.code).toBe(1);
    expect(r.findings.map((f) => `${f.ruleId} ${f.path}`)).toEqual(['secret-token /root/.bash_history']);
    // The old token's entry matched nothing now.
    expect(r.stderr).toMatch(/baseline\.json: 1 entry matched no finding: secret-token \/root\/\.bash_history/);
  });

  it('keys: store hashes out of paths, secrets by kind and value hash', () => {
    expect(stablePath('/nix/store/7b3kqx1w9d2m5n8p0r4s6t2v8y1z3a5c-shadow-4.14/bin/su')).toBe('/nix/store/*-shadow-4.14/bin/su');
    expect(stablePath('/nix/var/log/nix/drvs/ab/cdefghijklmnpqrsvwxyz012345678-x.drv.bz2')).toBe('/nix/var/log/nix/drvs/*/*-x.drv.bz2');
    expect(fingerprintOf('r', '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x/y', null)).toBe(
      fingerprintOf('r', '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-x/y', null),
    );
    expect(fingerprintOf('r', '/a', secretKey('github-token', 'x'))).not.toBe(fingerprintOf('r', '/a', secretKey('github-token', 'y')));
    expect(fingerprintOf('r', '/a', null)).not.toBe(fingerprintOf('q', '/a', null));
  });
});

describe('docs/configuration.md fingerprints', () => {
  it('names only real rules in its table of keys', () => {
    const md = readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    const table = md.slice(md.indexOf('| rule | keys on |'), md.indexOf('\n\n', md.indexOf('| rule | keys on |')));
    const ids = [...table.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
    const known = new Set([...builtinRules.map((r) => r.meta.id), 'rule-crashed']);
    expect(ids.length).toBeGreaterThanOrEqual(15);
    for (const id of ids) expect([id, known.has(id)]).toEqual([id, true]);
  });
});
