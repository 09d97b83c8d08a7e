/**
 * Images in a registry, audited by reference (`docker://127.0.0.1:PORT/REPO:TAG`): Debian's reference registry
 * (`docker-registry`, the distribution server) on the loopback with a temp storage folder, the sample images pushed to
 * it by `skopeo copy`. An image audits with the same findings as its local oci-archive; an index picks the platform;
 * a login registry (htpasswd, made by `htpasswd -B`) takes the credential from the auth files; a bearer-token
 * challenge (a small token server in front of the registry: the registry's own token auth needs certificates) is
 * answered; bad credentials, a missing tag, a corrupted blob, a dropped connection and a bad manifest are exit 3 with
 * the reason, the other targets of the run still audited.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO, SAMPLES, type CliResult } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { requireTool } from '../helpers/tools.js';
import type { Finding, Report, TargetResult } from '../../src/types.js';

requireTool('docker-registry', 'skopeo', 'htpasswd', 'tar', 'gzip');

const USER = 'auditor';
const PASSWORD = 'Reg1stryPassw0rd-h30';

let tmp: string;
const procs: ChildProcess[] = [];
const servers: http.Server[] = [];

/** The CLI as a child process, without blocking this process (the token server and proxies run in it). */
function hostleak(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, REGISTRY_AUTH_FILE: path.join(tmp, 'no-auth.json'), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const scan = (targets: string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}) => hostleak(['scan', '--format', 'json', ...extra, ...targets], env);
const targetsOf = (r: CliResult) => (JSON.parse(r.stdout) as Report).targets;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A docker-registry on 127.0.0.1 with its storage in `dir`; `htpasswd` makes it ask for a login. */
async function startRegistry(dir: string, htpasswd?: string): Promise<{ port: number; storage: string }> {
  const port = await freePort();
  const storage = path.join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  const auth = htpasswd ? `auth:\n  htpasswd:\n    realm: hostleak-test\n    path: ${htpasswd}\n` : '';
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const proc = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  procs.push(proc);
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      () => true,
      () => false,
    );
    if (up) return { port, storage };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('docker-registry did not start');
}

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function push(src: string, dest: string, creds?: string): void {
  skopeo('copy', '-q', '--all', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), src, `docker://${dest}`);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Put a blob into an OCI layout folder; its descriptor. */
function putBlob(dir: string, buf: Buffer, mediaType: string) {
  const d = sha256(buf);
  writeFileSync(path.join(dir, 'blobs', 'sha256', d), buf);
  return { mediaType, digest: `sha256:${d}`, size: buf.length };
}

