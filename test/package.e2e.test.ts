/**
 * The npm package as a user gets it: `npm pack`, install the tarball into an empty prefix, and run the installed
 * `hostleak` from an unrelated directory. The tarball holds only runtime files (compiled JavaScript, the rule docs
 * `explain` prints, LICENSE, README): no TypeScript sources, no source maps pointing at sources it does not ship.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './helpers/cli.js';

let tmp: string;
let tarball: string;
let bin: string;

function run(args: string[]) {
  // An unrelated working directory: nothing may be found relative to the checkout.
  return spawnSync(bin, args, { cwd: tmp, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-package-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(tmp, packed[0]!.filename);
  const prefix = path.join(tmp, 'prefix');
  // The dependencies come from npm's cache when `npm ci` already ran (as in .ci/run), from the registry otherwise.
  execFileSync('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: tmp,
    stdio: 'ignore',
  });
  bin = path.join(prefix, 'bin', 'hostleak');
}, 300_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed npm package', () => {
  it('holds only runtime files, with LICENSE and the package metadata', () => {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(list).toEqual(expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/package.json', 'package/dist/src/bin/hostleak.js', 'package/docs/report.schema.json']));
    expect(list.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    expect(list.filter((f) => /^package\/(test|images-sample|bench|scripts|\.ci)\//.test(f))).toEqual([]);
    const pj = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pj).toMatchObject({ license: 'MIT', repository: expect.anything(), homepage: expect.any(String), bugs: expect.anything() });
  });

  it('runs --version, rules and explain from an unrelated directory', () => {
    const version = run(['--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version);
    const rules = run(['rules']);
    expect(rules.status).toBe(0);
    expect(rules.stdout).toMatch(/^orphaned-home\s+error/m);
    const explain = run(['explain', 'orphaned-home']);
    expect(explain.status).toBe(0);
    expect(explain.stdout).toContain('orphaned-home');
  });

  it('scans the bundled sample image and exits 1 with its findings', () => {
    const r = run(['scan', '--format', 'json', path.join(REPO, 'images-sample/leaky.raw.gz')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout) as { targets: Array<{ status: string; findings: Array<{ ruleId: string; path: string }> }> };
    expect(report.targets[0]!.status).toBe('ok');
    const got = report.targets[0]!.findings.map((f) => `${f.ruleId} ${f.path}`);
    expect(got).toEqual(
      expect.arrayContaining([
        'orphaned-home /home/bob',
        'root-owned-nix-defexpr /home/bob/.nix-defexpr',
        'dangling-channel-symlink /home/bob/.nix-defexpr/channels',
      ]),
    );
  });
});
