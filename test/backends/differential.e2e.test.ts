/**
 * Differential test, the native reader's oracle (issue 6): every sample disk image and every valid corpus image that
 * both backends read is opened with the native backend and with the guestfs backend (the Linux kernel's drivers in
 * the libguestfs appliance), and the two must agree on
 *   - the filesystems (device, type, label, mountpoint) and the problems (none, for these valid images);
 *   - the assembled inventory, entry by entry: path, type, mode, uid, gid, size, mtime, symlink target, filesystem;
 *   - the findings of all rules (rule, path, severity, message, evidence, filesystem).
 * Both sides go through the product's own code: openTarget (the inspection commands' opener, with pickBackend) and
 * auditImage (what `scan` runs per image). The built CLI is compared too (`scan --format json`, native vs guestfs
 * --accel tcg) on the images issue 6 names: leaky raw, qcow2 and zst.
 *
 * An appliance launch costs 10-40 s under TCG on this machine, so each image is opened once per backend, two
 * appliances at a time. The corpus is read-only: compressed files are decompressed into a temp dir.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../src/types.js';
import { BIN, SAMPLES } from '../helpers/cli.js';
import { expectSameSides, findingKey, HOST_ARGS, readSide, type Side } from '../helpers/differential.js';
import { requireTools } from '../helpers/tools.js';

const CORPUS = path.resolve('test', 'fixtures', 'corpus');

/** The sample disks, and the leaky one in every disk container (images-sample/build-disks.mjs CONTAINERS). */
const SAMPLE_IMAGES = [
  'leaky.raw',
  'leaky.qcow2',
  'clean.raw',
  'clean.qcow2',
  'leaky.raw.zst',
  'leaky.vhd',
  'leaky-fixed.vhd',
  'leaky.vhdx',
  'leaky.vmdk',
  'leaky-stream.vmdk',
  'leaky.vdi',
];
/** The leaky tree as the read-only filesystems images ship (images-sample/build-fs.mjs); the appliance kernel reads them all. */
const FS_IMAGES = ['leaky.iso', 'leaky.squashfs-xz', 'leaky.squashfs-zstd', 'leaky.erofs-lz4'];
/**
 * The valid corpus images both backends read (ext2/3/4, vfat, GPT, MBR with logicals, qcow2 v2/v3, vmdk, vhd,
 * squashfs, iso9660). Left out: btrfs, LVM and xfs (their own e2e tests make disks with guestfish and compare the
 * same way: native/btrfs.e2e, native/lvm.e2e, native/xfs.e2e), and the damaged ones
 * (test/backends/native/corpus.test.ts).
 */
const CORPUS_IMAGES = [
  'dfvfs_ext2.vmdk',
  'dfvfs_ext2.vhd',
  'ul_squashfs4.img.xz',
  'ul_iso-rr-joliet.img.xz',
  'dfvfs_iso9660.raw',
  'dfvfs_ext2.raw.gz',
  'dfvfs_ext2.qcow2',
  'dfvfs_image.qcow2',
  'dfvfs_imynd.dd',
  'dfvfs_mbr.raw.gz',
  'dfvfs_tsk_volume_system.raw',
  'e2fs_d_inline_dump.img.gz',
  'e2fs_f_hurd.img.gz',
  'e2fs_f_selinux.img.gz',
  'ul_fat32_xp_label1.img.xz',
  'ul_small-fat32.img.xz',
  'ul_gpt.img.xz',
];
/** Images whose findings are also compared through the built CLI (issue 6: "native and guestfs give the same findings"). */
const CLI_IMAGES = ['leaky.raw', 'leaky.qcow2', 'leaky.raw.zst'];

requireTools('guestfish', 'qemu-img', 'zstd', 'gzip', 'xz');
const d = describe;

let tmp: string;
const images: Array<{ name: string; file: string }> = [];
const results = new Map<string, { native: Side | Error; guestfs: Side | Error }>();

