/**
 * `npm install -g` as root, for real: two local packages packed as tarballs whose files carry a laptop's uids (501, as
 * old registry tarballs do, and 1000), installed with npm into a root tree, packed into ext4 with mke2fs -d and audited.
 * One unknown-owner finding per npm package (not per file) that names the cause (the tarball's owners), the hazard
 * and the fix, and never blames the builder; a tree copied with owners kept and a folder of such siblings are one
 * finding each.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Finding, Report } from '../../src/types.js';
import { hostleak, json } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';
import { npmPackageOf } from '../../rules/unknown-owner.js';

requireTools('npm', 'tar', 'mke2fs', 'debugfs');

function put(p: string, content: string, mode = 0o644): void {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content, { mode });
}

/** `npm pack`-shaped tarball (a `package/` folder) whose entries belong to `uid`, like a tarball packed on a laptop. */
function tarball(work: string, name: string, files: Record<string, string>, uid: number, gid: number): string {
  const src = path.join(work, `src-${name.replace(/[@/]/g, '_')}`);
  put(path.join(src, 'package/package.json'), JSON.stringify({ name, version: '1.0.0', bin: { [name.split('/').pop()!]: 'cli.js' } }));
  put(path.join(src, 'package/cli.js'), '#!/usr/bin/env node\nconsole.log(1)\n', 0o755);
  for (const [f, c] of Object.entries(files)) put(path.join(src, 'package', f), c);
  const out = path.join(work, `${name.replace(/[@/]/g, '_')}-1.0.0.tgz`);
  execFileSync('tar', ['-C', src, `--owner=${uid}`, `--group=${gid}`, '--numeric-owner', '-czf', out, 'package']);
  return out;
}

