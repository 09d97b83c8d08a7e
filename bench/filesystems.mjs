#!/usr/bin/env node
// Benchmark of the native filesystem readers, everything measured in this run on this machine (ratios, never
// thresholds). The large bench tree (bench/make-large.mjs: a NixOS-store-like tree, ~147k entries) is packed once
// (cached under bench/out/) as
//   squashfs zstd / xz   mksquashfs (the NixOS installer ISO's store uses zstd; older ones xz)
//   erofs lz4hc          mkfs.erofs -zlz4hc (systemd-repart / appliance images)
//   iso9660              xorriso (Rock Ridge + Joliet), the tree stored uncompressed
//   ext4, xfs, btrfs     mke2fs -d, mkfs.xfs -p (a protofile of the tree), mkfs.btrfs --rootdir: the read-write
//                        roots distributions ship
// and for each one:
//   native     `hostleak scan --backend native --format json IMG`, best of N
//   reader     the native reader alone (bench/list-cpu.mjs: open + the walk into the inventory, CPU by
//              process.cpuUsage() in the child around that work only, node's start-up not counted), best of N
//   reference  the format's own tool over the same image: `unsquashfs -lln` (list with attributes), `fsck.erofs`
//              (walks and decodes everything), `isoinfo -l -R` (xorriso's -find -exec lsdl takes minutes here),
//              `fls -r` (ext4), `xfs_repair -n` (xfs: checks every inode and directory), `btrfs check --readonly`
//              (btrfs: checks every tree); reader CPU / reference CPU (the reference's CPU by GNU time), and
//              every format's audit against the native ext4 audit of the same tree
// HOSTLEAK_BENCH_FORMATS=ext4,xfs,btrfs (suffixes) runs only those formats.
//   guestfs    `hostleak scan --backend guestfs` (one appliance under TCG; skip with HOSTLEAK_BENCH_GUESTFS=0)
//   node bench/filesystems.mjs [--runs 2]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { accel, bestOf, cli, GUESTFS, here, opt, repo, run, seconds, summary } from './lib.mjs';
import { writeLargeTree } from './make-large.mjs';

const RUNS = opt('runs', Number(process.env.HOSTLEAK_BENCH_RUNS ?? 2));
const VERSION = 1;

