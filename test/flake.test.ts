/**
 * flake.nix on a real nix (Debian's nix-bin): parsed, its outputs evaluated, and lib.auditImage built, with
 * test/nix/standin-nixpkgs.nix standing in for nixpkgs (which cannot be fetched here): runCommand is a plain
 * derivation run by the machine's /bin/sh, buildNpmPackage wraps the hostleak built in this checkout. The store is
 * the machine's, without a sandbox; a nonce per run makes every derivation build afresh.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SAMPLES, scratch } from './helpers/gate.js';
import { requireTool } from './helpers/tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
requireTool('nix-instantiate', 'nix-build');
const NIX_OPTS = ['--option', 'sandbox', 'false', '--option', 'substituters', '', '--option', 'build-users-group', ''];

describe('flake.nix on a real nix evaluator', () => {
  let s: ReturnType<typeof scratch>;
  let expr: string;
  const nonce = randomBytes(8).toString('hex');

  beforeAll(() => {
    s = scratch('hostleak-flake-');
    expr = path.join(s.dir, 'default.nix');
    // The flake's outputs function applied to the stand-in, as `nix build` would apply it to nixpkgs.
    writeFileSync(
      expr,
      `{ repo, node, nonce }:
let
  system = builtins.currentSystem;
  flake = import (/. + "\${repo}/flake.nix");
  nixpkgs = import (/. + "\${repo}/test/nix/standin-nixpkgs.nix") { inherit system node repo nonce; };
  outputs = flake.outputs { self = outputs; inherit nixpkgs; };
  pkg = outputs.packages.\${system}.default;
  lockArgs = pkg.passthru.npmDeps.importNpmLockArgs;
  host = { user = "bob"; home = "/home/bob"; name = "bobs-laptop"; };
  audit = args: outputs.lib.auditImage ({ inherit system host; } // args);
in {
  inherit flake outputs system;
  shape = {
    description = flake.description;
    nixpkgs = flake.inputs.nixpkgs.url;
    packages = builtins.attrNames outputs.packages.\${system};
    apps = outputs.apps.\${system}.default.type;
    program = outputs.apps.\${system}.default.program;
    checks = builtins.attrNames outputs.checks.\${system};
    lib = builtins.attrNames outputs.lib;
    pname = pkg.passthru.pname;
    version = pkg.passthru.version;
    mainProgram = pkg.passthru.meta.mainProgram;
    npmRoot = toString lockArgs.npmRoot;
    usesImportNpmLockHook = pkg.passthru.npmConfigHook == "importNpmLock.npmConfigHook";
    lock = lockArgs.packageLock.packages;
  };
  withResolved = outputs.lib.withResolved;
  leaky = audit { image = "\${repo}/images-sample/out/leaky.raw"; name = "leaky"; };
  leakyNever = audit { image = "\${repo}/images-sample/out/leaky.raw"; name = "leaky"; failOn = "never"; };
  missing = audit { image = "\${repo}/images-sample/out/no-such-image.raw"; name = "missing"; };
}
`,
    );
  });
  afterAll(() => s.cleanup());

  const args = () => ['--argstr', 'repo', REPO_ROOT, '--argstr', 'node', process.execPath, '--argstr', 'nonce', nonce];
  function evalJson(attr: string, extra: string[] = []): any {
    const r = spawnSync('nix-instantiate', ['--eval', '--strict', '--json', ...NIX_OPTS, expr, '-A', attr, ...args(), ...extra], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`nix-instantiate -A ${attr}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
  function build(attr: string): { status: number | null; out: string; stderr: string } {
    const r = spawnSync('nix-build', ['--no-out-link', ...NIX_OPTS, expr, '-A', attr, ...args()], { encoding: 'utf8', timeout: 240_000 });
    return { status: r.status, out: r.stdout.trim(), stderr: r.stderr };
  }

  it('parses (nix-instantiate --parse)', () => {
    const r = spawnSync('nix-instantiate', ['--parse', path.join(REPO_ROOT, 'flake.nix')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('exposes packages, apps, checks and lib; the package is buildNpmPackage from package-lock.json', () => {
    const shape = evalJson('shape');
    expect(shape.nixpkgs).toMatch(/^github:NixOS\/nixpkgs\//);
    expect(shape.packages).toEqual(['default', 'hostleak']);
    expect(shape.apps).toBe('app');
    expect(shape.program).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hostleak-[\d.]+\/bin\/hostleak$/);
    expect(shape.checks).toEqual(['hostleak', 'sample-is-caught']);
    expect(shape.lib).toEqual(['auditImage', 'withResolved']);
    const pj = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    expect([shape.pname, shape.version, shape.mainProgram]).toEqual(['hostleak', pj.version, Object.keys(pj.bin)[0]]);
    expect(shape.npmRoot).toBe(REPO_ROOT);
    expect(shape.usesImportNpmLockHook).toBe(true);
    // What importNpmLock gets is this package-lock.json with every registry package given its tarball URL; each
    // one is fetched by the integrity hash the lock records, so no separate deps hash can go stale.
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')).packages;
    expect(Object.keys(shape.lock).sort()).toEqual(Object.keys(lock).sort());
    for (const [key, pkg] of Object.entries<any>(lock)) {
      if (key === '' || pkg.link) continue;
      expect([key, pkg.integrity]).toEqual([key, expect.stringMatching(/^sha(512|1)-/)]);
      const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
      expect([key, shape.lock[key].resolved]).toEqual([key, `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${pkg.version}.tgz`]);
      expect(shape.lock[key].integrity).toBe(pkg.integrity);
    }
  }, 120_000);

  it('withResolved: scoped, nested, linked, the root and an existing resolved', () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'x', version: '1.0.0' },
        'node_modules/yaml': { version: '2.9.1', integrity: 'sha512-a' },
        'node_modules/@types/node': { version: '20.19.43', integrity: 'sha512-b' },
        'node_modules/jest/node_modules/@jest/core': { version: '29.7.0', integrity: 'sha512-c' },
        'node_modules/local': { resolved: 'packages/local', link: true },
        'node_modules/git-dep': { version: '1.0.0', resolved: 'git+ssh://git@github.com/a/b.git#abc' },
      },
    };
    const out = JSON.parse(
      spawnSync(
        'nix-instantiate',
        ['--eval', '--strict', '--json', ...NIX_OPTS, '-E', `(import ${expr} { repo = "${REPO_ROOT}"; node = ""; nonce = "${nonce}"; }).withResolved (builtins.fromJSON ''${JSON.stringify(lock)}'')`],
        { encoding: 'utf8' },
      ).stdout,
    ).packages;
    expect(out['']).toEqual(lock.packages['']);
    expect(out['node_modules/yaml'].resolved).toBe('https://registry.npmjs.org/yaml/-/yaml-2.9.1.tgz');
    expect(out['node_modules/@types/node'].resolved).toBe('https://registry.npmjs.org/@types/node/-/node-20.19.43.tgz');
    expect(out['node_modules/jest/node_modules/@jest/core'].resolved).toBe('https://registry.npmjs.org/@jest/core/-/core-29.7.0.tgz');
    expect(out['node_modules/local']).toEqual(lock.packages['node_modules/local']);
    expect(out['node_modules/git-dep']).toEqual(lock.packages['node_modules/git-dep']);
  }, 120_000);

  it('lib.auditImage keeps the reports in $out when the gate fails, with the verdict; its .gate fails the build', () => {
    const r = build('leaky');
    expect(r.stderr).not.toContain('error:');
    expect(r.status).toBe(0);
    const out = r.out;
    for (const f of ['report.json', 'report.html', 'report.sarif', 'junit.xml', 'gl-code-quality-report.json', 'report.txt']) {
      expect([f, existsSync(path.join(out, f))]).toEqual([f, true]);
    }
    expect(readFileSync(path.join(out, 'verdict'), 'utf8').trim()).toBe('fail');
    expect(readFileSync(path.join(out, 'exit-code'), 'utf8').trim()).toBe('1');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.targets[0].target).toBe(path.join(SAMPLES, 'leaky.raw'));
    expect(report.targets[0].findings.map((f: any) => `${f.ruleId} ${f.path}`)).toContain('orphaned-home /home/bob');
    expect(readFileSync(path.join(out, 'junit.xml'), 'utf8')).toContain('<failure');

    const gate = build('leaky.gate');
    expect(gate.status).not.toBe(0);
    expect(gate.stderr).toContain('hostleak: leaky: fail (exit 1) at --fail-on error');
    expect(gate.stderr).toContain(`hostleak: the reports are in ${out}`);
  }, 300_000);

  it('failOn never passes and its .gate builds; an image that cannot be read is incomplete and fails the gate', () => {
    const never = build('leakyNever');
    expect(never.status).toBe(0);
    expect(readFileSync(path.join(never.out, 'verdict'), 'utf8').trim()).toBe('pass');
    expect(readFileSync(path.join(never.out, 'junit.xml'), 'utf8')).not.toContain('<failure');
    const gate = build('leakyNever.gate');
    expect(gate.status).toBe(0);
    expect(readFileSync(path.join(gate.out, 'reports', 'verdict'), 'utf8').trim()).toBe('pass');

    const missing = build('missing');
    expect(missing.status).toBe(0);
    expect(readFileSync(path.join(missing.out, 'verdict'), 'utf8').trim()).toBe('incomplete');
    expect(readFileSync(path.join(missing.out, 'exit-code'), 'utf8').trim()).toBe('3');
    expect(build('missing.gate').status).not.toBe(0);
  }, 300_000);

  it("checks.sample-is-caught builds: the gate catches the bundled sample's leaks", () => {
    const r = build(`outputs.checks.${evalJson('system')}.sample-is-caught`);
    expect(r.stderr).not.toContain('error:');
    expect(r.status).toBe(0);
  }, 300_000);
});
