/**
 * Part 1, reader by reader (below), and part 2, whole targets (at the end: scripts/fuzz.mjs, the adversarial harness
 * that `npm run fuzz` runs for longer).
 *
 * Seeded, bounded fuzzing of the native reader: byte mutations of small ext4, vfat, qcow2 (zlib; zstd and extended L2),
 * LVM2, xfs, btrfs, squashfs, iso9660 and erofs images and of
 * an ext4 image in each disk container (VHD dynamic and fixed, VHDX clean and with a log to replay, VMDK sparse and
 * stream-optimized, VDI), mostly in each format's metadata (the windows below), some anywhere. In strict mode every
 * case must return or throw one of our errors; a
 * RangeError, TypeError or a hang is a reader bug. Runs in a child process (the reader is synchronous), so a hang
 * is caught by the child's timeout and the last case started names the seed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NATIVE_DIST } from '../../helpers/native-child.js';
import { buildInlineTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';
import { vhdxLayout, writeDirtyLog } from '../../helpers/vhdx-log.js';
import { protofile } from '../../helpers/xfs-proto.js';

requireTool('mke2fs', 'mkfs.vfat', 'mcopy', 'qemu-img', 'mksquashfs', 'xorriso', 'genisoimage', 'mkfs.erofs', 'mkfs.xfs', 'mkfs.btrfs');
const d = describe;

const CASES = 200;

const CHILD = `
const [dist, img, kind, casesArg, seedArg, hotArg] = process.argv.slice(1);
const m = await import(dist);
const fs = await import('node:fs');
const { crc32c } = await import(new URL('./vhdx.js', 'file://' + dist).href);
// btrfs checksums every superblock and tree node: a mutation there would only reach the checksum check, so the
// btrfs cases checksum the mutated superblock and nodes again (a node: a node-size block with the filesystem's id).
const fixBtrfs = (buf) => {
  const sb = buf.subarray(0x10000, 0x11000);
  const nodeSize = sb.readUInt32LE(0x94);
  if (nodeSize >= 4096 && nodeSize <= 65536) {
    const fsid = sb.subarray(0x20, 0x30);
    for (let at = 0; at + nodeSize <= buf.length; at += 4096) {
      if (at !== 0x10000 && buf.subarray(at + 0x20, at + 0x30).equals(fsid)) buf.writeUInt32LE(crc32c(buf, at + 0x20, at + nodeSize), at);
    }
  }
  sb.writeUInt32LE(crc32c(sb, 0x20), 0);
};
m.setStrict(true);
const base = fs.readFileSync(img);
let s = Number(seedArg) >>> 0;
const rnd = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const ours = new Set(['TargetError', 'CorruptImageError', 'UnsupportedImageError']);
const counts = { ok: 0, partial: 0, error: 0 };
const bugs = [];
for (let i = 0; i < Number(casesArg); i++) {
  const buf = Buffer.from(base);
  const n = 1 + Math.floor(rnd() * 16);
  // Metadata windows [start, length] (negative start: from the end).
  const hot = JSON.parse(hotArg).map(([a, l]) => { const s = a < 0 ? buf.length + a : a; return [s, Math.min(l, buf.length - s)]; });
  for (let k = 0; k < n; k++) {
    const w = hot.length === 1 ? hot[0] : hot[Math.floor(rnd() * hot.length)];
    const r0 = rnd();
    const at = rnd() < 0.8 ? Math.min(buf.length - 1, w[0] + Math.floor(r0 * w[1])) : Math.floor(r0 * buf.length);
    const r = rnd();
    buf[at] = r < 0.3 ? 0 : r < 0.5 ? 0xff : Math.floor(rnd() * 256);
  }
  if (kind === 'btrfs') fixBtrfs(buf);
  process.stderr.write('case ' + i + '\\n');
  try {
    const file = new m.BufferSource(buf);
    const Container = { qcow2: m.Qcow2Source, 'qcow2-l2': m.Qcow2Source, 'qcow2-zstd-l2': m.Qcow2Source, vhd: m.VhdSource, 'vhd-fixed': m.VhdSource, vhdx: m.VhdxSource, 'vhdx-log': m.VhdxSource,
      vmdk: m.VmdkSource, 'vmdk-stream': m.VmdkSource, vdi: m.VdiSource }[kind];
    const src = Container ? new Container(file) : file;
    await m.nativeSupports(src);
    const { views, problems } = await m.listNativeFilesystems(src);
    for (const v of views) {
      const files = v.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path);
      for (const [p, c] of await v.readFiles(files, 65536)) {
        if (c instanceof Error && !ours.has(c.name) && !/no such file|not a regular file/.test(c.message)) bugs.push({ i, p, name: c.name, message: c.message });
      }
      // The same files as random-access sources (how a nested image is read).
      for (const p of files.slice(0, 8)) {
        try {
          const s = v.openFile?.(p);
          if (s) s.read(0, Math.min(s.size, 65536));
        } catch (c) {
          if (!ours.has(c?.name)) bugs.push({ i, p, name: c?.name, message: String(c?.message ?? c), open: true });
        }
      }
    }
    counts[problems.length ? 'partial' : 'ok']++;
  } catch (e) {
    if (ours.has(e?.name) && !String(e.message).includes('\\n')) counts.error++;
    else bugs.push({ i, name: e?.name, message: String(e?.message ?? e), stack: String(e?.stack ?? '').split('\\n').slice(0, 4).join(' | ') });
  }
}
process.stdout.write(JSON.stringify({ counts, bugs, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
`;

let tmp: string;
const images: Record<string, string> = {};
/** Where each image's metadata lives: [start, length] windows (a negative start counts from the end). */
const hot: Record<string, Array<[number, number]>> = {
  ext4: [[0, 65536]],
  ext2: [[0, 65536]],
  vfat: [[0, 16384]],
  qcow2: [[0, 4096]],
};
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-fuzz-'));
  const tree = path.join(tmp, 'tree');
  buildInlineTree(tree);
  mkdirSync(path.join(tree, 'more'));
  for (let i = 0; i < 40; i++) writeFileSync(path.join(tree, 'more', `f${i}`), 'x'.repeat(i * 100));
  images.ext4 = path.join(tmp, 'ext4.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-N', '128', '-d', tree, images.ext4, '2M']);
  images.ext2 = path.join(tmp, 'ext2.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '1024', '-N', '128', '-d', tree, images.ext2, '2M']);
  images.vfat = path.join(tmp, 'vfat.img');
  execFileSync('mkfs.vfat', ['-C', '-F', '12', images.vfat, '1024'], { stdio: 'ignore' });
  execFileSync('sh', ['-c', `cd "${tree}" && mcopy -s -i "${images.vfat}" more d/sub ::/`]);
  images.qcow2 = path.join(tmp, 'disk.qcow2');
  execFileSync('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', images.ext4, images.qcow2]);
  const convert = (kind: string, format: string, options: string) => {
    images[kind] = path.join(tmp, `${kind}.img`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(options ? ['-o', options] : []), images.ext4, images[kind]!]);
  };
  // Extended L2 entries (subcluster bitmaps), plain and with zstd-compressed clusters: header, tables, then data.
  images['qcow2-l2'] = path.join(tmp, 'disk-l2.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=16384', images.ext4, images['qcow2-l2']]);
  hot['qcow2-l2'] = [[0, 6 * 16384]];
  images['qcow2-zstd-l2'] = path.join(tmp, 'disk-zstd-l2.qcow2');
  execFileSync('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'extended_l2=on,compression_type=zstd,cluster_size=16384', images.ext4, images['qcow2-zstd-l2']]);
  hot['qcow2-zstd-l2'] = [[0, 4 * 16384], [0, Number.MAX_SAFE_INTEGER]];
  // xfs (v5): a 16 MiB filesystem (mkfs.xfs allows less than 300 MiB when the fstests variables are set); its
  // allocation group headers in the first sectors, the first inode chunk at 64 KiB, directory blocks after it.
  images.xfs = path.join(tmp, 'xfs.img');
  writeFileSync(images.xfs, Buffer.alloc(16 << 20));
  writeFileSync(path.join(tmp, 'xfs.proto'), protofile(tree));
  execFileSync('mkfs.xfs', ['-q', '-f', '-p', path.join(tmp, 'xfs.proto'), images.xfs], {
    env: { ...process.env, TEST_DIR: tmp, TEST_DEV: images.xfs, QA_CHECK_FS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  hot.xfs = [[0, 2048], [65536, 32768], [98304, 65536]];
  // btrfs (single metadata, shrunk to what it holds): the superblock and every tree node (found by the filesystem's
  // id in their headers), whose checksums the child fixes after mutating them.
  images.btrfs = path.join(tmp, 'btrfs.img');
  writeFileSync(images.btrfs, Buffer.alloc(16 << 20));
  execFileSync('mkfs.btrfs', ['-q', '-f', '-m', 'single', '--shrink', '-r', tree, images.btrfs], { stdio: ['ignore', 'ignore', 'pipe'] });
  const bt = readFileSync(images.btrfs);
  const fsid = bt.subarray(0x10020, 0x10030);
  hot.btrfs = [[0x10000, 4096]];
  for (let at = 0; at + 4096 <= bt.length; at += 4096) if (at !== 0x10000 && bt.subarray(at + 0x20, at + 0x30).equals(fsid)) hot.btrfs.push([at, bt.readUInt32LE(0x10094)]);
  // LVM2: the corpus volume group (two linear LVs of ext2); the PV label sector and the metadata area.
  images.lvm = path.join(tmp, 'lvm.raw');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path.resolve('test', 'fixtures', 'corpus', 'dfvfs_lvmtest.qcow2'), images.lvm]);
  hot.lvm = [[512, 512], [4096, 65536]];
  convert('vhd', 'vpc', 'subformat=dynamic');
  hot.vhd = [[0, 4096], [-512, 512]];
  convert('vhd-fixed', 'vpc', 'subformat=fixed');
  hot['vhd-fixed'] = [[-512, 512], [0, 4096]];
  convert('vhdx', 'vhdx', 'block_size=1M');
  const vx = vhdxLayout(images.vhdx!);
  hot.vhdx = [[0, 320 * 1024], [vx.metadata, 65536 + 512], [vx.bat, 64]];
  convert('vhdx-log', 'vhdx', 'block_size=1M');
  writeDirtyLog(images['vhdx-log']!, vx.firstBlock, Buffer.alloc(4096, 7));
  hot['vhdx-log'] = [[vx.log, 8192], [vx.metadata, 65536 + 512], [vx.bat, 64]];
  convert('vmdk', 'vmdk', 'subformat=monolithicSparse');
  // The header, the grain directory and the first grain table (the only metadata a 2 MiB disk has).
  const vm = readFileSync(images.vmdk!);
  const gd = Number(vm.readBigUInt64LE(56)) * 512;
  hot.vmdk = [[0, 80], [gd, 16], [vm.readUInt32LE(gd) * 512, 4 * 32]];
  convert('vmdk-stream', 'vmdk', 'subformat=streamOptimized');
  hot['vmdk-stream'] = [[0, 4096], [-8192, 8192]];
  convert('vdi', 'vdi', '');
  hot.vdi = [[0, 4096]];
  images.iso9660 = path.join(tmp, 'rr.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', images.iso9660, tree], { stdio: 'ignore' });
  images.joliet = path.join(tmp, 'joliet.iso');
  execFileSync('genisoimage', ['-quiet', '-input-charset', 'utf-8', '-J', '-o', images.joliet, tree], { stdio: 'ignore' });
  // An ISO's volume descriptors, path tables and directories follow the 32 KiB system area.
  hot.iso9660 = [[32768, 65536]];
  // A compressible file spanning many clusters, so erofs and squashfs compress something.
  writeFileSync(path.join(tree, 'more', 'big.txt'), 'hello nix store\n'.repeat(3000));
  for (const [kind, args] of [['erofs', []], ['erofs-lz4', ['-zlz4hc']], ['erofs-legacy', ['-zlz4', '-Elegacy-compress']], ['erofs-big', ['-zlz4hc', '-C16384', '-Eztailpacking']]] as const) {
    images[kind] = path.join(tmp, `${kind}.img`);
    execFileSync('mkfs.erofs', ['--quiet', ...args, images[kind]!, tree], { stdio: 'ignore' });
    hot[kind] = [[1024, 128], [0, Number.MAX_SAFE_INTEGER]];
  }
  hot.joliet = [[32768, 65536]];
  for (const codec of ['gzip', 'xz', 'zstd', 'lz4']) {
    // squashfs keeps its tables at the end, after the data: mutate anywhere.
    hot[`squashfs-${codec}`] = [[0, Number.MAX_SAFE_INTEGER]];
    images[`squashfs-${codec}`] = path.join(tmp, `${codec}.sqfs`);
    execFileSync('mksquashfs', [tree, images[`squashfs-${codec}`]!, '-comp', codec, '-b', '4096', '-noappend', '-quiet', '-no-progress'], { stdio: 'ignore' });
  }
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

d('native reader fuzzing', () => {
  it.each([
    ['ext4', 1],
    ['ext2', 2],
    ['vfat', 3],
    ['qcow2', 4],
    ['qcow2-l2', 23],
    ['qcow2-zstd-l2', 24],
    ['lvm', 25],
    ['xfs', 26],
    ['btrfs', 27],
    ['vhd', 16],
    ['vhd-fixed', 17],
    ['vhdx', 18],
    ['vhdx-log', 19],
    ['vmdk', 20],
    ['vmdk-stream', 21],
    ['vdi', 22],
    ['squashfs-gzip', 5],
    ['squashfs-xz', 6],
    ['squashfs-zstd', 7],
    ['squashfs-lz4', 8],
    ['iso9660', 9],
    ['joliet', 10],
    ['erofs', 11],
    ['erofs-lz4', 12],
    ['erofs-legacy', 13],
    ['erofs-big', 14],
  ])('%s: %i-seeded mutations return or throw our errors, never hang', (kind, seed) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, NATIVE_DIST, images[kind]!, kind, String(CASES), String(seed), JSON.stringify(hot[kind])], {
      encoding: 'utf8',
      timeout: 120000,
      maxBuffer: 1 << 26,
    });
    const last = r.stderr.trim().split('\n').filter((l) => l.startsWith('case ')).pop();
    expect({ status: r.status, signal: r.signal, last: r.status === 0 ? undefined : last, err: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({
      status: 0,
      signal: null,
      last: undefined,
      err: '',
    });
    const out = JSON.parse(r.stdout) as { counts: Record<string, number>; bugs: unknown[]; maxRssMiB: number };
    expect(out.bugs).toEqual([]);
    // Bounded memory: the reader's tables and caches are capped, whatever the headers claim.
    expect(out.maxRssMiB).toBeLessThan(512);
    expect(out.counts.ok + out.counts.partial + out.counts.error).toBe(CASES);
    // The mutations must actually reach the reader's error paths, and some images must still read.
    expect(out.counts.error + out.counts.partial).toBeGreaterThan(0);
    expect(out.counts.ok + out.counts.partial).toBeGreaterThan(0);
  });
});

