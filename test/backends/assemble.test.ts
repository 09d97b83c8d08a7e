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

describe('assemble: btrfs subvolumes as fstab mounts them', () => {
  const UUID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
  /** A btrfs view seen from its top level, with subvolumes at `subs` (id -> path) and a default one. */
  const btrfs = (tree: TreeEntry[], subs: Record<number, string>, defaultId = 5, device = '/dev/sda2') => {
    const paths = Object.values(subs).filter((p) => p !== '/');
    const v = view(device, 'btrfs', [...paths.map((path) => ({ path, type: 'dir' as const })), ...tree], { uuid: UUID, label: 'fedora' });
    v.btrfs = { subvolumes: Object.entries({ 5: '/', ...subs }).map(([id, path]) => ({ id: Number(id), path })), defaultId };
    return v;
  };
  const content = async (r: { readFiles: FilesystemView['readFiles'] }, p: string) => {
    const got = (await r.readFiles([p], 1000)).get(p);
    if (!got || got instanceof Error) throw got ?? new Error(`${p}: not read`);
    return got.data.toString();
  };
  const fedora = (fstab: string, extra: TreeEntry[] = [], subs: Record<number, string> = {}) =>
    btrfs(
      [
        { path: '/root/etc/fstab', content: fstab },
        { path: '/root/etc/machine-id', content: 'built-on-the-host\n' },
        { path: '/root/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
        { path: '/home/alice/.bash_history', content: 'ssh builder\n' },
        ...extra,
      ],
      { 256: '/root', 257: '/home', ...subs },
    );

  it('Fedora: the `root` subvolume at /, `home` at /home, reads routed into each subvolume', async () => {
    const v = fedora(`UUID=${UUID} / btrfs subvol=root,compress=zstd:1 0 0\nUUID=${UUID} /home btrfs subvol=home,compress=zstd:1 0 0\n`);
    const a = await assemble([esp(), v]);
    expect(a.problems).toEqual([]);
    expect(a.roots.map((r) => r.prefix)).toEqual([null, '/dev/sda1']);
    expect(a.filesystems).toEqual([
      { device: '/dev/sda1', type: 'vfat', label: 'ESP', mountpoint: null },
      { device: '/dev/sda2', type: 'btrfs', label: 'fedora', mountpoint: '/', subvolume: '/root' },
      { device: '/dev/sda2', type: 'btrfs', label: 'fedora', mountpoint: '/home', subvolume: '/home' },
    ]);
    const r = a.roots[0]!;
    expect(r.inventory.entries().map((e) => e.path)).toEqual(['/', '/etc', '/etc/fstab', '/etc/machine-id', '/etc/passwd', '/home', '/home/alice', '/home/alice/.bash_history']);
    expect(await content(r, '/etc/machine-id')).toBe('built-on-the-host\n');
    expect(await content(r, '/home/alice/.bash_history')).toBe('ssh builder\n');
    expect(v.reads.at(-1)).toEqual(['/home/alice/.bash_history']);
    expect(v.reads).toContainEqual(['/root/etc/machine-id']);
  });

  it('Ubuntu: subvol=@ and subvol=/@home, with or without the leading slash', async () => {
    const v = btrfs(
      [
        { path: '/@/etc/fstab', content: `UUID=${UUID} / btrfs defaults,subvol=@ 0 1\nUUID=${UUID} /home btrfs defaults,subvol=/@home 0 2\n` },
        { path: '/@home/bob/.ssh/known_hosts', content: 'builder ssh-ed25519 AAAA\n' },
      ],
      { 256: '/@', 257: '/@home' },
    );
    const a = await assemble([v]);
    expect(a.roots.map((r) => r.prefix)).toEqual([null]);
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/@'],
      ['/home', '/@home'],
    ]);
    expect(await content(a.roots[0]!, '/home/bob/.ssh/known_hosts')).toMatch(/builder/);
  });

  it('subvolid=N names a subvolume by id; no option means the default subvolume', async () => {
    const v = fedora(`UUID=${UUID} / btrfs subvolid=256 0 0\nUUID=${UUID} /home btrfs subvolid=257 0 0\nUUID=${UUID} /top btrfs defaults 0 0\n`, [
      { path: '/top-file', content: 'at the top level' },
    ]);
    const a = await assemble([v]);
    expect(a.notes.join('\n')).not.toMatch(/is mounted at \//);
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/root'],
      ['/home', '/home'],
      ['/top', undefined],
    ]);
    // The top level (the default) is mounted at /top; the subvolumes mounted on their own are left out of it.
    const inv = a.roots[0]!.inventory;
    expect(inv.get('/top/top-file')?.fs).toBe('/dev/sda2');
    expect(inv.children('/top')).toEqual(['home', 'root', 'top-file']);
    expect(inv.children('/top/root')).toEqual([]);
    expect(a.notes.join('\n')).toMatch(/subvolume \/root is mounted on its own; left out of \/top/);
    expect(a.roots).toHaveLength(1);
    expect(await content(a.roots[0]!, '/top/top-file')).toBe('at the top level');
  });

  it('a subvolume fstab names but the filesystem lacks is a note, and what is there is audited on its own', async () => {
    const v = fedora(`UUID=${UUID} / btrfs subvol=root 0 0\nUUID=${UUID} /home btrfs subvol=gone 0 0\nUUID=${UUID} /srv btrfs subvolid=999 0 0\n`);
    const a = await assemble([v]);
    expect(a.problems).toEqual([]);
    expect(a.notes.join('\n')).toMatch(/subvol=gone is not a subvolume of \/dev\/sda2 \(\/home\)/);
    expect(a.notes.join('\n')).toMatch(/subvolid=999 is not a subvolume of \/dev\/sda2 \(\/srv\)/);
    expect(a.roots.map((r) => r.prefix)).toEqual([null, '/dev/sda2']);
    expect(a.roots[0]!.inventory.has('/home/alice')).toBe(false);
    // The rest of the filesystem stands alone: the home subvolume, not the root mounted at / (left empty there).
    const rest = a.roots[1]!;
    expect(rest.inventory.entries().map((e) => e.path)).toEqual(['/', '/home', '/home/alice', '/home/alice/.bash_history', '/root']);
    expect(await content(rest, '/home/alice/.bash_history')).toBe('ssh builder\n');
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/root'],
      [null, undefined],
    ]);
  });

  it('the same subvolume mounted twice is mounted once, with a note', async () => {
    const v = fedora(`UUID=${UUID} / btrfs subvol=root 0 0\nUUID=${UUID} /home btrfs subvol=home 0 0\nUUID=${UUID} /home2 btrfs subvol=/home 0 0\n`);
    const a = await assemble([v]);
    expect(a.notes.join('\n')).toMatch(/\/dev\/sda2\[\/home\] is already mounted at \/home; ignoring \/home2/);
    expect(a.roots[0]!.inventory.has('/home2')).toBe(false);
  });

  it('openSUSE: the default snapshot at /, nested subvolumes mounted on their own, other snapshots audited', async () => {
    const snap = (n: number, id: string) => [
      { path: `/@/.snapshots/${n}/snapshot/etc/fstab`, content: `UUID=${UUID} / btrfs defaults 0 0\nUUID=${UUID} /.snapshots btrfs subvol=/@/.snapshots 0 0\nUUID=${UUID} /var btrfs subvol=/@/var 0 0\nUUID=${UUID} /home btrfs subvol=/@/home 0 0\n` },
      { path: `/@/.snapshots/${n}/snapshot/etc/machine-id`, content: id },
      { path: `/@/.snapshots/${n}/info.xml`, content: '<snapshot/>' },
    ];
    const v = btrfs(
      [...snap(2, 'older\n'), ...snap(1, 'current\n'), { path: '/@/var/log/build.log', content: 'log' }, { path: '/@/home/carol/.netrc', content: 'machine host' }],
      { 256: '/@', 257: '/@/.snapshots', 258: '/@/.snapshots/2/snapshot', 259: '/@/var', 260: '/@/home', 261: '/@/.snapshots/1/snapshot' },
      261,
    );
    const a = await assemble([v]);
    expect(a.problems).toEqual([]);
    expect(a.roots.map((r) => r.prefix)).toEqual([null]);
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/@/.snapshots/1/snapshot'],
      ['/.snapshots', '/@/.snapshots'],
      ['/var', '/@/var'],
      ['/home', '/@/home'],
    ]);
    const r = a.roots[0]!;
    expect(await content(r, '/etc/machine-id')).toBe('current\n');
    expect(await content(r, '/.snapshots/2/snapshot/etc/machine-id')).toBe('older\n');
    expect(await content(r, '/var/log/build.log')).toBe('log');
    // The root, mounted at /, is not listed again under /.snapshots.
    expect(r.inventory.children('/.snapshots/1')).toEqual(['info.xml', 'snapshot']);
    expect(r.inventory.children('/.snapshots/1/snapshot')).toEqual([]);
    expect(r.inventory.get('/home/carol/.netrc')?.fs).toBe('/dev/sda2');
  });

  it('between a root and its snapshot, the one its own fstab mounts at / is the root', async () => {
    const fstab = `UUID=${UUID} / btrfs subvol=root 0 0\n`;
    const v = btrfs(
      [
        { path: '/.snapshots/root-before/etc/fstab', content: fstab },
        { path: '/.snapshots/root-before/etc/machine-id', content: 'snapshot' },
        { path: '/root/etc/fstab', content: fstab },
        { path: '/root/etc/machine-id', content: 'live' },
      ],
      { 300: '/.snapshots/root-before', 256: '/root' },
    );
    const a = await assemble([v]);
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/root'],
      [null, undefined],
    ]);
    expect(await content(a.roots[0]!, '/etc/machine-id')).toBe('live');
    // The snapshot is not dropped: it stands alone, by its path from the top level.
    expect(a.roots[1]!.prefix).toBe('/dev/sda2');
    expect(await content(a.roots[1]!, '/.snapshots/root-before/etc/machine-id')).toBe('snapshot');
  });

  it('reads the fstabs of at most 32 look-alike roots to break a tie, one at a time', async () => {
    const fstab = `UUID=${UUID} / btrfs subvol=deep/down/root 0 0\n`;
    const snaps = Array.from({ length: 200 }, (_, i) => `/s/${i}`);
    const v = btrfs(
      [...snaps, '/deep/down/root'].map((p) => ({ path: `${p}/etc/fstab`, content: fstab })),
      Object.fromEntries([...snaps, '/deep/down/root'].map((p, i) => [300 + i, p])),
    );
    const a = await assemble([v]);
    expect(v.reads.slice(0, -1)).toEqual(snaps.slice(0, 32).map((p) => [`${p}/etc/fstab`]));
    // None of those says it is the root, so the first look-alike is taken; the rest are not dropped.
    expect(a.filesystems.map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/s/0'],
      [null, undefined],
    ]);
    expect(a.roots[1]!.inventory.has('/deep/down/root/etc/fstab')).toBe(true);
  });

  it('a btrfs filesystem with no root in it stands alone from its top level', async () => {
    const v = btrfs([{ path: '/data/x', content: '1' }], { 256: '/data' }, 256);
    const a = await assemble([v]);
    expect(a.roots.map((r) => r.prefix)).toEqual(['/dev/sda2']);
    expect(a.filesystems).toEqual([{ device: '/dev/sda2', type: 'btrfs', label: 'fedora', mountpoint: null }]);
    expect(a.roots[0]!.inventory.has('/data/x')).toBe(true);
  });
});

