/**
 * cpio archives as GNU cpio and bsdtar write them (newc, crc, odc, binary), plain and compressed, against the same
 * tree as a tar: the same entries (owners, modes, sizes, link targets) and the same findings. Hard links of newc
 * read under every name; archives one after another are one root; a kexec tarball's initrd is read as a cpio; what
 * is not read (a second archive in another compression, bytes after the trailer, a cut archive) is named.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, SAMPLES } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';

requireTools('cpio', 'bsdtar', 'zstd', 'xz', 'gzip', 'mke2fs', 'ssh-keygen');

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
let tmp: string;
let tree: string;
let reference: { entries: string; findings: string[] };

interface Target {
  status: string;
  backend: string;
  error: string | null;
  findings: Array<{ ruleId: string; path: string; fingerprint: string }>;
}

function audit(target: string): { status: number | null; stderr: string; target: Target } {
  const r = hostleak(['scan', target, '--format', 'json', ...HOST]);
  return { status: r.status, stderr: r.stderr, target: JSON.parse(r.stdout).targets[0] };
}

/** `hostleak ls -lR` without times and folder sizes (a folder's size is the filesystem's, not the tree's). */
function entries(target: string): string {
  const r = hostleak(['ls', '-lR', target]);
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => {
      const [mode, owner, group, size, , ...rest] = l.split(/\s+/);
      return `${mode} ${owner} ${group} ${mode!.startsWith('d') ? '-' : size} ${rest.join(' ')}`;
    })
    .sort()
    .join('\n');
}

