/**
 * Seeded, bounded fuzzing of the native reader: byte mutations of small ext4, vfat, qcow2 and squashfs images (mostly in the
 * metadata at the start, some anywhere). In strict mode every case must return or throw one of our errors; a
 * RangeError, TypeError or a hang is a reader bug. Runs in a child process (the reader is synchronous), so a hang
 * is caught by the child's timeout and the last case started names the seed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NATIVE_DIST } from './helpers/native-child.js';
import { buildInlineTree } from './helpers/native-trees.js';
import { requireTool } from './helpers/tools.js';

requireTool('mke2fs', 'mkfs.vfat', 'mcopy', 'qemu-img', 'mksquashfs');
const d = describe;

const CASES = 200;

const CHILD = `
const [dist, img, kind, casesArg, seedArg] = process.argv.slice(1);
const m = await import(dist);
const fs = await import('node:fs');
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
  // squashfs keeps its tables at the end, after the data: mutate anywhere.
  const hot = kind.startsWith('squashfs') ? buf.length : Math.min(buf.length, kind === 'qcow2' ? 4096 : kind === 'vfat' ? 16384 : 65536);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * (rnd() < 0.8 ? hot : buf.length));
    const r = rnd();
    buf[at] = r < 0.3 ? 0 : r < 0.5 ? 0xff : Math.floor(rnd() * 256);
  }
  process.stderr.write('case ' + i + '\\n');
  try {
    const file = new m.BufferSource(buf);
    const src = kind === 'qcow2' ? new m.Qcow2Source(file) : file;
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
process.stdout.write(JSON.stringify({ counts, bugs }));
`;

let tmp: string;
const images: Record<string, string> = {};
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
  for (const codec of ['gzip', 'xz', 'zstd', 'lz4']) {
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
    ['squashfs-gzip', 5],
    ['squashfs-xz', 6],
    ['squashfs-zstd', 7],
    ['squashfs-lz4', 8],
  ])('%s: %i-seeded mutations return or throw our errors, never hang', (kind, seed) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, NATIVE_DIST, images[kind]!, kind, String(CASES), String(seed)], {
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
    const out = JSON.parse(r.stdout) as { counts: Record<string, number>; bugs: unknown[] };
    expect(out.bugs).toEqual([]);
    expect(out.counts.ok + out.counts.partial + out.counts.error).toBe(CASES);
    // The mutations must actually reach the reader's error paths, and some images must still read.
    expect(out.counts.error + out.counts.partial).toBeGreaterThan(0);
    expect(out.counts.ok + out.counts.partial).toBeGreaterThan(0);
  });
});
