#!/usr/bin/env node
// Generate a large NixOS-store-like disk image for the benchmarks: a GPT disk whose one partition (PARTLABEL
// disk-main-root, from sector 2048) holds an ext4 with many store paths of files, directories and symlinks (into other
// store paths, relative links, targets over 60 bytes, profile chains), about 150k entries by default. No root or loop
// devices: the tree is staged in a temp dir and packed with `mke2fs -d -E offset=`. Deterministic (seeded PRNG,
// E2FSPROGS_FAKE_TIME), and cached: an image already built with the same parameters is reused.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** First sector of the ext4 partition (fls -o takes it). */
export const START_SECTOR = 2048;
const VERSION = 2; // bump when the generator's output changes, so stale cached images are not reused

/** bench/out/large-<paths>-v<VERSION>.raw */
export function largeImagePath(outDir, paths = 6200) {
  return path.join(outDir, `large-${paths}-v${VERSION}.raw`);
}

/**
 * Write the large tree under `root` (created); returns the number of entries. Shared by the ext4 disk below and the
 * squashfs/erofs images of bench/filesystems.mjs.
 */
export async function writeLargeTree(root, { paths = 6200 } = {}) {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const ALPHA = '0123456789abcdfghijklmnpqrsvwxyz';
  const hash = () => Array.from({ length: 32 }, () => ALPHA[Math.floor(rnd() * 32)]).join('');
  const store = path.join(root, 'nix/store');
  await fsp.mkdir(store, { recursive: true });
  for (const d of ['etc', 'home/alice', 'root', 'nix/var/nix/profiles/per-user/root', 'tmp', 'var/log']) {
    await fsp.mkdir(path.join(root, d), { recursive: true });
  }
  await fsp.writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n');
  await fsp.writeFile(path.join(root, 'etc/group'), 'root:x:0:\nusers:x:100:\n');
  await fsp.writeFile(path.join(root, 'etc/hostname'), 'large\n');
  await fsp.writeFile(path.join(root, 'home/alice/.bash_history'), 'ls\nmake\n');
  const names = Array.from({ length: paths }, (_, i) => `${hash()}-pkg${i}-1.${i % 17}`);
  let entries = 0;
  for (const [i, name] of names.entries()) {
    const p = path.join(store, name);
    await fsp.mkdir(path.join(p, 'bin'), { recursive: true });
    await fsp.mkdir(path.join(p, 'lib'), { recursive: true });
    await fsp.mkdir(path.join(p, 'share/doc'), { recursive: true });
    entries += 5;
    const nfiles = 6 + Math.floor(rnd() * 12);
    for (let f = 0; f < nfiles; f++) {
      await fsp.writeFile(path.join(p, f % 3 === 0 ? 'bin' : f % 3 === 1 ? 'lib' : 'share/doc', `f${f}`), `${name} ${f}\n`);
      entries++;
    }
    const nlinks = 4 + Math.floor(rnd() * 8);
    for (let l = 0; l < nlinks; l++) {
      const other = names[Math.floor(rnd() * i)] ?? name;
      // Relative, absolute into another store path (over 60 bytes: a slow symlink), and now and then dangling.
      const target = l % 3 === 0 ? `../lib/f1` : i % 97 === 0 && l === 1 ? `/nix/store/${other}/bin/missing` : `/nix/store/${other}/bin/f0`;
      await fsp.symlink(target, path.join(p, 'bin', `l${l}`));
      entries++;
    }
  }
  await fsp.symlink(`/nix/store/${names[0]}`, path.join(root, 'nix/var/nix/profiles/system-1-link'));
  await fsp.symlink('system-1-link', path.join(root, 'nix/var/nix/profiles/system'));
  return entries;
}

export async function makeLarge(out, { paths = 6200 } = {}) {
  if (existsSync(out)) return out;
  await fsp.mkdir(path.dirname(out), { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'hostleak-bench-'));
  console.error(`bench: building ${out} (once; cached afterwards)...`);
  try {
    const root = path.join(tmp, 'root');
    const entries = await writeLargeTree(root, { paths });
    const fsMiB = Math.ceil((entries * 4096 * 1.4) / (1 << 20)) + 64;
    await fsp.writeFile(out, '');
    await fsp.truncate(out, (fsMiB + 2) * 1024 * 1024);
    execFileSync('sfdisk', ['-q', out], { input: `label: gpt\nstart=${START_SECTOR}, size=${fsMiB * 2048}, type=linux, name="disk-main-root"\n` });
    execFileSync(
      'mke2fs',
      ['-q', '-F', '-t', 'ext4', '-N', String(entries + 20000), '-L', 'nixos', '-E', `root_owner=0:0,offset=${START_SECTOR * 512}`, '-d', root, out, `${fsMiB}M`],
      { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' } },
    );
    console.error(`bench: built ${out} with about ${entries} entries`);
    return out;
  } catch (err) {
    await fsp.rm(out, { force: true });
    throw err;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  await makeLarge(process.argv[2] ?? largeImagePath(path.resolve('bench/out')));
}
