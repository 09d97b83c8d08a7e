#!/usr/bin/env node
/**
 * The adversarial harness: every reader and resolver, fed mutated artifacts, must keep the product's promises.
 *
 *   npm run fuzz                      # the long run: 400 mutations and 40 injected read faults per seed
 *   node scripts/fuzz.mjs --cases 20 --faults 8 --seed 7 --kinds tar,oci
 *   node scripts/fuzz.mjs --replay    # only the regression fixtures in test/fixtures/fuzz/
 *
 * Seeds are built here with the real producer tools (sfdisk, mke2fs, mkfs.vfat, mksquashfs, mkfs.erofs, mkfs.btrfs,
 * xorriso, qemu-img, tar, cpio, gzip, xz, zstd) or taken from images-sample/out (the OCI layout and docker-archive tarballs), one
 * per reader or resolver: GPT and MBR disks; ext4, vfat, squashfs, erofs, iso9660 and btrfs filesystems; qcow2, VMDK, VHD,
 * VHDX and VDI containers; LVM2 (the corpus's dfvfs image); tar (ustar, PAX, of images) and its compressors; cpio (newc, in
 * zstd, a kexec tarball's initrd); OCI and docker archives;
 * an rpm root (rpmbuild, rpm, db_load) in each rpm database store, SQLite, Berkeley DB and ndb, mutated in the database.
 *
 * Each seed is audited by the CLI's own entry point (`run()` of dist/src/cli.js, so resolution, backends, rules and
 * reporters all run) in a child process, once per case:
 *   - mutations: a seeded mutator (byte and bit flips, interesting integers, truncation, chunk copies) mostly over
 *     where each format keeps its metadata; for tar-based kinds also hostile header fields that still parse
 *     (climbing names, absolute links, huge or impossible numbers, other type flags, PAX records), and for the
 *     compressors the tar inside mutated then compressed again;
 *   - faults (fast-check): the k-th read of the target's bytes (the file, or the copy hostleak decompressed or
 *     extracted) fails with EIO; fast-check shrinks to the first k that breaks a promise.
 * Invariants checked on every case: it finishes within its deadline (plus slack); the child's peak RSS stays under
 * the documented 512 MiB; no stack trace (an internal error: stack overflow, TypeError...) on stderr, exit 0, 1 or 3
 * with a JSON report; a target whose read failed is never "ok"; no file outside the target, the temp folder and
 * hostleak's own files is opened (fs opens and spawned tools' arguments are watched). libguestfs is kept out (a
 * guestfish that fails at once is first on PATH): a case it would have read is a failed target, as it must be.
 * A case that breaks an invariant is written to test/fixtures/fuzz/ (with --save, which `npm run fuzz` passes) and
 * replayed by the suite from then on (test/backends/native/fuzz.test.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rpmRoot } from '../images-sample/rpmdb.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures', 'fuzz');
const SAMPLES = path.join(REPO, 'images-sample', 'out');
/** The bound the README states for hostile input. */
export const RSS_LIMIT_MIB = 512;
/** Each case's --timeout, and what a loaded machine may add to it before a case counts as a hang. */
const TIMEOUT_S = 10;
const SLACK_MS = 15_000;

/** mulberry32: a small seeded PRNG (the same as the reader fuzz test's). */
export function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/**
 * One seeded mutation of `base`: 1 to 16 edits, 80% inside the metadata windows (`hot`: [start, length], a negative
 * start counts from the end), then sometimes a truncation. Deterministic for (base, hot, seed).
 */
export function mutate(base, hot, seed, tar = false) {
  const rnd = prng(seed);
  let buf = Buffer.from(base);
  const pick = (n) => Math.floor(rnd() * n);
  if (tar && rnd() < 0.7) {
    // Structure-aware: hostile header fields that parse (1 to 3 of them), then sometimes a byte-level edit too.
    for (let k = 1 + pick(3); k > 0; k--) mutateTar(buf, rnd);
    if (rnd() < 0.7) return buf;
  }
  const windows = hot.map(([a, l]) => {
    const s = Math.max(0, a < 0 ? buf.length + a : Math.min(a, buf.length - 1));
    return [s, Math.max(1, Math.min(l, buf.length - s))];
  });
  const at = () => {
    if (rnd() < 0.8) {
      const [s, l] = windows[pick(windows.length)];
      return Math.min(buf.length - 1, s + pick(l));
    }
    return pick(buf.length);
  };
  const edits = 1 + pick(16);
  for (let k = 0; k < edits; k++) {
    const p = at();
    const r = rnd();
    if (r < 0.35) buf[p] = pick(256);
    else if (r < 0.55) buf[p] ^= 1 << pick(8);
    else if (r < 0.8) {
      // An interesting integer, 2 or 4 bytes, either endianness (sizes, counts, offsets).
      const v = INTERESTING[pick(INTERESTING.length)];
      const width = rnd() < 0.5 ? 2 : 4;
      if (p + width <= buf.length) {
        if (width === 2) rnd() < 0.5 ? buf.writeUInt16LE(v & 0xffff, p) : buf.writeUInt16BE(v & 0xffff, p);
        else rnd() < 0.5 ? buf.writeUInt32LE(v >>> 0, p) : buf.writeUInt32BE(v >>> 0, p);
      }
    } else if (r < 0.9) {
      // An octal or decimal number in text (tar headers, PAX records, VMDK descriptors).
      const text = Buffer.from(['77777777777', '0', '1e300', '-1', '99999999999999999999', '00000000000'][pick(6)]);
      text.copy(buf, p, 0, Math.min(text.length, buf.length - p));
    } else {
      // A chunk copied over another place (duplicated headers, overlapping tables).
      const len = 1 + pick(512);
      const from = pick(buf.length);
      buf.copy(buf, p, from, Math.min(buf.length, from + len));
    }
  }
  // Byte edits of a tar mostly land in headers whose checksum then refuses them: usually make them count.
  if (tar && rnd() < 0.7) for (const h of tarHeaders(buf)) fixChecksum(buf, h);
  if (rnd() < 0.08) buf = buf.subarray(0, Math.max(1, pick(buf.length)));
  return buf;
}

