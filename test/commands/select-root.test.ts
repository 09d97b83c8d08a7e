import { describe, expect, it } from '@jest/globals';
import { assemble } from '../../src/backends/assemble.js';
import type { FilesystemView, OpenedImage } from '../../src/backends/backend.js';
import { selectRoot } from '../../src/commands/common.js';
import { memoryRoot, type TreeEntry } from '../helpers/tree.js';

/** An image of one btrfs filesystem seen from its top level, assembled as the backends assemble it. */
async function btrfsImage(tree: TreeEntry[], subs: string[]): Promise<OpenedImage> {
  const r = memoryRoot([...subs.map((path) => ({ path, type: 'dir' as const })), ...tree]);
  const v: FilesystemView = {
    device: '/dev/sda2',
    type: 'btrfs',
    label: null,
    uuid: 'u',
    partlabel: null,
    partuuid: null,
    inventory: r.inventory,
    readFiles: r.readFiles,
    btrfs: { subvolumes: [{ id: 5, path: '/' }, ...subs.map((path, i) => ({ id: 256 + i, path }))], defaultId: 5 },
  };
  const a = await assemble([v]);
  return { backend: 'native', filesystems: a.filesystems, roots: a.roots, problems: a.problems, close: async () => {} };
}

describe('selectRoot: DEVICE:PATH on btrfs is a path from the top level', () => {
  const fstab = 'UUID=u / btrfs subvol=root 0 0\nUUID=u /home btrfs subvol=home 0 0\n';
  const tree = [
    { path: '/root/etc/fstab', content: fstab },
    { path: '/home/alice/.bashrc', content: 'x' },
  ];

  it('maps a path in a mounted subvolume to the assembled root, and the rest to what stands alone', async () => {
    const image = await btrfsImage([...tree, { path: '/snapshots/old/etc/fstab', content: fstab }], ['/root', '/home', '/snapshots/old']);
    const at = (p: string) => {
      const s = selectRoot(image, p);
      return [s.root.prefix, s.path];
    };
    expect(at('/dev/sda2:/root/etc/fstab')).toEqual([null, '/etc/fstab']);
    expect(at('/dev/sda2:/root')).toEqual([null, '/']);
    expect(at('/dev/sda2:/home/alice')).toEqual([null, '/home/alice']);
    expect(at('/dev/sda2:/snapshots/old/etc/fstab')).toEqual(['/dev/sda2', '/snapshots/old/etc/fstab']);
    expect(at('/dev/sda2:/')).toEqual(['/dev/sda2', '/']);
    expect(at('/etc/fstab')).toEqual([null, '/etc/fstab']);
  });

  it('names a top-level path no mounted subvolume holds when nothing of the filesystem stands alone', async () => {
    const image = await btrfsImage(tree, ['/root', '/home']);
    expect(image.roots.map((r) => r.prefix)).toEqual([null]);
    expect(() => selectRoot(image, '/dev/sda2:/')).toThrow('/dev/sda2:/ is in none of the subvolumes this image mounts (/root, /home)');
    expect(() => selectRoot(image, '/dev/sdb1:/x')).toThrow('no filesystem /dev/sdb1 in this image (filesystems: /dev/sda2)');
  });
});