/** A one-layer image (a file `rel` holding `text`, packed by tar and gzip) for `arch`, in the layout `dir`. */
function smallImage(dir: string, arch: string, rel: string, text: string) {
  const root = path.join(tmp, `root-${arch}-${sha256(Buffer.from(text)).slice(0, 8)}`);
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
  const tarBytes = execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
  const gz = execFileSync('gzip', ['-n', '-c'], { input: tarBytes, maxBuffer: 1 << 26 });
  const layer = putBlob(dir, gz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = putBlob(
    dir,
    Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tarBytes)}`] } })),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }));
  return { manifest: putBlob(dir, manifest, 'application/vnd.oci.image.manifest.v1+json'), layer };
}

/** Proxy to a registry; `handle` may answer a request itself (return true). */
async function startProxy(upstream: number, handle: (req: http.IncomingMessage, res: http.ServerResponse, port: number) => boolean): Promise<number> {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    if (handle(req, res, port)) return;
    const up = http.request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: { ...req.headers, authorization: '' } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return port;
}

const authFile = (entries: Record<string, unknown>) => {
  const f = path.join(tmp, `auth-${Object.keys(entries).length}-${sha256(Buffer.from(JSON.stringify(entries))).slice(0, 8)}.json`);
  writeFileSync(f, JSON.stringify({ auths: entries }));
  return f;
};
const basicAuth = (user: string, pass: string) => ({ auth: Buffer.from(`${user}:${pass}`).toString('base64') });

let reg: { port: number; storage: string };
let login: { port: number; storage: string };
let local: TargetResult;
let ociDigest: string;
let multiDir: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-registry-'));
  reg = await startRegistry(path.join(tmp, 'open'));
  const htpasswd = path.join(tmp, 'htpasswd');
  execFileSync('htpasswd', ['-B', '-b', '-c', htpasswd, USER, PASSWORD], { stdio: 'ignore' });
  login = await startRegistry(path.join(tmp, 'login'), htpasswd);
  const at = `127.0.0.1:${reg.port}`;
  push(`oci-archive:${path.join(SAMPLES, 'leaky-oci.tar')}`, `${at}/leaky/oci:v1`);
  push(`docker-archive:${path.join(SAMPLES, 'leaky-docker.tar')}`, `${at}/leaky/docker:v1`);
  push(`oci-archive:${path.join(SAMPLES, 'leaky-oci.tar')}`, `127.0.0.1:${login.port}/leaky/oci:v1`, `${USER}:${PASSWORD}`);
  // A multi-arch index: the leaky image for linux/amd64 and a small one for linux/arm64.
  multiDir = path.join(tmp, 'multi');
  cpSync(path.join(SAMPLES, 'leaky-oci'), multiDir, { recursive: true });
  const amd64 = (JSON.parse(readFileSync(path.join(multiDir, 'index.json'), 'utf8')) as { manifests: Array<Record<string, unknown>> }).manifests[0]!;
  ociDigest = amd64.digest as string;
  const arm64 = smallImage(multiDir, 'arm64', 'root/.env', `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`).manifest;
  const index = putBlob(
    multiDir,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: amd64.mediaType, digest: amd64.digest, size: amd64.size, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    ),
    'application/vnd.oci.image.index.v1+json',
  );
  writeFileSync(
    path.join(multiDir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }),
  );
  push(`oci:${multiDir}:multi`, `${at}/leaky/multi:v1`);
  local = targetsOf(await scan([path.join(SAMPLES, 'leaky-oci.tar')]))[0]!;
}, 300_000);

afterAll(async () => {
  for (const s of servers) s.close();
  for (const p of procs) p.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

const ids = (fs: Finding[]) => fs.map((f) => `${f.ruleId} ${f.path}`);

describe('an image in a registry audits by reference', () => {
  it('with the same findings as its oci-archive, named by reference and manifest digest (exit 1)', async () => {
    expect(local.status).toBe('ok');
    expect(local.findings.length).toBeGreaterThan(5);
    const r = await scan([`docker://127.0.0.1:${reg.port}/leaky/oci:v1`]);
    expect(r.status).toBe(1);
    const t = targetsOf(r)[0]!;
    expect([t.target, t.status, t.backend, t.digest]).toEqual([`docker://127.0.0.1:${reg.port}/leaky/oci:v1`, 'ok', 'container', ociDigest]);
    expect(t.findings).toEqual(local.findings);
    expect(t.filesystems).toEqual(local.filesystems);
    // The digest is what skopeo says the registry holds.
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://127.0.0.1:${reg.port}/leaky/oci:v1`)) as { Digest: string };
    expect(inspected.Digest).toBe(ociDigest);
  });

  it('by digest too, and the text report names the digest', async () => {
    const r = await hostleak(['scan', `docker://127.0.0.1:${reg.port}/leaky/oci@${ociDigest}`]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(ociDigest);
    expect(r.stdout).toContain('/opt/build/deploy.env');
  });

  it('a docker-archive pushed (skopeo compresses its layers) finds what the archive finds, layers named by their new digests', async () => {
    const r = await scan([`docker://127.0.0.1:${reg.port}/leaky/docker:v1`, path.join(SAMPLES, 'leaky-docker.tar')]);
    const [remote, archive] = targetsOf(r);
    expect(remote!.status).toBe('ok');
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://127.0.0.1:${reg.port}/leaky/docker:v1`)) as { Layers: string[] };
    const layers = (t: TargetResult) => t.filesystems.filter((f) => f.type === 'layer').map((f) => f.device);
    expect(layers(remote!)).toEqual(inspected.Layers);
    // The archive's layers are named by their tar digests, the pushed ones by their gzip blobs': layer K is layer K.
    let text = JSON.stringify(archive!.findings);
    for (const [k, d] of layers(archive!).entries()) text = text.split(d).join(layers(remote!)[k]!);
    const strip = (fs: Finding[]) => fs.map(({ fingerprint: _p, ...rest }) => rest);
    expect(strip(remote!.findings)).toEqual(strip(JSON.parse(text) as Finding[]));
  });

  it('an index gives linux/amd64 by default, another platform with --platform, and names what it has when asked for a missing one', async () => {
    const ref = `docker://127.0.0.1:${reg.port}/leaky/multi:v1`;
    const [amd] = targetsOf(await scan([ref]));
    expect(amd!.digest).toBe(ociDigest);
    expect(amd!.findings).toEqual(local.findings);
    const [arm] = targetsOf(await scan([ref], ['--platform', 'linux/arm64']));
    expect(arm!.status).toBe('ok');
    expect(arm!.digest).not.toBe(ociDigest);
    expect(ids(arm!.findings.filter((f) => f.ruleId === 'secret-token'))).toEqual(['secret-token /root/.env']);
    const missing = await scan([ref, path.join(SAMPLES, 'leaky-oci.tar')], ['--platform', 'linux/s390x']);
    expect(missing.status).toBe(3);
    const [none, other] = targetsOf(missing);
    expect(none!.status).toBe('failed');
    expect(none!.error).toMatch(/no image for linux\/s390x in the index \(it has linux\/amd64, linux\/arm64\/v8\)/);
    expect(other!.status).toBe('ok');
  });

  it('--cache on a miss resolves the index once: the audit reads the manifest by the digest it is keyed by', async () => {
    const cache = path.join(tmp, 'cache-multi');
    const ref = `docker://127.0.0.1:${reg.port}/leaky/multi:v1`;
    const r = await scan([ref], ['--cache', cache, '--verbose'], { HOSTLEAK_CACHE_KEY: 'm'.repeat(40) });
    const t = targetsOf(r)[0]!;
    expect(t.status).toBe('ok');
    const hops = r.stderr.split('\n').filter((l) => /index sha256:[0-9a-f]{64}: linux\/amd64 is sha256:/.test(l));
    expect(hops).toHaveLength(1);
    expect(hops[0]).toContain(t.digest!);
  });

  it('--cache keys a registry image by its manifest digest: the second run is a hit', async () => {
    const cache = path.join(tmp, 'cache');
    const env = { HOSTLEAK_CACHE_KEY: 'k'.repeat(40) };
    const ref = `docker://127.0.0.1:${reg.port}/leaky/oci:v1`;
    const first = targetsOf(await scan([ref], ['--cache', cache], env))[0]!;
    const second = targetsOf(await scan([ref], ['--cache', cache], env))[0]!;
    expect([first.cached, second.cached]).toEqual([undefined, true]);
    expect(second.findings).toEqual(first.findings);
    expect(second.digest).toBe(ociDigest);
  });
});

