/**
 * The rule catalog end to end: the built CLI on the sample trees (dir backend) and on a real Alpine 3.10 root tree.
 * Every family planted in the leaky sample is reported at its planted path; the clean trees are quiet; no output
 * format carries a planted secret in full.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FORMATS } from '../src/reporters/index.js';
import type { Report } from '../src/types.js';
import { FAKE_KEY_BODY_LINES, FAKE_TOKENS } from './helpers/fake-secrets.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(REPO, 'dist/src/bin/hostleak.js');
const SAMPLES = path.join(REPO, 'images-sample/out');
const ALPINE = path.join(REPO, 'test/fixtures/corpus/trivy_alpine-310.tar.gz');
const BOB = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
/** As hostleak runs in CI: root, home /root, a container hostname. */
const CI_ROOT = ['--host-user', 'root', '--host-home', '/root', '--host-name', 'localhost'];

function hostleak(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: REPO,
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scanJson(target: string, extra: string[] = []): Report {
  const r = hostleak(['scan', target, '--format', 'json', '--fail-on', 'never', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

interface SpecEntry {
  path: string;
  leak?: string | string[];
  content?: string;
}
const spec = JSON.parse(readFileSync(path.join(REPO, 'images-sample/trees.json'), 'utf8')) as {
  variants: Record<string, SpecEntry[]>;
};
const planted = spec.variants.leaky!.flatMap((e) => (e.leak ? [e.leak].flat().map((rule) => ({ rule, path: e.path })) : []));

describe('leaky sample', () => {
  // --no-nested: its builder-scratch.raw (a squashfs) is then named by nested-image instead of audited.
  const report = scanJson(path.join(SAMPLES, 'leaky'), [...BOB, '--no-nested']);
  const findings = report.targets[0]!.findings;

  it('plants every rule family', () => {
    const rules = new Set(planted.map((p) => p.rule));
    const ids = hostleak(['rules']).stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]);
    for (const id of ids) expect(rules).toContain(id);
  });

  it.each(planted.map((p) => [p.rule, p.path]))('reports %s at %s', (rule, p) => {
    expect(findings.filter((f) => f.ruleId === rule).map((f) => f.path)).toContain(p);
  });

  it('reports both shell-history and secret-token on the history file holding a token', () => {
    const onHistory = findings.filter((f) => f.path === '/root/.bash_history').map((f) => f.ruleId).sort();
    expect(onHistory).toEqual(['secret-token', 'shell-history']);
  });

  it('flags the builder home only when told who the builder is', () => {
    expect(findings.some((f) => f.ruleId === 'host-identity-reference' && f.path === '/home/bob')).toBe(true);
    const asRoot = scanJson(path.join(SAMPLES, 'leaky'), CI_ROOT).targets[0]!.findings;
    expect(asRoot.filter((f) => f.ruleId === 'host-identity-reference')).toEqual([]);
  });

  it.each(FORMATS.map((f) => [f]))('%s output never contains a planted secret in full', (format) => {
    const r = hostleak(['scan', path.join(SAMPLES, 'leaky'), '--format', format, '--fail-on', 'never', ...BOB]);
    expect(r.status).toBe(0);
    let out = r.stdout + r.stderr;
    // Markdown escapes punctuation (`ghp\_`): read it as a viewer renders it, so an escaped secret still counts.
    if (format === 'markdown') {
      out = out.replace(/\\([!-\/:-@[-`{-~])/g, '$1').replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
    }
    expect(out.length).toBeGreaterThan(1000);
    const secrets = [...FAKE_TOKENS, ...FAKE_KEY_BODY_LINES, '4f0c2e1b9d8a7c6b5a4f3e2d1c0b9a8f'];
    for (const s of secrets) expect(out).not.toContain(s);
    // The redacted forms are there instead: the finding is still useful.
    expect(out).toContain('ghp_…[40 chars, sha256:');
  });
});

describe('clean trees', () => {
  const loud = (r: Report) => r.targets[0]!.findings.filter((f) => f.severity !== 'info').map((f) => `${f.ruleId} ${f.path}`);

  it.each([['defaults of this machine', []], ['the builder bob', BOB], ['root in CI', CI_ROOT]] as Array<[string, string[]]>)(
    'the clean sample is quiet (%s)',
    (_name, flags) => {
      const r = scanJson(path.join(SAMPLES, 'clean'), flags);
      expect(r.targets[0]!.status).toBe('ok');
      expect(loud(r)).toEqual([]);
    },
  );

  describe('Alpine 3.10 root tree (corpus)', () => {
    let dir = '';
    let root = '';
    beforeAll(() => {
      if (!existsSync(ALPINE)) throw new Error(`corpus file missing: ${ALPINE}`);
      dir = mkdtempSync(path.join(os.tmpdir(), 'hostleak-alpine-'));
      // A `docker save` tarball: unpack it, then its one layer as the root tree, owners preserved (as root).
      const outer = spawnSync('tar', ['-xzf', ALPINE, '-C', dir], { encoding: 'utf8' });
      if (outer.status !== 0) throw new Error(`tar failed: ${outer.stderr}`);
      const layers = readdirSync(dir).filter((d) => existsSync(path.join(dir, d, 'layer.tar')));
      expect(layers).toHaveLength(1);
      root = path.join(dir, 'rootfs');
      spawnSync('mkdir', [root]);
      const inner = spawnSync('tar', ['-xpf', path.join(dir, layers[0]!, 'layer.tar'), '-C', root, '--numeric-owner'], { encoding: 'utf8' });
      if (inner.status !== 0) throw new Error(`tar failed: ${inner.stderr}`);
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it.each([['defaults of this machine', []], ['the builder bob', BOB], ['root in CI', CI_ROOT], ['store scan on', ['--scan-store']]] as Array<
      [string, string[]]
    >)('gives no finding of warning or above (%s)', (_name, flags) => {
      const r = scanJson(root, flags);
      expect(r.targets[0]!.status).toBe('ok');
      expect(readdirSync(path.join(root, 'etc'))).toContain('alpine-release');
      expect(loud(r)).toEqual([]);
    });
  });
});