/*
 * Part 2: every reader and resolver through the CLI's entry point (scripts/fuzz.mjs): GPT, MBR, ext4, vfat, squashfs,
 * erofs, iso9660, qcow2, VMDK (sparse and stream), VHD, VHDX, VDI, LVM2, tar (GNU, PAX, of images), tar.gz/xz/zst, OCI and
 * docker archives. Each case must finish within its deadline, stay under the RSS budget, print no stack trace, give
 * exit 0/1/3 with a JSON report, open nothing outside the target, and never say "ok" when a read of the target failed
 * (fast-check picks which read fails). The regression fixtures (test/fixtures/fuzz/) are what earlier runs found.
 */
interface FuzzRun {
  bugs: Array<Record<string, unknown>>;
  childFailures: Array<Record<string, unknown>>;
  counts: { ok: number; partial: number; failed: number; usage: number };
  maxRssMiB: number;
  seeds: Array<{ kind: string; reads: number }>;
}
interface Harness {
  runFuzz(o: { kinds?: string[]; cases?: number; faults?: number; seed?: number; replay?: boolean }): FuzzRun;
  regressionFixtures(): string[];
  KINDS: string[];
  RSS_LIMIT_MIB: number;
}
const harness = async () =>
  // @ts-expect-error plain ESM script without types
  (await import('../../../scripts/fuzz.mjs')) as Harness;

