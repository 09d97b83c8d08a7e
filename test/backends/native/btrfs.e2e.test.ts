/**
 * btrfs as Fedora and openSUSE ship it, read natively and through the appliance. guestfish makes two disks:
 *   1. a GPT disk (converted to qcow2) with a btrfs root: the subvolume `@` set as the default (openSUSE's layout), a
 *      nested `@/home` subvolume and a snapshot of it, the leaky sample tree written with zstd compression, files
 *      written with lzo and zlib compression (inline and regular extents), a sparse file and a preallocated one;
 *   2. a bare btrfs whose default subvolume `@` holds a nested subvolume and a snapshot of `@` (where the kernel shows
 *      an empty directory for the nested subvolume), next to a subvolume and files in the top level that the
 *      default subvolume does not reach; no root, so nothing mounts any of it.
 * Oracle: the kernel's btrfs driver through the guestfs backend; for disk 1 native and guestfs must agree on
 * filesystems, every entry and every finding, and `scan` (auto) must read it natively with the same findings. For
 * disk 2 both list the whole filesystem from its top level, the default subvolume and what it does not reach alike
 * (test/backends/btrfs-subvolumes.e2e.test.ts covers roots in subvolumes).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../../src/types.js';
import { hostleak, json, SAMPLES } from '../../helpers/cli.js';
import { expectSameSides, HOST_ARGS, readSide, type Side } from '../../helpers/differential.js';
import { requireTools } from '../../helpers/tools.js';

requireTools('guestfish', 'qemu-img', 'tar', 'btrfs', 'sfdisk', 'dd');

let tmp: string;
let raw: string;
let disk: string;
let second: string;
let native: Side;
let guestfs: Side;
let native2: Side;
let guestfs2: Side;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-btrfs-'));
  const tree = path.join(tmp, 'tree.tar');
  execFileSync('tar', ['-C', path.join(SAMPLES, 'leaky'), '-cf', tree, '.']);
  raw = path.join(tmp, 'btrfs.raw');
  second = path.join(tmp, 'second.btrfs');
  const remount = (opts: string, dev: string) => ['umount-all', `mount-options ${opts} ${dev} /`];
  const script = [
    `sparse ${raw} 400M`,
    `sparse ${second} 300M`,
    'run',
    // Disk 2: subvolume ids are given in creation order from 256.
    'mkfs btrfs /dev/sdb label:second',
    'mount /dev/sdb /',
    'btrfs-subvolume-create /@',
    'btrfs-subvolume-create /@/nested',
    'write /@/nested/file "in the nested subvolume\\n"',
    'btrfs-subvolume-snapshot /@ /@/snap',
    'btrfs-subvolume-create /other',
    'write /other/hidden "not under the default subvolume\\n"',
    'write /top-file "in the top level\\n"',
    'btrfs-subvolume-set-default 256 /',
    // Disk 1.
    'umount-all',
    'part-disk /dev/sda gpt',
    'mkfs btrfs /dev/sda1 label:root',
    'mount /dev/sda1 /',
    'btrfs-subvolume-create /@',
    'btrfs-subvolume-create /@/home',
    'btrfs-subvolume-set-default 256 /',
    ...remount('compress-force=zstd', '/dev/sda1'),
    `tar-in ${tree} /`,
    'rm-f /etc/fstab',
    'write /etc/fstab "LABEL=root / btrfs subvol=@,compress=zstd 0 0\\n"',
    'mkdir-p /srv/lzo',
    'mkdir-p /srv/zlib',
    `ln-s ${'/nix/store/' + 'x'.repeat(700)} /srv/long-link`,
    ...remount('compress-force=lzo', '/dev/sda1'),
    'fill-pattern "lzo pattern, " 300000 /srv/lzo/fill',
    `write /srv/lzo/small "${'a small lzo file, '.repeat(20)}"`,
    ...remount('compress-force=zlib', '/dev/sda1'),
    'fill-pattern "zlib pattern, " 300000 /srv/zlib/fill',
    `write /srv/zlib/small "${'a small zlib file, '.repeat(20)}"`,
    ...remount('compress=zstd', '/dev/sda1'),
    'touch /srv/sparse',
    'pwrite /srv/sparse "an island after a hole" 1000000',
    'fallocate64 /srv/prealloc 100000',
    'chown 1234 5678 /srv/zlib/fill',
    'chmod 04750 /srv/zlib/fill',
    'btrfs-subvolume-snapshot /home /home-snapshot',
    'umount-all',
  ].join('\n');
  execFileSync('guestfish', [], { input: script, env: { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }, stdio: ['pipe', 'ignore', 'pipe'] });
  disk = path.join(tmp, 'btrfs.qcow2');
  execFileSync('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  native = await readSide(disk, 'native', tmp);
  guestfs = await readSide(disk, 'guestfs', tmp);
  native2 = await readSide(second, 'native', tmp);
  guestfs2 = await readSide(second, 'guestfs', tmp);
}, 1_800_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('btrfs natively and through the appliance', () => {
  it('the disk has what the test is about: zstd, lzo and zlib extents, inline and regular, a default subvolume', () => {
    // btrfs inspect-internal on the partition, cut out where sfdisk says it starts.
    const start = JSON.parse(execFileSync('sfdisk', ['-J', raw], { encoding: 'utf8' })).partitiontable.partitions[0].start as number;
    const part = path.join(tmp, 'part.btrfs');
    execFileSync('dd', [`if=${raw}`, `of=${part}`, 'bs=512', `skip=${start}`, 'status=none', 'conv=sparse']);
    const dump = (t: string) => execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', t, part], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const fs = dump('256');
    for (const c of ['1 \\(zlib\\)', '2 \\(lzo\\)', '3 \\(zstd\\)']) {
      expect(fs).toMatch(new RegExp(`^\\s+extent compression ${c}`, 'm'));
      expect(fs).toMatch(new RegExp(`^\\s+inline extent data size \\d+ ram_bytes \\d+ compression ${c}`, 'm'));
    }
    expect(fs).toMatch(/type 2 \(prealloc\)/);
    expect(dump('root')).toMatch(/location key \(256 ROOT_ITEM \d+\) type DIR\n.*\n\s+name: default/);
  });

  it('native and guestfs agree on filesystems, entries (modes, owners, sizes, mtimes, targets) and findings', () => {
    expect(native.problems).toEqual([]);
    expectSameSides(native, guestfs);
    expect(native.filesystems.map((f) => [f.device, f.type, f.label, f.mountpoint])).toEqual([['/dev/sda1', 'btrfs', 'root', '/']]);
    expect(native.entries.length).toBeGreaterThan(100);
    expect(native.entries.find((e) => e.path === '/srv/zlib/fill')).toMatchObject({ mode: '4750', uid: 1234, gid: 5678, size: 300000 });
    expect(native.entries.filter((e) => e.path.startsWith('/home-snapshot/')).length).toBeGreaterThan(0);
    expect(native.findings.length).toBeGreaterThan(10);
  });

  it('scan (auto) reads the disk natively and reports what guestfs reports', () => {
    // --no-nested: the in-process audit above (readSide) does not open nested images either.
    const r = hostleak(['scan', disk, '--format', 'json', '--no-nested', ...HOST_ARGS]);
    const t = json<Report>(r).targets[0]!;
    expect([r.status, t.backend, t.status, t.error]).toEqual([1, 'native', 'ok', null]);
    expect(t.findings.map((f) => [f.ruleId, f.path])).toEqual(guestfs.findings.map((f) => [f.ruleId, f.path]));
  });

  it('a btrfs filesystem nothing mounts is audited whole, from its top level, as the kernel shows it there', () => {
    expect([native2.problems, guestfs2.problems]).toEqual([[], []]);
    expect(native2.filesystems).toEqual(guestfs2.filesystems);
    // Paths only: the kernel stamps the empty directory it shows for a subvolume left out of a snapshot with the time.
    expect(native2.entries.map((e) => e.path)).toEqual(guestfs2.entries.map((e) => e.path));
    expect(native2.entries.map((e) => e.path)).toEqual(
      ['/', '/@', '/@/nested', '/@/nested/file', '/@/snap', '/@/snap/nested', '/other', '/other/hidden', '/top-file'].map((p) => `/dev/sda:${p}`),
    );
  });
});
