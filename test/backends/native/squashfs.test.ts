/**
 * The native squashfs 4.0 reader against squashfs-tools' own reader (`unsquashfs -lln`: names, types, modes, owners,
 * sizes, targets) and the host tree the image was built from (mtimes, targets, contents), for every compressor it
 * decodes; the leaky sample as squashfs reports the sample tree's findings; refused variants fail cleanly.
 */
import { execFileSync } from 'node:child_process';
import { lutimesSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource } from '../../../src/backends/native/index.js';
import { SAMPLES, hostleak } from '../../helpers/cli.js';
import { expectHostTree, expectLeakyFindings, expectSameEntries } from '../../helpers/fs-compare.js';
import { hostTree, unsquashfsEntries } from '../../helpers/native-oracle.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';
import { machineCode } from '../../helpers/machine-code.js';

requireTool('mksquashfs', 'unsquashfs', 'mkfifo', 'xz');
const CODECS = ['gzip', 'xz', 'zstd', 'lz4'] as const;

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-squashfs-'));
  tree = path.join(tmp, 'tree');
  buildExtTree(tree, { manyFiles: 700 });
  // Files bigger than one block with a tail fragment, exactly one block, and a sparse one; distinct mtimes.
  const big = Buffer.alloc(300 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
  writeFileSync(path.join(tree, 'big/tail.bin'), big);
  writeFileSync(path.join(tree, 'big/block.bin'), big.subarray(0, 131072));
  writeFileSync(path.join(tree, 'big/zeros.bin'), Buffer.alloc(400 * 1024));
  lutimesSync(path.join(tree, 'big/tail.bin'), 1600000000, 1600000001);
  lutimesSync(path.join(tree, 'links/long'), 1500000000, 1500000002);
  lutimesSync(path.join(tree, 'big'), 1400000000, 1400000003);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const opened: Array<{ close?(): void }> = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close?.();
});

async function open(img: string) {
  const src = openNativeSource(img);
  opened.push(src);
  const supported = await nativeSupports(src);
  const { views, problems } = await listNativeFilesystems(src);
  return { supported, views, problems };
}

