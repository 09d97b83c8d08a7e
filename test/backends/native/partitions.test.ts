/**
 * Partition tables and qcow2 for the native reader: GPT and MBR (extended + logical) disks made with sfdisk, with
 * filesystems copied into their partitions; the same disks converted to qcow2 (v2, v3, zlib or zstd compressed,
 * extended L2 entries) must list identically. Oracles: sfdisk's JSON dump (start, size, name, uuid) and blkid on each partition.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource, probeNative } from '../../../src/backends/native/index.js';
import { TargetError } from '../../../src/errors.js';
import { buildInlineTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('sfdisk', 'mke2fs', 'mkfs.vfat', 'mcopy', 'qemu-img', 'qemu-io', 'blkid');
const d = describe;

let tmp: string;
let gptImg: string;
let mbrImg: string;
let extImg: string;
let fatImg: string;

interface SfdiskPart {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
}

function sfdiskDump(img: string): { id: string; partitions: SfdiskPart[] } {
  return JSON.parse(execFileSync('sfdisk', ['-J', img], { encoding: 'utf8' })).partitiontable;
}

function put(disk: string, startSector: number, fsImg: string): void {
  const data = readFileSync(fsImg);
  const fd = openSync(disk, 'r+');
  try {
    writeSync(fd, data, 0, data.length, startSector * 512);
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-parts-'));
  const tree = path.join(tmp, 'tree');
  buildInlineTree(tree);
  extImg = path.join(tmp, 'root.ext4');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'nixos', '-d', tree, extImg, '8M']);
  fatImg = path.join(tmp, 'esp.vfat');
  execFileSync('mkfs.vfat', ['-C', '-F', '16', '-n', 'ESP', fatImg, '16384'], { stdio: 'ignore' });
  writeFileSync(path.join(tmp, 'random-seed'), Buffer.alloc(32, 1));
  execFileSync('mmd', ['-i', fatImg, '::/loader']);
  execFileSync('mcopy', ['-i', fatImg, path.join(tmp, 'random-seed'), '::/loader/random-seed']);

  gptImg = path.join(tmp, 'gpt.raw');
  writeFileSync(gptImg, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '32M', gptImg]);
  execFileSync('sfdisk', ['-q', gptImg], {
    input:
      'label: gpt\n' +
      'start=2048, size=32768, type=uefi, name="disk-main-ESP"\n' +
      'start=34816, size=2048, type=linux, name="empty"\n' +
      'start=36864, size=16384, type=linux, name="disk-main-root"\n',
  });
  put(gptImg, 2048, fatImg);
  put(gptImg, 36864, extImg);

  mbrImg = path.join(tmp, 'mbr.raw');
  writeFileSync(mbrImg, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '64M', mbrImg]);
  execFileSync('sfdisk', ['-q', mbrImg], {
    input:
      'label: dos\nlabel-id: 0x1234abcd\n' +
      'start=2048, size=32768, type=c\n' +
      'start=34816, size=90112, type=5\n' +
      'start=36864, size=16384, type=83\n' +
      'start=55296, size=16384, type=83\n' +
      'start=73728, size=32768, type=c\n',
  });
  put(mbrImg, 2048, fatImg);
  put(mbrImg, 36864, extImg);
  put(mbrImg, 55296, extImg);
  put(mbrImg, 73728, fatImg);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function list(img: string) {
  const src = openNativeSource(img);
  try {
    const supported = await nativeSupports(src);
    const r = await listNativeFilesystems(src);
    // Read a file from every filesystem while the source is open.
    const reads = await Promise.all(
      r.views.map(async (v) => {
        const p = v.type === 'vfat' ? '/loader/random-seed' : '/d/tiny';
        const c = (await v.readFiles([p], 100)).get(p)!;
        if (c instanceof Error) throw c;
        return c.data.toString('hex');
      }),
    );
    return { ...r, supported, reads };
  } finally {
    src.close?.();
  }
}

function summary(views: Awaited<ReturnType<typeof list>>['views']) {
  return views.map((v) => ({
    device: v.device,
    type: v.type,
    label: v.label,
    partlabel: v.partlabel,
    partuuid: v.partuuid,
    entries: v.inventory.entries().map((e) => `${e.path} ${e.type} ${e.mode} ${e.uid} ${e.gid} ${e.size} ${e.mtime} ${e.target ?? ''} ${e.fs}`),
  }));
}

d('native partition tables and qcow2', () => {
  it('reads a GPT disk: names, GUIDs and filesystems per partition', async () => {
    const dump = sfdiskDump(gptImg);
    const r = await list(gptImg);
    expect(r.problems).toEqual([]);
    expect(r.supported).toBe(true);
    expect(r.views.map((v) => [v.device, v.type, v.label, v.partlabel, v.partuuid])).toEqual([
      ['/dev/sda1', 'vfat', 'ESP', 'disk-main-ESP', dump.partitions[0]!.uuid!.toLowerCase()],
      ['/dev/sda3', 'ext4', 'nixos', 'disk-main-root', dump.partitions[2]!.uuid!.toLowerCase()],
    ]);
    expect(r.views[1]!.inventory.get('/d/tiny')!.fs).toBe('/dev/sda3');
    expect(r.reads).toEqual([Buffer.alloc(32, 1).toString('hex'), Buffer.from('tiny').toString('hex')]);
    const probe = probeNative(openNativeSource(gptImg));
    expect(probe.table).toBe('gpt');
    expect(probe.devices.map((x) => [x.device, x.partition!.start / 512, x.partition!.size / 512, x.type])).toEqual(
      dump.partitions.map((p) => [p.node.replace(gptImg, '/dev/sda'), p.start, p.size, p.node.endsWith('2') ? null : p.node.endsWith('1') ? 'vfat' : 'ext4']),
    );
  });

  it('reads an MBR disk with an extended partition: primaries 1-4, logicals from 5', async () => {
    const r = await list(mbrImg);
    expect(r.problems).toEqual([]);
    expect(r.views.map((v) => [v.device, v.type, v.partlabel, v.partuuid])).toEqual([
      ['/dev/sda1', 'vfat', null, '1234abcd-01'],
      ['/dev/sda5', 'ext4', null, '1234abcd-05'],
      ['/dev/sda6', 'ext4', null, '1234abcd-06'],
      ['/dev/sda7', 'vfat', null, '1234abcd-07'],
    ]);
    // sfdisk names the same partitions.
    const dump = sfdiskDump(mbrImg);
    expect(dump.partitions.map((p) => p.node.slice(mbrImg.length))).toEqual(['1', '2', '5', '6', '7']);
    for (const v of r.views) {
      const p = dump.partitions.find((x) => x.node === mbrImg + v.device.slice('/dev/sda'.length))!;
      const b = execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', '-O', String(p.start * 512), mbrImg], { encoding: 'utf8' });
      expect(b.trim()).toBe(v.type);
    }
  });

  it.each([
    ['qcow2 v3', ['-o', 'compat=1.1']],
    ['qcow2 v2', ['-o', 'compat=0.10']],
    ['qcow2 v3 compressed', ['-c', '-o', 'compat=1.1']],
    ['qcow2 small clusters', ['-c', '-o', 'cluster_size=4096']],
    ['qcow2 zstd compressed', ['-c', '-o', 'compression_type=zstd']],
    ['qcow2 extended L2', ['-o', 'extended_l2=on']],
    ['qcow2 extended L2 zstd compressed', ['-c', '-o', 'extended_l2=on,compression_type=zstd,cluster_size=16384']],
  ])('%s lists exactly like the raw disk', async (_name, opts) => {
    const q = path.join(tmp, `disk-${opts.join('')}.qcow2`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...opts, gptImg, q]);
    const raw = await list(gptImg);
    const qc = await list(q);
    expect(qc.problems).toEqual([]);
    expect(summary(qc.views)).toEqual(summary(raw.views));
    expect(qc.reads).toEqual(raw.reads);
  });

  it('reads extended L2 subclusters as qemu does: allocated, zero and unallocated ones in one cluster', () => {
    // qemu-io writes and zeroes parts of 64 KiB clusters (2 KiB subclusters); a zeroed subcluster keeps its old
    // host bytes, so reading it as data would show 0xbb where qemu reads zeros.
    const q = path.join(tmp, 'subclusters.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=65536', q, '4M']);
    const writes = ['write -P 0xaa 2048 4096', 'write -P 0xbb 70000 100000', 'write -z 80000 8192', 'write -P 0xcc 1048576 65536', 'write -z 1060000 6000'];
    execFileSync('qemu-io', ['-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), q], { stdio: 'ignore' });
    const raw = path.join(tmp, 'subclusters.raw');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', q, raw]);
    const want = readFileSync(raw);
    const src = openNativeSource(q);
    expect(src.size).toBe(want.length);
    expect(src.read(0, src.size).equals(want)).toBe(true);
    // Reads that start and end inside subclusters.
    for (const [o, n] of [[2047, 2], [79999, 8194], [69000, 3000], [1059999, 6002]] as const) {
      expect(src.read(o, n).equals(want.subarray(o, o + n))).toBe(true);
    }
    expect(want.subarray(80000, 88192).every((b) => b === 0)).toBe(true);
  });

  it('refuses a qcow2 with a backing file, naming the reason, without opening it', async () => {
    const base = path.join(tmp, 'base.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', gptImg, base]);
    const overlay = path.join(tmp, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    expect(() => openNativeSource(overlay)).toThrow(TargetError);
    expect(() => openNativeSource(overlay)).toThrow(/backing file/);
  });

  it('refuses an encrypted qcow2', () => {
    const q = path.join(tmp, 'enc.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', extImg, q]);
    const b = readFileSync(q);
    b.writeUInt32BE(1, 32); // crypt_method = AES
    writeFileSync(q, b);
    expect(() => openNativeSource(q)).toThrow(/encrypted/);
  });

  it('a disk with no filesystem it knows gives no views; an unknown filesystem is a problem, not a crash', async () => {
    const blank = path.join(tmp, 'blank.raw');
    writeFileSync(blank, Buffer.alloc(1 << 20));
    const b = openNativeSource(blank);
    expect(await nativeSupports(b)).toBe(false);
    await expect(listNativeFilesystems(b)).rejects.toThrow(/no partition table or filesystem found/);
    b.close?.();
    const ntfsish = path.join(tmp, 'ntfs.raw');
    const buf = Buffer.alloc(1 << 20);
    buf.write('NTFS    ', 3, 'latin1');
    writeFileSync(ntfsish, buf);
    const src = openNativeSource(ntfsish);
    expect(await nativeSupports(src)).toBe(false);
    await expect(listNativeFilesystems(src)).rejects.toThrow(/ntfs is not supported/);
    src.close?.();
  });

  it('skips blank and BIOS boot partitions like libguestfs, and names a partition of unrecognised data', async () => {
    // GPT: 1 ext4, 2 blank, 3 BIOS boot with non-zero bytes (GRUB's core.img lives there), 4 unrecognised bytes.
    const img = path.join(tmp, 'mixed.raw');
    writeFileSync(img, Buffer.alloc(16 << 20));
    execFileSync('sfdisk', ['-q', img], {
      input:
        'label: gpt\nstart=2048, size=16384, type=linux, name="root"\nsize=2048, type=linux\n' +
        'size=2048, type=21686148-6449-6E6F-744E-656564454649\nsize=2048, type=linux\n',
    });
    put(img, 2048, extImg);
    const parts = sfdiskDump(img).partitions;
    const junk = Buffer.alloc(4096, 0x5a);
    const fd = openSync(img, 'r+');
    writeSync(fd, junk, 0, junk.length, parts[2]!.start * 512);
    writeSync(fd, junk, 0, junk.length, parts[3]!.start * 512);
    closeSync(fd);
    let src = openNativeSource(img);
    expect(probeNative(src).devices.map((dv) => [dv.device, dv.type, dv.unknownContent])).toEqual([
      ['/dev/sda1', 'ext4', false],
      ['/dev/sda2', null, false],
      ['/dev/sda3', null, false],
      ['/dev/sda4', null, true],
    ]);
    expect(await nativeSupports(src)).toBe(false); // /dev/sda4 may be a filesystem only libguestfs knows
    const r = await listNativeFilesystems(src);
    expect(r.views.map((v) => v.device)).toEqual(['/dev/sda1']);
    expect(r.problems).toEqual(['/dev/sda4: no filesystem the native reader recognises (try --backend guestfs)']);
    src.close?.();
    // Without the unrecognised partition, the native reader reads everything there is.
    const fd2 = openSync(img, 'r+');
    writeSync(fd2, Buffer.alloc(4096), 0, 4096, parts[3]!.start * 512);
    closeSync(fd2);
    src = openNativeSource(img);
    expect(await nativeSupports(src)).toBe(true);
    expect((await listNativeFilesystems(src)).problems).toEqual([]);
    src.close?.();
  });
});
