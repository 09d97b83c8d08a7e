import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import nestedImage from '../../rules/nested-image.js';

/** The first 4 KiB of an ext2 filesystem: the superblock magic 0xEF53 at 1024 + 0x38. */
function extHead(): string {
  const b = Buffer.alloc(4096);
  b.writeUInt16LE(0xef53, 1024 + 0x38);
  return b.toString('base64');
}
/** A squashfs superblock magic. */
const squashHead = Buffer.concat([Buffer.from('hsqs'), Buffer.alloc(4092)]).toString('base64');
/** zstd magic followed by junk: a compressed file. */
const zstdHead = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4092, 1)]).toString('base64');

ruleTester(nestedImage, {
  valid: [
    { name: 'no file inside is an image', tree: withAccounts([{ path: '/etc/app.conf', content: 'x = 1\n' }]) },
    {
      name: 'an image-named file that is not an image, and a compressed log',
      tree: withAccounts([
        { path: '/var/lib/disk.img', contentBase64: Buffer.alloc(4096, 0x41).toString('base64') },
        { path: '/var/log/old.log.zst', contentBase64: zstdHead },
      ]),
    },
    {
      name: 'a big image in /nix/store without an image name is not read (store blobs are packages)',
      tree: withAccounts([{ path: '/nix/store/abc-pkg/share/blob', contentBase64: extHead() }]),
    },
  ],
  invalid: [
    {
      name: 'an ext filesystem, a squashfs and a compressed image inside the image',
      tree: withAccounts([
        { path: '/var/lib/machines/builder.raw', contentBase64: extHead() },
        { path: '/opt/rootfs.squashfs', contentBase64: squashHead },
        { path: '/srv/cache/disk.img.zst', contentBase64: zstdHead },
      ]),
      findings: [
        { path: '/opt/rootfs.squashfs', severity: 'info', message: ['squashfs filesystem', 'not audited', '--nested'] },
        { path: '/srv/cache/disk.img.zst', severity: 'info', message: ['zstd-compressed'] },
        { path: '/var/lib/machines/builder.raw', severity: 'info', message: ['ext2 filesystem'], evidence: ['size=4096'] },
      ],
    },
  ],
});
