/**
 * The native reader on the shared corpus of real images (read-only; decompressed into a temp dir). Valid images
 * list like sleuthkit's fls; damaged ones end in one of our errors or a partial result naming the damage, never a
 * crash or a hang (each runs in a child process with a timeout).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debugfsWalk, flsEntries } from '../../helpers/native-oracle.js';
import { OUR_ERRORS, runNativeChild, type ChildResult } from '../../helpers/native-child.js';
import { requireTool } from '../../helpers/tools.js';

const CORPUS = path.resolve('test', 'fixtures', 'corpus');
requireTool('fls', 'gzip', 'xz', 'bzip2', 'qemu-img');
const d = describe;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-corpus-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A decompressed private copy of a corpus file. */
function copy(name: string): string {
  const src = path.join(CORPUS, name);
  const out = path.join(tmp, name.replace(/\.(gz|xz|bz2)$/, ''));
  if (existsSync(out)) return out;
  const tool = name.endsWith('.gz') ? 'gzip' : name.endsWith('.xz') ? 'xz' : name.endsWith('.bz2') ? 'bzip2' : null;
  if (tool) writeFileSync(out, execFileSync(tool, ['-dc', src], { maxBuffer: 1 << 30 }));
  else copyFileSync(src, out);
  return out;
}

function expectClean(r: ChildResult): void {
  expect(r.died).toBeUndefined();
  if (r.error) {
    expect(OUR_ERRORS).toContain(r.error.name);
    expect(r.error.message).not.toMatch(/\n/);
    expect(r.error.message.length).toBeGreaterThan(5);
  }
}