describe('credentials as the ecosystem keeps them', () => {
  const ref = () => `docker://127.0.0.1:${login.port}/leaky/oci:v1`;

  it('no credential for a login registry: exit 3, 401', async () => {
    const r = await scan([ref(), path.join(SAMPLES, 'leaky-oci.tar')]);
    expect(r.status).toBe(3);
    const [t, other] = targetsOf(r);
    expect(t!.status).toBe('failed');
    expect(t!.error).toMatch(/401 Unauthorized/);
    // It says where the login goes: the auth file this run looks at (REGISTRY_AUTH_FILE).
    expect(t!.error).toContain(`add a login for 127.0.0.1:${login.port} to ${path.join(tmp, 'no-auth.json')}`);
    expect(other!.status).toBe('ok');
  });

  it('bad credentials from REGISTRY_AUTH_FILE: exit 3, refused, the password never shown', async () => {
    const wrong = 'Wr0ngPassword-h30-xyz';
    const file = authFile({ [`127.0.0.1:${login.port}`]: basicAuth(USER, wrong) });
    const r = await scan([ref()], ['--verbose'], { REGISTRY_AUTH_FILE: file });
    expect(r.status).toBe(3);
    expect(targetsOf(r)[0]!.error).toMatch(/401 Unauthorized: the credential from .* was refused/);
    expect(targetsOf(r)[0]!.error).toContain(`fix the entry for 127.0.0.1:${login.port} in ${file}`);
    for (const s of [wrong, Buffer.from(`${USER}:${wrong}`).toString('base64')]) expect(r.stdout + r.stderr).not.toContain(s);
  });

  it('the right credential from ~/.docker/config.json (username/password) or containers auth.json (auth): the image audits', async () => {
    const home = path.join(tmp, 'home');
    mkdirSync(path.join(home, '.docker'), { recursive: true });
    writeFileSync(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://127.0.0.1:${login.port}`]: { username: USER, password: PASSWORD } } }));
    const viaDocker = await scan([ref()], ['--verbose'], { REGISTRY_AUTH_FILE: undefined, HOME: home, XDG_RUNTIME_DIR: path.join(tmp, 'none'), XDG_CONFIG_HOME: path.join(tmp, 'none') });
    expect(targetsOf(viaDocker)[0]!.findings).toEqual(local.findings);
    const runtime = path.join(tmp, 'runtime');
    mkdirSync(path.join(runtime, 'containers'), { recursive: true });
    writeFileSync(path.join(runtime, 'containers', 'auth.json'), JSON.stringify({ auths: { [`127.0.0.1:${login.port}/leaky`]: basicAuth(USER, PASSWORD) } }));
    const viaContainers = await scan([ref()], ['--verbose'], { REGISTRY_AUTH_FILE: undefined, HOME: path.join(tmp, 'none'), XDG_RUNTIME_DIR: runtime });
    expect(viaContainers.status).toBe(1);
    expect(targetsOf(viaContainers)[0]!.findings).toEqual(local.findings);
    for (const r of [viaDocker, viaContainers]) {
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(r.stderr).toMatch(/credential from .*(config\.json|auth\.json)/);
    }
  });

  describe('a bearer-token challenge', () => {
    let port: number;
    let tokens = 0;
    beforeAll(async () => {
      port = await startProxy(reg.port, (req, res, self) => {
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/token') {
          const basic = req.headers.authorization;
          const anonymous = basic === undefined;
          const good = basic === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
          // Anonymous pulls are allowed for leaky/oci only; a credential must be the right one.
          const scope = url.searchParams.get('scope') ?? '';
          if ((!anonymous && !good) || (anonymous && scope !== 'repository:leaky/oci:pull')) {
            res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad login"}]}');
            return true;
          }
          tokens++;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `tok-${scope}-${good ? 'user' : 'anon'}-Zx81qQ` }));
          return true;
        }
        const repo = /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1];
        const want = `Bearer tok-repository:${repo}:pull-`;
        if (url.pathname !== '/v2/' && !req.headers.authorization?.startsWith(want)) {
          res
            .writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${self}/token",service="test-registry",scope="repository:${repo}:pull"` })
            .end();
          return true;
        }
        return false;
      });
    });

    it('is answered with an anonymous token when no credential is kept', async () => {
      const r = await scan([`docker://127.0.0.1:${port}/leaky/oci:v1`]);
      expect(r.status).toBe(1);
      expect(targetsOf(r)[0]!.findings).toEqual(local.findings);
      expect(tokens).toBeGreaterThan(0);
      expect(r.stdout + r.stderr).not.toContain('Zx81qQ');
    });

    it('--cache on a miss asks the token server once: the audit starts with the token its manifest lookup was given', async () => {
      const before = tokens;
      const r = await scan([`docker://127.0.0.1:${port}/leaky/oci:v1`], ['--cache', path.join(tmp, 'cache-token')], { HOSTLEAK_CACHE_KEY: 't'.repeat(40) });
      expect(r.status).toBe(1);
      expect(targetsOf(r)[0]!.findings).toEqual(local.findings);
      expect(tokens - before).toBe(1);
      expect(r.stdout + r.stderr).not.toContain('Zx81qQ');
    });

    it('with the credential where the token server wants one, and a refused one is exit 3', async () => {
      const good = authFile({ [`127.0.0.1:${port}`]: basicAuth(USER, PASSWORD) });
      const ok = await scan([`docker://127.0.0.1:${port}/leaky/docker:v1`], [], { REGISTRY_AUTH_FILE: good });
      expect([ok.status, targetsOf(ok)[0]!.status]).toEqual([1, 'ok']);
      const bad = authFile({ [`127.0.0.1:${port}`]: basicAuth(USER, 'nope-nope-nope') });
      const refused = await scan([`docker://127.0.0.1:${port}/leaky/docker:v1`], [], { REGISTRY_AUTH_FILE: bad });
      expect(refused.status).toBe(3);
      expect(targetsOf(refused)[0]!.error).toMatch(/401 from the token server: the credential from .* was refused \(UNAUTHORIZED: bad login\)/);
      expect(refused.stdout + refused.stderr).not.toContain('nope-nope-nope');
    });
  });
});