/** Header blocks of a tar stream (the ustar magic at 257), by offset. */
function tarHeaders(buf) {
  const out = [];
  for (let o = 0; o + 512 <= buf.length; o += 512) if (buf.toString('latin1', o + 257, o + 262) === 'ustar') out.push(o);
  return out;
}

/** Rewrite a tar header's checksum, so a mutated header is parsed rather than refused. */
function fixChecksum(buf, h) {
  buf.fill(0x20, h + 148, h + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += buf[h + i];
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', h + 148, 'latin1');
}

const TAR_NAMES = ['../../../../etc/passwd', '/etc/shadow', 'a/'.repeat(49), '.', '', 'etc/passwd', 'home/bob/.nix-defexpr/channels', '\x1b]8;;x\x07'];
const TAR_NUMBERS = ['77777777777', '00000000000', '7777777', '1e300', '-1', '99999999999', ' '];
/** PAX records: huge and impossible values for the fields readers trust. */
const PAX_RECORDS = ['mtime=1e300', 'mtime=-1e300', 'size=99999999999999999', 'path=../../../../etc/shadow', 'linkpath=/etc/passwd', 'GNU.sparse.realsize=1125899906842624', 'uid=-1', 'path=' + 'x/'.repeat(3000)];

/**
 * A tar-aware edit (tar, PAX, OCI and docker archives, the tar inside a compressor): one field of one member's header
 * set to a hostile value (names that climb out, absolute links, huge or impossible numbers, other type flags), or a
 * PAX record added, with the checksum fixed so the parser takes it.
 */
function mutateTar(buf, rnd) {
  const heads = tarHeaders(buf);
  if (heads.length === 0) return;
  const pick = (n) => Math.floor(rnd() * n);
  const h = heads[pick(heads.length)];
  const r = rnd();
  if (r < 0.3) {
    const [off, len] = [[0, 100], [157, 100], [345, 155]][pick(3)];
    buf.fill(0, h + off, h + off + len);
    buf.write(TAR_NAMES[pick(TAR_NAMES.length)], h + off, len, 'latin1');
  } else if (r < 0.6) {
    const [off, len] = [[100, 8], [108, 8], [116, 8], [124, 12], [136, 12]][pick(5)];
    if (rnd() < 0.2) {
      // base-256 (GNU): the high bit set, then big-endian bytes.
      buf.fill(0xff, h + off, h + off + len);
      buf[h + off] = 0x80 | pick(2) * 0x7f;
    } else {
      buf.fill(0, h + off, h + off + len);
      buf.write(TAR_NUMBERS[pick(TAR_NUMBERS.length)], h + off, len - 1, 'latin1');
    }
  } else if (r < 0.8) {
    buf[h + 156] = '0125673LKxgSVMD'.charCodeAt(pick(15));
  } else {
    // A PAX extended header in place of this member's header: its record applies to the member after it.
    const rec = PAX_RECORDS[pick(PAX_RECORDS.length)];
    const body = ` ${rec}\n`;
    let n = body.length + String(body.length).length;
    if (String(n).length !== String(body.length).length) n = body.length + String(n).length;
    const line = `${n}${body}`;
    if (h + 1024 > buf.length || line.length > 512) return;
    buf[h + 156] = (rnd() < 0.7 ? 'x' : 'g').charCodeAt(0);
    buf.fill(0, h + 124, h + 136);
    buf.write(line.length.toString(8).padStart(11, '0'), h + 124, 'latin1');
    buf.fill(0, h + 512, h + 1024);
    buf.write(line, h + 512, 'latin1');
  }
  fixChecksum(buf, h);
}

function sh(cmd, args, opts = {}) {
  execFileSync(cmd, args, { stdio: 'ignore', ...opts });
}

/** A small root tree with what the rules and resolvers look at: accounts, a leaky home, links, a hard link. */
function buildTree(dir) {
  const w = (p, s) => {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), s);
  };
  w('etc/passwd', 'root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n');
  w('etc/group', 'root:x:0:\n');
  w('etc/hostname', 'fuzz\n');
  w('home/bob/.bash_history', 'ls\ncat /etc/shadow\n');
  w('root/.ssh/authorized_keys', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE bob@buildhost\n');
  w('var/log/build.log', 'building in /home/builder/src\n'.repeat(20));
  w('usr/share/doc/' + 'x'.repeat(120) + '/README', 'a long name\n');
  mkdirSync(path.join(dir, 'home/bob/.nix-defexpr'), { recursive: true });
  symlinkSync('/tmp/nix-build-1/channels', path.join(dir, 'home/bob/.nix-defexpr/channels'));
  symlinkSync('/etc/passwd', path.join(dir, 'etc/passwd-link'));
  symlinkSync('../../../../../../etc/shadow', path.join(dir, 'etc/up-link'));
}

