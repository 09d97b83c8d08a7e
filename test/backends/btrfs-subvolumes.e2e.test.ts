/**
 * btrfs root filesystems as distributions lay them out in subvolumes, assembled as their fstab mounts them, natively
 * and through the appliance. guestfish makes three disks (btrfs-subvolume-create, tar-in of the leaky sample tree,
 * an fstab naming the filesystem by the UUID set-uuid gave it):
 *   1. Fedora: a GPT qcow2 whose btrfs keeps the top level as the default subvolume and holds `root` and `home`;
 *      fstab mounts `subvol=root` at / and `subvol=home` at /home. A snapshot of `root` that nothing mounts sits at
 *      /snapshots/root-1.
 *   2. Ubuntu: a bare btrfs with `@` and `@home` (`subvol=@`, `subvol=/@home`), and a Timeshift-style snapshot of
 *      `@` that nothing mounts.
 *   3. openSUSE: the default subvolume is `@/.snapshots/1/snapshot`, fstab mounts / without a subvol option and
 *      `/@/var`, `/@/home`, `/@/.snapshots` by path from the top level; an older snapshot 2 sits beside 1.
 * Oracle: the kernel's btrfs driver (the guestfs backend mounts the top level and asks btrfs for the subvolumes);
 * both backends must agree on filesystems, entries and findings, findings must name the booted system's paths, and a
 * leak in a snapshot nothing mounts must still be reported, under the device.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../src/types.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { expectSameSides, HOST_ARGS, readSide, type Side } from '../helpers/differential.js';
import { requireTools } from '../helpers/tools.js';

requireTools('guestfish', 'qemu-img', 'tar');

const U1 = '0b6c1e1a-5f1d-4c55-9a43-1f3c2c6f0d01';
const U2 = '0b6c1e1a-5f1d-4c55-9a43-1f3c2c6f0d02';
const U3 = '0b6c1e1a-5f1d-4c55-9a43-1f3c2c6f0d03';
const MACHINE_ID = '4f0e8d2a9b7c41d6a3e5f7081c2b3d4e';
const OLD_ID = '00112233445566778899aabbccddeeff';

let tmp: string;
const disks: Record<'fedora' | 'ubuntu' | 'suse', string> = { fedora: '', ubuntu: '', suse: '' };
const sides: Record<string, { native: Side; guestfs: Side }> = {};

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-btrfs-subvol-'));
  const rootTar = path.join(tmp, 'root.tar');
  const homeTar = path.join(tmp, 'home.tar');
  const leaky = path.join(SAMPLES, 'leaky');
  execFileSync('tar', ['-C', leaky, '--exclude=./home', '-cf', rootTar, '.']);
  execFileSync('tar', ['-C', path.join(leaky, 'home'), '-cf', homeTar, '.']);
  const fedoraRaw = path.join(tmp, 'fedora.raw');
  disks.ubuntu = path.join(tmp, 'ubuntu.btrfs');
  disks.suse = path.join(tmp, 'suse.btrfs');
  /** The sample tree at `root` (its /home left empty, a real machine-id) with `fstab`, and its home at `home`. */
  const tree = (root: string, home: string, fstab: string) => [
    `tar-in ${rootTar} ${root}`,
    `mkdir-p ${root}/home`,
    `tar-in ${homeTar} ${home}`,
    // The sample's fstab is NixOS's symlink into the store: replaced by a file.
    `rm-f ${root}/etc/fstab`,
    `write ${root}/etc/fstab "${fstab}"`,
    `write ${root}/etc/machine-id "${MACHINE_ID}\\n"`,
  ];
  const script = [
    `sparse ${fedoraRaw} 300M`,
    `sparse ${disks.ubuntu} 200M`,
    `sparse ${disks.suse} 200M`,
    'run',
    // 1. Fedora.
    'part-disk /dev/sda gpt',
    'mkfs btrfs /dev/sda1 label:fedora',
    `set-uuid /dev/sda1 ${U1}`,
    'mount /dev/sda1 /',
    'btrfs-subvolume-create /root',
    'btrfs-subvolume-create /home',
    ...tree('/root', '/home', `UUID=${U1} / btrfs subvol=root,compress=zstd:1 0 0\\nUUID=${U1} /home btrfs subvol=home,compress=zstd:1 0 0\\n`),
    'mkdir /snapshots',
    'btrfs-subvolume-snapshot /root /snapshots/root-1',
    `write /snapshots/root-1/etc/machine-id "${OLD_ID}\\n"`,
    'umount-all',
    // 2. Ubuntu.
    'mkfs btrfs /dev/sdb',
    `set-uuid /dev/sdb ${U2}`,
    'mount /dev/sdb /',
    'btrfs-subvolume-create /@',
    'btrfs-subvolume-create /@home',
    ...tree('/@', '/@home', `UUID=${U2} / btrfs defaults,subvol=@ 0 1\\nUUID=${U2} /home btrfs defaults,subvol=/@home 0 2\\n`),
    'mkdir-p /timeshift-btrfs/snapshots/2026-01-01_00-00-00',
    'btrfs-subvolume-snapshot /@ /timeshift-btrfs/snapshots/2026-01-01_00-00-00/@',
    'umount-all',
    // 3. openSUSE: ids in creation order from 256; the root is 259.
    'mkfs btrfs /dev/sdc',
    `set-uuid /dev/sdc ${U3}`,
    'mount /dev/sdc /',
    'btrfs-subvolume-create /@',
    'btrfs-subvolume-create /@/.snapshots',
    'btrfs-subvolume-create /@/home',
    'mkdir-p /@/.snapshots/1',
    'btrfs-subvolume-create /@/.snapshots/1/snapshot',
    ...tree(
      '/@/.snapshots/1/snapshot',
      '/@/home',
      `UUID=${U3} / btrfs defaults 0 0\\nUUID=${U3} /var btrfs subvol=/@/var 0 0\\nUUID=${U3} /home btrfs subvol=/@/home 0 0\\nUUID=${U3} /.snapshots btrfs subvol=/@/.snapshots 0 0\\n`,
    ),
    // /var lives in its own subvolume: the sample's moves there, leaving the root an empty mountpoint.
    'mv /@/.snapshots/1/snapshot/var /@/var-sample',
    'btrfs-subvolume-create /@/var',
    'glob mv /@/var-sample/* /@/var/',
    'rmdir /@/var-sample',
    'mkdir /@/.snapshots/1/snapshot/var',
    'mkdir-p /@/.snapshots/2',
    'btrfs-subvolume-snapshot /@/.snapshots/1/snapshot /@/.snapshots/2/snapshot',
    'write /@/.snapshots/2/snapshot/root/.git-credentials "https://bob:ghp_0123456789abcdefghijklmnopqrstuvwxyzAB@github.com\\n"',
    'btrfs-subvolume-set-default 259 /',
    'umount-all',
  ].join('\n');
  execFileSync('guestfish', [], { input: script, env: { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }, stdio: ['pipe', 'ignore', 'pipe'] });
  disks.fedora = path.join(tmp, 'fedora.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', fedoraRaw, disks.fedora]);
  for (const [name, file] of Object.entries(disks)) {
    sides[name] = { native: await readSide(file, 'native', tmp), guestfs: await readSide(file, 'guestfs', tmp) };
  }
}, 1_800_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const found = (s: Side) => s.findings.map((f) => `${f.ruleId} ${f.path}`);
const mounts = (s: Side) => s.filesystems.map((f) => [f.device, f.mountpoint, f.subvolume ?? null]);

