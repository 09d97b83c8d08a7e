/**
 * The Containerfile, built by buildah and run on the bundled sample image. No registry here, so the base (what
 * `--build-arg BASE` names in place of node:20-bookworm-slim) is made locally: `buildah from scratch` plus this
 * machine's node, a shell, the few coreutils the Containerfile's RUN lines use, and their shared libraries. The
 * build context is the release tree scripts/pack-action.sh makes (built dist/ and production node_modules), so the
 * build stage compiles nothing. vfs storage in a temp folder, chroot isolation: no daemon, no cgroups. podman's OCI
 * runtime cannot start containers on this machine (cgroups in hybrid mode), so the image is run with `buildah run`,
 * the entrypoint, user and working folder taken from the image's own config.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { releaseTree } from './helpers/fixtures.js';
import { REPO_ROOT, scratch } from './helpers/gate.js';
import { requireTool } from './helpers/tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
requireTool('buildah');

const CONTAINERFILE = path.join(REPO_ROOT, 'Containerfile');
const TOOLS = ['dash', 'mkdir', 'chown', 'chmod', 'ln', 'cp', 'env', 'id'];

describe('Containerfile', () => {
  let s: ReturnType<typeof scratch>;
  let storage: string[];
  let config: any;
  let build: { status: number | null; stderr: string };
  const env = { ...process.env, BUILDAH_ISOLATION: 'chroot' };
  const buildah = (...args: string[]) => execFileSync('buildah', [...storage, ...args], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

  /** A root with node at node's image path (/usr/local/bin/node), a shell and coreutils, Debian's merged /usr. */
  function makeBase(): void {
    const ctr = buildah('from', 'scratch');
    const root = buildah('mount', ctr);
    for (const d of ['usr/bin', 'usr/local/bin', 'usr/lib', 'usr/lib64', 'etc', 'tmp']) mkdirSync(path.join(root, d), { recursive: true });
    chmodSync(path.join(root, 'tmp'), 0o1777);
    for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) symlinkSync(target!, path.join(root, link!));
    const node = realpathSync(process.execPath);
    const bins = [node, ...TOOLS.map((t) => realpathSync(execFileSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim()))];
    copyFileSync(node, path.join(root, 'usr/local/bin/node'));
    for (const b of bins.slice(1)) copyFileSync(b, path.join(root, 'usr/bin', path.basename(b)));
    symlinkSync('dash', path.join(root, 'usr/bin/sh'));
    const libs = new Set<string>();
    for (const b of bins) for (const m of execFileSync('ldd', [b], { encoding: 'utf8' }).matchAll(/(\/\S+)/g)) libs.add(m[1]!);
    for (const lib of libs) {
      mkdirSync(path.join(root, path.dirname(lib)), { recursive: true });
      copyFileSync(realpathSync(lib), path.join(root, lib));
    }
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
    buildah('umount', ctr);
    buildah('commit', '-q', ctr, 'localhost/hostleak-test-base');
  }

  beforeAll(() => {
    s = scratch('hostleak-containerfile-');
    storage = ['--root', path.join(s.dir, 'root'), '--runroot', path.join(s.dir, 'run'), '--storage-driver', 'vfs'];
    makeBase();
    // scripts/pack-action.sh's tree, made once for every test file that needs it (test/helpers/fixtures.ts).
    const context = releaseTree();
    const r = spawnSync(
      'buildah',
      [...storage, 'bud', '--isolation', 'chroot', '--build-arg', 'BASE=localhost/hostleak-test-base', '-f', CONTAINERFILE, '-t', 'localhost/hostleak', context],
      { encoding: 'utf8', env, timeout: 300_000 },
    );
    build = { status: r.status, stderr: r.stderr };
    if (r.status === 0) config = JSON.parse(buildah('inspect', '--type', 'image', 'localhost/hostleak')).OCIv1.config;
  }, 400_000);
  afterAll(() => {
    if (storage) spawnSync('buildah', [...storage, 'rm', '--all'], { env });
    s.cleanup();
  });

  /** Run the image as its config says (entrypoint, user, working folder), the sample folder mounted read-only. */
  function run(args: string[], entrypoint: string[] = config.Entrypoint) {
    const ctr = buildah('from', 'localhost/hostleak');
    const r = spawnSync(
      'buildah',
      [...storage, 'run', '--isolation', 'chroot', '--user', config.User, '--workingdir', config.WorkingDir,
        '-v', `${path.join(REPO_ROOT, 'images-sample')}:/work:ro`, ctr, '--', ...entrypoint, ...args],
      { encoding: 'utf8', env, timeout: 120_000 },
    );
    buildah('rm', ctr);
    return r;
  }

  it('names a real public base, overridable, with a slim default target and a libguestfs one', () => {
    const text = readFileSync(CONTAINERFILE, 'utf8');
    expect(text).toMatch(/^ARG BASE=docker\.io\/library\/node:20-bookworm-slim$/m);
    const stages = [...text.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => [m[1], m[2] ?? null]);
    expect(stages).toEqual([
      ['${BASE}', 'build'],
      ['${BASE}', 'hostleak'],
      ['hostleak', 'guestfs'],
      ['hostleak', null],
    ]);
    expect(text).toMatch(/FROM hostleak AS guestfs\nUSER root\nRUN apt-get update[^\n]*\n[^\n]*libguestfs-tools/);
  });

  it('builds (buildah bud) into an image that runs as a non-root user with hostleak as its entrypoint', () => {
    expect([build.status, build.stderr.split('\n').filter((l) => /error/i.test(l))]).toEqual([0, []]);
    expect(config.Entrypoint).toEqual(['hostleak']);
    expect(config.User).toBe('10001:10001');
    expect(config.WorkingDir).toBe('/work');
    const id = run(['-u'], ['id']);
    expect(id.stdout.trim()).toBe('10001');
    const version = run(['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version);
    // Small: production dependencies only, no TypeScript sources.
    const ctr = buildah('from', 'localhost/hostleak');
    const root = buildah('mount', ctr);
    try {
      const has = (p: string) => spawnSync('test', ['-e', path.join(root, p)]).status === 0;
      expect(['yargs', 'typescript', 'jest'].map((m) => [m, has(`opt/hostleak/node_modules/${m}`)])).toEqual([
        ['yargs', true],
        ['typescript', false],
        ['jest', false],
      ]);
      expect(has('opt/hostleak/src')).toBe(false);
      expect(has('opt/hostleak/docs/rules/orphaned-home.md')).toBe(true);
    } finally {
      buildah('umount', ctr);
      buildah('rm', ctr);
    }
  });

  it('audits the bundled sample image: exit 1 with its leaks', () => {
    const r = run(['scan', '--format', 'json', 'leaky.raw.gz']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.targets[0].status).toBe('ok');
    expect(report.targets[0].findings.map((f: any) => `${f.ruleId} ${f.path}`)).toEqual(
      expect.arrayContaining(['orphaned-home /home/bob', 'dangling-channel-symlink /home/bob/.nix-defexpr/channels']),
    );
    // A target it cannot read: exit 3, one line.
    const missing = run(['scan', 'no-such-image.raw']);
    expect(missing.status).toBe(3);
  });
});