const FORMATS = [
  { name: 'squashfs (zstd)', suffix: 'zstd.squashfs', make: (t, o) => ['mksquashfs', [t, o, '-comp', 'zstd', '-noappend', '-quiet', '-no-progress']], ref: (o) => ['unsquashfs', ['-lln', o]] },
  { name: 'squashfs (xz)', suffix: 'xz.squashfs', make: (t, o) => ['mksquashfs', [t, o, '-comp', 'xz', '-noappend', '-quiet', '-no-progress']], ref: (o) => ['unsquashfs', ['-lln', o]] },
  { name: 'erofs (lz4hc)', suffix: 'lz4hc.erofs', make: (t, o) => ['mkfs.erofs', ['--quiet', '-zlz4hc', o, t]], ref: (o) => ['fsck.erofs', [o]] },
  { name: 'iso9660 (RR + Joliet)', suffix: 'iso', make: (t, o) => ['xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', o, t]], ref: (o) => ['isoinfo', ['-l', '-R', '-i', o]] },
  { name: 'ext4', suffix: 'ext4', make: (t, o) => ['mke2fs', ['-q', '-F', '-t', 'ext4', '-N', '200000', '-d', t, o, '2G']], ref: (o) => ['fls', ['-r', o]] },
  {
    name: 'xfs (v5)',
    suffix: 'xfs',
    make: (t, o) => ['sh', ['-c', 'node "$0" "$1" > "$2.proto" && truncate -s 2G "$2" && mkfs.xfs -q -f -p "$2.proto" "$2" && rm "$2.proto"', path.join(repo, 'images-sample', 'xfs-proto.mjs'), t, o]],
    ref: (o) => ['xfs_repair', ['-n', '-f', o]],
  },
  {
    name: 'btrfs',
    suffix: 'btrfs',
    make: (t, o) => ['sh', ['-c', 'truncate -s 2G "$1" && mkfs.btrfs -q -f -r "$0" "$1"', t, o]],
    ref: (o) => ['btrfs', ['check', '--readonly', o]],
  },
].filter((f) => !process.env.HOSTLEAK_BENCH_FORMATS || process.env.HOSTLEAK_BENCH_FORMATS.split(',').includes(f.suffix));

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}
const outDir = path.join(here, 'out');
for (const f of FORMATS) f.file = path.join(outDir, `large-tree-v${VERSION}.${f.suffix}`);
const missing = FORMATS.filter((f) => !existsSync(f.file));
if (missing.length > 0) {
  mkdirSync(outDir, { recursive: true });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-tree-'));
  try {
    console.error('bench: writing the large tree (once; images cached afterwards)...');
    await writeLargeTree(path.join(tmp, 'root'));
    for (const f of missing) {
      console.error(`bench: packing it as ${f.name}...`);
      const [cmd, argv] = f.make(path.join(tmp, 'root'), `${f.file}.tmp`);
      execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
      execFileSync('mv', [`${f.file}.tmp`, f.file]);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}


const best = bestOf();
const keep = best.keep;
const listCpu = path.join(here, 'list-cpu.mjs');
/** The reader alone: the fastest in-process CPU time of its open and walk. */
const readers = new Map();
function keepReader(suffix, r) {
  const got = JSON.parse(r.stdout);
  const b = readers.get(suffix);
  if (!b || got.cpu < b.cpu) readers.set(suffix, got);
}
for (let n = 0; n < RUNS; n++) {
  for (const f of FORMATS) {
    keep(`${f.suffix}:native`, run(process.execPath, [cli, 'scan', '--backend', 'native', '--format', 'json', f.file]));
    keepReader(f.suffix, run(process.execPath, [listCpu, f.file]));
    const [cmd, argv] = f.ref(f.file);
    keep(`${f.suffix}:ref`, run(cmd, argv));
  }
}
const guestfs = new Map();
if (GUESTFS) {
  const env = { ...process.env, ...(accel === 'tcg' ? { LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' } : {}) };
  for (const f of FORMATS) {
    guestfs.set(f.suffix, run(process.execPath, [cli, 'scan', '--backend', 'guestfs', '--accel', accel, '--timeout', '3600', '--format', 'json', f.file], env));
  }
}
const s = seconds;
const c = (r) => `${s(r.wall)} (cpu ${(r.cpu / 1000).toFixed(2)} s)`;
console.log(`== filesystems: the large bench tree packed by each format's tool (native and reference: best of ${RUNS}; load average ${os.loadavg()[0].toFixed(1)})`);
for (const f of FORMATS) {
  const nat = best.get(`${f.suffix}:native`);
  const ref = best.get(`${f.suffix}:ref`);
  const g = guestfs.get(f.suffix);
  const size = statSync(f.file).size / 2 ** 20;
  const rd = readers.get(f.suffix);
  let line = `${f.name.padEnd(22)} native ${c(nat)} | ${f.ref(f.file)[0].padEnd(10)} ${c(ref)} (cpu native/ref x${(nat.cpu / ref.cpu).toFixed(1)})`;
  line += ` | reader cpu ${(rd.cpu / 1000).toFixed(2)} s, reader/ref x${(rd.cpu / ref.cpu).toFixed(2)}`;
  if (g) line += ` | guestfs ${s(g.wall)} x${(g.wall / nat.wall).toFixed(1)} wall (${g.status === 0 || g.status === 1 ? summary(g) : `exit ${g.status}`})`;
  console.log(`${line}   [${size.toFixed(0)} MiB; ${summary(nat)}]`);
}
const ext4 = best.get('ext4:native');
if (ext4) {
  for (const f of FORMATS.filter((x) => x.suffix !== 'ext4')) {
    const nat = best.get(`${f.suffix}:native`);
    console.log(`${f.name.padEnd(22)} native audit / ext4 native audit on the same tree: wall x${(nat.wall / ext4.wall).toFixed(2)}, cpu x${(nat.cpu / ext4.cpu).toFixed(2)}`);
  }
}
if (!GUESTFS) console.log('(guestfs runs skipped: HOSTLEAK_BENCH_GUESTFS=0)');
