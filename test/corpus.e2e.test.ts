/**
 * The public image corpus (test/fixtures/corpus, see its README): valid images are audited with status ok, broken ones
 * fail with exit 3 and a one-line reason, without hanging, while the other targets of the same run are audited.
 * A representative subset keeps the run short (every appliance launch costs seconds under TCG); targets are
 * batched into one CLI run per group.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { requireTools } from './helpers/tools.js';

const CORPUS = path.resolve('test', 'fixtures', 'corpus');
const CLI = path.resolve('dist/src/bin/hostleak.js');

// One of each container and filesystem family.
const VALID = [
  'dfvfs_ext2.vmdk',
  'dfvfs_ext2.vhd',
  'dfvfs_lvmtest.qcow2',
  'dfvfs_mbr.raw.gz',
  'e2fs_d_inline_dump.img.gz',
  'ul_btrfs.img.xz',
  'ul_xfs-v5.img.xz',
  'ul_squashfs4.img.xz',
  'ul_fat32_xp_label1.img.xz',
  'dfvfs_iso9660.raw',
];
// Broken on purpose; most are rejected before any appliance starts, two need one.
const BROKEN = [
  'e2fs_f_crashdisk.img.gz',
  'e2fs_f_detect_junk.img.bz2',
  'e2fs_f_zero_super.img.gz',
  'ul_ext4.img.xz',
  'ul_isosize_sample.iso.gz',
  'trivy_monolithicSparse.vmdk',
  'btrfs_images_bad-superblock-1.raw.xz',
  'e2fs_f_badroot.img.gz',
];

requireTools('guestfish', 'xz', 'gzip', 'bzip2');
const d = describe;

function scan(files: string[]) {
  const r = spawnSync(
    process.execPath,
    [CLI, 'scan', '--accel', 'tcg', '--format', 'json', '--timeout', '120', ...files.map((f) => path.join(CORPUS, f))],
    { encoding: 'utf8', timeout: 15 * 60 * 1000 },
  );
  return { code: r.status, report: JSON.parse(r.stdout), stderr: r.stderr };
}

d('corpus', () => {
  it(
    'audits the valid images with status ok',
    () => {
      const { code, report } = scan(VALID);
      const bad = report.targets.filter((t: { status: string }) => t.status !== 'ok');
      expect(bad).toEqual([]);
      expect(code === 0 || code === 1).toBe(true);
      const fs = (name: string) => report.targets.find((t: { target: string }) => t.target.endsWith(name)).filesystems;
      // LVM logical volumes and MBR logical partitions are reached.
      expect(fs('dfvfs_lvmtest.qcow2').map((f: { device: string }) => f.device)).toEqual([
        '/dev/vg_test/lv_test1',
        '/dev/vg_test/lv_test2',
      ]);
      expect(fs('dfvfs_mbr.raw.gz').map((f: { device: string }) => f.device)).toEqual(['/dev/sda1', '/dev/sda5']);
    },
    12 * 60 * 1000,
  );

  it(
    'fails the broken images with exit 3 and a one-line reason each',
    () => {
      const { code, report, stderr } = scan(BROKEN);
      expect(code).toBe(3);
      for (const t of report.targets) {
        expect([t.target, t.status]).not.toEqual([t.target, 'ok']);
        expect(t.error).toMatch(/\S/);
        expect(t.error).not.toContain('\n');
        expect(t.durationMs).toBeLessThan(120000);
      }
      expect(stderr).not.toMatch(/internal error|\n\s+at /);
    },
    12 * 60 * 1000,
  );
});
