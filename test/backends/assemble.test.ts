import { describe, expect, it } from '@jest/globals';
import { assemble, matchSpec, parseFstab } from '../../src/backends/assemble.js';
import type { FilesystemView } from '../../src/backends/backend.js';
import { memoryRoot, type TreeEntry } from '../helpers/tree.js';

function view(device: string, type: string, tree: TreeEntry[], ids: Partial<FilesystemView> = {}) {
  const r = memoryRoot(tree);
  const v: FilesystemView & { reads: string[][] } = {
    device,
    type,
    label: null,
    uuid: null,
    partlabel: null,
    partuuid: null,
    inventory: r.inventory,
    readFiles: r.readFiles,
    reads: r.reads,
    ...ids,
  };
  return v;
}

const STORE_ETC = '/nix/store/0c2wnk6v6dn3ah1ii2mkmzyc8zm1q4ps-etc/etc';
const nixRoot = (fstab: string, extra: TreeEntry[] = []) =>
  view(
    '/dev/sda2',
    'ext4',
    [
      { path: '/etc/static', target: STORE_ETC },
      { path: '/etc/fstab', target: '/etc/static/fstab' },
      { path: `${STORE_ETC}/fstab`, content: fstab },
      { path: '/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
      { path: '/boot', type: 'dir' },
      { path: '/boot/stale-on-root', content: 'hidden by the ESP mount' },
      ...extra,
    ],
    { partlabel: 'disk-main-root', uuid: '11111111-2222-3333-4444-555555555555', label: 'nixos' },
  );
const esp = () =>
  view(
    '/dev/sda1',
    'vfat',
    [
      { path: '/loader/random-seed', content: 'seed' },
      { path: '/EFI/BOOT/BOOTX64.EFI', content: 'efi' },
    ],
    { partlabel: 'disk-main-ESP', uuid: 'ABCD-1234', label: 'ESP' },
  );

describe('parseFstab', () => {
  it('skips comments and blank lines and unescapes octal', () => {
    const l = parseFstab('# c\n\n/dev/sda1 /mnt/my\\040disk vfat ro,noatime 0 2 # tail\nnone /proc proc\n');
    expect(l).toEqual([
      { spec: '/dev/sda1', mountpoint: '/mnt/my disk', type: 'vfat', options: ['ro', 'noatime'] },
      { spec: 'none', mountpoint: '/proc', type: 'proc', options: ['defaults'] },
    ]);
  });
});

describe('matchSpec', () => {
  const vs = [nixRoot(''), esp()];
  it.each([
    ['/dev/disk/by-partlabel/disk-main-ESP', '/dev/sda1'],
    ['PARTLABEL=disk-main-root', '/dev/sda2'],
    ['/dev/disk/by-label/ESP', '/dev/sda1'],
    ['LABEL=nixos', '/dev/sda2'],
    ['/dev/disk/by-uuid/abcd-1234', '/dev/sda1'],
    ['UUID=11111111-2222-3333-4444-555555555555', '/dev/sda2'],
    ['/dev/vda1', '/dev/sda1'],
    ['/dev/nvme0n1p2', '/dev/sda2'],
    ['/dev/sda2', '/dev/sda2'],
  ])('%s -> %s', (spec, dev) => {
    expect(matchSpec(spec, vs)?.device).toBe(dev);
  });
  it('returns null for unknown specs', () => {
    expect(matchSpec('/dev/disk/by-label/nope', vs)).toBeNull();
    expect(matchSpec('tmpfs', vs)).toBeNull();
    expect(matchSpec('/dev/sdb1', vs)).toBeNull();
  });
});

describe('assemble', () => {
  it('mounts the ESP at /boot through a NixOS fstab symlink chain and routes reads', async () => {
    const root = nixRoot(
      '/dev/disk/by-partlabel/disk-main-root / ext4 defaults 0 1\n/dev/disk/by-partlabel/disk-main-ESP /boot vfat umask=0077 0 2\n',
    );
    const e = esp();
    const a = await assemble([e, root]);
    expect(a.problems).toEqual([]);
    expect(a.roots).toHaveLength(1);
    expect(a.filesystems).toEqual([
      { device: '/dev/sda1', type: 'vfat', label: 'ESP', mountpoint: '/boot' },
      { device: '/dev/sda2', type: 'ext4', label: 'nixos', mountpoint: '/' },
    ]);
    const r = a.roots[0]!;
    expect(r.prefix).toBeNull();
    expect(r.inventory.get('/boot/loader/random-seed')?.fs).toBe('/dev/sda1');
    expect(r.inventory.get('/boot')?.fs).toBe('/dev/sda1');
    expect(r.inventory.get('/etc/passwd')?.fs).toBe('/dev/sda2');
    // What was under /boot on the root fs is hidden by the mount, as in the booted system.
    expect(r.inventory.has('/boot/stale-on-root')).toBe(false);
    const got = await r.readFiles(['/boot/loader/random-seed', '/etc/passwd', '/boot/missing'], 100);
    expect((got.get('/boot/loader/random-seed') as { data: Buffer }).data.toString()).toBe('seed');
    expect((got.get('/etc/passwd') as { data: Buffer }).data.toString()).toContain('root:');
    expect(got.get('/boot/missing')).toBeInstanceOf(Error);
    expect(e.reads.at(-1)).toEqual(['/loader/random-seed', '/missing']);
    // fstab was read at its canonical path inside the image, once, from the root fs.
    expect(root.reads[0]).toEqual([`${STORE_ETC}/fstab`]);
  });

  it('mounts nested mountpoints parents first, whatever the fstab order', async () => {
    const root = nixRoot('UUID=EFEF /boot/efi vfat\nLABEL=boot /boot ext4\n');
    const boot = view('/dev/sda3', 'ext4', [{ path: '/grub/grub.cfg', content: 'x' }, { path: '/efi', type: 'dir' }], {
      label: 'boot',
    });
    const efi = view('/dev/sda1', 'vfat', [{ path: '/EFI/x', content: 'y' }], { uuid: 'efef' });
    const a = await assemble([efi, root, boot]);
    const inv = a.roots[0]!.inventory;
    expect(inv.get('/boot/grub/grub.cfg')?.fs).toBe('/dev/sda3');
    expect(inv.get('/boot/efi/EFI/x')?.fs).toBe('/dev/sda1');
    const got = await a.roots[0]!.readFiles(['/boot/efi/EFI/x', '/boot/grub/grub.cfg'], 10);
    expect((got.get('/boot/efi/EFI/x') as { data: Buffer }).data.toString()).toBe('y');
    expect(efi.reads.at(-1)).toEqual(['/EFI/x']);
  });

  it('lets every filesystem stand alone when there is no root', async () => {
    const a = await assemble([esp(), view('/dev/sda2', 'ext4', [{ path: '/data/x', content: '1' }])]);
    expect(a.roots.map((r) => r.prefix)).toEqual(['/dev/sda1', '/dev/sda2']);
    expect(a.filesystems.every((f) => f.mountpoint === null)).toBe(true);
    expect(a.roots[1]!.inventory.get('/data/x')?.fs).toBe('/dev/sda2');
  });

  it('keeps a filesystem fstab does not mount as its own root, and notes unknown devices', async () => {
    const a = await assemble([nixRoot('LABEL=gone /srv ext4\n'), esp()]);
    expect(a.roots.map((r) => r.prefix)).toEqual([null, '/dev/sda1']);
    expect(a.notes.join('\n')).toMatch(/LABEL=gone/);
    expect(a.problems).toEqual([]);
  });

  it('does not follow an fstab symlink that leaves the image', async () => {
    const root = view('/dev/sda1', 'ext4', [
      { path: '/etc/fstab', target: '/host/only/fstab' },
      { path: '/nix/store', type: 'dir' },
    ]);
    const a = await assemble([root, esp()]);
    expect(a.roots[0]!.prefix).toBeNull();
    expect(a.notes.join('\n')).toMatch(/does not resolve/);
    expect(root.reads).toEqual([]);
  });
});