d('whole-target fuzzing (scripts/fuzz.mjs)', () => {
  requireTool('sfdisk', 'mmd', 'tar', 'gzip', 'xz', 'zstd', 'rpmbuild', 'rpm', 'rpmdb', 'db_load');

  it('a short seeded run: every reader and resolver keeps every invariant', async () => {
    const h = await harness();
    const r = h.runFuzz({ cases: 5, faults: 3, seed: 24 });
    expect(r.childFailures).toEqual([]);
    expect(r.bugs).toEqual([]);
    expect(r.maxRssMiB).toBeLessThan(h.RSS_LIMIT_MIB);
    // Every seed was audited completely first, and mutated inputs reached both the readers' error paths and clean reads.
    expect(r.seeds.map((s) => s.kind)).toEqual(h.KINDS);
    expect(r.counts.ok).toBeGreaterThanOrEqual(h.KINDS.length);
    expect(r.counts.failed + r.counts.partial).toBeGreaterThan(0);
    // Faults could be injected in every kind: hostleak reads each target's bytes itself (the file, or the copy a
    // decompressor or a tar member extraction made).
    expect(r.seeds.filter((s) => s.reads === 0)).toEqual([]);
  });

  it('replays the regression fixtures: each keeps every invariant now', async () => {
    const h = await harness();
    const fixtures = h.regressionFixtures();
    expect(fixtures.length).toBeGreaterThan(0);
    const r = h.runFuzz({ replay: true });
    expect(r.childFailures).toEqual([]);
    expect(r.bugs).toEqual([]);
    expect(r.counts.ok + r.counts.partial + r.counts.failed).toBe(fixtures.length);
  });
});
