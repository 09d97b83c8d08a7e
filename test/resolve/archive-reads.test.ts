/**
 * How often an audit decompresses a compressed rootfs tarball: the listing pass keeps what the rules will read
 * (OpenOptions.expectedRead), so with room for it the archive is decompressed once; with almost no room, the content
 * pass still reads forward in archive order and the number of passes stays small. Either way the findings are the
 * same as the folder's, a token in the last member included. The count comes from the `--verbose` line the tar
 * reader prints (passes over the decompressed stream, the listing included).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { hostleak, json } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';

requireTools('xz', 'zstd');

interface Report {
  targets: Array<{ status: string; filesystems: Array<{ device: string }>; findings: Array<{ ruleId: string; path: string; severity: string }> }>;
}

let tmp: string;
let root: string;
let archive: string;
let withImage: string;
let withImageArchive: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-archive-reads-'));
  root = path.join(tmp, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nalice:x:1000:\n');
  writeFileSync(path.join(root, 'etc', 'hostname'), 'box\n');
  mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
  // 400 text files of 6 KiB (2.3 MiB the content pass reads), different enough that gzip keeps some of their size.
  for (let i = 0; i < 400; i++) {
    const dir = path.join(root, 'usr', 'share', 'doc', `pkg${String(i).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    const line = (k: number) => `package ${i} line ${k}: ${((i * 7919 + k * 104729) % 1000003).toString(36).repeat(4)}\n`;
    writeFileSync(path.join(dir, 'README'), Array.from({ length: 120 }, (_, k) => line(k)).join(''));
  }
  // A 48 KiB binary: its head is judged on the way (no image) and not read again.
  writeFileSync(path.join(root, 'usr', 'bin', 'tool'), Buffer.from(Array.from({ length: 48 * 1024 }, (_, i) => (i * 31) % 256)));
  // Last in name order, so last in the archive: a token the audit must still find.
  mkdirSync(path.join(root, 'var', 'lib', 'zz'), { recursive: true });
  writeFileSync(path.join(root, 'var', 'lib', 'zz', 'settings.conf'), `github_token = ${FAKE_GITHUB_TOKEN}\n`);
  archive = path.join(tmp, 'root.tar.gz');
  execFileSync('sh', ['-c', 'tar --sort=name --owner=0 --group=0 --numeric-owner -C "$0" -cf "$1" .', root, path.join(tmp, 'root.tar')]);
  const pack = (dir: string, out: string) =>
    execFileSync('sh', ['-c', 'tar --sort=name --owner=0 --group=0 --numeric-owner -C "$0" -cf - . | gzip -c > "$1"', dir, out]);
  pack(root, archive);
  // The same root with a filesystem image inside (mke2fs), audited as a root of its own.
  withImage = path.join(tmp, 'with-image');
  execFileSync('cp', ['-a', root, withImage]);
  const inner = path.join(tmp, 'inner');
  mkdirSync(path.join(inner, 'etc'), { recursive: true });
  writeFileSync(path.join(inner, 'etc', 'hostname'), 'inner\n');
  mkdirSync(path.join(withImage, 'var', 'lib', 'machines'), { recursive: true });
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', inner, path.join(withImage, 'var', 'lib', 'machines', 'disk.img'), '2M']);
  withImageArchive = path.join(tmp, 'with-image.tar.gz');
  pack(withImage, withImageArchive);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function audit(target: string, env: NodeJS.ProcessEnv = {}) {
  const r = hostleak(['scan', '--verbose', '--format', 'json', target], { env });
  expect([0, 1]).toContain(r.status);
  const t = json<Report>(r).targets[0]!;
  const filesystems = t.filesystems.map((f) => f.device).sort();
  const findings = t.findings.map((f) => `${f.severity} ${f.ruleId} ${f.path}`).sort();
  const m = /passes over the decompressed stream \(the listing included\): (\d+)/.exec(r.stderr);
  return { status: t.status, findings, filesystems, passes: m ? Number(m[1]) : null, stderr: r.stderr };
}

describe('reads of a compressed rootfs tarball', () => {
  it('with room for what the rules read, the archive is decompressed once, with the folder\'s findings', () => {
    const folder = audit(root);
    const tarball = audit(archive);
    expect(tarball.status).toBe('ok');
    expect(tarball.findings).toEqual(folder.findings);
    expect(tarball.findings).toContain('error secret-token /var/lib/zz/settings.conf');
    expect(tarball.passes).toBe(1);
  });

  it('a filesystem image inside is found from the head the listing judged, and copied out in one more pass', () => {
    const folder = audit(withImage);
    const tarball = audit(withImageArchive);
    const inside = (fss: string[]) => fss.filter((d) => d.includes('disk.img'));
    expect(inside(tarball.filesystems)).toEqual(inside(folder.filesystems));
    expect(tarball.filesystems).toContain('/var/lib/machines/disk.img:/dev/sda');
    expect(tarball.findings).toEqual(folder.findings);
    // The listing, and the image's bytes read whole to open it (its head was kept: no pass for the rules).
    expect(tarball.passes).toBe(2);
  });

  it('with 64 KiB of room, a few passes serve every read, and nothing is left out', () => {
    const folder = audit(root);
    const tight = audit(archive, { HOSTLEAK_TAR_MEMORY: String(64 * 1024) });
    expect(tight.status).toBe('ok');
    expect(tight.findings).toEqual(folder.findings);
    expect(tight.findings).toContain('error secret-token /var/lib/zz/settings.conf');
    // The listing, and the content pass reading forward in archive order: not one pass per batch of reads (this
    // archive's 400 files went in 2 batches of the content pass alone, more with the other rules' reads).
    expect(tight.passes).not.toBeNull();
    expect(tight.passes!).toBeLessThanOrEqual(3);
  });
});

describe('a whole .tar.xz or .tar.zst, which the system tool reads by its path', () => {
  it.each(['xz', 'zstd'])('%s: the folder\'s findings in one pass, and in a few with almost no room', (tool) => {
    const file = path.join(tmp, `root.tar.${tool === 'xz' ? 'xz' : 'zst'}`);
    writeFileSync(file, execFileSync(tool, ['-q', '-c', path.join(tmp, 'root.tar')], { maxBuffer: 1 << 26 }));
    const folder = audit(root);
    const whole = audit(file);
    expect(whole.status).toBe('ok');
    expect(whole.findings).toEqual(folder.findings);
    expect(whole.passes).toBe(1);
    const tight = audit(file, { HOSTLEAK_TAR_MEMORY: String(64 * 1024) });
    expect(tight.findings).toEqual(folder.findings);
    expect(tight.passes!).toBeGreaterThan(1);
  });

  it('xz without dd on the PATH (nothing to gather its small writes): the same findings', () => {
    const file = path.join(tmp, 'nodd.tar.xz');
    writeFileSync(file, execFileSync('xz', ['-q', '-c', path.join(tmp, 'root.tar')], { maxBuffer: 1 << 26 }));
    const bin = path.join(tmp, 'bin-nodd');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['xz', 'sh']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(bin, tool));
    symlinkSync(process.execPath, path.join(bin, 'node'));
    const folder = audit(root);
    const plain = audit(file, { PATH: bin });
    expect(plain.status).toBe('ok');
    expect(plain.findings).toEqual(folder.findings);
  });

  it('xz of many blocks (decompressed on two threads): the folder\'s findings; a damaged block: exit 3', () => {
    // 64 KiB blocks: the 2.3 MiB tar is ~40 blocks, what `xz -T` (and xz 5.6 by default) writes for large inputs.
    const file = path.join(tmp, 'blocks.tar.xz');
    const bytes = execFileSync('xz', ['-q', '-c', '-T2', '--block-size=64KiB', path.join(tmp, 'root.tar')], { maxBuffer: 1 << 26 });
    writeFileSync(file, bytes);
    expect(execFileSync('xz', ['--robot', '-l', file], { encoding: 'utf8' })).toMatch(/^totals\t1\t([2-9]|\d{2,})\t/m);
    const folder = audit(root);
    const whole = audit(file);
    expect(whole.status).toBe('ok');
    expect(whole.findings).toEqual(folder.findings);
    expect(whole.findings).toContain('error secret-token /var/lib/zz/settings.conf');
    // A byte flipped in the middle of the compressed data: one block's check fails, whichever thread decodes it. What
    // the block decoded to before xz saw it may reach the tar reader first, which then fails on a header: exit 3 either
    // way, never a clean audit.
    const bad = Buffer.from(bytes);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    const damaged = path.join(tmp, 'damaged-blocks.tar.xz');
    writeFileSync(damaged, bad);
    const r = hostleak(['scan', '--format', 'json', damaged]);
    expect(r.status).toBe(3);
    const t = json<{ targets: Array<{ status: string; error: string }> }>(r).targets[0]!;
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/^cannot decompress \(xz\): |^corrupt tar (archive|header): /);
  });

  it('cut short: exit 3 and one line that names the target once, not the tool\'s echo of its path', () => {
    const cut = path.join(tmp, 'cut.tar.zst');
    const bytes = execFileSync('zstd', ['-q', '-c', path.join(tmp, 'root.tar')], { maxBuffer: 1 << 26 });
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = hostleak(['scan', '--format', 'json', cut]);
    expect(r.status).toBe(3);
    const t = json<{ targets: Array<{ status: string; error: string }> }>(r).targets[0]!;
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/^cannot decompress \(zstd\): /);
    expect(t.error).not.toContain(cut);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
