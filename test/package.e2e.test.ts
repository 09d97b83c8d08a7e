/**
 * The npm package as a user gets it: `npm pack`, install the tarball into an empty prefix, and run the installed
 * `hostleak` from an unrelated directory. The tarball holds only runtime files (compiled JavaScript, the rule docs
 * `explain` prints, LICENSE, README): no TypeScript sources, no source maps pointing at sources it does not ship.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './helpers/cli.js';
import { installedPackage, packedPackage } from './helpers/fixtures.js';

let tmp: string;
let tarball: string;
let bin: string;
let installed: string;

function run(args: string[]) {
  // An unrelated working directory: nothing may be found relative to the checkout.
  return spawnSync(bin, args, { cwd: tmp, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-package-'));
  // Packed and installed once for every test file that needs them (test/helpers/fixtures.ts).
  tarball = packedPackage().tarball;
  ({ bin, installed } = installedPackage());
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

  it('writes the HTML report with its style sheet and script read from the installed package', () => {
    const r = run(['scan', '--format', 'html', '--fail-on', 'never', path.join(REPO, 'images-sample/leaky.raw.gz')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const sheet = readFileSync(path.join(REPO, 'src/reporters/html-assets/report.css'), 'utf8');
    const script = readFileSync(path.join(REPO, 'src/reporters/html-assets/report.js'), 'utf8');
    expect(r.stdout).toContain(`<style>\n${sheet}</style>`);
    expect(r.stdout).toContain(`<script>\n${script}</script>`);
  });

  describe('a rules folder in TypeScript against the installed package', () => {
    const RULE = `import { defineRule, lines, type RuleContext } from 'hostleak/kit';

const rule = defineRule({
  meta: {
    id: 'stale-motd',
    severity: 'warning',
    tags: ['host-leak'],
    description: '/etc/motd names the build host',
    remediation: 'Generate /etc/motd at boot, not on the build machine.',
  },
  async check({ inventory, fs, host, report }: RuleContext) {
    if (!host.name || inventory.get('/etc/motd')?.type !== 'file') return;
    const text = await fs.readText('/etc/motd', { maxBytes: 64 * 1024 });
    for (const { line, n } of lines(text ?? '')) {
      if (line.includes(host.name)) report({ path: '/etc/motd', message: \`line \${n} names the build host\`, evidence: line });
    }
  },
});
export default rule;
`;
    let project: string;
    const tsc = (args: string[] = []) =>
      spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, ...args], {
        cwd: project,
        encoding: 'utf8',
        timeout: 120_000,
      });

    beforeAll(() => {
      // A project of its own: the installed package and Node's types in its node_modules, nothing from the checkout.
      project = path.join(tmp, 'my-rules');
      mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true });
      mkdirSync(path.join(project, 'rules'));
      symlinkSync(installed, path.join(project, 'node_modules', 'hostleak'));
      symlinkSync(path.join(REPO, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'));
      writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-rules', type: 'module', private: true }));
      writeFileSync(
        path.join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', types: ['node'] },
          include: ['rules/**/*.ts'],
        }),
      );
    });

    // One compiler run for both files (a run loads Node's types, most of its time): the right rule compiles
    // without a word, every error is the wrong one's, its severity and its unknown member among them.
    let compiled: ReturnType<typeof tsc>;
    beforeAll(() => {
      writeFileSync(path.join(project, 'rules', 'stale-motd.ts'), RULE);
      writeFileSync(path.join(project, 'rules', 'wrong.ts'), RULE.replace("severity: 'warning'", "severity: 'fatal'").replace('host.name', 'host.nickname'));
      compiled = tsc();
    });

    it('type-checks and runs: hostleak/kit resolves to its declarations and its code', () => {
      expect(compiled.stderr).toBe('');
      expect(compiled.stdout.split('\n').filter((l) => l.includes('stale-motd.ts'))).toEqual([]);
      const out = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', "const m = await import('./dist/stale-motd.js'); console.log(JSON.stringify(m.default.meta))"],
        { cwd: project, encoding: 'utf8' },
      );
      expect(out.stderr).toBe('');
      expect(JSON.parse(out.stdout)).toMatchObject({ id: 'stale-motd', severity: 'warning' });
    });

    it('the types are real: a wrong severity and an unknown context member are errors', () => {
      expect(compiled.status).not.toBe(0);
      const errors = compiled.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.filter((l) => !l.startsWith('rules/wrong.ts('))).toEqual([]);
      expect(compiled.stdout).toMatch(/wrong\.ts\(\d+,\d+\): error TS2322: Type '"fatal"' is not assignable/);
      expect(compiled.stdout).toMatch(/wrong\.ts\(\d+,\d+\): error TS2339: Property 'nickname' does not exist on type 'HostIdentity'/);
    });
  });
});