d('native reader on the corpus', () => {
  // Valid images: no problems, and every entry as fls lists it (fls offset in sectors per device).
  const valid: Array<[string, Record<string, number>]> = [
    ['dfvfs_ext2.raw.gz', { '/dev/sda': 0 }],
    ['dfvfs_imynd.dd', { '/dev/sda': 0 }],
    ['dfvfs_mbr.raw.gz', { '/dev/sda1': -1, '/dev/sda5': -1 }],
    ['dfvfs_tsk_volume_system.raw', { '/dev/sda5': -1 }],
    ['e2fs_d_inline_dump.img.gz', { '/dev/sda': 0 }],
    ['e2fs_f_hurd.img.gz', { '/dev/sda': 0 }],
    ['e2fs_f_selinux.img.gz', { '/dev/sda': 0 }],
    ['ul_fat32_xp_label1.img.xz', { '/dev/sda': 0 }],
  ];
  it.each(valid)('%s lists like fls', (name, devices) => {
    const img = copy(name);
    const r = runNativeChild(img, { full: true });
    expectClean(r);
    expect(r.error).toBeUndefined();
    expect(r.problems).toEqual([]);
    expect(r.supported).toBe(true);
    expect(r.views!.map((v) => v.device)).toEqual(Object.keys(devices));
    let offsets: Record<string, number> = {};
    if (Object.values(devices).includes(-1)) {
      const dump = JSON.parse(execFileSync('sfdisk', ['-J', img], { encoding: 'utf8' })).partitiontable;
      offsets = Object.fromEntries(dump.partitions.map((p: { node: string; start: number }) => ['/dev/sda' + p.node.slice(img.length), p.start]));
    }
    for (const v of r.views!) {
      const off = devices[v.device] === -1 ? offsets[v.device]! : devices[v.device]!;
      const fls = flsEntries(img, off);
      const ours = new Map(v.entries.map((e) => [e.path, e]));
      if (v.type === 'vfat') {
        expect([...ours.keys()].sort()).toEqual([...fls.keys(), '/'].sort());
      } else {
        // debugfs sees every name (fls misses some inline-data entries); owners, sizes of non-dirs.
        const dbg = debugfsWalk(img, off * 512);
        expect([...ours.keys()].sort()).toEqual([...dbg.keys(), '/'].sort());
        for (const [p, o] of dbg) {
          const e = ours.get(p)!;
          expect({ p, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: o.size === -1 ? -1 : e.size }).toEqual({ p, ...o });
        }
      }
      for (const [p, o] of fls) {
        const e = ours.get(p)!;
        expect(e).toBeDefined();
        const want: Record<string, unknown> = { p, type: o.type, size: o.size, mtime: o.mtime };
        const got: Record<string, unknown> = { p, type: e.type, size: e.size, mtime: e.mtime };
        if (v.type !== 'vfat') {
          Object.assign(want, { mode: o.mode, uid: o.uid, gid: o.gid });
          Object.assign(got, { mode: e.mode, uid: e.uid, gid: e.gid });
        }
        expect(got).toEqual(want);
        if (o.target !== undefined) expect(e.target).toBe(o.target);
      }
    }
  });

  it('ul_gpt (five blank partitions) lists nothing and no problems, like libguestfs', () => {
    const r = runNativeChild(copy('ul_gpt.img.xz'), { full: true });
    expectClean(r);
    expect(r.error).toBeUndefined();
    expect(r.problems).toEqual([]);
    expect(r.supported).toBe(true);
    expect(r.views).toEqual([]);
  });

  it('ul_small-fat32 (mtools and fls refuse it, Linux mounts it) lists cleanly', () => {
    const r = runNativeChild(copy('ul_small-fat32.img.xz'), { full: true });
    expectClean(r);
    expect(r.problems).toEqual([]);
    expect(r.views!.map((v) => [v.device, v.type, v.label])).toEqual([['/dev/sda', 'vfat', 'TESTVFAT']]);
  });

  it('dfvfs_lvmtest (a VG of two linear LVs on a whole-disk PV, in a qcow2) lists both LVs as ext2 with their files', () => {
    const r = runNativeChild(copy('dfvfs_lvmtest.qcow2'), { full: true });
    expectClean(r);
    expect(r.problems).toEqual([]);
    expect(r.supported).toBe(true);
    expect(r.views!.map((v) => [v.device, v.type])).toEqual([
      ['/dev/vg_test/lv_test1', 'ext2'],
      ['/dev/vg_test/lv_test2', 'ext2'],
    ]);
    expect(r.views![0]!.entries.map((e) => e.path)).toEqual(expect.arrayContaining(['/a_directory/a_file', '/passwords.txt']));
  });

  it('the blkid xfs samples (v4 with v1 inodes, v5) read as empty filesystems with their labels', () => {
    for (const [name, label] of [['ul_xfs.img.xz', 'test-xfs'], ['ul_xfs-v5.img.xz', 'test-xfs-v5']]) {
      const r = runNativeChild(copy(name!), { full: true });
      expectClean(r);
      expect(r.problems).toEqual([]);
      expect(r.views!.map((v) => [v.device, v.type, v.label, v.entries.map((e) => e.path)])).toEqual([['/dev/sda', 'xfs', label, ['/']]]);
    }
  });

  it('the blkid btrfs sample reads as an empty filesystem with the UUID blkid gives', () => {
    const img = copy('ul_btrfs.img.xz');
    const r = runNativeChild(img, { full: true });
    expectClean(r);
    expect(r.problems).toEqual([]);
    expect(r.supported).toBe(true);
    const uuid = execFileSync('blkid', ['-p', '-o', 'value', '-s', 'UUID', img], { encoding: 'utf8' }).trim();
    expect(r.views!.map((v) => [v.device, v.type, v.uuid, v.entries.map((e) => e.path)])).toEqual([['/dev/sda', 'btrfs', uuid, ['/']]]);
  });

  it('qcow2 images list exactly like their raw conversions', () => {
    for (const name of ['dfvfs_ext2.qcow2', 'dfvfs_image.qcow2']) {
      const img = copy(name);
      const raw = path.join(tmp, `${name}.raw`);
      execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img, raw]);
      const a = runNativeChild(img, { full: true });
      const b = runNativeChild(raw, { full: true });
      expectClean(a);
      expect(a.problems).toEqual([]);
      expect(a.views).toEqual(b.views);
      expect(a.views![0]!.entries.length).toBeGreaterThan(3);
    }
  });

  // Damaged, dirty or unsupported images: a clean error or a partial result that names the damage.
  const damaged: Array<[string, 'error' | 'partial' | 'unsupported', RegExp]> = [
    ['e2fs_f_badroot.img.gz', 'error', /root inode is not a directory/],
    ['e2fs_f_crashdisk.img.gz', 'error', /corrupt ext superblock/],
    ['e2fs_f_journal.img.gz', 'error', /./],
    ['e2fs_f_zero_super.img.gz', 'error', /no partition table or filesystem/],
    ['e2fs_f_detect_junk.img.bz2', 'error', /no partition table or filesystem/],
    ['e2fs_f_badsymlinks.img.gz', 'partial', /symlink/],
    ['e2fs_f_bad_encryption.img.gz', 'partial', /encrypted directory/],
    ['e2fs_f_bad_fname.img.gz', 'partial', /duplicate name|invalid file name/],
    ['e2fs_j_recover_fast_commit.img.gz', 'partial', /journal needs recovery/],
    ['btrfs_020-refuse-needs-recovery_ext4.raw.xz', 'partial', /journal needs recovery/],
    ['ul_ext4.img.xz', 'partial', /truncated/],
    ['e2fs_f_filetype.img.gz', 'partial', /^$/],
    ['ul_isosize_sample.iso.gz', 'error', /truncated iso9660/],
    ['btrfs_images_bad-superblock-1.raw.xz', 'error', /corrupt btrfs superblock \(checksum mismatch\)/],
    ['trivy_monolithicSparse.vmdk', 'error', /grain directory at the end but no valid footer/],
  ];
  it.each(damaged)('%s ends cleanly (%s)', (name, kind, why) => {
    const r = runNativeChild(copy(name));
    expectClean(r);
    if (kind === 'partial') {
      expect(r.error).toBeUndefined();
      if (why.source !== '^$') expect(r.problems!.join('\n')).toMatch(why);
    } else {
      expect(r.error).toBeDefined();
      expect(r.error!.message).toMatch(why);
      if (kind === 'unsupported') expect(r.error!.name).toBe('TargetError');
    }
  });

  it('every other corpus file ends cleanly too', () => {
    for (const name of ['dfvfs_ext2.vhd', 'dfvfs_ext2.vmdk', 'ul_dos+bsd.img.xz', 'ul_squashfs3.img.xz',
      'e2fs_f_detect_xfs.img.bz2', 'btrfs_065-valid-log-tree_compressed.img.xz',
      'btrfs_067-dupe-filename_default.img.xz', 'btrfs_images_bko-155201-wrong-chunk-item-in-root-tree.raw.xz']) {
      expectClean(runNativeChild(copy(name)));
    }
  });
});