describe('native squashfs reader', () => {
  it.each(CODECS.map((c) => [c]))('%s: every entry as unsquashfs lists it, mtimes, targets and contents as the host tree', async (codec) => {
    const img = path.join(tmp, `${codec}.sqfs`);
    execFileSync('mksquashfs', [tree, img, '-comp', codec, '-noappend', '-quiet', '-no-progress'], { stdio: 'ignore' });
    const { supported, views, problems } = await open(img);
    expect(supported).toBe(true);
    expect(problems).toEqual([]);
    expect(views).toHaveLength(1);
    const view = views[0]!;
    expect({ device: view.device, type: view.type }).toEqual({ device: '/dev/sda', type: 'squashfs' });
    expect(view.inventory.size).toBeGreaterThan(700);
    expectSameEntries(view, unsquashfsEntries(img));
    await expectHostTree(view, hostTree(tree), tree);
    expect(view.inventory.get('/home/alice/.bashrc')).toMatchObject({ uid: 100000, gid: 70000, mode: 0o600 });
    expect(view.inventory.get('/tmp')).toMatchObject({ type: 'dir', mode: 0o1777 });
    expect(view.inventory.get('/tmp/fifo')).toMatchObject({ type: 'fifo' });
    // A file as a random-access source (nesting), where the codec decodes synchronously.
    if (codec !== 'xz') {
      const src = view.openFile!('/big/tail.bin');
      const want = readFileSync(path.join(tree, 'big/tail.bin'));
      expect(src.size).toBe(want.length);
      expect(src.read(131000, 140000).equals(want.subarray(131000, 271000))).toBe(true);
      expect(src.read(want.length - 200, 200).equals(want.subarray(want.length - 200))).toBe(true);
      expect(view.openFile!('/big/zeros.bin').read(200000, 10).equals(Buffer.alloc(10))).toBe(true);
    } else {
      expect(() => view.openFile!('/big/tail.bin')).toThrow(/xz-compressed squashfs cannot be opened as an image/);
    }
  });

  it('reads uncompressed metadata, data and fragments (-noI -noD -noF -noX) and files without fragments', async () => {
    for (const flags of [['-noI', '-noD', '-noF', '-noX'], ['-no-fragments']]) {
      const img = path.join(tmp, `plain${flags.length}.sqfs`);
      execFileSync('mksquashfs', [tree, img, ...flags, '-noappend', '-quiet', '-no-progress'], { stdio: 'ignore' });
      const { views, problems } = await open(img);
      expect(problems).toEqual([]);
      expectSameEntries(views[0]!, unsquashfsEntries(img));
      await expectHostTree(views[0]!, hostTree(tree), tree);
    }
  });

  it('xz with branch filters (-Xbcj, as live ISOs build their root): every file as the host tree', async () => {
    const bcjTree = path.join(tmp, 'tree-bcj');
    execFileSync('cp', ['-a', tree, bcjTree]);
    // Machine code, for which mksquashfs keeps a block's x86 filter.
    writeFileSync(path.join(bcjTree, 'big/code.bin'), machineCode(2 << 20));
    const img = path.join(tmp, 'bcj.sqfs');
    execFileSync('mksquashfs', [bcjTree, img, '-comp', 'xz', '-Xbcj', 'x86,arm,armthumb,powerpc,sparc,ia64', '-noappend', '-quiet', '-no-progress'], { stdio: 'ignore' });
    // Blocks whose xz stream runs a filter before LZMA2 (block header flags at byte 13 count more than one filter).
    const bytes = readFileSync(img);
    const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
    let filtered = 0;
    for (let at = bytes.indexOf(magic); at >= 0; at = bytes.indexOf(magic, at + 1)) if ((bytes[at + 13]! & 3) !== 0) filtered++;
    expect(filtered).toBeGreaterThan(3);
    const { views, problems } = await open(img);
    expect(problems).toEqual([]);
    expectSameEntries(views[0]!, unsquashfsEntries(img));
    await expectHostTree(views[0]!, hostTree(bcjTree), bcjTree);
  });

  it.each(CODECS.map((c) => [c]))('the leaky sample as %s squashfs reports the sample tree findings (disko seed included)', (codec) => {
    expectLeakyFindings(path.join(SAMPLES, `leaky.squashfs-${codec}`));
  });

  it('lzo and squashfs 3 are refused with a one-line reason: exit 3 natively, auto goes to libguestfs', async () => {
    const lzo = path.join(SAMPLES, 'leaky.squashfs-lzo');
    const r = hostleak(['scan', '--backend', 'native', lzo]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/squashfs with lzo compression is not supported by the native reader/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const lzoSrc = openNativeSource(lzo);
    opened.push(lzoSrc);
    expect(await nativeSupports(lzoSrc)).toBe(false);
    const v3 = path.join(tmp, 'squashfs3.img');
    writeFileSync(v3, execFileSync('xz', ['-dc', path.resolve('test/fixtures/corpus/ul_squashfs3.img.xz')]));
    const src = openNativeSource(v3);
    opened.push(src);
    expect(await nativeSupports(src)).toBe(false);
    const r3 = hostleak(['scan', '--backend', 'native', v3]);
    expect(r3.status).toBe(3);
    expect(r3.stderr).toContain(`hostleak: ${v3}: failed: /dev/sda: squashfs 3.1 is not supported (only 4.0)\n`);
    expect(r3.stderr).not.toMatch(/\n\s+at /);
  });

  it('reads the corpus squashfs 4 image like unsquashfs', async () => {
    const img = path.join(tmp, 'squashfs4.img');
    writeFileSync(img, execFileSync('xz', ['-dc', path.resolve('test/fixtures/corpus/ul_squashfs4.img.xz')]));
    const { views, problems } = await open(img);
    expect(problems).toEqual([]);
    expectSameEntries(views[0]!, unsquashfsEntries(img));
  });
});
