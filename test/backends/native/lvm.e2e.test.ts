/**
 * LVM2 and LUKS for the native reader, on disks made by the real tools:
 *   - guestfish (lvm in the appliance) makes a GPT disk with an ext4 /boot and a volume group over two PVs holding a
 *     linear root LV (the leaky sample tree, an fstab naming /dev/mapper/vg0-root and /dev/vg0/data), a data LV
 *     striped over both PVs, a swap LV; and a second disk whose only LV is a thin volume in a thin pool;
 *   - cryptsetup luksFormat makes a LUKS volume (a partition of a GPT disk next to ext4, and a whole disk).
 * Oracles: the kernel's view through the guestfs backend (native and guestfs agree entry by entry and finding by
 * finding, on the made disk and on the corpus LVM image), the bytes that were uploaded, and `scan` exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource, probeNative } from '../../../src/backends/native/index.js';
import type { Report } from '../../../src/types.js';
import { hostleak, json, SAMPLES } from '../../helpers/cli.js';
import { expectSameSides, HOST_ARGS, readSide, type Side } from '../../helpers/differential.js';
import { requireTools } from '../../helpers/tools.js';

requireTools('guestfish', 'cryptsetup', 'mke2fs', 'sfdisk', 'tar', 'qemu-img');

let tmp: string;
let lvmDisk: string;
let thinDisk: string;
let big: Buffer;
const sides = new Map<string, { native: Side; guestfs: Side }>();

/** 3 MiB that compress to nothing and repeat nowhere (so a wrong stripe order shows). */
function pattern(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i * 32 < n; i++) createHash('sha256').update(String(i)).digest().copy(out, i * 32);
  return out;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-lvm-'));
  const tree = path.join(tmp, 'tree.tar');
  execFileSync('tar', ['-C', path.join(SAMPLES, 'leaky'), '-cf', tree, '.']);
  big = pattern(3 * 1024 * 1024);
  writeFileSync(path.join(tmp, 'big.bin'), big);
  lvmDisk = path.join(tmp, 'lvm.raw');
  thinDisk = path.join(tmp, 'thin.raw');
  const fstab = [
    '/dev/mapper/vg0-root / ext4 defaults 0 1',
    'LABEL=boot /boot ext4 defaults 0 2',
    '/dev/vg0/data /data ext4 defaults 0 2',
    '/dev/mapper/vg0-swap none swap defaults 0 0',
  ].join('\\n');
  const script = [
    `sparse ${lvmDisk} 96M`,
    `sparse ${thinDisk} 40M`,
    'run',
    'part-init /dev/sda gpt',
    'part-add /dev/sda p 2048 34815',
    'part-add /dev/sda p 34816 104447',
    'part-add /dev/sda p 104448 174079',
    'pvcreate /dev/sda2',
    'pvcreate /dev/sda3',
    'vgcreate vg0 "/dev/sda2 /dev/sda3"',
    'lvcreate root vg0 24',
    'debug sh "lvm lvcreate -q -y -i 2 -I 64k -L 16M -n data vg0"',
    'lvcreate swap vg0 8',
    'mkfs ext4 /dev/sda1 label:boot',
    'mkfs ext4 /dev/vg0/root',
    'mkfs ext4 /dev/vg0/data',
    'mkswap /dev/vg0/swap',
    'mount /dev/vg0/root /',
    `tar-in ${tree} /`,
    'rm-f /etc/fstab',
    `write /etc/fstab "${fstab}\\n"`,
    'mkdir-p /data',
    'mount /dev/sda1 /boot',
    'write /boot/grub.cfg "set root=lvm/vg0-root\\n"',
    'mount /dev/vg0/data /data',
    `upload ${path.join(tmp, 'big.bin')} /data/big.bin`,
    'umount-all',
    'pvcreate /dev/sdb',
    'vgcreate vgthin /dev/sdb',
    'debug sh "lvm lvcreate -q -y --type thin-pool -L 16M -n pool vgthin"',
    'debug sh "lvm lvcreate -q -y -V 32M --thinpool vgthin/pool -n thin"',
    'mkfs ext4 /dev/vgthin/thin',
  ].join('\n');
  execFileSync('guestfish', [], { input: script, env: { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }, stdio: ['pipe', 'ignore', 'pipe'] });
  const corpus = path.join(tmp, 'dfvfs_lvmtest.qcow2');
  copyFileSync(path.resolve('test', 'fixtures', 'corpus', 'dfvfs_lvmtest.qcow2'), corpus);
  for (const [name, file] of [['lvm.raw', lvmDisk], ['dfvfs_lvmtest.qcow2', corpus]] as const) {
    sides.set(name, { native: await readSide(file, 'native', tmp), guestfs: await readSide(file, 'guestfs', tmp) });
  }
}, 1_800_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('LVM2 natively', () => {
  it('finds the logical volumes of a VG over two PVs: linear, striped, swap', async () => {
    const src = openNativeSource(lvmDisk);
    const probe = probeNative(src);
    expect(probe.devices.map((d) => [d.device, d.type, d.supported])).toEqual([
      ['/dev/sda1', 'ext4', true],
      ['/dev/sda2', 'LVM2_member', true],
      ['/dev/sda3', 'LVM2_member', true],
      ['/dev/vg0/data', 'ext4', true],
      ['/dev/vg0/root', 'ext4', true],
      ['/dev/vg0/swap', 'swap', true],
    ]);
    expect(await nativeSupports(src)).toBe(true);
    // lvm really striped the data LV (its metadata, as lvm wrote it, in the PV's metadata area).
    expect(readFileSync(lvmDisk).toString('latin1')).toMatch(/data \{[^}]*segment1 \{[^}]*stripe_count = 2/);
    const { views, problems } = await listNativeFilesystems(src);
    expect(problems).toEqual([]);
    const data = views.find((v) => v.device === '/dev/vg0/data')!;
    const got = (await data.readFiles(['/big.bin'], 8 << 20)).get('/big.bin');
    expect(got).not.toBeInstanceOf(Error);
    expect((got as { data: Buffer }).data.equals(big)).toBe(true);
  });

  it.each(['lvm.raw', 'dfvfs_lvmtest.qcow2'])('%s: native and guestfs agree on filesystems, entries and findings', (name) => {
    const s = sides.get(name)!;
    expect(s.native.problems).toEqual([]);
    expectSameSides(s.native, s.guestfs);
    expect(s.native.entries.length).toBeGreaterThan(name === 'lvm.raw' ? 80 : 5);
  });

  it('assembles the root as fstab says: /dev/mapper/vg0-root at /, LABEL=boot at /boot, /dev/vg0/data at /data', () => {
    const s = sides.get('lvm.raw')!.native;
    expect(s.filesystems.map((f) => [f.device, f.mountpoint])).toEqual([
      ['/dev/sda1', '/boot'],
      ['/dev/vg0/data', '/data'],
      ['/dev/vg0/root', '/'],
    ]);
    expect(s.entries.find((e) => e.path === '/data/big.bin')?.fs).toBe('/dev/vg0/data');
    expect(s.findings.map((f) => f.ruleId)).toEqual(expect.arrayContaining(['orphaned-home', 'dangling-channel-symlink']));
  });

  it('scan (auto) reads the LVM disk natively with the findings guestfs gives', () => {
    // --no-nested: the in-process audit above (readSide) does not open nested images either.
    const r = hostleak(['scan', lvmDisk, '--format', 'json', '--no-nested', ...HOST_ARGS]);
    const t = json<Report>(r).targets[0]!;
    expect([r.status, t.backend, t.status, t.error]).toEqual([1, 'native', 'ok', null]);
    expect(t.findings.map((f) => [f.ruleId, f.path])).toEqual(sides.get('lvm.raw')!.guestfs.findings.map((f) => [f.ruleId, f.path]));
  });

  it('a thin volume is refused by name natively, so auto leaves the disk to libguestfs', async () => {
    const src = openNativeSource(thinDisk);
    expect(await nativeSupports(src)).toBe(false);
    const r = hostleak(['scan', thinDisk, '--backend', 'native', '--format', 'json']);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/\/dev\/vgthin\/(pool|thin): logical volume with "thin(-pool)?" segments is not read natively/);
  });

  it('damaged VG metadata text is a one-line problem; the other filesystems of the disk are still read', async () => {
    // Damage the VG text in both PVs' metadata areas: a clean, one-line problem per PV, never a crash.
    const b = readFileSync(lvmDisk);
    let n = 0;
    for (let at = b.indexOf('physical_volumes {'); at >= 0; at = b.indexOf('physical_volumes {', at + 1)) {
      b.write('physical_volumes @', at, 'latin1');
      n++;
    }
    expect(n).toBeGreaterThan(1);
    const bad = path.join(tmp, 'bad.raw');
    writeFileSync(bad, b);
    const { views, problems } = await listNativeFilesystems(openNativeSource(bad));
    expect(views.map((v) => v.device)).toEqual(['/dev/sda1']);
    expect(problems.join('\n')).toMatch(/LVM2 metadata: expected = or \{/);
  });
});

