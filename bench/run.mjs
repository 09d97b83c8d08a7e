#!/usr/bin/env node
// `npm run bench`: every number is measured in this run on this machine (ratios, never absolute thresholds).
//   1. native backend (bench/native.mjs): the full audit (built CLI, all rules, --format json, --backend native) of a
//      GPT disk with a ~150k-entry ext4, against sleuthkit's `fls -r -m /` on the same filesystem; peak RSS.
//   2. disk containers (bench/containers.mjs): the same disk as VHD (dynamic, fixed), VHDX, VMDK (sparse, stream),
//      VDI, each audited natively vs `qemu-img convert` to raw + native audit vs the guestfs backend
//      (HOSTLEAK_BENCH_GUESTFS=0 skips the guestfs runs; HOSTLEAK_BENCH_CONTAINERS=0 skips this part)
//   3. filesystems (bench/filesystems.mjs): the same tree as squashfs (zstd, xz), erofs (lz4hc) and iso9660, each
//      audited natively vs the format's own tool (unsquashfs -lln, fsck.erofs, xorriso -find) vs the guestfs backend
//      (HOSTLEAK_BENCH_FILESYSTEMS=0 skips this part)
//   3b. archives (bench/archives.mjs): the same root as .tar, .tar.gz, .tar.zst, .tar.xz and an OCI archive, each
//      audited vs its bare decompression and `tar -tvf` (HOSTLEAK_BENCH_ARCHIVES=0 skips this part)
//   4. guestfs backend (minutes under TCG; skip with HOSTLEAK_BENCH_GUESTFS=0), on the same large image and on the
//      sample image images-sample/out/leaky.raw:
//        bare appliance: `guestfish --ro -a IMG run`                 (the floor: one launch)
//        hostleak full audit through guestfs                         (one launch + inventory + reads)
//        `virt-ls -lR` over the same filesystem                      (the reference tool)
//   5. guestfs on a real Debian 12 disk (bench/guestfs-debian.mjs, HOSTLEAK_BENCH_GUESTFS_DEBIAN=1): --verbose phase
//      list vs phase rules and what the reads cost, then one `tar-out DIR` vs pipelined `pread`s of its files.
//   HOSTLEAK_BENCH_SCALE=1 adds the native bench on a ~1M-entry image of the same kind (bench/native.mjs --paths 42000).
// The large image is generated once (bench/make-large.mjs) and cached under bench/out/.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { largeImagePath, makeLarge } from './make-large.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');

const nat = spawnSync(process.execPath, [path.join(here, 'native.mjs')], { stdio: 'inherit' });
if (nat.status !== 0) process.exitCode = 1;
// The scale bench: the same kind of image at ~1M entries (42,000 store paths; built once, ~4 GB sparse, minutes).
if (process.env.HOSTLEAK_BENCH_SCALE === '1') {
  const big = spawnSync(process.execPath, [path.join(here, 'native.mjs'), '--paths', '42000', '--runs', '3'], { stdio: 'inherit' });
  if (big.status !== 0) process.exitCode = 1;
}

if (process.env.HOSTLEAK_BENCH_CONTAINERS !== '0') {
  console.log('');
  const r = spawnSync(process.execPath, [path.join(here, 'containers.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

// Filesystem images (squashfs, erofs, iso9660) of the same tree: native vs each format's tool vs guestfs.
if (process.env.HOSTLEAK_BENCH_FILESYSTEMS !== '0') {
  console.log('');
  const r = spawnSync(process.execPath, [path.join(here, 'filesystems.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

// The same root in every archive format: hostleak vs bare decompression vs tar's own listing.
if (process.env.HOSTLEAK_BENCH_ARCHIVES !== '0') {
  console.log('');
  const r = spawnSync(process.execPath, [path.join(here, 'archives.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (process.env.HOSTLEAK_BENCH_GUESTFS === '0') {
  console.log('\n(guestfs benchmark skipped: HOSTLEAK_BENCH_GUESTFS=0)');
} else {
  const accel = process.env.HOSTLEAK_BENCH_ACCEL ?? 'tcg';
  const env = { ...process.env };
  if (accel === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';

  const time = (label, cmd, args) => {
    const t = Date.now();
    const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    const s = (Date.now() - t) / 1000;
    const extra = r.status === 0 || r.status === 1 ? '' : ` (exit ${r.status}: ${String(r.stderr).trim().split('\n').pop()})`;
    console.log(`${label.padEnd(44)} ${s.toFixed(1).padStart(7)} s${extra}`);
    return { s, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  const cli = path.join(repo, 'dist/src/bin/hostleak.js');
  const large = await makeLarge(largeImagePath(path.join(here, 'out')));
  console.log(`\n== guestfs backend (accel: ${accel})`);
  for (const [name, img, dev] of [
    ['sample leaky.raw', path.join(repo, 'images-sample/out/leaky.raw'), '/dev/sda2'],
    ['large', large, '/dev/sda1'],
  ]) {
    console.log(`\n-- ${name}: ${path.relative(process.cwd(), img)}`);
    const bare = time('guestfish --ro -a IMG run', 'guestfish', ['--ro', '--format=raw', '-a', img, 'run']);
    const audit = time('hostleak scan (guestfs, full audit)', process.execPath, [cli, 'scan', '--backend', 'guestfs', '--accel', accel, '--verbose', '--format', 'json', img]);
    for (const l of audit.stderr.split('\n').filter((l) => /entries|appliance up/.test(l))) console.log(`    ${l}`);
    const vls = time('virt-ls -lR', 'virt-ls', ['--format=raw', '-a', img, '-m', dev, '-lR', '/']);
    console.log(`ratio audit / bare launch: ${(audit.s / bare.s).toFixed(2)}`);
    console.log(`ratio audit / virt-ls -lR: ${(audit.s / vls.s).toFixed(2)}  (virt-ls listed ${vls.stdout.split('\n').length - 1} lines)`);
  }
}

// guestfs on a real Debian 12 disk (bench/guestfs-debian.mjs: the debootstrap root of bench/accuracy.mjs as a GPT ext4
// disk; phase list vs phase rules, the reads' cost, tar-out vs pread); HOSTLEAK_BENCH_GUESTFS_DEBIAN=1 runs it.
if (process.env.HOSTLEAK_BENCH_GUESTFS_DEBIAN === '1') {
  const r = spawnSync(process.execPath, [path.join(here, 'guestfs-debian.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

// The artifact-store benchmark (~50 images, cold vs cached); HOSTLEAK_BENCH_STORE=0 skips it.
if (process.env.HOSTLEAK_BENCH_STORE !== '0') {
  const r = spawnSync(process.execPath, [path.resolve('bench/store.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

// Accuracy on real Debian 12 roots (bench/accuracy.mjs: debootstrap, root and a Debian mirror needed; roots cached
// under bench/out/accuracy/); HOSTLEAK_ACCURACY=0 skips it.
if (process.env.HOSTLEAK_ACCURACY !== '0') {
  const r = spawnSync(process.execPath, [path.join(here, 'accuracy.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
