/**
 * Every shape a build hands over, built from the leaky sample by images-sample/build-archives.mjs with real tools,
 * audited through the built CLI with `--backend auto`: each finds what the leaky sample holds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN, FAKE_NPM_TOKEN } from '../helpers/fake-secrets.js';
import type { Report } from '../../src/types.js';

const SEED = ['dangling-channel-symlink', 'orphaned-home', 'root-owned-nix-defexpr'];
const HOST = ['--host-user', 'nobody-here', '--host-name', 'no-such-host', '--host-home', '/nonexistent'];

function scan(target: string, extra: string[] = []) {
  const r = hostleak(['scan', target, '--format', 'json', ...HOST, ...extra], { cwd: SAMPLES });
  return { r, report: r.stdout ? json<Report>(r) : null };
}

const pairs = (report: Report, t = 0) =>
  report.targets[t]!.findings.filter((f) => !f.path.includes(':')).map((f) => `${f.ruleId} ${f.path}`).sort();

describe('what a build hands over, audited with --backend auto', () => {
  let reference: string[];
  let treeReference: string[];
  beforeAll(() => {
    const disk = scan('leaky.raw');
    expect(disk.r.status).toBe(1);
    reference = pairs(disk.report!);
    const tree = scan('leaky');
    treeReference = pairs(tree.report!);
    for (const id of SEED) expect(reference.some((p) => p.startsWith(`${id} `))).toBe(true);
  });

  it('`scan result` (a symlink to a store folder with a qcow2 and nix-support/) audits the image, named result/nixos.qcow2', () => {
    const { r, report } = scan('result');
    expect(r.status).toBe(1);
    expect(report!.targets.map((t) => [t.target, t.status])).toEqual([['result/nixos.qcow2', 'ok']]);
    expect(pairs(report!)).toEqual(reference);
  });

  it('an ISO laid out like the NixOS installer is audited as it boots: /nix-store.squashfs at /nix/store', () => {
    const { r, report } = scan('leaky-installer.iso');
    expect(r.status).toBe(1);
    const t = report!.targets[0]!;
    expect(t.filesystems.map((f) => [f.type, f.mountpoint])).toEqual([
      ['iso9660', '/'],
      ['squashfs', '/nix/store'],
    ]);
    const setuid = t.findings.filter((f) => f.ruleId === 'setuid-in-store');
    expect(setuid.map((f) => [f.path, f.filesystem])).toEqual([
      ['/nix/store/7b3kqx1w9d2m5n8p0r4s6t2v8y1z3a5c-shadow-4.14/bin/su', '/dev/sda:/nix-store.squashfs'],
    ]);
    // The store squashfs is audited in place, so it is not a "nested image not audited".
    expect(t.findings.filter((f) => f.ruleId === 'nested-image')).toEqual([]);
  });

  it('a folder that is neither a root tree nor holds images exits 3 with a one-line reason', () => {
    const { r, report } = scan('no-images');
    expect(r.status).toBe(3);
    expect(report!.targets[0]!.status).toBe('failed');
    expect(report!.targets[0]!.error).toMatch(/neither a root tree .* nor holds disk images/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a rootfs .tar.xz is a root tree read from the headers: the same findings as the extracted tree', () => {
    const { r, report } = scan('leaky-rootfs.tar.xz');
    expect(r.status).toBe(1);
    expect(report!.targets[0]!.backend).toBe('tar');
    expect(pairs(report!)).toEqual(treeReference);
  });

  it("Google Compute's disk.raw in a GNU sparse .tar.gz audits the disk: the same findings as the raw image", () => {
    const { r, report } = scan('leaky-gce.raw.tar.gz');
    expect(r.status).toBe(1);
    expect(report!.targets[0]!.backend).toBe('tar>native');
    expect(pairs(report!)).toEqual(reference);
  });

  it('an OVA (an .ovf plus a stream-optimized VMDK in a tar) audits the VMDK', () => {
    const { r, report } = scan('leaky.ova', ['--timeout', '900']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    expect(report!.targets[0]!.backend).toBe('tar>native');
    expect(pairs(report!)).toEqual(reference);
  });

  for (const target of ['leaky-docker.tar', 'leaky-oci.tar', 'leaky-oci']) {
    it(`${target}: layers applied with whiteouts; deleted secrets reported with their layer; config secrets too`, () => {
      const { r, report } = scan(target);
      expect(r.status).toBe(1);
      const t = report!.targets[0]!;
      expect(t.backend).toBe('container');
      expect(t.status).toBe('ok');
      // The final root is the leaky tree plus what the later layers left: the same findings as the tree.
      expect(pairs(report!)).toEqual(treeReference);
      // The token that layer 2 added and layer 3 deleted still ships in layer 2's blob.
      const layer2 = t.filesystems[1]!.device;
      expect(layer2).toMatch(/^sha256:[0-9a-f]{64}$/);
      // A .env file with a token: the credential file and the token in it, both from layer 2.
      const deleted = t.findings.filter((f) => f.path === `${layer2}:/opt/build/deploy.env`);
      expect(deleted.map((f) => [f.ruleId, f.filesystem]).sort()).toEqual([
        ['credential-file', layer2],
        ['secret-token', layer2],
      ]);
      // Nothing else of the lower layers' surviving files is reported twice.
      expect(new Set(t.findings.filter((f) => f.path.startsWith('sha256:')).map((f) => f.path))).toEqual(new Set([`${layer2}:/opt/build/deploy.env`]));
      const env = t.findings.find((f) => f.path === 'config:/Env');
      expect(env).toMatchObject({ ruleId: 'secret-token' });
      expect(r.stdout).not.toContain(FAKE_GITHUB_TOKEN);
      expect(r.stdout).not.toContain(FAKE_NPM_TOKEN);
    });
  }

  it('a docker-archive compressed as a whole (docker save | gzip) is decompressed once and read the same', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-dockergz-'));
    try {
      const gz = path.join(tmp, 'image.tar.gz');
      execFileSync('sh', ['-c', 'gzip -n -c "$0" > "$1"', path.join(SAMPLES, 'leaky-docker.tar'), gz]);
      const { r, report } = scan(gz);
      expect(r.status).toBe(1);
      expect(report!.targets[0]!.backend).toBe('container');
      expect(pairs(report!)).toEqual(treeReference);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('an OCI layout whose layer does not match its digest exits 3', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-oci-'));
    try {
      const dir = path.join(tmp, 'oci');
      cpSync(path.join(SAMPLES, 'leaky-oci'), dir, { recursive: true });
      const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
      const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', ...index.manifests[0].digest.split(':')), 'utf8'));
      const layer = path.join(dir, 'blobs', ...manifest.layers[1].digest.split(':'));
      const bytes = readFileSync(layer);
      bytes[4] ^= 0x01; // the gzip header's MTIME: the stream still decompresses, only the digest differs
      writeFileSync(layer, bytes);
      expect(spawnSync('gzip', ['-t', layer]).status).toBe(0);
      const { r, report } = scan(dir);
      expect(r.status).toBe(3);
      expect(report!.targets[0]!.error).toMatch(/^layer 2 \(blobs\/sha256\/[0-9a-f]{64}\): blob digest mismatch \(manifest says sha256:[0-9a-f]{64}, content is sha256:[0-9a-f]{64}\); the image was damaged or altered after it was built: copy or build it again /);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
