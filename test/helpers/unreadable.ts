/** Images with a file no reader can read, built with the real tools (mke2fs, then debugfs to break one inode). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A GitHub token shape the secret rules report. */
export const TOKEN = `ghp_${'0123456789abcdefghijABCDEFGHIJ012345'}`;

/**
 * An ext2 image whose /root/.env (a token) has its first block pointer set outside the filesystem: listed fine,
 * unreadable by any reader. Returns the image path (inside `dir`).
 */
export function badBlockExt2(dir: string): string {
  const tree = path.join(dir, 'ext2-tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'root'), { recursive: true });
  writeFileSync(path.join(tree, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(tree, 'etc/group'), 'root:x:0:\n');
  writeFileSync(path.join(tree, 'root/.env'), `GITHUB_TOKEN=${TOKEN}\n`);
  const img = path.join(dir, 'bad-block.ext2');
  execFileSync('mke2fs', ['-q', '-t', 'ext2', '-d', tree, img, '4M']);
  execFileSync('debugfs', ['-w', '-R', 'sif /root/.env block[0] 900000', img], { stdio: 'ignore' });
  return img;
}
