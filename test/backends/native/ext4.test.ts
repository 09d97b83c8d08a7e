/**
 * The native ext2/3/4 reader against independent oracles: sleuthkit's `fls -r -m /` (every entry's type, mode,
 * owner, size, mtime), blkid (type, label, uuid) and the host tree the image was built from (symlink targets of
 * any length, file contents); bigalloc, which fls does not read, against debugfs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, openNativeSource, nativeSupports } from '../../../src/backends/native/index.js';
import type { FilesystemView } from '../../../src/backends/backend.js';
import { SAMPLES } from '../../helpers/cli.js';
import { expectLeakyFindings, expectSameEntries } from '../../helpers/fs-compare.js';
import { debugfsWalk, flsEntries, hostTree, type OracleEntry } from '../../helpers/native-oracle.js';
import { buildInlineTree, sharedExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mke2fs', 'e2fsck', 'debugfs', 'fls', 'blkid', 'mkfifo');
const d = describe;

let tmp: string;
let tree: string;
let inlineTree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-ext-'));
  tree = sharedExtTree({ manyFiles: 3000 });
  inlineTree = path.join(tmp, 'inline');
  buildInlineTree(inlineTree);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function blkid(img: string): Record<string, string> {
  const out = execFileSync('blkid', ['-p', '-o', 'export', img], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function mkfs(name: string, args: string[], src: string, sizeMb = 64): string {
  const img = path.join(tmp, `${name}.img`);
  execFileSync('mke2fs', ['-q', '-F', '-L', name.slice(0, 16), ...args, '-d', src, img, `${sizeMb}M`], {
    env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' },
  });
  return img;
}

const opened: Array<{ close?(): void }> = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close?.();
});

async function readView(img: string): Promise<{ view: FilesystemView; problems: string[] }> {
  const src = openNativeSource(img);
  opened.push(src);
  expect(await nativeSupports(src)).toBe(true);
  const { views, problems } = await listNativeFilesystems(src);
  expect(views).toHaveLength(1);
  return { view: views[0]!, problems };
}

/** Entry-by-entry comparison with fls and the host tree; then every file's content. */
async function compare(img: string, view: FilesystemView, host: string): Promise<void> {
  const fls = flsEntries(img);
  const ours = new Map(view.inventory.entries().map((e) => [e.path, e]));
  const expected = [...fls.keys(), '/'].sort();
  expect([...ours.keys()].sort()).toEqual(expected);
  const hostMap = hostTree(host);
  for (const [p, o] of fls) {
    const e = ours.get(p)!;
    expect({ p, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime }).toEqual({
      p,
      type: o.type,
      mode: o.mode,
      uid: o.uid,
      gid: o.gid,
      size: o.size,
      mtime: o.mtime,
    });
    if (o.target !== undefined) expect(e.target).toBe(o.target);
    const h = hostMap.get(p);
    if (e.type === 'symlink' && h) expect({ p, target: e.target }).toEqual({ p, target: h.target });
  }
  const files = [...ours.values()].filter((e) => e.type === 'file' && hostMap.has(e.path)).map((e) => e.path);
  const got = await view.readFiles(files, 1 << 20);
  for (const p of files) {
    const c = got.get(p)!;
    if (c instanceof Error) throw c;
    const want = readFileSync(path.join(host, p));
    expect({ p, size: c.size, truncated: c.truncated }).toEqual({ p, size: want.length, truncated: want.length > 1 << 20 });
    expect(c.data.equals(want.subarray(0, 1 << 20))).toBe(true);
  }
}

