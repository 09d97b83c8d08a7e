import { runRules } from '../../src/engine/runtime/runner.js';
import { ruleTester } from '../helpers/rule-tester.js';
import { memoryRoot, withAccounts } from '../helpers/tree.js';
import nestedImage from '../../rules/nested-image.js';
import secretToken from '../../rules/secret-token.js';

/** The first 4 KiB of an ext2 filesystem: the superblock magic 0xEF53 at 1024 + 0x38. */
function extHead(): string {
  const b = Buffer.alloc(4096);
  b.writeUInt16LE(0xef53, 1024 + 0x38);
  return b.toString('base64');
}
/** A 40 KiB ext2 filesystem head: big enough to be a candidate by size, whatever its name. */
const bigExtHead = Buffer.concat([Buffer.from(extHead(), 'base64'), Buffer.alloc(36 * 1024)]).toString('base64');
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
      name: 'a big file without an image name that is not an image (judged on the content pass)',
      tree: withAccounts([{ path: '/var/lib/app/state', contentBase64: Buffer.alloc(40 * 1024, 0x61).toString('base64') }]),
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
        { path: '/opt/rootfs.squashfs', severity: 'warning', message: ['squashfs filesystem', 'not audited'] },
        { path: '/srv/cache/disk.img.zst', severity: 'warning', message: ['zstd-compressed'] },
        { path: '/var/lib/machines/builder.raw', severity: 'warning', message: ['ext2 filesystem'], evidence: ['size=4096'] },
      ],
    },
  ],
});

describe('nested-image and the shared content pass', () => {
  it('finds an image the content pass read without reading its head again; reads the files the pass skips', async () => {
    // Enough small text files that the pass reads in two chunks, the image in the second.
    const docs = Array.from({ length: 2100 }, (_, i) => ({ path: `/usr/share/doc/f${String(i).padStart(4, '0')}`, content: 'text\n' }));
    const root = memoryRoot(
      withAccounts([
        ...docs,
        // Read by the content pass (big, outside the store, no binary extension).
        { path: '/var/lib/backup/rootfs', contentBase64: bigExtHead },
        { path: '/srv/data/big.txt', contentBase64: Buffer.alloc(40 * 1024, 0x62).toString('base64') },
        // Not in the content pass (an image extension): read by the rule, head only.
        { path: '/var/lib/machines/builder.img', contentBase64: extHead() },
      ]),
    );
    // With another content rule, as in every audit: one pass reads the text files for both.
    const rules = [nestedImage, secretToken].map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, { user: null, home: null, name: null });
    expect(findings.map((f) => f.path).sort()).toEqual(['/var/lib/backup/rootfs', '/var/lib/machines/builder.img']);
    // Each file is read once, and the rule's own read holds only what the pass skips (before, the rule read every
    // candidate's head itself, the pass's files included).
    const batches = (p: string) => root.reads.filter((batch) => batch.includes(p));
    for (const p of ['/var/lib/backup/rootfs', '/srv/data/big.txt', '/var/lib/machines/builder.img']) expect(batches(p)).toHaveLength(1);
    expect(batches('/var/lib/machines/builder.img')[0]).toEqual(['/var/lib/machines/builder.img']);
  });
});
