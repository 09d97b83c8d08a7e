/**
 * The native vfat reader on FAT12/16/32 images made with mkfs.vfat + mcopy: names (long and short), sizes and
 * mtimes against sleuthkit's fls and mtools, label and uuid against blkid, contents against what was copied in,
 * modes and owners as Linux shows a vfat mounted with default options (checked once with guestfish lstatns:
 * 0755 files and dirs, 0555 for read-only files, root's size = its fixed area on FAT12/16, root mtime 0).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource } from '../../../src/backends/native/index.js';
import { flsEntries } from '../../helpers/native-oracle.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mkfs.vfat', 'mcopy', 'mattrib', 'mdir', 'fls', 'blkid');
const d = describe;

let tmp: string;
let tree: string;
const files: Record<string, Buffer> = {};

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-vfat-'));
  tree = path.join(tmp, 'tree');
  const add = (rel: string, content: Buffer | string) => {
    const p = path.join(tree, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
    utimesSync(p, 1700000000, 1700000000);
    files['/' + rel] = Buffer.from(content);
  };
  add('loader/random-seed', Buffer.alloc(32, 7));
  add('loader/loader.conf', 'timeout 3\n');
  add('EFI/BOOT/BOOTX64.EFI', Buffer.alloc(70000, 0x5a));
  add('EFI/nixos/a-rather-long-file-name-with-many-characters.efi', 'kernel');
  add('Mixed Case Name.TXT', 'mixed');
  add('lower.txt', 'lower');
  add('UPPER.TXT', 'upper');
  add('ünïcödé long name.txt', 'unicode');
  for (let i = 0; i < 60; i++) add(`many/entry-number-${i}.conf`, `title ${i}\n`);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function blkid(img: string): Record<string, string> {
  const out = execFileSync('blkid', ['-p', '-o', 'export', img], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

d('native vfat reader', () => {
  it.each([
    [12, 4096],
    [16, 32768],
    [32, 66000],
  ])('FAT%i matches fls, mtools and blkid', async (bits, kib) => {
    const img = path.join(tmp, `fat${bits}.img`);
    rmSync(img, { force: true });
    execFileSync('mkfs.vfat', ['-C', '-F', String(bits), '-n', `ESP${bits}`, '-i', '1234abcd', img, String(kib)], { stdio: 'ignore' });
    execFileSync('sh', ['-c', `cd "${tree}" && mcopy -s -m -i "${img}" * ::/`], {
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
    execFileSync('mattrib', ['-i', img, '+r', '::/UPPER.TXT']);
    const src = openNativeSource(img);
    try {
      expect(await nativeSupports(src)).toBe(true);
      const { views, problems } = await listNativeFilesystems(src);
      expect(problems).toEqual([]);
      const v = views[0]!;
      const b = blkid(img);
      expect([v.type, v.label, v.uuid]).toEqual([b.TYPE, b.LABEL, b.UUID]);
      expect(v.uuid).toBe('1234-ABCD');

      const fls = flsEntries(img);
      const ours = new Map(v.inventory.entries().map((e) => [e.path, e]));
      const byFls = ours;
      expect([...byFls.keys()].sort()).toEqual([...fls.keys(), '/'].sort());
      expect(ours.has('/ünïcödé long name.txt')).toBe(true);
      for (const [p, o] of fls) {
        const e = byFls.get(p)!;
        expect({ p, type: e.type, size: e.size, mtime: e.mtime }).toEqual({ p, type: o.type, size: o.size, mtime: o.mtime });
        expect([e.uid, e.gid]).toEqual([0, 0]);
        expect(e.mode).toBe(p === '/UPPER.TXT' ? 0o555 : 0o755);
      }
      const root = v.inventory.get('/')!;
      expect(root.mtime).toBe(0);
      if (bits !== 32) expect(root.size).toBe(512 * 32);
      // Long names are what mtools shows as the long name; files we copied are all there with their content.
      const mdir = execFileSync('mdir', ['-i', img, '-a', '::/EFI/nixos'], { encoding: 'utf8' });
      expect(mdir).toContain('a-rather-long-file-name-with-many-characters.efi');
      const got = await v.readFiles(Object.keys(files), 1 << 20);
      for (const [p, want] of Object.entries(files)) {
        const c = got.get(p)!;
        if (c instanceof Error) throw c;
        expect({ p, eq: c.data.equals(want), size: c.size }).toEqual({ p, eq: true, size: want.length });
      }
      const short = await v.readFiles(['/EFI/BOOT/BOOTX64.EFI'], 1000);
      const c = short.get('/EFI/BOOT/BOOTX64.EFI')!;
      if (c instanceof Error) throw c;
      expect([c.data.length, c.truncated, c.size]).toEqual([1000, true, 70000]);
      expect((await v.readFiles(['/nope'], 10)).get('/nope')).toBeInstanceOf(Error);
    } finally {
      src.close?.();
    }
  });
});