/**
 * Build every seed into `dir`: { kind: { file, hot } }. `hot` windows are where each format keeps its metadata
 * (mutations there reach the parsers instead of file contents).
 */
export function buildSeeds(dir, kinds = null) {
  const want = (k) => !kinds || kinds.includes(k);
  const seeds = {};
  const tree = path.join(dir, 'tree');
  buildTree(tree);
  const ext4 = path.join(dir, 'fs.ext4');
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-N', '64', '-d', tree, ext4, '2M']);
  if (want('ext4')) seeds.ext4 = { file: ext4, hot: [[0, 65536]] };
  const vfat = path.join(dir, 'fs.vfat');
  sh('mkfs.vfat', ['-C', '-F', '12', vfat, '1024']);
  // FAT holds no symlinks: its files only.
  sh('sh', ['-c', `cd "${tree}" && mmd -i "${vfat}" ::/etc ::/log && mcopy -i "${vfat}" etc/passwd etc/group etc/hostname ::/etc/ && mcopy -i "${vfat}" var/log/build.log ::/log/`]);
  if (want('vfat')) seeds.vfat = { file: vfat, hot: [[0, 16384]] };
  // A disk: 1 MiB before the partition (the table), the filesystem, 1 MiB after (the GPT backup).
  const disk = (kind, label, fs, type) => {
    const file = path.join(dir, `${kind}.raw`);
    const size = readFileSync(fs).length;
    writeFileSync(file, Buffer.alloc(0));
    sh('truncate', ['-s', String(2 * 1024 * 1024 + size), file]);
    execFileSync('sfdisk', ['-q', file], { input: `label: ${label}\nstart=2048, size=${size / 512}, type=${type}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    sh('dd', [`if=${fs}`, `of=${file}`, 'bs=512', 'seek=2048', 'conv=notrunc']);
    return file;
  };
  const gpt = disk('gpt', 'gpt', ext4, 'L');
  if (want('gpt')) seeds.gpt = { file: gpt, hot: [[0, 34 * 512], [-33 * 512, 33 * 512], [1024 * 1024, 4096]] };
  if (want('mbr')) seeds.mbr = { file: disk('mbr', 'dos', vfat, 'c'), hot: [[0, 512], [1024 * 1024, 1024]] };
  for (const [kind, format, options] of [
    ['qcow2', 'qcow2', 'cluster_size=4096'],
    ['vmdk', 'vmdk', 'subformat=monolithicSparse'],
    ['vmdk-stream', 'vmdk', 'subformat=streamOptimized'],
    ['vhd', 'vpc', 'subformat=dynamic'],
    ['vhdx', 'vhdx', 'block_size=1M'],
    ['vdi', 'vdi', ''],
  ]) {
    if (!want(kind)) continue;
    const file = path.join(dir, `disk.${kind}`);
    sh('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(options ? ['-o', options] : []), gpt, file]);
    seeds[kind] = { file, hot: [[0, 8192], [-8192, 8192], [0, 1 << 30]] };
  }
  if (want('squashfs')) {
    const file = path.join(dir, 'fs.squashfs');
    sh('mksquashfs', [tree, file, '-comp', 'zstd', '-b', '4096', '-noappend', '-quiet', '-no-progress']);
    seeds.squashfs = { file, hot: [[0, 96], [0, 1 << 30]] };
  }
  if (want('erofs')) {
    const file = path.join(dir, 'fs.erofs');
    sh('mkfs.erofs', ['--quiet', '-zlz4hc', file, tree]);
    seeds.erofs = { file, hot: [[1024, 128], [0, 1 << 30]] };
  }
  if (want('btrfs')) {
    // Single metadata, shrunk to what it holds; the superblock at 64 KiB, the tree nodes after it (checksummed: most
    // mutations there end at a checksum check, which is a promise kept too).
    const file = path.join(dir, 'fs.btrfs');
    writeFileSync(file, Buffer.alloc(16 << 20));
    sh('mkfs.btrfs', ['-q', '-f', '-m', 'single', '--shrink', '-r', tree, file]);
    seeds.btrfs = { file, hot: [[0x10000, 4096], [0, 1 << 30]] };
  }
  if (want('iso9660')) {
    const file = path.join(dir, 'fs.iso');
    sh('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', file, tree]);
    seeds.iso9660 = { file, hot: [[32768, 65536]] };
  }
  // Tar: GNU (long names as ././@LongLink), PAX, a tar of images, and the compressors over a tar.
  const tar = path.join(dir, 'root.tar');
  sh('tar', ['-cf', tar, '-C', tree, '.']);
  const tarHot = [[0, 1 << 30]];
  if (want('tar')) seeds.tar = { file: tar, hot: tarHot, tar: true };
  if (want('tar-pax')) {
    const file = path.join(dir, 'pax.tar');
    sh('tar', ['--format=pax', '-cf', file, '-C', tree, '.']);
    seeds['tar-pax'] = { file, hot: tarHot, tar: true };
  }
  if (want('tar-images')) {
    const pack = path.join(dir, 'pack');
    mkdirSync(pack);
    copyFileSync(ext4, path.join(pack, 'root.img'));
    copyFileSync(vfat, path.join(pack, 'esp.img'));
    const file = path.join(dir, 'images.tar');
    sh('tar', ['-cf', file, '-C', pack, '.']);
    seeds['tar-images'] = { file, hot: [[0, 1024], [0, 1 << 30]], tar: true };
  }
  for (const [kind, tool, ext] of [['tar.gz', 'gzip', 'gz'], ['tar.xz', 'xz', 'xz'], ['tar.zst', 'zstd', 'zst']]) {
    if (!want(kind)) continue;
    const file = path.join(dir, `root.tar.${ext}`);
    writeFileSync(file, execFileSync(tool, ['-c', tar], { maxBuffer: 1 << 28 }));
    // Half the cases mutate the compressed stream, half the tar inside it (then compressed again by the tool).
    seeds[kind] = { file, hot: [[0, 64], [-64, 64], [0, 1 << 30]], inner: tar, compress: tool };
  }
  // cpio: newc as an initramfs is written (GNU cpio), the same in zstd, and a kexec tarball (a tar.gz holding a kernel
  // and kexec/initrd: two zstd-compressed cpio archives in a row, as NixOS appends the store to its initrd).
  const newc = (root) => execFileSync('sh', ['-c', 'find . | cpio -o -H newc --quiet'], { cwd: root, maxBuffer: 1 << 28 });
  const cpio = path.join(dir, 'root.cpio');
  if (want('cpio') || want('cpio.zst') || want('kexec')) writeFileSync(cpio, newc(tree));
  if (want('cpio')) seeds.cpio = { file: cpio, hot: [[0, 1 << 30]] };
  if (want('cpio.zst')) {
    const file = path.join(dir, 'root.cpio.zst');
    writeFileSync(file, execFileSync('zstd', ['-c', cpio], { maxBuffer: 1 << 28 }));
    seeds['cpio.zst'] = { file, hot: [[0, 64], [-64, 64], [0, 1 << 30]], inner: cpio, compress: 'zstd', innerTar: false };
  }
  if (want('kexec')) {
    // The second archive holds 96 KiB that do not compress (an initrd smaller than 64 KiB is not looked into).
    const store = path.join(dir, 'kexec-store');
    mkdirSync(store);
    const rnd = prng(7);
    writeFileSync(path.join(store, 'nix-store.bin'), Buffer.from(Array.from({ length: 96 * 1024 }, () => Math.floor(rnd() * 256))));
    const kexec = path.join(dir, 'kexec-pack', 'kexec');
    mkdirSync(kexec, { recursive: true });
    const zstd = (b) => execFileSync('zstd', ['-c'], { input: b, maxBuffer: 1 << 28 });
    writeFileSync(path.join(kexec, 'initrd'), Buffer.concat([zstd(readFileSync(cpio)), zstd(newc(store))]));
    writeFileSync(path.join(kexec, 'bzImage'), Buffer.alloc(70 * 1024, 0x90));
    writeFileSync(path.join(kexec, 'run'), '#!/bin/sh\nkexec --load ./bzImage --initrd=./initrd\n');
    const file = path.join(dir, 'kexec.tar.gz');
    sh('tar', ['-czf', file, '-C', path.join(dir, 'kexec-pack'), 'kexec']);
    seeds.kexec = { file, hot: [[0, 64], [-64, 64], [0, 1 << 30]] };
  }
  if (want('lvm')) {
    // LVM2 in a qcow2 (two linear LVs of ext2): dfvfs's test image from the corpus (test/fixtures/README.md).
    const file = path.join(dir, 'lvm.qcow2');
    copyFileSync(path.join(REPO, 'test', 'fixtures', 'corpus', 'dfvfs_lvmtest.qcow2'), file);
    seeds.lvm = { file, hot: [[0, 4096], [0, 1 << 30]] };
  }
  for (const store of ['sqlite', 'bdb', 'ndb']) {
    // An rpm root as a tar (rpm, rpmbuild, db_load: images-sample/rpmdb.mjs); the mutations go to the database's bytes,
    // which the tar does not checksum, so they reach the rpm database readers and the header parser: its first page
    // (SQLite's header and schema, BDB's metadata, ndb's slots) and where each package's header blob lies.
    const kind = `rpm-${store}`;
    if (!want(kind)) continue;
    const root = path.join(dir, kind);
    const { db, headers } = rpmRoot(root, store, path.join(dir, `${kind}-work`));
    // Filler, so that the edits the mutator makes anywhere mostly land in file data rather than tar headers.
    writeFileSync(path.join(root, 'usr/share/demo/filler.txt'), 'filler line\n'.repeat(32768));
    const file = path.join(dir, `${kind}.tar`);
    sh('tar', ['-cf', file, '-C', root, '.']);
    const [start, size] = tarMemberRange(readFileSync(file), `.${db}`);
    const bytes = readFileSync(path.join(root, db));
    const blobs = headers.map((h) => bytes.indexOf(h.subarray(0, 64))).filter((i) => i >= 0);
    const within = (from, len) => [start + from, Math.min(len, size - from)];
    seeds[kind] = { file, hot: [within(0, 4096), ...blobs.map((i, n) => within(Math.max(0, i - 64), headers[n].length + 1024))] };
  }
  for (const [kind, sample] of [['oci', 'leaky-oci.tar'], ['docker', 'leaky-docker.tar']]) {
    if (!want(kind)) continue;
    const file = path.join(dir, sample);
    copyFileSync(path.join(SAMPLES, sample), file);
    // The tar headers and the small JSON members (index, manifests, configs) come first and last. The sample holds a
    // corrupt nested image on purpose (partial by design): --no-nested, so the seed itself is audited completely.
    seeds[kind] = { file, hot: [[0, 16384], [-16384, 16384], [0, 1 << 30]], tar: true, args: ['--no-nested'] };
  }
  return seeds;
}

/** [offset, length] of a member's data in a ustar/GNU tar (short names only: the seeds' paths are). */
function tarMemberRange(buf, name) {
  for (let o = 0; o + 512 <= buf.length; ) {
    const field = (at, len) => buf.toString('latin1', o + at, o + at + len).replace(/\0.*$/s, '');
    const n = field(0, 100);
    if (n === '') break;
    const size = parseInt(field(124, 12).trim(), 8) || 0;
    if (n === name) return [o + 512, size];
    o += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} is not in the tar`);
}

/** Every seed kind, in a stable order. */
export const KINDS = [
  'gpt', 'mbr', 'ext4', 'vfat', 'squashfs', 'erofs', 'iso9660', 'btrfs',
  'qcow2', 'vmdk', 'vmdk-stream', 'vhd', 'vhdx', 'vdi', 'lvm',
  'tar', 'tar-pax', 'tar-images', 'tar.gz', 'tar.xz', 'tar.zst', 'cpio', 'cpio.zst', 'kexec', 'oci', 'docker', 'rpm-sqlite', 'rpm-bdb', 'rpm-ndb',
];

/* ------------------------------------------------------------------------------------------------------------ */
/* The child: audits cases in-process under the watches, and reports each broken invariant.                     */
/* ------------------------------------------------------------------------------------------------------------ */

async function child(spec) {
  const { createRequire, syncBuiltinESMExports } = await import('node:module');
  const require = createRequire(import.meta.url);
  const fs = require('node:fs');
  const cp = require('node:child_process');
  const { tmp, repo } = spec;
  const opened = [];
  const targetFds = new Set();
  const fault = { armed: false, at: -1, count: 0, hit: false };
  let current = null;
  const real = (p) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(String(p));
    }
  };
  /** The target's bytes: the file itself, or a copy hostleak made of them (a decompressed image, a tar member). */
  const isTarget = (p) => {
    if (current === null || typeof p !== 'string') return false;
    const abs = path.resolve(p);
    return abs === current || (abs.startsWith(tmp + '/') && /^hostleak-/.test(path.relative(tmp, abs)));
  };
  const note = (p) => {
    if (typeof p === 'string' || p instanceof URL) opened.push(path.resolve(p instanceof URL ? fileURLToPath(p) : p));
  };
  const eio = () => Object.assign(new Error('EIO: i/o error, read (injected)'), { code: 'EIO', errno: -5, syscall: 'read' });
  /** Counts reads of the target; the armed one throws. */
  const faultNow = () => {
    const k = fault.count++;
    if (fault.armed && k === fault.at) {
      fault.hit = true;
      if (process.env.FUZZ_DEBUG) process.stderr.write(`injected EIO at read #${k}: ${new Error().stack}\n`);
      return true;
    }
    return false;
  };
  const { openSync, open, readSync, read, closeSync } = fs;
  fs.openSync = function (p, ...rest) {
    note(p);
    const fd = openSync.call(this, p, ...rest);
    if (isTarget(p)) targetFds.add(fd);
    return fd;
  };
  fs.open = function (p, ...rest) {
    note(p);
    const cb = rest.pop();
    return open.call(this, p, ...rest, (err, fd) => {
      if (!err && isTarget(p)) targetFds.add(fd);
      cb(err, fd);
    });
  };
  fs.closeSync = function (fd) {
    targetFds.delete(fd);
    return closeSync.call(this, fd);
  };
  fs.readSync = function (fd, ...rest) {
    if (targetFds.has(fd) && faultNow()) throw eio();
    return readSync.call(this, fd, ...rest);
  };
  fs.read = function (fd, ...rest) {
    if (targetFds.has(fd) && faultNow()) {
      const cb = rest.pop();
      process.nextTick(() => cb(eio()));
      return;
    }
    return read.call(this, fd, ...rest);
  };
  const popen = fs.promises.open;
  fs.promises.open = async function (p, ...rest) {
    note(p);
    const fh = await popen.call(this, p, ...rest);
    if (isTarget(p)) {
      const r = fh.read.bind(fh);
      fh.read = async (...a) => {
        if (faultNow()) throw eio();
        return r(...a);
      };
    }
    return fh;
  };
  for (const name of ['readFileSync', 'createReadStream']) {
    const orig = fs[name];
    fs[name] = function (p, ...rest) {
      note(p);
      return orig.call(this, p, ...rest);
    };
  }
  // Spawned tools (decompressors, qemu-img): their file arguments count as opened.
  for (const name of ['spawn', 'execFile', 'spawnSync', 'execFileSync']) {
    const orig = cp[name];
    cp[name] = function (cmd, args, ...rest) {
      if (Array.isArray(args)) for (const a of args) if (typeof a === 'string' && a.startsWith('/')) note(a.replace(/^[a-z]+:/, ''));
      return orig.call(this, cmd, args, ...rest);
    };
  }
  syncBuiltinESMExports();

  const { run } = await import(path.join(repo, 'dist/src/cli.js'));
  const fc = (await import('fast-check')).default;
  const bugs = [];
  const counts = { ok: 0, partial: 0, failed: 0, usage: 0 };
  let maxRss = 0;
  process.on('unhandledRejection', (e) => bugs.push({ invariant: 'no unhandled error', detail: `unhandledRejection: ${e?.stack ?? e}`.slice(0, 600) }));
  process.on('uncaughtException', (e) => bugs.push({ invariant: 'no unhandled error', detail: `uncaughtException: ${e?.stack ?? e}`.slice(0, 600) }));

  const allowed = [tmp, repo, real(tmp), real(repo), '/dev/null', '/proc/', '/sys/fs/cgroup/'];
  const inside = (p) => allowed.some((a) => p === a || p.startsWith(a.endsWith('/') ? a : a + '/'));

  /** Audit one file; returns the broken invariants (empty: all held). */
  async function audit(file, faultAt, extra = []) {
    const problems = [];
    current = path.resolve(file);
    opened.length = 0;
    targetFds.clear();
    Object.assign(fault, { armed: faultAt >= 0, at: faultAt, count: 0, hit: false });
    const started = Date.now();
    let r;
    try {
      r = await run(['scan', file, '--format', 'json', '--timeout', String(TIMEOUT_S), '--verbose', '--no-cache', '--host-user', 'builder', '--host-home', '/home/builder', '--host-name', 'buildhost', ...extra], {
        cwd: tmp,
        env: { ...process.env },
        color: false,
      });
    } catch (e) {
      problems.push({ invariant: 'no unhandled error', detail: `run() threw: ${String(e?.stack ?? e).slice(0, 600)}` });
    }
    fault.armed = false;
    const ms = Date.now() - started;
    const target = current;
    current = null;
    if (ms > TIMEOUT_S * 1000 + SLACK_MS) problems.push({ invariant: 'finishes within the deadline', detail: `${ms} ms with --timeout ${TIMEOUT_S}` });
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    if (!r) return { problems, reads: fault.count, status: null };
    const trace = r.stderr.split('\n').find((l) => /^\s*(hostleak: )?\s*at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/.test(l) || /Maximum call stack|heap out of memory/.test(l));
    if (trace) problems.push({ invariant: 'no stack trace', detail: r.stderr.slice(0, 800) });
    let status = null;
    if (![0, 1, 3].includes(r.exitCode)) {
      counts.usage++;
      problems.push({ invariant: 'exit 0, 1 or 3', detail: `exit ${r.exitCode}: ${r.stderr.slice(0, 300)}` });
    } else {
      try {
        const t = JSON.parse(r.stdout).targets[0];
        status = t.status;
        counts[status]++;
        if (process.env.FUZZ_DEBUG && t.error) process.stderr.write(`reason: ${t.error.slice(0, 90)}\n`);
        if (/Maximum call stack|Invalid time value|is not a function|Cannot read propert|undefined|NaN/.test(t.error ?? '')) {
          problems.push({ invariant: 'no internal error', detail: t.error });
        }
        if (status === 'ok' && r.exitCode === 3) problems.push({ invariant: 'never ok after a failed read', detail: 'exit 3 with an ok target' });
        if (fault.hit && status === 'ok') problems.push({ invariant: 'never ok after a failed read', detail: `read #${faultAt} of the target failed (EIO), the target is ok` });
      } catch {
        problems.push({ invariant: 'a JSON report', detail: r.stdout.slice(0, 300) });
      }
    }
    if (process.env.FUZZ_DEBUG) process.stderr.write(`opened: ${[...new Set(opened)].filter((p) => !p.includes('/node_modules/') && !p.includes('/dist/')).join(' ')}\n`);
    // Where each opened path really is (a symlink inside the target that leads out of it counts as outside).
    const root = real(target);
    const outside = [...new Set(opened.map(real).filter((p) => !inside(p) && p !== root && !p.startsWith(root + '/')))];
    if (outside.length) problems.push({ invariant: 'no path outside the target opened', detail: outside.slice(0, 5).join(', ') });
    return { problems, reads: fault.count, status };
  }

  const out = [];
  for (const c of spec.cases) {
    if (c.kind === 'replay') {
      // A saved input, or (`at`) one injected read fault on a file.
      const { problems } = await audit(c.file, c.at ?? -1, c.args);
      for (const p of problems) bugs.push({ ...c, ...p });
      continue;
    }
    const base = readFileSync(c.file);
    const file = path.join(tmp, `case-${c.kind}${path.extname(c.file)}`);
    // The seed itself first: it must be audited completely (otherwise the faults below prove nothing).
    writeFileSync(file, base);
    const clean = await audit(file, -1, c.args);
    for (const p of clean.problems) bugs.push({ kind: c.kind, seed: 'none', ...p });
    if (clean.status !== 'ok') bugs.push({ kind: c.kind, seed: 'none', invariant: 'the seed reads', detail: `status ${clean.status}` });
    for (let i = 0; i < c.cases; i++) {
      const seed = (spec.seed * 100003 + i) >>> 0;
      const inner = c.inner && seed % 2 === 0 ? readFileSync(c.inner) : null;
      const bytes = inner
        ? execFileSync(c.compress, ['-c'], { input: mutate(inner, [[0, 1 << 30]], seed, c.innerTar !== false), maxBuffer: 1 << 28 })
        : mutate(base, c.hot, seed, c.tar === true);
      writeFileSync(file, bytes);
      process.stderr.write(`case ${c.kind} ${seed}\n`);
      const { problems } = await audit(file, -1, c.args);
      for (const p of problems) bugs.push({ kind: c.kind, seed, ...p, input: bytes.toString('base64').length < 4 * 1024 * 1024 ? saveInput(spec, c, bytes) : null });
    }
    // Faults: fast-check picks which read of the (unmutated) target fails; it shrinks to the first that breaks.
    if (c.faults > 0 && clean.reads > 0) {
      writeFileSync(file, base);
      let failure = null;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: clean.reads - 1 }), async (k) => {
          process.stderr.write(`fault ${c.kind} read #${k}\n`);
          const { problems } = await audit(file, k, c.args);
          if (problems.length) failure = { k, problems };
          return problems.length === 0;
        }),
        { seed: spec.seed, numRuns: c.faults, endOnFailure: false },
      ).catch(() => undefined);
      if (failure) for (const p of failure.problems) bugs.push({ kind: c.kind, seed: `fault read #${failure.k} of ${clean.reads}`, faultAt: failure.k, ...p });
    }
    out.push({ kind: c.kind, reads: clean.reads });
  }
  maxRss = Math.max(maxRss, process.resourceUsage().maxRSS * 1024);
  const maxRssMiB = maxRss / 1024 / 1024;
  if (maxRssMiB > RSS_LIMIT_MIB) bugs.push({ invariant: 'RSS under the budget', detail: `peak ${maxRssMiB.toFixed(0)} MiB` });
  process.stdout.write(JSON.stringify({ bugs, counts, maxRssMiB, seeds: out }));
}