const sh = (cmd: string, cwd?: string) => execFileSync('sh', ['-c', cmd], { cwd, maxBuffer: 1 << 28 });

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-cpio-'));
  tree = path.join(tmp, 'tree');
  mkdirSync(tree);
  // The leaky root as a tar, unpacked with owners kept (root runs the tests, as CI does); a hard link added.
  sh(`xz -dc '${path.join(SAMPLES, 'leaky-rootfs.tar.xz')}' | tar -x --same-owner -C '${tree}'`);
  sh(`ln etc/hostname etc/hostname.link`, tree);
  sh(`tar -cf '${tmp}/ref.tar' .`, tree);
  const ref = audit(path.join(tmp, 'ref.tar'));
  expect(ref.status).toBe(1);
  reference = { entries: entries(path.join(tmp, 'ref.tar')), findings: ref.target.findings.map((f) => f.fingerprint).sort() };
  expect(reference.findings.length).toBeGreaterThan(30);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('cpio archives', () => {
  it.each([
    ['cpio -H newc', 'find . | cpio -o -H newc --quiet'],
    ['cpio -H crc', 'find . | cpio -o -H crc --quiet'],
    ['cpio -H odc', 'find . | cpio -o -H odc --quiet'],
    ['cpio -H newc, folders after their contents (find -depth)', 'find . -depth | cpio -o -H newc --quiet'],
    ['bsdtar --format newc', 'bsdtar --format newc -cf - .'],
    ['bsdtar --format odc', 'bsdtar --format odc -cf - .'],
    ['cpio -H newc | zstd', 'find . | cpio -o -H newc --quiet | zstd -q -c'],
    ['cpio -H newc | xz --check=crc32', 'find . | cpio -o -H newc --quiet | xz --check=crc32 -c'],
    ['cpio -H odc | gzip', 'find . | cpio -o -H odc --quiet | gzip -c'],
  ])('%s: the entries and the findings of the same tree as a tar', (what, command) => {
    const file = path.join(tmp, `${what.replace(/\W+/g, '-')}.cpio`);
    writeFileSync(file, sh(command, tree));
    const r = audit(file);
    expect({ status: r.status, stderr: r.stderr, backend: r.target.backend, state: r.target.status }).toEqual({ status: 1, stderr: '', backend: 'cpio', state: 'ok' });
    expect(r.target.findings.map((f) => f.fingerprint).sort()).toEqual(reference.findings);
    expect(entries(file)).toBe(reference.entries);
  });

  it('the old binary format (bsdtar), whose 16-bit fields hold these owners and times', () => {
    const file = path.join(tmp, 'bin.cpio');
    writeFileSync(file, sh('bsdtar --format bin -cf - .', tree));
    const r = audit(file);
    expect({ status: r.status, state: r.target.status }).toEqual({ status: 1, state: 'ok' });
    expect(r.target.findings.map((f) => f.fingerprint).sort()).toEqual(reference.findings);
  });

  it('a file of several links (newc: the data with the last one) reads the same under every name', () => {
    const file = path.join(tmp, 'links.cpio');
    writeFileSync(file, sh('find . | cpio -o -H newc --quiet', tree));
    const want = readFileSync(path.join(tree, 'etc/hostname'));
    for (const name of ['/etc/hostname', '/etc/hostname.link']) {
      const r = hostleak(['cat', file, name]);
      expect({ name, status: r.status, same: r.stdout === want.toString('utf8') }).toEqual({ name, status: 0, same: true });
    }
  });

  it('archives one after another (two zstd frames, as a netboot initrd) are one root', () => {
    const extra = path.join(tmp, 'extra');
    mkdirSync(path.join(extra, 'root'), { recursive: true });
    writeFileSync(path.join(extra, 'root/.netrc'), 'machine github.com login bob password ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n');
    const a = sh('find . | cpio -o -H newc --quiet | zstd -q -c', tree);
    const b = sh('find . | cpio -o -H newc --quiet | zstd -q -c', extra);
    const file = path.join(tmp, 'initrd');
    writeFileSync(file, Buffer.concat([a, b]));
    const r = audit(file);
    expect({ status: r.status, state: r.target.status }).toEqual({ status: 1, state: 'ok' });
    expect(r.target.findings.some((f) => f.path === '/root/.netrc')).toBe(true);
    expect(r.target.findings.length).toBeGreaterThan(reference.findings.length);
  });

  it('an uncompressed archive before a compressed one (early microcode, as initramfs-tools and dracut write): both read', () => {
    const early = path.join(tmp, 'early');
    mkdirSync(path.join(early, 'kernel/x86/microcode'), { recursive: true });
    writeFileSync(path.join(early, 'kernel/x86/microcode/GenuineIntel.bin'), 'microcode\n'.repeat(4000));
    const first = sh('find . | cpio -o -H newc --quiet', early);
    const file = path.join(tmp, 'initrd.img');
    writeFileSync(file, Buffer.concat([first, sh('find . | cpio -o -H newc --quiet | zstd -q -c', tree)]));
    const r = audit(file);
    expect({ status: r.status, state: r.target.status }).toEqual({ status: 1, state: 'ok' });
    expect(r.target.findings.map((f) => f.fingerprint).sort()).toEqual(reference.findings);
    expect(entries(file)).toContain(' /kernel/x86/microcode/GenuineIntel.bin');
    expect(hostleak(['cat', file, '/kernel/x86/microcode/GenuineIntel.bin']).stdout).toBe('microcode\n'.repeat(4000));
    // Inside a compressed stream, a second compression after the trailer is not taken apart: named, not read (and
    // what was read, the microcode alone, is no root tree).
    const nested = path.join(tmp, 'initrd.zst');
    writeFileSync(nested, execFileSync('zstd', ['-q', '-c'], { input: Buffer.concat([first, sh('find . | cpio -o -H newc --quiet | gzip -c', tree)]) }));
    const n = audit(nested);
    expect({ status: n.status, state: n.target.status }).toEqual({ status: 3, state: 'failed' });
    // The same after a plain first part: the compressed part is read, what its stream hides after it is named.
    const mixed = path.join(tmp, 'initrd.mixed');
    const main = sh('find . | cpio -o -H newc --quiet', tree);
    writeFileSync(mixed, Buffer.concat([first, execFileSync('zstd', ['-q', '-c'], { input: Buffer.concat([main, sh('find . | cpio -o -H newc --quiet | gzip -c', early)]) })]));
    const m = audit(mixed);
    expect({ status: m.status, state: m.target.status }).toEqual({ status: 3, state: 'partial' });
    expect(m.target.findings.map((f) => f.fingerprint).sort()).toEqual(reference.findings);
    expect(m.target.error).toContain(`a gzip-compressed archive follows the cpio archive at byte ${main.length} (an initramfs of several parts): it was not read`);
    expect(n.target.error).toContain(`a gzip-compressed archive follows the cpio archive at byte ${first.length} (an initramfs of several parts): it was not read`);
  });

  it('damage: a cut archive fails, bytes after the trailer are named', () => {
    const whole = sh('find . | cpio -o -H newc --quiet', tree);
    const cut = path.join(tmp, 'cut.cpio');
    writeFileSync(cut, whole);
    truncateSync(cut, Math.floor(statSync(cut).size * 0.6));
    const c = audit(cut);
    expect({ status: c.status, state: c.target.status }).toEqual({ status: 3, state: 'failed' });
    expect(c.target.error).toMatch(/^truncated cpio archive: /);
    expect(c.stderr.trim().split('\n')).toHaveLength(1);
    const tail = path.join(tmp, 'tail.cpio');
    writeFileSync(tail, Buffer.concat([whole, Buffer.from('not an archive')]));
    const t = audit(tail);
    expect({ status: t.status, state: t.target.status }).toEqual({ status: 3, state: 'partial' });
    expect(t.target.error).toContain(`data after the end of the cpio archive (byte ${whole.length}) is not part of it and was not audited`);
  });

  it('initramfs files inside an image or a rootfs tarball are audited as roots of their own (Debian and NixOS names)', () => {
    // An initrd that ships the builder's SSH host key (what boot.initrd.secrets / initramfs hooks copy in).
    const ird = path.join(tmp, 'ird');
    mkdirSync(path.join(ird, 'etc/ssh'), { recursive: true });
    mkdirSync(path.join(ird, 'bin'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'builder', '-f', path.join(ird, 'etc/ssh/ssh_host_ed25519_key')]);
    writeFileSync(path.join(ird, 'init'), '#!/bin/sh\nexec /bin/sh\n');
    // 200 KiB that do not compress, early in the archive: the first zstd block is larger than the head nested images
    // are judged by, so only opening the file tells it is an initramfs.
    writeFileSync(path.join(ird, 'bin/busybox'), Buffer.concat(Array.from({ length: 6400 }, (_, i) => createHash('sha256').update(`busybox ${i}`).digest())));
    const early = path.join(tmp, 'ucode');
    mkdirSync(path.join(early, 'kernel/x86/microcode'), { recursive: true });
    writeFileSync(path.join(early, 'kernel/x86/microcode/AuthenticAMD.bin'), 'ucode\n'.repeat(8000));
    const root = path.join(tmp, 'with-initrds');
    mkdirSync(path.join(root, 'boot/EFI/nixos'), { recursive: true });
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    const debian = 'boot/initrd.img-6.1.0-18-amd64';
    const nixos = 'boot/EFI/nixos/3v8kq2-initrd-linux-6.6.30-initrd.efi';
    writeFileSync(path.join(root, debian), Buffer.concat([sh('find . | cpio -o -H newc --quiet', early), sh('find . | cpio -o -H newc --quiet | zstd -q -c', ird)]));
    writeFileSync(path.join(root, nixos), sh('find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -c', ird));
    expect(readFileSync(path.join(root, nixos)).subarray(0, 4).toString('hex')).toBe('28b52ffd');
    // Not initramfs images: a compressed man page named after the tool, Arch's microcode archive (.img, no root).
    mkdirSync(path.join(root, 'usr/share/man/man8'), { recursive: true });
    const page = Array.from({ length: 400 }, (_, i) => `.TH UPDATE-INITRAMFS 8\n.SH LINE ${createHash('sha256').update(String(i)).digest('hex')}\n`).join('');
    writeFileSync(path.join(root, 'usr/share/man/man8/update-initramfs.8.gz'), execFileSync('gzip', ['-c'], { input: page }));
    expect(statSync(path.join(root, 'usr/share/man/man8/update-initramfs.8.gz')).size).toBeGreaterThan(2048);
    writeFileSync(path.join(root, 'boot/intel-ucode.img'), sh('find . | cpio -o -H newc --quiet', early));
    const disk = path.join(tmp, 'with-initrds.ext4');
    execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', root, disk, '16M']);
    const tarball = path.join(tmp, 'with-initrds.tar.gz');
    sh(`tar -czf '${tarball}' .`, root);
    for (const [target, prefix] of [[disk, '/dev/sda:'], [tarball, '']] as const) {
      const r = audit(target);
      expect({ target, status: r.status, state: r.target.status, error: r.target.error }).toEqual({ target, status: 1, state: 'ok', error: null });
      const keys = r.target.findings.filter((f) => f.ruleId === 'baked-ssh-host-key').map((f) => f.path).sort();
      expect(keys).toEqual([`${prefix}/${nixos}:/etc/ssh/ssh_host_ed25519_key`, `${prefix}/${debian}:/etc/ssh/ssh_host_ed25519_key`]);
    }
    // --no-nested: each is named as not audited.
    const n = JSON.parse(hostleak(['scan', disk, '--no-nested', '--format', 'json']).stdout).targets[0] as Target;
    expect(n.findings.filter((f) => f.ruleId === 'nested-image').map((f) => f.path).sort()).toEqual([`/dev/sda:/${nixos}`, `/dev/sda:/${debian}`]);
  });

  it("a kexec tarball: the initrd (zstd cpio) is read as a cpio, with the tree's findings", () => {
    const kexec = path.join(tmp, 'kexec-pack', 'kexec');
    mkdirSync(kexec, { recursive: true });
    // Two archives, as NixOS builds it: the system's, then one holding the store (here bytes that do not compress).
    const store = path.join(tmp, 'store');
    mkdirSync(store);
    const blocks = Array.from({ length: 4096 }, (_, i) => createHash('sha256').update(String(i)).digest());
    writeFileSync(path.join(store, 'nix-store.bin'), Buffer.concat(blocks));
    const initrd = Buffer.concat([sh('find . | cpio -o -H newc --quiet | zstd -q -c', tree), sh('find . | cpio -o -H newc --quiet | zstd -q -c', store)]);
    writeFileSync(path.join(kexec, 'initrd'), initrd);
    expect(statSync(path.join(kexec, 'initrd')).size).toBeGreaterThan(64 * 1024);
    writeFileSync(path.join(kexec, 'bzImage'), Buffer.alloc(100_000, 0x90));
    writeFileSync(path.join(kexec, 'run'), '#!/bin/sh\nkexec --load ./bzImage --initrd=./initrd\n');
    const file = path.join(tmp, 'nixos-kexec-installer.tar.gz');
    sh(`tar -czf '${file}' -C '${path.dirname(kexec)}' kexec`);
    const r = audit(file);
    expect({ status: r.status, backend: r.target.backend, state: r.target.status }).toEqual({ status: 1, backend: 'tar>cpio', state: 'ok' });
    expect(r.target.findings.map((f) => f.fingerprint).sort()).toEqual(reference.findings);
  });
});
