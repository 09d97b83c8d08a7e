/**
 * Container images as buildah, podman and skopeo write them (rootless of any daemon: vfs storage in a temp folder, a
 * base made with `buildah from scratch` + `buildah copy`, no registry), in every transport: the docker-dir layout
 * (`buildah push dir:`, `podman save --format docker-dir`, `skopeo copy dir:`) is one image with its config and
 * whiteouts, like `oci:`, `oci-archive:` and `docker-archive:`. Checked against the producers' own view: the layers
 * and Env `skopeo inspect` gives, the root `umoci unpack` builds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, json } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('buildah', 'podman', 'skopeo', 'umoci');

let tmp: string;
let storage: string[];
let store: string;
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } }).trim();
const buildah = (...args: string[]) => run('buildah', [...storage, ...args]);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-ctr-'));
  storage = ['--root', path.join(tmp, 'root'), '--runroot', path.join(tmp, 'run'), '--storage-driver', 'vfs'];
  store = `containers-storage:[vfs@${path.join(tmp, 'root')}+${path.join(tmp, 'run')}]`;
  const ctx = path.join(tmp, 'ctx');
  mkdirSync(path.join(ctx, 'etc'), { recursive: true });
  mkdirSync(path.join(ctx, 'root'), { recursive: true });
  writeFileSync(path.join(ctx, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(ctx, 'etc/hostname'), 'box\n');
  writeFileSync(path.join(ctx, 'root/.env'), `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`);
  // base: a clean root. env: base + a token in its config's Env only. leak: base + /root/.env; gone: leak with
  // /root/.env deleted in the next layer (a whiteout, made through `buildah mount`).
  const base = buildah('from', 'scratch');
  buildah('copy', base, path.join(ctx, 'etc'), '/etc');
  buildah('commit', '-q', base, 'base');
  const env = buildah('from', 'localhost/base');
  buildah('config', '--env', `TOKEN=${FAKE_GITHUB_TOKEN}`, env);
  buildah('commit', '-q', env, 'env');
  const leak = buildah('from', 'localhost/base');
  buildah('copy', leak, path.join(ctx, 'root'), '/root');
  buildah('commit', '-q', leak, 'leak');
  const gone = buildah('from', 'localhost/leak');
  const mnt = buildah('mount', gone);
  rmSync(path.join(mnt, 'root/.env'));
  buildah('umount', gone);
  buildah('commit', '-q', gone, 'gone');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const scan = (targets: string[]) => hostleak(['scan', '--format', 'json', ...targets]);
const secrets = (r: ReturnType<typeof scan>) =>
  json<Report>(r).targets.map((t) => ({ status: t.status, backend: t.backend, paths: t.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path) }));

describe('the docker-dir layout is one container image', () => {
  let dirs: string[];
  beforeAll(() => {
    dirs = ['buildah-dir', 'podman-dir', 'skopeo-dir'].map((n) => path.join(tmp, n));
    buildah('push', '-q', 'localhost/env', `dir:${dirs[0]}`);
    run('podman', [...storage, 'save', '-q', '--format', 'docker-dir', '-o', dirs[1]!, 'localhost/env']);
    run('skopeo', ['copy', '-q', `${store}localhost/env`, `dir:${dirs[2]}`]);
  });

  it('each holds manifest.json, version and blobs named by digest', () => {
    for (const d of dirs) expect(readdirSync(d)).toEqual(expect.arrayContaining(['manifest.json', 'version']));
  });

  it('a token only in the config Env is found in each (exit 1), with the layers skopeo inspect lists', () => {
    const r = scan(dirs);
    expect(secrets(r)).toEqual(dirs.map(() => ({ status: 'ok', backend: 'container', paths: ['config:/Env'] })));
    expect(r.status).toBe(1);
    for (const [i, d] of dirs.entries()) {
      const inspected = JSON.parse(run('skopeo', ['inspect', `dir:${d}`])) as { Layers: string[]; Env: string[] };
      expect(json<Report>(r).targets[i]!.filesystems.map((f) => f.device)).toEqual(inspected.Layers);
      expect(inspected.Env).toContain(`TOKEN=${FAKE_GITHUB_TOKEN}`);
    }
    expect(r.stdout).not.toContain(FAKE_GITHUB_TOKEN);
  });

  it('in a store (--recursive) or a folder of build products, each image folder is one target, its blobs none', () => {
    const store = path.join(tmp, 'store');
    mkdirSync(path.join(store, 'nested'), { recursive: true });
    run('cp', ['-r', dirs[0]!, path.join(store, 'nested', 'app')]);
    run('skopeo', ['copy', '-q', `dir:${dirs[0]}`, `oci:${path.join(store, 'oci')}:latest`]);
    const targets = (args: string[]) => json<Report>(scan(args)).targets.map((t) => [path.relative(store, t.target), t.status, t.backend]);
    expect(targets(['--recursive', store])).toEqual([
      ['nested/app', 'ok', 'container'],
      ['oci', 'ok', 'container'],
    ]);
    // Without --recursive the folder is taken as a folder of build products: the same two images.
    expect(targets([store])).toEqual([
      ['nested/app', 'ok', 'container'],
      ['oci', 'ok', 'container'],
    ]);
  });

  it('a manifest list pushed to dir: (`buildah manifest push --all`) is every image it lists', () => {
    buildah('manifest', 'create', 'both');
    buildah('manifest', 'add', 'both', 'localhost/env');
    buildah('manifest', 'add', 'both', 'localhost/gone');
    const dir = path.join(tmp, 'list-dir');
    buildah('manifest', 'push', '-q', '--all', 'both', `dir:${dir}`);
    const listed = (JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest);
    expect(listed).toHaveLength(2);
    const r = scan([dir]);
    expect(r.status).toBe(1);
    const paths = json<Report>(r).targets[0]!.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining([`${listed[0]}:config:/Env`, expect.stringMatching(new RegExp(`^${listed[1]}:sha256:[0-9a-f]{64}:/root/\\.env$`))]));
  });

  it('inventory opens the same image scan audits (not a folder of tarballs)', () => {
    for (const d of dirs) {
      const r = hostleak(['inventory', d]);
      expect(r.status).toBe(0);
      const paths = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path);
      expect(paths).toEqual(expect.arrayContaining(['/etc/passwd', '/etc/hostname', 'config:/Env']));
    }
  });
});

describe('a file deleted in a later layer, in every transport', () => {
  let targets: string[];
  beforeAll(() => {
    targets = [
      ['oci', `oci:${path.join(tmp, 'gone-oci')}:latest`],
      ['oci-archive', `oci-archive:${path.join(tmp, 'gone-oci.tar')}`],
      ['docker-archive', `docker-archive:${path.join(tmp, 'gone-docker.tar')}:gone:latest`],
      ['dir', `dir:${path.join(tmp, 'gone-dir')}`],
    ].map(([, dest]) => {
      run('skopeo', ['copy', '-q', `${store}localhost/gone`, dest!]);
      return dest!.split(':')[1]!;
    });
  });

  it('the final root is the one umoci unpacks; the deleted token is shipped but hidden in its layer (exit 1)', () => {
    const bundle = path.join(tmp, 'bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${path.join(tmp, 'gone-oci')}:latest`, bundle]);
    const umoci = execFileSync('find', ['.', '-mindepth', '1'], { cwd: path.join(bundle, 'rootfs'), encoding: 'utf8' });
    const expected = umoci.trim().split('\n').map((p) => p.slice(1)).sort();
    const inv = hostleak(['inventory', path.join(tmp, 'gone-oci')]);
    const finalRoot = inv.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path).filter((p) => p.startsWith('/') && p !== '/');
    expect(finalRoot.sort()).toEqual(expected);
    expect(expected).not.toContain('/root/.env');

    const r = scan(targets);
    expect(r.status).toBe(1);
    for (const t of json<Report>(r).targets) {
      const hit = t.findings.filter((f) => f.ruleId === 'secret-token');
      expect([t.target, t.status, hit.length]).toEqual([t.target, 'ok', 1]);
      expect(hit[0]!.path).toMatch(/^sha256:[0-9a-f]{64}:\/root\/\.env$/);
      expect(hit[0]!.message).toMatch(/shipped but hidden: member at byte \d+ of layer 2 \(.*\), deleted by a whiteout at byte \d+ of layer 3 /);
    }
  });
});