describe('assemble: NixOS on btrfs with /nix in a subvolume of its own (disko)', () => {
  it('resolves the fstab link into /nix/store through the /nix subvolume, then mounts as it says', async () => {
    const fstab = '/dev/disk/by-partlabel/disk-main-root / btrfs subvol=/root 0 0\n/dev/disk/by-partlabel/disk-main-root /nix btrfs subvol=/nix,noatime 0 0\n/dev/disk/by-partlabel/disk-main-root /home btrfs subvol=/home 0 0\n';
    const paths = ['/root', '/nix', '/home'];
    const v = view(
      '/dev/sda2',
      'btrfs',
      [
        ...paths.map((path) => ({ path, type: 'dir' as const })),
        { path: '/root/etc/static', target: STORE_ETC },
        { path: '/root/etc/fstab', target: '/etc/static/fstab' },
        { path: `/nix${STORE_ETC.slice(4)}/fstab`, content: fstab },
        { path: '/home/bob/.nix-defexpr/channels', target: '/tmp/state/profiles/per-user/root/channels' },
      ],
      { partlabel: 'disk-main-root' },
    );
    v.btrfs = { subvolumes: [{ id: 5, path: '/' }, ...paths.map((path, i) => ({ id: 256 + i, path }))], defaultId: 5 };
    const a = await assemble([esp(), v]);
    expect(a.notes.join('\n')).not.toMatch(/does not resolve/);
    expect(a.filesystems.filter((f) => f.device === '/dev/sda2').map((f) => [f.mountpoint, f.subvolume])).toEqual([
      ['/', '/root'],
      ['/nix', '/nix'],
      ['/home', '/home'],
    ]);
    expect(a.roots.map((r) => r.prefix)).toEqual([null, '/dev/sda1']);
    const inv = a.roots[0]!.inventory;
    expect(inv.resolve('/etc/fstab')).toMatchObject({ ok: true, path: `${STORE_ETC}/fstab` });
    expect(inv.get('/home/bob/.nix-defexpr/channels')?.target).toBe('/tmp/state/profiles/per-user/root/channels');
    expect(v.reads[0]).toEqual([`${STORE_ETC}/fstab`]);
  });
});