/**
 * What every layout must show: no problem, the appliance's tree and findings natively, the subvolumes mounted where
 * the fstab says, and these findings among the native ones. The native side, for what a layout checks beyond that.
 */
function expectLayout(distro: keyof typeof disks, mounted: Array<[string, string | null, string | null]>, findings: string[]): Side {
  const { native, guestfs } = sides[distro]!;
  expect(native.problems).toEqual([]);
  expectSameSides(native, guestfs);
  expect(mounts(native)).toEqual(mounted);
  expect(found(native)).toEqual(expect.arrayContaining(findings));
  return native;
}

describe('btrfs subvolumes mounted as the image fstab says, natively and through the appliance', () => {
  it('Fedora: `root` at /, `home` at /home; the unmounted snapshot is audited under the device', () => {
    const native = expectLayout(
      'fedora',
      [
        ['/dev/sda1', '/', '/root'],
        ['/dev/sda1', '/home', '/home'],
        ['/dev/sda1', null, null],
      ],
      [
        'baked-machine-id /etc/machine-id',
        'orphaned-home /home/bob',
        'private-key /root/.ssh/id_ecdsa',
        // Rules that look at a file wherever it is see the snapshot's (path rules, like /etc/machine-id's, look at /).
        'private-key /dev/sda1:/snapshots/root-1/root/.ssh/id_ecdsa',
        'credential-file /dev/sda1:/snapshots/root-1/root/.aws/credentials',
      ],
    );
    // Nothing of the mounted subvolumes is left under the device: each file is audited once, at its booted path.
    expect(native.entries.filter((e) => /^\/dev\/sda1:\/(root|home)\/./.test(e.path))).toEqual([]);
    expect(native.entries.find((e) => e.path === '/home/alice/.bashrc')).toMatchObject({ fs: '/dev/sda1', size: 34 });
  });

  it('Fedora: scan (auto) reads the disk natively with the same findings as the appliance', () => {
    const r = hostleak(['scan', disks.fedora, '--format', 'json', '--no-nested', ...HOST_ARGS]);
    const t = json<Report>(r).targets[0]!;
    expect([r.status, t.backend, t.status, t.error]).toEqual([1, 'native', 'ok', null]);
    expect(t.findings.map((f) => [f.ruleId, f.path])).toEqual(sides.fedora!.guestfs.findings.map((f) => [f.ruleId, f.path]));
    expect(t.filesystems[0]).toEqual({ device: '/dev/sda1', type: 'btrfs', label: 'fedora', mountpoint: '/', subvolume: '/root' });
  });

  it('Fedora: DEVICE:PATH is a path from the top level, in a mounted subvolume or in what stands alone', () => {
    const cat = (p: string) => hostleak(['cat', disks.fedora, p]).stdout.trim();
    expect(cat('/etc/machine-id')).toBe(MACHINE_ID);
    expect(cat('/dev/sda1:/root/etc/machine-id')).toBe(MACHINE_ID);
    expect(cat('/dev/sda1:/snapshots/root-1/etc/machine-id')).toBe(OLD_ID);
    expect(cat('/dev/sda1:/home/alice/.bashrc')).toBe(cat('/home/alice/.bashrc'));
    expect(cat('/home/alice/.bashrc')).not.toBe('');
  });

  it('Ubuntu: `@` at /, `@home` at /home; the Timeshift snapshot is audited under the device', () => {
    expectLayout(
      'ubuntu',
      [
        ['/dev/sda', '/', '/@'],
        ['/dev/sda', '/home', '/@home'],
        ['/dev/sda', null, null],
      ],
      ['baked-machine-id /etc/machine-id', 'orphaned-home /home/bob', 'private-key /dev/sda:/timeshift-btrfs/snapshots/2026-01-01_00-00-00/@/root/.ssh/id_ecdsa'],
    );
  });

  it('openSUSE: the default snapshot at /, subvolumes by path from the top level, the older snapshot at /.snapshots', () => {
    const f = found(
      expectLayout(
        'suse',
        [
          ['/dev/sda', '/', '/@/.snapshots/1/snapshot'],
          ['/dev/sda', '/var', '/@/var'],
          ['/dev/sda', '/home', '/@/home'],
          ['/dev/sda', '/.snapshots', '/@/.snapshots'],
        ],
        [
          'baked-machine-id /etc/machine-id',
          'baked-machine-id /var/lib/dbus/machine-id',
          'orphaned-home /home/bob',
          'credential-file /.snapshots/2/snapshot/root/.git-credentials',
        ],
      ),
    );
    // The root is not audited a second time under /.snapshots/1/snapshot, and nothing stands alone.
    expect(f.filter((x) => x.includes('/.snapshots/1/'))).toEqual([]);
    expect(f.filter((x) => x.includes('/dev/sda:'))).toEqual([]);
  });
});