describe('LUKS natively', () => {
  let luks: string;
  beforeAll(() => {
    luks = path.join(tmp, 'luks.img');
    writeFileSync(luks, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '18M', luks]);
    execFileSync('cryptsetup', ['luksFormat', '-q', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', '-', luks], {
      input: 'not-a-real-key',
    });
  });

  it('a whole-disk LUKS volume: exit 3, "encrypted, not audited", natively under auto (no appliance)', () => {
    const r = hostleak(['scan', luks, '--format', 'json']);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/\/dev\/sda: encrypted \(LUKS\), not audited/);
    expect(r.stderr).not.toMatch(/appliance|launch|qemu/i);
  });

  it('a LUKS partition next to ext4: the ext4 is audited, the target is partial and names the LUKS partition', () => {
    const disk = path.join(tmp, 'luks-gpt.raw');
    writeFileSync(disk, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '48M', disk]);
    execFileSync('sfdisk', ['-q', disk], { input: 'label: gpt\nstart=2048, size=40960\nstart=43008, size=36864\n' });
    const ext = path.join(tmp, 'root.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', path.join(SAMPLES, 'leaky'), ext, '20M']);
    const fd = openSync(disk, 'r+');
    try {
      const e = readFileSync(ext);
      writeSync(fd, e, 0, e.length, 2048 * 512);
      const l = readFileSync(luks);
      writeSync(fd, l, 0, l.length, 43008 * 512);
    } finally {
      closeSync(fd);
    }
    const r = hostleak(['scan', disk, '--format', 'json', ...HOST_ARGS]);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets[0]!;
    expect([t.backend, t.status]).toEqual(['native', 'partial']);
    expect(t.error).toMatch(/\/dev\/sda2: encrypted \(LUKS\), not audited/);
    expect(t.findings.map((f) => f.ruleId)).toEqual(expect.arrayContaining(['orphaned-home']));
  });
});
