/**
 * The native btrfs reader on filesystems made by mkfs.btrfs --rootdir from a host tree (test/helpers/native-trees.ts:
 * owners up to 100000, setuid/setgid, short and long symlinks, a fifo, non-ASCII names, a 300 KiB file, a sparse
 * file, a directory of 3000 entries), in the variants mkfs makes: DUP metadata (the default), single metadata, 4 KiB
 * nodes (deeper trees), sha256 checksums. Oracles: the host tree (names, types, modes, owners, sizes, mtimes, link
 * targets, file contents) and blkid (label, UUID). Damage and refused features are made by editing the image the
 * way btrfs would write it (the superblock re-checksummed), so only the field under test is wrong.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeRefusal, openNativeSource, probeNative } from '../../../src/backends/native/index.js';
import { crc32c } from '../../../src/backends/native/vhdx.js';
import { expectFilesRead } from '../../helpers/fs-compare.js';
import { sharedExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mkfs.btrfs', 'blkid', 'find', 'btrfs');
const d = describe;

let tmp: string;
let tree: string;
/** Every path of the host tree (relative, starting with '/'), with its lstat. */
const want = new Map<string, Stats>();

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-btrfs-'));
  tree = sharedExtTree({ manyFiles: 3000 });
  for (const p of execFileSync('find', [tree, '-mindepth', '1'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    want.set(p.slice(tree.length), lstatSync(p));
  }
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function mkfs(name: string, opts: string[]): string {
  const img = path.join(tmp, `${name}.img`);
  writeFileSync(img, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '200M', img]);
  execFileSync('mkfs.btrfs', ['-q', '-f', '-L', 'broot', ...opts, '-r', tree, img], { stdio: ['ignore', 'ignore', 'pipe'] });
  return img;
}

const SB = 0x10000;
/** Edit the primary superblock of `img` into `out` and checksum it again (crc32c over bytes 0x20..4096). */
function editSuper(img: string, out: string, edit: (sb: Buffer) => void): string {
  const b = readFileSync(img);
  const sb = b.subarray(SB, SB + 4096);
  edit(sb);
  sb.writeUInt32LE(crc32c(sb, 0x20), 0);
  writeFileSync(out, b);
  return out;
}

d('native btrfs', () => {
  it.each([
    ['dup-metadata', []],
    ['single-metadata', ['-m', 'single']],
    ['4k-nodes', ['-n', '4096']],
    ['sha256', ['--csum', 'sha256']],
  ])('%s: lists and reads the tree mkfs.btrfs was given', async (name, opts) => {
    const img = mkfs(name, opts);
    const src = openNativeSource(img);
    expect(probeNative(src).devices.map((x) => [x.device, x.type])).toEqual([['/dev/sda', 'btrfs']]);
    expect(await nativeRefusal(src)).toBeNull();
    const { views, problems } = await listNativeFilesystems(src);
    expect(problems).toEqual([]);
    const v = views[0]!;
    const blkid = (tag: string) => execFileSync('blkid', ['-p', '-o', 'value', '-s', tag, img], { encoding: 'utf8' }).trim();
    expect([v.type, v.label, v.uuid]).toEqual(['btrfs', blkid('LABEL'), blkid('UUID')]);
    expect(v.inventory.entries().map((e) => e.path).sort()).toEqual(['/', ...want.keys()].sort());
    const files: string[] = [];
    for (const [p, st] of want) {
      const e = v.inventory.get(p)!;
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'file';
      expect({ p, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime }).toEqual({
        p,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
      });
      if (type === 'file' || type === 'symlink') expect({ p, size: e.size }).toEqual({ p, size: st.size });
      if (type === 'symlink') expect(e.target).toBe(readlinkSync(path.join(tree, p)));
      if (type === 'file') files.push(p);
    }
    await expectFilesRead(v, files, tree);
    // A file as a random-access source (how a nested image is read), from an offset inside it.
    const big = v.openFile!('/big/data.bin');
    expect(big.read(5000, 70000).equals(readFileSync(path.join(tree, 'big/data.bin')).subarray(5000, 75000))).toBe(true);
  });

  it('the 4 KiB-node tree is a real B-tree: the file tree has internal nodes (btrfs inspect-internal)', () => {
    const img = mkfs('depth', ['-n', '4096']);
    const dump = execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(dump).toMatch(/^node \d+ level [1-9]/m);
  });

  it('refuses by name what it does not read (raid56, several devices, a raid profile, xxhash), so auto uses the appliance', async () => {
    const img = mkfs('refuse', []);
    const raid56 = editSuper(img, path.join(tmp, 'raid56.img'), (sb) => sb.writeBigUInt64LE(sb.readBigUInt64LE(0xbc) | 0x80n, 0xbc));
    expect(await nativeRefusal(openNativeSource(raid56))).toBe('/dev/sda: btrfs with raid56 is not read natively');
    const two = editSuper(img, path.join(tmp, 'two.img'), (sb) => sb.writeBigUInt64LE(2n, 0x88));
    expect(await nativeRefusal(openNativeSource(two))).toBe('/dev/sda: btrfs over 2 devices is not read natively');
    // The system chunk array's first chunk (key 17 bytes, then the chunk item: type at +24) made raid1.
    const raid1 = editSuper(img, path.join(tmp, 'raid1.img'), (sb) => sb.writeBigUInt64LE(sb.readBigUInt64LE(0x32b + 17 + 24) | 0x10n, 0x32b + 17 + 24));
    expect(await nativeRefusal(openNativeSource(raid1))).toBe('/dev/sda: btrfs raid1 chunks are not read natively');
    const xxhash = mkfs('xxhash', ['--csum', 'xxhash']);
    expect(await nativeRefusal(openNativeSource(xxhash))).toBe('/dev/sda: btrfs with xxhash64 checksums is not read natively');
    await expect(listNativeFilesystems(openNativeSource(raid56))).rejects.toThrow(/raid56/);
  });

  it('a damaged superblock or tree node is a one-line error or a problem naming it, never a clean listing', async () => {
    const img = mkfs('damage', ['-m', 'single']);
    const b = readFileSync(img);
    b[SB + 0x200] ^= 0xff;
    const badSb = path.join(tmp, 'bad-sb.img');
    writeFileSync(badSb, b);
    await expect(listNativeFilesystems(openNativeSource(badSb))).rejects.toThrow('/dev/sda: corrupt btrfs superblock (checksum mismatch)');
    b[SB + 0x200] ^= 0xff;
    // The leaf holding /etc's entries (found by the name of one of them), one byte changed.
    const at = b.indexOf('shadow');
    expect(at).toBeGreaterThan(SB);
    b[at] ^= 0x20;
    const badLeaf = path.join(tmp, 'bad-leaf.img');
    writeFileSync(badLeaf, b);
    const r = await listNativeFilesystems(openNativeSource(badLeaf)).catch((err: Error) => err);
    const text = r instanceof Error ? r.message : r.problems.join('\n');
    expect(text).toMatch(/btrfs tree node \d+: checksum mismatch/);
  });

  it('a log tree left by an fsync makes the listing partial, naming it', async () => {
    const img = mkfs('log', []);
    const clean = await listNativeFilesystems(openNativeSource(img));
    expect(clean.problems).toEqual([]);
    const dirty = editSuper(img, path.join(tmp, 'log-dirty.img'), (sb) => sb.writeBigUInt64LE(sb.readBigUInt64LE(0x50), 0x60));
    const r = await listNativeFilesystems(openNativeSource(dirty));
    expect(r.problems).toEqual(['/dev/sda: btrfs log tree not replayed (not cleanly unmounted after an fsync); the listing may miss the latest changes']);
    expect(r.views[0]!.inventory.size).toBe(clean.views[0]!.inventory.size);
  });
});
