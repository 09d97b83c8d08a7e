/**
 * One rule for the whole engine: a file the audit meant to read and could not makes the target `partial`, whichever
 * backend or reader failed. The failure is injected under every reader (each native filesystem reader over a byte
 * source that starts failing once the image is listed, the dir backend with a file gone after listing, a backend
 * that returns an error or nothing, the search for images inside the image) and made for real (an ext2 block pointer outside the filesystem, read natively);
 * each time the audit's problems name the file. The same image through the kernel is in unread.e2e.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assemble } from '../../../src/backends/assemble.js';
import type { OpenedImage } from '../../../src/backends/backend.js';
import { dirBackend } from '../../../src/backends/dir.js';
import { CheckedSource, listNativeFilesystems, openNativeSource } from '../../../src/backends/native/index.js';
import { withNestedRoots } from '../../../src/resolve/nested.js';
import { auditImage } from '../../../src/scan.js';
import { builtinRules } from '../../../rules/index.js';
import { hostleak, SAMPLES } from '../../helpers/cli.js';
import { memoryRoot, withAccounts } from '../../helpers/tree.js';
import { requireTool } from '../../helpers/tools.js';
import { badBlockExt2, TOKEN } from '../../helpers/unreadable.js';

requireTool('mke2fs', 'debugfs');

const host = { user: 'builder', home: '/home/builder', name: 'buildhost' };
const rules = builtinRules.map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'unread-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function imageOf(roots: OpenedImage['roots'], problems: string[] = []): OpenedImage {
  return { backend: 'test', filesystems: [], roots, problems, async close() {} };
}

/** The image's problems after the audit, and the one that names unread files. */
async function audit(image: OpenedImage): Promise<{ problems: string[]; unread: string | undefined }> {
  await auditImage(image, { rules, host, }, 'test');
  return { problems: image.problems, unread: image.problems.find((p) => p.startsWith('could not read ')) };
}

describe('a file the audit could not read makes the target partial', () => {
  it('for a backend that answers with an error, or with nothing, for some files', async () => {
    const root = memoryRoot(withAccounts([{ path: '/root/.env', content: `T=${TOKEN}\n` }, { path: '/srv/a.conf', content: 'x=1\n' }]));
    const inner = root.readFiles.bind(root);
    root.readFiles = async (paths, maxBytes) => {
      const got = await inner(paths, maxBytes);
      if (got.has('/root/.env')) got.set('/root/.env', new Error('decoder failure'));
      got.delete('/srv/a.conf');
      return got;
    };
    const { unread } = await audit(imageOf([root]));
    expect(unread).toMatch(/^could not read 2 files: /);
    expect(unread).toContain('/root/.env (decoder failure)');
    expect(unread).toContain('/srv/a.conf (the backend returned nothing for it)');
  });

  it('for a backend whose batch read throws: the accounts are among the files named', async () => {
    const root = memoryRoot(withAccounts([]));
    root.readFiles = () => Promise.reject(new Error('appliance gone'));
    const { unread } = await audit(imageOf([root]));
    expect(unread).toContain('/etc/passwd (appliance gone)');
  });

  it('names the file with its root prefix, and redacts a token in a name', async () => {
    const root = memoryRoot(withAccounts([{ path: `/srv/${TOKEN}`, content: 'x\n' }, { path: '/srv/z', content: 'z\n' }]), '/dev/sdb1');
    root.readFiles = async (paths) => new Map(paths.map((p) => [p, new Error('read error')]));
    const { unread } = await audit(imageOf([root]));
    expect(unread).toContain('/dev/sdb1:/etc/passwd');
    expect(unread).not.toContain(TOKEN);
    expect(unread).toMatch(/could not read 4 files: .* and 1 more$/);
  });

  it('for the search for images inside an image: a head that cannot be read is named, not skipped', async () => {
    const root = memoryRoot(withAccounts([{ path: '/var/lib/machines/vm.img', contentBase64: Buffer.alloc(4096, 1).toString('base64') }]));
    const inner = root.readFiles.bind(root);
    root.readFiles = async (paths, maxBytes) => {
      const got = await inner(paths, maxBytes);
      if (got.has('/var/lib/machines/vm.img')) got.set('/var/lib/machines/vm.img', new Error('decoder failure'));
      return got;
    };
    const { image } = await withNestedRoots(imageOf([root]), { openImage: () => Promise.reject(new Error('not reached')) });
    expect(image.problems).toEqual(['looking for images inside: could not read 1 file: /var/lib/machines/vm.img (decoder failure)']);
  });

  it('is silent when every file was read', async () => {
    const { unread, problems } = await audit(imageOf([memoryRoot(withAccounts([{ path: '/root/.env', content: 'A=1\n' }]))]));
    expect(unread).toBeUndefined();
    expect(problems).toEqual([]);
  });

  it('for the dir backend: a file gone between listing and reading', async () => {
    const dir = path.join(tmp, 'dir');
    mkdirSync(path.join(dir, 'etc'), { recursive: true });
    mkdirSync(path.join(dir, 'root'), { recursive: true });
    writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(path.join(dir, 'root/.env'), `T=${TOKEN}\n`);
    const image = await dirBackend.open(dir, {});
    rmSync(path.join(dir, 'root/.env'));
    const { unread } = await audit(image);
    expect(unread).toMatch(/^could not read 1 file: \/root\/\.env \(/);
  });

  // Each native reader over a source that fails every read once the image is listed: its readFile's failure must
  // reach the audit (ext4 and vfat in the raw disk, squashfs, iso9660, erofs).
  it.each([
    ['leaky.raw', ['ext4', 'vfat']],
    ['leaky.squashfs-gzip', ['squashfs']],
    ['leaky.iso', ['iso9660']],
    ['leaky.erofs', ['erofs']],
  ])('for the native readers of %s (%j)', async (sample, types) => {
    const file = openNativeSource(path.join(SAMPLES, sample));
    let failing = false;
    const source = new CheckedSource(file, () => {
      if (failing) throw new Error('injected read failure');
    });
    try {
      const { views, problems } = await listNativeFilesystems(source);
      expect(views.map((v) => v.type).sort()).toEqual(types);
      const a = await assemble(views);
      failing = true;
      const { unread } = await audit(imageOf(a.roots, [...problems, ...a.problems]));
      expect(unread).toMatch(/could not read \d+ files?: /);
      expect(unread).toContain('injected read failure');
      // Each filesystem's reader failed its own read (not only the root's): the view hands the error on.
      for (const v of views) {
        const f = v.inventory.entries().find((e) => e.type === 'file' && e.size > 0)!;
        expect((await v.readFiles([f.path], 64)).get(f.path)).toBeInstanceOf(Error);
      }
    } finally {
      source.close();
    }
  });

  it('for a real unreadable file: an ext2 block pointer outside the filesystem gives exit 3, not 0', () => {
    const img = badBlockExt2(tmp);
    const r = hostleak(['scan', '--backend', 'native', '--format', 'json', img]);
    expect(r.status).toBe(3);
    const t = (JSON.parse(r.stdout) as { targets: Array<{ status: string; error: string }> }).targets[0]!;
    expect(t.status).toBe('partial');
    expect(t.error).toContain('could not read 1 file: /dev/sda:/root/.env (');
    expect(t.error).toContain('block 900000 outside the filesystem');
  });
});
