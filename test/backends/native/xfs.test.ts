/**
 * The native xfs reader on filesystems made by mkfs.xfs from a protofile of a host tree (test/helpers/native-trees.ts:
 * owners up to 100000, setuid/setgid, short and long symlinks, a fifo, non-ASCII names, a 300 KiB file, a
 * directory of 3000 entries), in the variants distributions ship: v5 (crc, ftype, big timestamps), v5 without big
 * timestamps, v4 (crc=0), 1 KiB blocks with 8 KiB directory blocks. Oracles: the host tree (names, types, modes,
 * owners, sizes, link targets, file contents), blkid (label, UUID), xfs_db (which directory formats were made),
 * and the time window mkfs ran in (mtimes).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource, probeNative } from '../../../src/backends/native/index.js';
import { expectFilesRead } from '../../helpers/fs-compare.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';
import { protofile, protoMode } from '../../helpers/xfs-proto.js';

requireTool('mkfs.xfs', 'xfs_db', 'blkid', 'find');
const d = describe;

let tmp: string;
let tree: string;
let proto: string;
/** Every path of the host tree (relative, starting with '/'), with its lstat. */
const want = new Map<string, Stats>();

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-xfs-'));
  tree = path.join(tmp, 'tree');
  buildExtTree(tree, { manyFiles: 3000 });
  // A block directory (one directory block) and a leaf directory (several data blocks and a leaf block).
  for (const [dir, n] of [['block', 40], ['leaf', 300]] as const) {
    mkdirSync(path.join(tree, dir));
    for (let i = 0; i < n; i++) writeFileSync(path.join(tree, dir, `entry-number-${i}`), '');
  }
  proto = path.join(tmp, 'proto');
  writeFileSync(proto, protofile(tree));
  for (const p of execFileSync('find', [tree, '-mindepth', '1'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    want.set(p.slice(tree.length), lstatSync(p));
  }
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function mkfs(name: string, opts: string[]): { img: string; t0: number; t1: number } {
  const img = path.join(tmp, `${name}.img`);
  writeFileSync(img, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '300M', img]);
  const t0 = Math.floor(Date.now() / 1000);
  execFileSync('mkfs.xfs', ['-q', '-f', '-L', 'xfsroot', ...opts, '-p', proto, img], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { img, t0, t1: Math.ceil(Date.now() / 1000) };
}

function xfsDb(img: string, ...cmds: string[]): string {
  return execFileSync('xfs_db', ['-r', ...cmds.flatMap((c) => ['-c', c]), img], { encoding: 'utf8' });
}

d('native xfs', () => {
  it.each([
    ['v5', ['-m', 'bigtime=1']],
    ['v5-nobigtime', ['-m', 'bigtime=0']],
    ['v4', ['-m', 'crc=0']],
    ['v5-1k-blocks-8k-dirs', ['-b', 'size=1024', '-n', 'size=8192']],
  ])('%s: lists and reads the tree mkfs.xfs was given', async (name, opts) => {
    const { img, t0, t1 } = mkfs(name, opts);
    const src = openNativeSource(img);
    expect(probeNative(src).devices.map((x) => [x.device, x.type])).toEqual([['/dev/sda', 'xfs']]);
    expect(await nativeSupports(src)).toBe(true);
    const { views, problems } = await listNativeFilesystems(src);
    expect(problems).toEqual([]);
    const v = views[0]!;
    const blkid = (tag: string) => execFileSync('blkid', ['-p', '-o', 'value', '-s', tag, img], { encoding: 'utf8' }).trim();
    expect([v.type, v.label, v.uuid]).toEqual(['xfs', blkid('LABEL'), blkid('UUID')]);
    expect(v.inventory.entries().map((e) => e.path).sort()).toEqual(['/', ...want.keys()].sort());
    const files: string[] = [];
    for (const [p, st] of want) {
      const e = v.inventory.get(p)!;
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'file';
      expect({ p, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid }).toEqual({ p, type, mode: protoMode(st.mode), uid: st.uid, gid: st.gid });
      if (type === 'file' || type === 'symlink') expect({ p, size: e.size }).toEqual({ p, size: st.size });
      if (type === 'symlink') expect(e.target).toBe(readlinkSync(path.join(tree, p)));
      if (type === 'file') files.push(p);
      expect(e.mtime).toBeGreaterThanOrEqual(t0);
      expect(e.mtime).toBeLessThanOrEqual(t1);
    }
    await expectFilesRead(v, files, tree);
    // A file as a random-access source (how a nested image is read), from an offset inside it.
    const big = v.openFile!('/big/data.bin');
    expect(big.read(5000, 70000).equals(readFileSync(path.join(tree, 'big/data.bin')).subarray(5000, 75000))).toBe(true);
  });

  it('the tree made every directory format: short form, block, leaf (extent list) and node (B+tree of extents)', () => {
    const { img } = mkfs('formats', []);
    const field = (p: string, f: string) => Number(new RegExp(`${f.replace('.', '\\.')} = (\\d+)`).exec(xfsDb(img, `path ${p}`, `print ${f}`))![1]);
    expect(field('/etc', 'core.format')).toBe(1); // local: entries in the inode
    expect([field('/block', 'core.format'), field('/block', 'core.size')]).toEqual([2, 4096]); // one directory block
    expect(field('/leaf', 'core.format')).toBe(2);
    expect(field('/leaf', 'core.size')).toBeGreaterThan(4096); // several data blocks (+ a leaf block)
    expect(field('/many', 'core.format')).toBe(3); // extents in a B+tree
  });

  it('refuses a filesystem with unknown incompatible features, and one that needs repair, by name', async () => {
    const { img } = mkfs('incompat', []);
    const b = readFileSync(img);
    const bad = path.join(tmp, 'incompat-bad.img');
    b.writeUInt32BE((b.readUInt32BE(216) | 0x80000000) >>> 0, 216);
    writeFileSync(bad, b);
    await expect(listNativeFilesystems(openNativeSource(bad))).rejects.toThrow(/xfs with unknown incompatible features/);
    b.writeUInt32BE(((b.readUInt32BE(216) & 0x7fffffff) | 16) >>> 0, 216);
    writeFileSync(bad, b);
    await expect(listNativeFilesystems(openNativeSource(bad))).rejects.toThrow(/xfs needs repair/);
  });

  it('a log that does not end in an unmount record makes the listing partial, naming the log', async () => {
    const { img } = mkfs('dirty', []);
    const b = readFileSync(img);
    // mkfs leaves one record, an unmount record, at the start of the internal log (xfs_db gives where that is).
    const sb = (f: string) => Number(new RegExp(`${f} = (\\d+)`).exec(xfsDb(img, 'sb 0', `print ${f}`))![1]);
    const fsb = sb('logstart');
    const log = ((fsb >> sb('agblklog')) * sb('agblocks') + (fsb & ((1 << sb('agblklog')) - 1))) * sb('blocksize');
    expect(b.readUInt32BE(log)).toBe(0xfeedbabe);
    expect(b[log + 512 + 9]! & 0x20).toBe(0x20);
    const clean = await listNativeFilesystems(openNativeSource(img));
    expect(clean.problems).toEqual([]);
    b[log + 512 + 9] = 0;
    const dirty = path.join(tmp, 'dirty-log.img');
    writeFileSync(dirty, b);
    const r = await listNativeFilesystems(openNativeSource(dirty));
    expect(r.problems).toEqual(['/dev/sda: xfs log needs recovery: the log holds writes that were never applied (not cleanly unmounted); the listing may miss the latest changes']);
    expect(r.views[0]!.inventory.size).toBe(clean.views[0]!.inventory.size);
  });
});