/** Run `fn` over `items`, at most `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let it = queue.shift(); it !== undefined; it = queue.shift()) await fn(it);
    }),
  );
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', LIBGUESTFS_CACHEDIR: process.env.LIBGUESTFS_CACHEDIR ?? process.env.TMPDIR ?? '/var/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-differential-'));
  for (const f of [...SAMPLE_IMAGES, ...FS_IMAGES]) images.push({ name: f, file: path.join(SAMPLES, f) });
  for (const name of CORPUS_IMAGES) {
    const src = path.join(CORPUS, name);
    const out = path.join(tmp, name.replace(/\.(gz|xz)$/, ''));
    const tool = name.endsWith('.gz') ? 'gzip' : name.endsWith('.xz') ? 'xz' : null;
    if (tool) writeFileSync(out, execFileSync(tool, ['-dc', src], { maxBuffer: 1 << 30 }));
    else copyFileSync(src, out);
    images.push({ name, file: out });
  }
  await pool(images, 2, async ({ name, file }) => {
    const [native, guestfs] = await Promise.all(
      (['native', 'guestfs'] as const).map((b) => readSide(file, b, tmp).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))),
    );
    results.set(name, { native: native!, guestfs: guestfs! });
  });
}, 1_800_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

d('native and guestfs backends agree', () => {
  const all = [...SAMPLE_IMAGES, ...FS_IMAGES, ...CORPUS_IMAGES];

  it.each(all)('%s: same filesystems, inventory entry by entry, and findings', (name) => {
    const r = results.get(name)!;
    expect(r).toBeDefined();
    if (r.native instanceof Error) throw r.native;
    if (r.guestfs instanceof Error) throw r.guestfs;
    expect(r.native.problems).toEqual([]);
    expectSameSides(r.native, r.guestfs);
  });

  it('compared real content: the images are not all empty, the leaky ones have findings, vfat and ext both seen', () => {
    const sides = [...results.values()].map((r) => r.native).filter((s): s is Side => !(s instanceof Error));
    expect(sides.length).toBe(all.length);
    const leaky = results.get('leaky.raw')!.native as Side;
    expect(leaky.entries.length).toBeGreaterThan(80);
    expect(leaky.entries.filter((e) => e.type === 'symlink').length).toBeGreaterThan(5);
    expect(new Set(leaky.findings.map((f) => f.ruleId)).size).toBeGreaterThan(10);
    expect(leaky.filesystems.map((f) => f.type)).toEqual(['vfat', 'ext4']);
    expect((results.get('clean.raw')!.native as Side).findings).toEqual([]);
    const mbr = results.get('dfvfs_mbr.raw.gz')!.native as Side;
    expect(mbr.filesystems.map((f) => f.device)).toEqual(['/dev/sda1', '/dev/sda5']);
    expect(sides.flatMap((s) => s.filesystems.map((f) => f.type))).toEqual(
      expect.arrayContaining(['ext2', 'ext4', 'vfat', 'iso9660', 'squashfs', 'erofs']),
    );
    for (const f of FS_IMAGES) {
      const s = results.get(f)!.native as Side;
      expect(s.findings.map((x) => x.ruleId)).toEqual(expect.arrayContaining(['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink']));
    }
  });

  it('the built CLI gives the same JSON findings and filesystems with --backend native and --backend guestfs', async () => {
    const targets = CLI_IMAGES.map((f) => path.join(SAMPLES, f));
    // --no-nested: the in-process side above opens the images alone, as the backends hand them over.
    const common = ['scan', '--format', 'json', '--no-nested', ...HOST_ARGS, ...targets];
    const [native, guestfs] = await Promise.all([
      runCli([...common, '--backend', 'native']),
      runCli([...common, '--backend', 'guestfs', '--accel', 'tcg']),
    ]);
    for (const r of [native, guestfs]) {
      expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
      expect(r.code).toBe(1); // error findings
    }
    const a = JSON.parse(native.stdout) as Report;
    const b = JSON.parse(guestfs.stdout) as Report;
    expect(a.targets.map((t) => [t.target, t.status, t.backend])).toEqual(targets.map((t) => [t, 'ok', 'native']));
    expect(b.targets.map((t) => [t.target, t.status, t.backend])).toEqual(targets.map((t) => [t, 'ok', 'guestfs']));
    for (const [i, t] of a.targets.entries()) {
      const u = b.targets[i]!;
      expect(t.filesystems).toEqual(u.filesystems);
      expect(t.findings.length).toBeGreaterThan(10);
      expect(t.findings.map(findingKey)).toEqual(u.findings.map(findingKey));
      // The in-process audit above saw exactly what the CLI reports.
      const inProcess = results.get(path.basename(t.target))!.native as Side;
      expect(t.findings.map(findingKey)).toEqual(inProcess.findings);
    }
  }, 900_000);
});
