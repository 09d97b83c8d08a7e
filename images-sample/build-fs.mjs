#!/usr/bin/env node
// Build filesystem images of the leaky sample tree (images-sample/out/leaky, owners/modes/times as trees.json says):
//   leaky.squashfs-{gzip,xz,zstd,lz4}   mksquashfs, one per compressor the native reader decodes
//   leaky.squashfs-lzo                  mksquashfs -comp lzo (the native reader refuses it; guestfs reads it)
//   leaky.erofs, leaky.erofs-lz4        mkfs.erofs plain (compact inodes) and lz4hc-compressed (extended inodes)
//   leaky.iso                           xorriso: Rock Ridge (owners, modes, symlinks, times) + Joliet
// Deterministic: fixed mkfs times, UUID and volume dates, sorted input.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStamp, haveTools, loadSpec, sh } from './build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'out');

export const SQUASHFS_CODECS = ['gzip', 'xz', 'zstd', 'lz4'];


/** The file names this script writes, by kind. */
export function fsImages(variant = 'leaky') {
  const o = (n) => path.join(outDir, `${variant}.${n}`);
  return {
    squashfs: Object.fromEntries(SQUASHFS_CODECS.map((c) => [c, o(`squashfs-${c}`)])),
    squashfsLzo: o('squashfs-lzo'),
    erofs: o('erofs'),
    erofsLz4: o('erofs-lz4'),
    iso: o('iso'),
  };
}

const TOOLS = ['mksquashfs', 'mkfs.erofs', 'xorriso'];

export async function buildFsImages({ force = false } = {}) {
  if (!haveTools(TOOLS, 'filesystem images')) return;
  const spec = loadSpec();
  const imgs = fsImages();
  const outputs = [...Object.values(imgs.squashfs), imgs.squashfsLzo, imgs.erofs, imgs.erofsLz4, imgs.iso];
  const stamp = buildStamp('.fs-stamp', import.meta.url, [], outputs);
  if (!force && stamp.fresh) {
    console.log('images-sample: filesystem images up to date');
    return;
  }
  const tree = path.join(outDir, 'leaky');
  const epoch = String(spec.epoch);
  const env = { ...process.env, SOURCE_DATE_EPOCH: epoch };
  const { SOURCE_DATE_EPOCH: _unused, ...noEpochEnv } = process.env;
  for (const [codec, file] of [...Object.entries(imgs.squashfs), ['lzo', imgs.squashfsLzo]]) {
    await fsp.rm(file, { force: true });
    sh('mksquashfs', [tree, file, '-comp', codec, '-b', '131072', '-mkfs-time', epoch, '-noappend', '-quiet', '-no-progress'], { env: noEpochEnv });
  }
  const uuid = '6e1c3a2f-52b8-4d4c-9d0a-6b6f7374ee01';
  await fsp.rm(imgs.erofs, { force: true });
  // -T: every inode gets the tree's time (all compact inodes); without it, per-file times (extended inodes).
  sh('mkfs.erofs', ['--quiet', `-T${epoch}`, `-U${uuid}`, imgs.erofs, tree], { env });
  await fsp.rm(imgs.erofsLz4, { force: true });
  sh('mkfs.erofs', ['--quiet', '-zlz4hc', `-U${uuid}`, '--preserve-mtime', imgs.erofsLz4, tree], { env });
  await fsp.rm(imgs.iso, { force: true });
  sh('xorriso', [
    '-abort_on', 'FAILURE', '-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'LEAKY', '-o', imgs.iso, tree,
  ], { env }); // SOURCE_DATE_EPOCH fixes the volume dates and uuid
  await stamp.write();
  console.log(`images-sample: built ${outputs.map((o) => path.relative(process.cwd(), o)).join(' ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await buildFsImages({ force: process.argv.includes('--force') });
}