/** Where a failing input goes: the run's temp dir (the parent copies it into the fixtures with --save). */
function saveInput(spec, c, bytes) {
  const name = `${c.kind.replace(/[^a-z0-9.-]/g, '-')}-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}${path.extname(c.file) || '.bin'}`;
  const file = path.join(spec.found, name);
  mkdirSync(spec.found, { recursive: true });
  writeFileSync(file, bytes);
  return file;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* The parent: builds the seeds, runs one child per seed, collects and (with --save) keeps what broke.           */
/* ------------------------------------------------------------------------------------------------------------ */

/** A PATH whose first entry has a guestfish that fails at once: no appliance is ever booted by the harness. */
function fencedPath(dir) {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'guestfish'), '#!/bin/sh\necho "guestfish is disabled in the fuzz harness" >&2\nexit 1\n');
  chmodSync(path.join(bin, 'guestfish'), 0o755);
  return `${bin}:${process.env.PATH}`;
}

/**
 * The regression fixtures: inputs that broke an invariant (test/fixtures/fuzz/<kind>-<hash>.<ext>), and read faults
 * that did (<kind>.fault-<k>.json: `{ "kind", "at" }`, the k-th read of that seed failing).
 */
export function regressionFixtures() {
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(FIXTURES)
    .filter((f) => f !== 'README.md')
    .sort()
    .map((f) => path.join(FIXTURES, f));
}

