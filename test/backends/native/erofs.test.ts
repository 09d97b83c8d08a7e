/**
 * The native erofs reader against erofs-utils' own reader (`fsck.erofs --extract --preserve` of the image: every
 * entry's type, mode, owner, size and symlink target) and the host tree it was built from (mtimes, contents), for
 * compact and extended inodes, plain, inline (tail-packed), chunk-based (block map and chunk indexes: contents also
 * against `fsck.erofs --extract`) and lz4/lz4hc-compressed files (compact and legacy cluster indexes, big pclusters,
 * inline tail pclusters); the leaky sample as erofs reports the sample tree's findings.
 */
import { execFileSync } from 'node:child_process';
import { lutimesSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource } from '../../../src/backends/native/index.js';
import type { OracleEntry } from '../../helpers/native-oracle.js';
import type { FileContent } from '../../../src/types.js';
import { SAMPLES } from '../../helpers/cli.js';
import { expectHostTree, expectLeakyFindings, expectSameEntries } from '../../helpers/fs-compare.js';
import { hostTree } from '../../helpers/native-oracle.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mkfs.erofs', 'fsck.erofs', 'blkid', 'mkfifo');

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-erofs-'));
  tree = path.join(tmp, 'tree');
  buildExtTree(tree, { manyFiles: 600 });
  // Compressible files of several sizes (lz4 extents spanning many clusters), an incompressible one, distinct mtimes.
  const words = ['alpha', 'beta', 'gamma', 'nix', 'store', '\n'];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (const [name, size] of [['text-5k', 5000], ['text-70k', 70000], ['text-300k', 300000], ['text-8193', 8193]] as const) {
    let s = '';
    while (s.length < size) s += words[rnd() % words.length] + ' ';
    writeFileSync(path.join(tree, 'big', name), s.slice(0, size));
  }
  const noise = Buffer.alloc(50000);
  for (let i = 0; i < noise.length; i++) noise[i] = rnd() & 0xff;
  writeFileSync(path.join(tree, 'big', 'noise'), noise);
  lutimesSync(path.join(tree, 'big/text-70k'), 1600000000, 1600000001);
  lutimesSync(path.join(tree, 'links/long'), 1500000000, 1500000002);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const opened: Array<{ close?(): void }> = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close?.();
});

/** fsck.erofs's view: the image extracted with owners and modes, walked like the host tree (sizes of files only). */
function fsckEntries(img: string): Map<string, Partial<OracleEntry>> {
  const out = path.join(tmp, `x-${path.basename(img)}`);
  rmSync(out, { recursive: true, force: true });
  execFileSync('fsck.erofs', [`--extract=${out}`, '--preserve', img], { stdio: 'ignore' });
  const map = new Map<string, Partial<OracleEntry>>();
  for (const [p, e] of hostTree(out)) {
    const o: Partial<OracleEntry> = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
    if (e.type === 'file') o.size = e.size;
    if (e.target !== undefined) o.target = e.target;
    map.set(p, o);
  }
  // The extraction directory itself is the root: its owner and mode are the extractor's, not the image's.
  map.set('/', { type: 'dir' });
  return map;
}