describe('a registry that fails is exit 3 with the reason, never clean', () => {
  it('a missing tag or repository: 404', async () => {
    const r = await scan([`docker://127.0.0.1:${reg.port}/leaky/oci:nope`, `docker://127.0.0.1:${reg.port}/leaky/none:v1`]);
    expect(r.status).toBe(3);
    for (const t of targetsOf(r)) expect(t.error).toMatch(/404 Not Found: the manifest for tag '(nope|v1)' does not exist \(MANIFEST_UNKNOWN/);
  });

  it('a connection dropped in the middle of a layer', async () => {
    const manifest = JSON.parse(readFileSync(path.join(SAMPLES, 'leaky-oci', 'blobs', 'sha256', ociDigest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
    const big = [...manifest.layers].sort((a, b) => b.size - a.size)[0]!;
    const port = await startProxy(reg.port, (req, res) => {
      if (!req.url!.endsWith(`/blobs/${big.digest}`) || req.headers.range) return false;
      const data = readFileSync(path.join(SAMPLES, 'leaky-oci', 'blobs', 'sha256', big.digest.slice(7)));
      res.writeHead(200, { 'content-length': String(data.length), 'content-type': 'application/octet-stream' });
      res.write(data.subarray(0, data.length >> 1), () => res.socket?.destroy());
      return true;
    });
    const r = await scan([`docker://127.0.0.1:${port}/leaky/oci:v1`, path.join(SAMPLES, 'leaky-oci.tar')]);
    expect(r.status).toBe(3);
    const [t, other] = targetsOf(r);
    expect(t!.status).toBe('failed');
    expect(t!.error).toMatch(new RegExp(`blob ${big.digest}: the connection dropped after \\d+ of ${big.size} bytes`));
    expect(other!.status).toBe('ok');
  });

  it('a manifest that is not JSON', async () => {
    const port = await startProxy(reg.port, (req, res) => {
      if (!req.url!.includes('/manifests/')) return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{"schemaVersion": 2, "config": ');
      return true;
    });
    const r = await scan([`docker://127.0.0.1:${port}/leaky/oci:v1`]);
    expect(r.status).toBe(3);
    expect(targetsOf(r)[0]!.error).toMatch(/manifest sha256:[0-9a-f]{64} is not valid JSON/);
  });

  it('a blob corrupted in the registry storage: digest mismatch', async () => {
    // An image of its own (its layer shared with nothing else), its layer's gzip header time changed: gunzip still
    // reads it, only the digest tells.
    const dir = path.join(tmp, 'corrupt');
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    const img = smallImage(dir, 'amd64', 'etc/hostname', 'corrupt-me\n');
    writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifest, annotations: { 'org.opencontainers.image.ref.name': 'c' } }] }));
    const ref = `127.0.0.1:${reg.port}/leaky/corrupt:v1`;
    push(`oci:${dir}:c`, ref);
    const before = await scan([`docker://${ref}`]);
    expect(targetsOf(before)[0]!.status).toBe('ok');
    const hex = img.layer.digest.slice(7);
    const data = path.join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(data);
    bytes[4] = bytes[4]! ^ 0xff;
    writeFileSync(data, bytes);
    const r = await scan([`docker://${ref}`, path.join(SAMPLES, 'leaky-oci.tar')]);
    expect(r.status).toBe(3);
    const [t, other] = targetsOf(r);
    expect(t!.status).toBe('failed');
    expect(t!.error).toMatch(new RegExp(`blob digest mismatch \\(manifest says ${img.layer.digest}, content is sha256:[0-9a-f]{64}\\)`));
    expect(other!.status).toBe('ok');
  });
});
