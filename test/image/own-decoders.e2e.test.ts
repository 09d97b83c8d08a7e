/**
 * A machine without zstd, xz or gzip (only Node): compressed images and compressed tar archives are decoded by
 * hostleak's own decoders (node:zlib, fzstd, xz-decompress) and audit to exactly what the system tools give. A damaged
 * stream is one line and exit 3 either way; bzip2 has no own decoder and names the tool to install.
 */
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { hostleak, REPO, SAMPLES } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';

requireTools('bzip2');

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-own-decoders-'));
// Node and a shell, nothing else: no gzip, zstd, xz or bzip2 on the PATH.
const bare = path.join(tmp, 'bin');
spawnSync('mkdir', [bare]);
symlinkSync(process.execPath, path.join(bare, 'node'));
symlinkSync('/bin/sh', path.join(bare, 'sh'));

interface Audit {
  status: number | null;
  stderr: string;
  targets: Array<{ status: string; error: string | null; findings: Array<{ ruleId: string; path: string; fingerprint: string }> }>;
}

function audit(target: string, PATH: string): Audit {
  const r = hostleak(['scan', target, '--format', 'json', ...HOST], { env: { PATH } });
  return { status: r.status, stderr: r.stderr, targets: r.stdout ? JSON.parse(r.stdout).targets : [] };
}

describe('without the system decompressors', () => {
  it.each([
    ['gzip disk (the bundled sample)', path.join(REPO, 'images-sample/leaky.raw.gz')],
    ['zstd disk', path.join(SAMPLES, 'leaky.raw.zst')],
    ['xz rootfs tarball', path.join(SAMPLES, 'leaky-rootfs.tar.xz')],
    ['gzip GCE tarball', path.join(SAMPLES, 'leaky-gce.raw.tar.gz')],
  ])('%s: the same findings as with the tools', (_what, target) => {
    const own = audit(target, bare);
    const tools = audit(target, process.env.PATH!);
    expect(own.stderr).toBe('');
    expect(own.status).toBe(1);
    expect(own.targets.map((t) => t.status)).toEqual(['ok']);
    expect(own.targets[0]!.findings.length).toBeGreaterThan(30);
    expect(own.targets[0]!.findings.map((f) => f.fingerprint)).toEqual(tools.targets[0]!.findings.map((f) => f.fingerprint));
  });

  it('a truncated zstd image: exit 3, one line naming zstd', () => {
    const cut = path.join(tmp, 'cut.raw.zst');
    copyFileSync(path.join(SAMPLES, 'leaky.raw.zst'), cut);
    truncateSync(cut, Math.floor(statSync(cut).size / 2));
    const r = audit(cut, bare);
    expect(r.status).toBe(3);
    expect(r.targets[0]!.status).toBe('failed');
    expect(r.targets[0]!.error).toMatch(/^cannot decompress \(zstd\): /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a damaged xz tarball: exit 3, never a clean result', () => {
    const bad = path.join(tmp, 'bad.tar.xz');
    const bytes = readFileSync(path.join(SAMPLES, 'leaky-rootfs.tar.xz'));
    for (let i = 200; i < bytes.length - 64; i += 997) bytes[i] ^= 0x5a;
    writeFileSync(bad, bytes);
    const r = audit(bad, bare);
    expect(r.status).toBe(3);
    expect(r.targets[0]!.status).toBe('failed');
  });

  it('bzip2 without the tool names it', () => {
    const raw = path.join(tmp, 'leaky.raw');
    spawnSync('sh', ['-c', `gzip -dc '${path.join(REPO, 'images-sample/leaky.raw.gz')}' | bzip2 -1 > '${raw}.bz2'`]);
    const r = audit(`${raw}.bz2`, bare);
    expect(r.status).toBe(3);
    expect(r.targets[0]!.error).toBe("cannot decompress: 'bzip2' is not installed (install bzip2)");
  });
});