d('native ext reader', () => {
  const cases: Array<[string, string[], string]> = [
    ['ext2-1k', ['-t', 'ext2', '-b', '1024'], 'ext2'],
    ['ext3-1k', ['-t', 'ext3', '-b', '1024'], 'ext3'],
    ['ext3-4k', ['-t', 'ext3'], 'ext3'],
    ['ext4-4k', ['-t', 'ext4'], 'ext4'],
    ['ext4-1k', ['-t', 'ext4', '-b', '1024'], 'ext4'],
    ['ext4-64bit', ['-t', 'ext4', '-O', '64bit,metadata_csum'], 'ext4'],
    ['ext4-noflex', ['-t', 'ext4', '-O', '^flex_bg', '-b', '2048'], 'ext4'],
    ['ext4-meta-bg', ['-t', 'ext4', '-O', 'meta_bg,^resize_inode', '-b', '1024'], 'ext4'],
    ['ext4-128', ['-t', 'ext4', '-I', '128'], 'ext4'],
    ['ext2-extents', ['-t', 'ext2', '-O', 'extents'], 'ext4'],
    ['ext4-1k-htree', ['-t', 'ext4', '-b', '1024'], 'ext4'],
    ['ext3-htree', ['-t', 'ext3'], 'ext3'],
  ];
  it.each(cases)('%s matches fls, blkid and the host tree', async (name, args, type) => {
    const img = mkfs(name, args, tree);
    if (name.endsWith('-htree')) {
      // mke2fs -d writes linear directories; e2fsck -D indexes them (exit 1: "fixed").
      const r = spawnSync('e2fsck', ['-fyD', img], { stdio: 'ignore' });
      expect(r.status === 0 || r.status === 1).toBe(true);
      const stat = execFileSync('debugfs', ['-R', 'stat /many', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(stat).toMatch(/Flags: 0x81000|Flags: 0x1000/);
    }
    const { view, problems } = await readView(img);
    expect(problems).toEqual([]);
    const b = blkid(img);
    expect(view.type).toBe(type);
    expect(b.TYPE).toBe(type);
    expect(view.label).toBe(b.LABEL);
    expect(view.uuid).toBe(b.UUID);
    expect(view.device).toBe('/dev/sda');
    expect(view.partlabel).toBeNull();
    expect(view.inventory.size).toBeGreaterThan(3000);
    await compare(img, view, tree);
    const dangling = view.inventory.get('/links/dangling')!;
    expect(dangling).toMatchObject({ type: 'symlink', uid: 1000, gid: 100 });
    expect(view.inventory.get('/home/alice/.bashrc')).toMatchObject({ uid: 100000, gid: 70000, mode: 0o600 });
  });

  // bigalloc: blocks allocated in clusters (the superblock's group geometry counts clusters; with 1 KiB blocks the
  // group descriptors follow the superblock's block, not the first data block, which is 0). fls does not read it:
  // e2fsprogs' own debugfs is the oracle, for the entries and (rdump) for every file's bytes.
  it.each([
    ['ext4-bigalloc', ['-t', 'ext4', '-O', 'bigalloc']],
    ['ext4-bigalloc-1k-16k', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc', '-C', '16384']],
    ['ext4-bigalloc-4k-64k', ['-t', 'ext4', '-b', '4096', '-O', 'bigalloc', '-C', '65536']],
  ])('%s matches debugfs: entries, and bytes as debugfs rdump extracts them', async (name, args) => {
    const img = mkfs(name, args, tree, 512);
    const { view, problems } = await readView(img);
    expect(problems).toEqual([]);
    expect(view.type).toBe('ext4');
    // debugfs lists no size for directories, and not the root itself.
    const dbg = new Map<string, Partial<OracleEntry>>([['/', { type: 'dir' }]]);
    for (const [p, { size, ...rest }] of debugfsWalk(img)) dbg.set(p, size === -1 ? rest : { ...rest, size });
    expectSameEntries(view, dbg);
    const out = path.join(tmp, `${name}.rdump`);
    mkdirSync(out);
    execFileSync('debugfs', ['-R', `rdump / ${out}`, img], { stdio: 'ignore' });
    const files = view.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path);
    const got = await view.readFiles(files, 1 << 20);
    for (const p of files) {
      const c = got.get(p)!;
      if (c instanceof Error) throw c;
      expect({ p, same: c.data.equals(readFileSync(path.join(out, p))) }).toEqual({ p, same: true });
    }
    expect(view.inventory.get('/links/longer')).toMatchObject({ target: '/x'.repeat(150) });
  });

  it('the leaky sample tree as bigalloc ext4 reports the tree findings, its token too', () => {
    const img = mkfs('leaky-bigalloc', ['-t', 'ext4', '-O', 'bigalloc'], path.join(SAMPLES, 'leaky'), 256);
    expect(expectLeakyFindings(img).some((f) => f.startsWith('secret-token error '))).toBe(true);
  });

  it('reads inline_data directories, files and symlinks', async () => {
    const img = mkfs('inline', ['-t', 'ext4', '-O', 'inline_data', '-I', '256'], inlineTree, 8);
    const { view, problems } = await readView(img);
    expect(problems).toEqual([]);
    // debugfs confirms the test really exercises inline data.
    const stat = execFileSync('debugfs', ['-R', 'stat /d/sub2', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(stat).toMatch(/Size of inline data/);
    await compare(img, view, inlineTree);
    expect(view.inventory.get('/d/longlink')!.target).toBe('t'.repeat(80));
    expect(view.inventory.children('/d/sub')).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'notinline']);
  });

  it('reports a journal that needs recovery as a problem, and still lists', async () => {
    const img = mkfs('dirty', ['-t', 'ext4'], inlineTree, 8);
    // Set EXT3_FEATURE_INCOMPAT_RECOVER in the superblock, like a crash before unmount leaves it.
    const buf = readFileSync(img);
    buf.writeUInt32LE(buf.readUInt32LE(1024 + 0x60) | 0x4, 1024 + 0x60);
    const dirty = path.join(tmp, 'dirty2.img');
    writeFileSync(dirty, buf);
    const { view, problems } = await readView(dirty);
    expect(problems.join('\n')).toMatch(/journal needs recovery/);
    expect(view.inventory.get('/d/tiny')).toBeDefined();
  });
});
