/**
 * The squashfs reader decodes each fragment block once: many small files share one (`-b 1M`, as installer images
 * use), and reading them must not decompress their block again per file. The cache is bounded in bytes, so an image
 * with more fragment data than the cache holds decodes some blocks again instead of growing memory. Decompressions
 * are counted (never timed) on real mksquashfs images; the fragment count is unsquashfs' own.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openNativeSource } from '../../../src/backends/native/index.js';
import type { ByteSource } from '../../../src/backends/native/source.js';
import { SquashFs } from '../../../src/backends/native/squashfs.js';
import { readerView, walk } from '../../../src/backends/native/walk.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mksquashfs', 'unsquashfs');

let tmp: string;
const opened: ByteSource[] = [];
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'squashfs-cache-'));
});
afterAll(() => {
  for (const s of opened) s.close?.();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** `count` files of `size` bytes each (distinct contents) in one directory, packed with 1 MiB blocks. */
function image(name: string, count: number, size: number, codec: string): { img: string; tree: string; fragments: number } {
  const tree = path.join(tmp, name);
  mkdirSync(path.join(tree, 'd'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const line = `file ${i} of ${name}: ${'abcdefghijklmnopqrstuvwxyz'.slice(i % 26)}${i * 7919}\n`;
    writeFileSync(path.join(tree, 'd', `f${String(i).padStart(5, '0')}`), line.repeat(Math.ceil(size / line.length)).slice(0, size));
  }
  const img = path.join(tmp, `${name}.sqfs`);
  execFileSync('mksquashfs', [tree, img, '-b', '1M', '-comp', codec, '-processors', '1', '-noappend', '-quiet', '-no-progress'], { stdio: 'ignore' });
  const m = /Number of fragments (\d+)/.exec(execFileSync('unsquashfs', ['-s', img], { encoding: 'utf8' }));
  return { img, tree, fragments: Number(m![1]) };
}

async function reader(img: string) {
  const src = openNativeSource(img);
  opened.push(src);
  const fs = new SquashFs(src, '/dev/sda');
  const walked = await walk(fs, '/dev/sda');
  expect(walked.problems).toEqual([]);
  const view = readerView(fs, walked, '/dev/sda');
  const files = walked.inventory.children('/d').sort().map((n) => `/d/${n}`);
  return { fs, view, files };
}

async function readAll(view: Awaited<ReturnType<typeof reader>>['view'], files: string[], tree: string): Promise<void> {
  const got = await view.readFiles(files, 1 << 20);
  for (const p of files) {
    const c = got.get(p);
    if (!c || c instanceof Error) throw new Error(`${p}: ${String(c)}`);
    expect(c.data.equals(readFileSync(path.join(tree, p)))).toBe(true);
  }
}

describe('squashfs block caches', () => {
  it.each([['zstd'], ['xz']])('%s: thousands of small files in a few 1 MiB fragment blocks decode each block once', async (codec) => {
    const { img, tree, fragments } = image(`small-${codec}`, 3000, 1000, codec);
    expect(fragments).toBeGreaterThanOrEqual(2);
    const { fs, view, files } = await reader(img);
    expect(files).toHaveLength(3000);
    const metaAfterWalk = fs.decoded.metadata;
    await readAll(view, files, tree);
    expect(fs.decoded.fragment).toBe(fragments);
    // Reading adds the fragment table's block (at most one here) to what the walk decoded, nothing per file.
    const metaAfterRead = fs.decoded.metadata;
    expect(metaAfterRead - metaAfterWalk).toBeLessThanOrEqual(1);
    // Any order, and again: every block still in the cache, nothing decoded twice (metadata included).
    await readAll(view, [...files].reverse(), tree);
    await readAll(view, files.filter((_, i) => i % 3 === 1), tree);
    expect(fs.decoded.fragment).toBe(fragments);
    expect(fs.decoded.metadata).toBe(metaAfterRead);
    expect(fs.decoded.data).toBe(0);
    // A file as a random-access source takes its tail from the same cache.
    expect(codec === 'xz' || view.openFile!(files[1234]!).read(0, 1000).equals(readFileSync(path.join(tree, files[1234]!)))).toBe(true);
    expect(fs.decoded.fragment).toBe(fragments);
  });

  it('the fragment cache is bounded: more fragment data than it holds is decoded again, not kept', async () => {
    const { img, tree, fragments } = image('many', 2600, 4096, 'gzip');
    // Over 10 MiB of tails: more than the 8 MiB the cache keeps.
    expect(fragments).toBeGreaterThanOrEqual(10);
    const { fs, view, files } = await reader(img);
    await readAll(view, files, tree);
    expect(fs.decoded.fragment).toBe(fragments);
    // In the same order again, the first blocks were evicted by the last ones: decoded again.
    await readAll(view, files, tree);
    expect(fs.decoded.fragment).toBeGreaterThan(fragments + 1);
    expect(fs.decoded.fragment).toBeLessThanOrEqual(2 * fragments);
  });

  it('a batch asked in any order is read in fragment order: each block decoded once though the cache holds few', async () => {
    const { img, tree, fragments } = image('shuffled', 2600, 4096, 'zstd');
    expect(fragments).toBeGreaterThanOrEqual(10);
    const { fs, view, files } = await reader(img);
    // A fixed scramble (a stride prime to the count): neighbours in the batch live in far-apart fragment blocks.
    const scrambled = files.map((_, i) => files[(i * 977) % files.length]!);
    expect(new Set(scrambled).size).toBe(files.length);
    await readAll(view, scrambled, tree);
    expect(fs.decoded.fragment).toBe(fragments);
  });
});