describe('npm install -g as root, in an ext4 image', () => {
  let work: string;
  let findings: Finding[];
  let all: Finding[];
  let ownerOf: (p: string) => string;
  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'hostleak-npm-'));
    const tree = path.join(work, 'tree');
    put(path.join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n');
    put(path.join(tree, 'etc/group'), 'root:x:0:\nalice:x:1001:\n');
    put(path.join(tree, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
    put(path.join(tree, 'etc/fstab'), 'LABEL=root / ext4 defaults 0 1\n');
    mkdirSync(path.join(tree, 'usr/bin'), { recursive: true });
    const pkgs = [
      tarball(work, 'leftpad-x', { 'lib/a.js': 'module.exports = 1\n', 'lib/b.js': 'module.exports = 2\n', 'README.md': '# x\n' }, 501, 20),
      tarball(work, '@acme/tool', { 'dist/index.js': 'export {}\n', 'dist/util.js': 'export {}\n' }, 1000, 1000),
    ];
    execFileSync('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', path.join(tree, 'usr'), ...pkgs], {
      // root's npm cache in the image, as `npm install -g` in a build leaves it (its _cacache and _logs)
      env: { ...process.env, npm_config_cache: path.join(tree, 'root/.npm'), npm_config_update_notifier: 'false' },
      stdio: 'ignore',
    });
    // npm up to 9 (Debian 12's) extracts as root with the tarball's owners kept (node-tar's preserveOwner, on for root);
    // npm 10 and later extract root-owned. Whichever npm this is, the packages end up as npm 9 leaves them: the same
    // tarball extracted over the installed package with its owners, as npm 9 does.
    for (const [pkg, tgz] of [['leftpad-x', pkgs[0]!], ['@acme/tool', pkgs[1]!]] as const) {
      execFileSync('tar', ['-C', path.join(tree, 'usr/lib/node_modules', pkg), '--same-owner', '--strip-components=1', '-xzf', tgz]);
    }
    // A tree copied with the builder's owners kept, and two such siblings in one folder.
    for (const f of ['run.sh', 'lib/x.py', 'lib/y.py']) put(path.join(tree, 'opt/app', f), 'x\n');
    execFileSync('chown', ['-R', '1000:1000', path.join(tree, 'opt/app')]);
    put(path.join(tree, 'srv/export-a.csv'), 'a\n');
    put(path.join(tree, 'srv/export-b.csv'), 'b\n');
    execFileSync('chown', ['1000:1000', path.join(tree, 'srv/export-a.csv')]);
    execFileSync('chown', ['1002:1002', path.join(tree, 'srv/export-b.csv')]);
    expect(statSync(path.join(tree, 'usr/lib/node_modules/leftpad-x/lib/a.js')).uid).toBe(501);

    const img = path.join(work, 'root.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'root', '-d', tree, img, '32M']);
    ownerOf = (p) => {
      const out = execFileSync('debugfs', ['-R', `stat ${p}`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const m = /User:\s*(\d+)\s+Group:\s*(\d+)/.exec(out);
      return m ? `${m[1]}:${m[2]}` : 'missing';
    };
    const r = hostleak(['scan', '--format', 'json', '--fail-on', 'never', '--backend', 'native', img]);
    if (r.status !== 0) throw new Error(r.stderr);
    all = json<Report>(r).targets[0]!.findings;
    findings = all.filter((f) => f.ruleId === 'unknown-owner');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ownership survives into the image (debugfs agrees)', () => {
    expect(ownerOf('/usr/lib/node_modules/leftpad-x/lib/a.js')).toBe('501:20');
    expect(ownerOf('/usr/lib/node_modules/@acme/tool/dist/index.js')).toBe('1000:1000');
  });

  it('one finding per npm package, naming the tarball, the hazard and the fix', () => {
    const npm = findings.filter((f) => f.path.includes('/node_modules/'));
    expect(npm.map((f) => f.path).sort()).toEqual(['/usr/lib/node_modules/@acme/tool', '/usr/lib/node_modules/leftpad-x']);
    const left = npm.find((f) => f.path.endsWith('leftpad-x'))!;
    expect(left.severity).toBe('warning');
    expect(left.message).toContain('npm package leftpad-x');
    expect(left.message).toContain('uid 501');
    expect(left.message).toContain('tarball');
    expect(left.message).toMatch(/first user/);
    expect(left.message).toMatch(/chown -R 0:0/);
    expect(left.message).not.toMatch(/builder/);
    expect(left.evidence).toMatch(/lib\/a\.js|package\.json|cli\.js/);
    expect(npm.find((f) => f.path.endsWith('@acme/tool'))!.message).toContain('uid 1000');
  });

  it("npm's real _cacache and _logs in root's home are language-cache warnings", () => {
    const caches = all.filter((f) => f.ruleId === 'language-cache');
    expect(caches.map((f) => [f.path, f.severity])).toEqual([['/root/.npm/_cacache', 'warning'], ['/root/.npm/_logs', 'warning']]);
    expect(caches[1]!.evidence).toMatch(/debug-0\.log/);
  });

  it('a copied tree is one finding at its top, siblings in one folder are one finding', () => {
    const rest = findings.filter((f) => !f.path.includes('/node_modules/'));
    expect(rest.map((f) => f.path).sort()).toEqual(['/opt/app', '/srv']);
    expect(rest.find((f) => f.path === '/opt/app')!.message).toContain('5 entries');
    const srv = rest.find((f) => f.path === '/srv')!;
    expect(srv.message).toContain('2 entries');
    expect(srv.message).toContain('uid 1000, 1002');
    expect(srv.evidence).toContain('export-a.csv');
  });
});

describe('npmPackageOf', () => {
  it('finds the innermost package, scoped or not', () => {
    expect(npmPackageOf('/usr/lib/node_modules/pm2/node_modules/once/once.js')).toBe('/usr/lib/node_modules/pm2/node_modules/once');
    expect(npmPackageOf('/usr/lib/node_modules/@acme/tool/dist/x.js')).toBe('/usr/lib/node_modules/@acme/tool');
    expect(npmPackageOf('/usr/lib/node_modules/@acme')).toBeNull();
    expect(npmPackageOf('/usr/lib/node_modules/.bin/x')).toBeNull();
    expect(npmPackageOf('/opt/app/x')).toBeNull();
  });
});