describe('native erofs reader', () => {
  const cases: Array<[string, string[]]> = [
    ['plain, compact inodes (-T)', ['-T1700000000']],
    ['plain, extended inodes', []],
    ['lz4, compact cluster indexes', ['-zlz4']],
    ['lz4hc, compact cluster indexes', ['-zlz4hc']],
    ['lz4hc, legacy cluster indexes', ['-zlz4hc', '-Elegacy-compress']],
    ['lz4hc, big pclusters (64 KiB)', ['-zlz4hc', '-C65536']],
    ['lz4hc, inline tail pclusters (ztailpacking)', ['-zlz4hc', '-Eztailpacking']],
    ['lz4hc, big pclusters and inline tails', ['-zlz4hc', '-C65536', '-Eztailpacking']],
    ['lz4, big pclusters, legacy indexes', ['-zlz4', '-C16384', '-Elegacy-compress']],
    // Chunk-based files: a 4-byte block map per chunk, or 8-byte chunk indexes; equal chunks are stored once.
    ['chunk-based, 4 KiB chunks, block map', ['--chunksize=4096']],
    ['chunk-based, 64 KiB chunks, block map', ['--chunksize=65536']],
    ['chunk-based, 4 KiB chunks, chunk indexes', ['--chunksize=4096', '-Eforce-chunk-indexes']],
    ['chunk-based, 8 KiB chunks, chunk indexes', ['--chunksize=8192', '-Eforce-chunk-indexes']],
  ];
  it.each(cases)('%s: every entry as fsck.erofs extracts it, mtimes and contents as the host tree', async (name, args) => {
    const img = path.join(tmp, `${name.replace(/\W+/g, '-')}.erofs`);
    execFileSync('mkfs.erofs', ['--quiet', ...args, img, tree], { stdio: 'ignore' });
    const src = openNativeSource(img);
    opened.push(src);
    expect(await nativeSupports(src)).toBe(true);
    const { views, problems } = await listNativeFilesystems(src);
    expect(problems).toEqual([]);
    const view = views[0]!;
    const b = execFileSync('blkid', ['-p', '-o', 'export', img], { encoding: 'utf8' });
    expect(view.type).toBe('erofs');
    expect(b).toContain('TYPE=erofs');
    expect(b).toContain(`UUID=${view.uuid}`);
    expectSameEntries(view, fsckEntries(img));
    await expectHostTree(view, hostTree(tree), tree, { mtime: !args.includes('-T1700000000') });
    if (args.includes('-T1700000000')) expect(view.inventory.entries().every((e) => e.mtime === 1700000000)).toBe(true);
    if (args.some((a) => a.startsWith('-z'))) {
      // A head decodes the cluster index only up to the first extent past it: each is the file's first bytes.
      const host = readFileSync(path.join(tree, 'big/text-300k'));
      for (const n of [1, 4095, 4097, 65537, 299999]) {
        const got = (await view.readFiles(['/big/text-300k'], n)).get('/big/text-300k');
        expect(got).not.toBeInstanceOf(Error);
        expect((got as FileContent).data.equals(host.subarray(0, n))).toBe(true);
      }
    }
    expect(view.inventory.get('/home/alice/.bashrc')).toMatchObject({ uid: 100000, gid: 70000, mode: 0o600 });
    expect(view.inventory.get('/tmp')).toMatchObject({ mode: 0o1777 });
    if (args.some((a) => a.startsWith('--chunksize'))) {
      // The same bytes as erofs-utils' own reader extracts.
      const out = path.join(tmp, `x-${path.basename(img)}`);
      await expectHostTree(view, hostTree(out), out, { mtime: false });
    }
    if (args.length === 0 || args.some((a) => a.startsWith('--chunksize'))) {
      // Uncompressed files map to a random-access source (nesting).
      const s = view.openFile!('/big/data.bin');
      expect(s.read(5000, 100000).equals(readFileSync(path.join(tree, 'big/data.bin')).subarray(5000, 105000))).toBe(true);
    }
  });

  it.each([
    ['block map', ['--chunksize=4096']],
    ['chunk indexes', ['--chunksize=4096', '-Eforce-chunk-indexes']],
  ])('the leaky sample tree as chunk-based erofs (%s) reports the tree findings, its token too', (name, args) => {
    const img = path.join(tmp, `leaky-chunks-${name.replace(/\W+/g, '-')}.erofs`);
    execFileSync('mkfs.erofs', ['--quiet', ...args, img, path.join(SAMPLES, 'leaky')], { stdio: 'ignore' });
    const findings = expectLeakyFindings(img);
    expect(findings.some((f) => f.startsWith('secret-token error '))).toBe(true);
  });

  it.each([['erofs'], ['erofs-lz4']])('the leaky sample as %s reports the sample tree findings (disko seed included)', (kind) => {
    expectLeakyFindings(path.join(SAMPLES, `leaky.${kind}`));
  });
});
