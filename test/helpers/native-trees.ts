/** Host trees the native reader tests turn into images (mke2fs -d, mcopy). */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, lchownSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { sharedFixture } from './fixtures.js';

export const EPOCH = 1700000000;

function file(root: string, rel: string, content: Buffer | string, mode = 0o644, uid = 0, gid = 0): void {
  const p = path.join(root, rel);
  writeFileSync(p, content);
  chmodSync(p, mode);
  lchownSync(p, uid, gid);
}

/**
 * A tree exercising the ext reader: sizes that need indirect blocks and extents, holes, setuid/sticky bits, 32-bit
 * owners, short and long symlinks, a large directory (htree), a fifo, non-ASCII names.
 */
export function buildExtTree(root: string, opts: { manyFiles?: number } = {}): void {
  mkdirSync(root, { recursive: true });
  for (const d of ['etc', 'home/alice', 'nix/store', 'big', 'tmp', 'links']) mkdirSync(path.join(root, d), { recursive: true });
  file(root, 'etc/passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n');
  file(root, 'etc/empty', '');
  file(root, 'etc/shadow', 'root:!:1::::::\n', 0o640, 0, 42);
  file(root, 'home/alice/.bashrc', 'export A=1\n', 0o600, 100000, 70000);
  lchownSync(path.join(root, 'home/alice'), 100000, 70000);
  chmodSync(path.join(root, 'tmp'), 0o1777);
  file(root, 'nix/store/suid', '#!/bin/sh\n', 0o4755);
  file(root, 'nix/store/sgid', '#!/bin/sh\n', 0o2711);
  file(root, 'nix/store/päckage-ünïcode', 'x');
  // 300 KiB of patterned data: indirect blocks on 1 KiB ext2/3, several blocks everywhere.
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;
  file(root, 'big/data.bin', big);
  // A sparse file with 40 islands: 40 extents (an extent tree of depth 1) or holes in a block map.
  const fd = openSync(path.join(root, 'big/sparse.bin'), 'w');
  for (let k = 0; k < 40; k++) writeSync(fd, Buffer.alloc(1024, 0x41 + (k % 26)), 0, 1024, k * 8192 + 4096);
  closeSync(fd);
  // Symlinks: fast (< 60 bytes) and slow (a data block), relative and absolute, dangling.
  symlinkSync('/nix/store/suid', path.join(root, 'links/short'));
  symlinkSync('../etc/passwd', path.join(root, 'links/relative'));
  const long = '/nix/store/' + 'a'.repeat(32) + '-some-package-with-a-long-name-1.0/bin/tool';
  symlinkSync(long, path.join(root, 'links/long'));
  symlinkSync('/x'.repeat(150), path.join(root, 'links/longer'));
  symlinkSync('/tmp/state/profiles/per-user/root/channels', path.join(root, 'links/dangling'));
  lchownSync(path.join(root, 'links/dangling'), 1000, 100);
  execFileSync('mkfifo', [path.join(root, 'tmp/fifo')]);
  const many = opts.manyFiles ?? 0;
  if (many > 0) {
    mkdirSync(path.join(root, 'many'));
    for (let i = 0; i < many; i++) {
      if (i % 3 === 0) symlinkSync(`target-${i}`, path.join(root, 'many', `link-${i}`));
      else writeFileSync(path.join(root, 'many', `file-with-a-longish-name-${i}`), String(i));
    }
  }
  // Fixed mtimes, deepest first.
  const all = execFileSync('find', [root, '-depth'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const p of all) lutimesSync(p, EPOCH, EPOCH);
}

/** A small tree for inline_data: tiny files, tiny directories, short and long symlinks. */
export function buildInlineTree(root: string): void {
  mkdirSync(path.join(root, 'd/sub'), { recursive: true });
  file(root, 'd/tiny', 'tiny');
  file(root, 'd/small', 'x'.repeat(100));
  file(root, 'd/sub/notinline', 'y'.repeat(5000));
  symlinkSync('t'.repeat(80), path.join(root, 'd/longlink'));
  symlinkSync('tiny', path.join(root, 'd/shortlink'));
  for (let i = 0; i < 5; i++) file(root, `d/sub/f${i}`, `content ${i}`);
  mkdirSync(path.join(root, 'd/sub2'));
  file(root, 'd/sub2/a', 'a');
  const all = execFileSync('find', [root, '-depth'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const p of all) lutimesSync(p, EPOCH, EPOCH);
}

/**
 * buildExtTree's tree as a shared fixture (test/helpers/fixtures.ts): built once for every reader test that reads it
 * as it is (ext4, btrfs). Read-only: a test that adds to it builds its own.
 */
export function sharedExtTree(opts: { manyFiles?: number } = {}): string {
  const f = sharedFixture({ name: 'ext-tree', options: [`manyFiles=${opts.manyFiles ?? 0}`], inputs: ['test/helpers/native-trees.ts'] }, (dir) => {
    buildExtTree(path.join(dir, 'tree'), opts);
  });
  return path.join(f.dir, 'tree');
}