/** One replay job per fixture; fault fixtures run on a freshly built seed of their kind. */
function replayJobs(dir) {
  const files = regressionFixtures();
  const faults = files.filter((f) => f.endsWith('.fault.json')).map((f) => ({ name: path.basename(f), ...JSON.parse(readFileSync(f, 'utf8')) }));
  const seeds = faults.length ? buildSeeds(dir, [...new Set(faults.map((f) => f.kind))]) : {};
  return [
    ...files.filter((f) => !f.endsWith('.fault.json')).map((file) => [{ kind: 'replay', file }]),
    ...faults.map((f) => [{ kind: 'replay', file: seeds[f.kind].file, args: seeds[f.kind].args, at: f.at, name: f.name }]),
  ];
}

/**
 * Run the harness. `kinds`: seed kinds (default all); `cases`, `faults`: per seed; `seed`: the run's seed;
 * `replay`: regression fixtures only; `save`: copy failing inputs into test/fixtures/fuzz/. Returns
 * { bugs, counts, maxRssMiB, seeds, childFailures }.
 */
export function runFuzz({ kinds = KINDS, cases = 20, faults = 8, seed = 1, replay = false, save = false, log = () => {} } = {}) {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hl-fuzz-'));
  try {
    const seeds = replay ? {} : buildSeeds(path.join(work, 'seeds'), kinds);
    const jobs = replay
      ? replayJobs(path.join(work, 'seeds'))
      : kinds.map((k) => [{ kind: k, ...seeds[k], cases, faults }]);
    const result = { bugs: [], counts: { ok: 0, partial: 0, failed: 0, usage: 0 }, maxRssMiB: 0, seeds: [], childFailures: [] };
    const env = { ...process.env, PATH: fencedPath(work), LANG: undefined, NO_COLOR: '1' };
    for (const job of jobs) {
      const tmp = mkdtempSync(path.join(work, 'run-'));
      const spec = { cases: job, seed, tmp, repo: REPO, found: path.join(work, 'found') };
      const label = job[0].kind === 'replay' ? (job[0].name ?? path.basename(job[0].file)) : job[0].kind;
      log(`fuzz: ${label}`);
      // Budgets as the README states them: the child's heap is capped, so running out of it is a crash here.
      const r = spawnSync(process.execPath, ['--max-old-space-size=448', '--stack-size=984', fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], {
        encoding: 'utf8',
        env: { ...env, TMPDIR: tmp, HOSTLEAK_TMPDIR: tmp },
        timeout: (job[0].cases ?? 1) * 60_000 + 300_000,
        maxBuffer: 1 << 28,
      });
      let out;
      try {
        out = JSON.parse(r.stdout);
      } catch {
        const last = r.stderr.trim().split('\n').filter((l) => /^(case|fault) /.test(l)).pop();
        result.childFailures.push({ job: label, status: r.status, signal: r.signal, last, stderr: r.stderr.slice(-1500) });
        continue;
      }
      result.bugs.push(...out.bugs);
      for (const k of Object.keys(result.counts)) result.counts[k] += out.counts[k];
      result.maxRssMiB = Math.max(result.maxRssMiB, out.maxRssMiB);
      result.seeds.push(...out.seeds);
      // Anything the run left in its temp folder (a clean exit must leave nothing).
      const left = readdirSync(tmp).filter((f) => !f.startsWith('case-'));
      if (left.length) result.bugs.push({ kind: label, invariant: 'nothing left in the temp folder', detail: left.join(', ') });
    }
    if (save) {
      mkdirSync(FIXTURES, { recursive: true });
      for (const b of result.bugs) {
        let dest = null;
        if (b.input && existsSync(b.input)) {
          dest = path.join(FIXTURES, path.basename(b.input));
          copyFileSync(b.input, dest);
        } else if (b.faultAt !== undefined) {
          dest = path.join(FIXTURES, `${b.kind}.fault-${b.faultAt}.fault.json`);
          writeFileSync(dest, JSON.stringify({ kind: b.kind, at: b.faultAt }) + '\n');
        }
        if (dest) b.saved = path.relative(REPO, dest);
      }
    }
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const o = { cases: 400, faults: 40, seed: Date.now() % 100000, kinds: KINDS, replay: false, save: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cases') o.cases = Number(argv[++i]);
    else if (a === '--faults') o.faults = Number(argv[++i]);
    else if (a === '--seed') o.seed = Number(argv[++i]);
    else if (a === '--kinds') o.kinds = argv[++i].split(',');
    else if (a === '--replay') o.replay = true;
    else if (a === '--save') o.save = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (const k of o.kinds) if (!KINDS.includes(k)) throw new Error(`unknown kind ${k} (one of ${KINDS.join(', ')})`);
  return o;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--child') {
    await child(JSON.parse(process.argv[3]));
  } else {
    const o = parseArgs(process.argv.slice(2));
    console.error(`fuzz: seed ${o.seed}, ${o.replay ? 'replaying the regression fixtures' : `${o.cases} mutations and ${o.faults} faults per seed, ${o.kinds.length} seeds`}`);
    const r = runFuzz({ ...o, log: (m) => console.error(m) });
    const reads = Object.fromEntries(r.seeds.map((s) => [s.kind, s.reads]));
    console.log(JSON.stringify({ counts: r.counts, maxRssMiB: Math.round(r.maxRssMiB), readsPerSeed: reads, bugs: r.bugs, childFailures: r.childFailures }, null, 2));
    process.exitCode = r.bugs.length || r.childFailures.length ? 1 : 0;
  }
}
