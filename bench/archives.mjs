#!/usr/bin/env node
// The same root in every archive format, audited against the format's bare decompression and its own tool, in the
// same run (ratios only; issue 25). Roots:
//   tree     the large bench tree (bench/make-large.mjs: a NixOS-store-like tree, ~147k entries of tiny files)
//   minbase  a Debian 12 debootstrap root, when bench/accuracy.mjs has built one (bench/out/accuracy/debian12-minbase;
//            HOSTLEAK_BENCH_ROOT=DIR for another root)
// Each root is packed once (cached under bench/out/archives/) by real tools:
//   .tar      GNU tar (--sort=name --numeric-owner --format=gnu)
//   .tar.gz   gzip -6, .tar.zst zstd -3, .tar.xz xz -6 (single-threaded), all of that .tar
//   OCI       umoci (init, new, unpack, repack: one gzip layer) then `skopeo copy oci:... oci-archive:`
//   .cpio     GNU cpio -H newc (names sorted), and .cpio.zst (zstd -3) of it, as an initramfs is packed
//   ext4      mke2fs -d: the same root as a filesystem, the audit's own work without an archive around it
// and measured, best of N interleaved runs (CPU = user+sys of the process and its children, GNU time):
//   hostleak  `hostleak scan --format json FILE` (all rules)
//   bare      the decompression alone: `gzip -dc`, `zstd -dc`, `xz -dc` of the file, `cat` of the plain tar, `gzip -dc`
//             of the OCI archive's layer blob
//   tool      the format's own listing: `tar -tvf` (GNU tar decompressing through the same tool), for OCI `tar -tvzf`
//             of the layer, for cpio `cpio -itv` (after `zstd -dc`)
// and prints hostleak/bare, hostleak/tool and hostleak/ext4 audit, plus the passes over the decompressed stream the
// audit took (`--verbose`).
//   node bench/archives.mjs [--runs 3]          HOSTLEAK_BENCH_ARCHIVE_ROOTS=tree,minbase  (roots to run)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bestOf, cli, here, opt, run } from './lib.mjs';
import { writeLargeTree } from './make-large.mjs';

const RUNS = opt('runs', Number(process.env.HOSTLEAK_BENCH_RUNS ?? 3));
const VERSION = 1;
const outDir = path.join(here, 'out', 'archives');

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const debian = process.env.HOSTLEAK_BENCH_ROOT ?? path.join(here, 'out', 'accuracy', 'debian12-minbase');
const ROOTS = [
  { key: 'tree', name: 'bench tree (147k entries)' },
  ...(existsSync(debian) ? [{ key: 'minbase', name: `Debian 12 root (${path.basename(debian)})`, dir: debian }] : []),
].filter((r) => !process.env.HOSTLEAK_BENCH_ARCHIVE_ROOTS || process.env.HOSTLEAK_BENCH_ARCHIVE_ROOTS.split(',').includes(r.key));
if (!existsSync(debian)) console.error(`bench: no Debian root at ${debian} (run bench/accuracy.mjs, or set HOSTLEAK_BENCH_ROOT); the bench tree only`);

const sh = (script, ...args) => execFileSync('sh', ['-c', script, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });

/** Make `file` with `make(tmpFile)` unless it is cached. */
function cached(file, make) {
  if (existsSync(file)) return file;
  const tmp = `${file}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  make(tmp);
  renameSync(tmp, file);
  return file;
}

/** The root's folder: a Debian root as it is, the bench tree written once under bench/out/archives/. */
async function rootDir(r) {
  if (r.dir) return r.dir;
  const dir = path.join(outDir, `tree-v${VERSION}`);
  if (!existsSync(dir)) {
    console.error('bench: writing the bench tree (once)...');
    await writeLargeTree(`${dir}.tmp`);
    renameSync(`${dir}.tmp`, dir);
  }
  return dir;
}

/** Every artifact of one root: [label, file, bare-decompression command, reference command]. */
function pack(r, root) {
  const base = path.join(outDir, `${r.key}-v${VERSION}`);
  console.error(`bench: packing ${r.name} (cached afterwards)...`);
  const tar = cached(`${base}.tar`, (o) => sh('tar --sort=name --numeric-owner --format=gnu -C "$0" -cf "$1" .', root, o));
  const gz = cached(`${base}.tar.gz`, (o) => sh('gzip -6 -c "$0" > "$1"', tar, o));
  const zst = cached(`${base}.tar.zst`, (o) => sh('zstd -q -3 -T1 -c "$0" > "$1"', tar, o));
  const xz = cached(`${base}.tar.xz`, (o) => sh('xz -6 -T1 -c "$0" > "$1"', tar, o));
  const layout = cached(`${base}.oci`, (o) => {
    const bundle = `${o}-bundle`;
    rmSync(bundle, { recursive: true, force: true });
    try {
      sh('umoci init --layout "$0" && umoci new --image "$0:latest" && umoci unpack --image "$0:latest" "$1"', o, bundle);
      sh('cp -a "$0/." "$1/rootfs/" && umoci repack --image "$2:latest" "$1"', root, bundle, o);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  });
  const oci = cached(`${base}.oci.tar`, (o) => sh('skopeo copy -q "oci:$0:latest" "oci-archive:$1"', layout, o));
  // The layer: the layout's largest blob.
  const blobs = path.join(layout, 'blobs', 'sha256');
  const layer = readdirSync(blobs).map((b) => path.join(blobs, b)).sort((a, b) => statSync(b).size - statSync(a).size)[0];
  // cpio: newc as an initramfs is written (GNU cpio, names sorted), plain and zstd -3.
  const cpio = cached(`${base}.cpio`, (o) => sh('cd "$0" && find . | LC_ALL=C sort | cpio -o -H newc --quiet > "$1"', root, o));
  const cpioZst = cached(`${base}.cpio.zst`, (o) => sh('zstd -q -3 -T1 -c "$0" > "$1"', cpio, o));
  const du = Number(execFileSync('du', ['-sb', root]).toString().split('\t')[0]);
  const ext4 = cached(`${base}.ext4`, (o) => {
    const mib = Math.ceil((du * 1.6) / 2 ** 20) + 64;
    sh('mke2fs -q -F -t ext4 -N 200000 -d "$0" "$1" "$2"M', root, o, String(mib));
  });
  const to0 = (cmd) => ['sh', ['-c', `${cmd} "$0" >/dev/null`]];
  return {
    ext4,
    artifacts: [
      { label: '.tar', file: tar, bare: to0('cat'), tool: to0('tar -tvf') },
      { label: '.tar.gz', file: gz, bare: to0('gzip -dc'), tool: to0('tar -tvzf') },
      { label: '.tar.zst', file: zst, bare: to0('zstd -dc'), tool: to0('tar --zstd -tvf') },
      { label: '.tar.xz', file: xz, bare: to0('xz -dc'), tool: to0('tar -tvJf') },
      { label: 'OCI archive (umoci, gzip layer)', file: oci, bare: to0('gzip -dc'), bareOn: layer, tool: to0('tar -tvzf'), toolOn: layer },
      { label: '.cpio (newc)', file: cpio, bare: to0('cat'), tool: ['sh', ['-c', 'cpio -itv --quiet < "$0" >/dev/null']] },
      { label: '.cpio.zst (newc)', file: cpioZst, bare: to0('zstd -dc'), tool: ['sh', ['-c', 'zstd -dc "$0" | cpio -itv --quiet >/dev/null']] },
    ],
  };
}

/** Passes over the decompressed stream the audit took (its --verbose line), for the table. */
function passes(file) {
  const r = spawnSync(process.execPath, [cli, 'scan', '--verbose', '--format', 'json', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const m = [...r.stderr.matchAll(/passes over the decompressed stream \(the listing included\): ([^\n]+)/g)].map((x) => x[1]);
  return m.join('; ') || '-';
}

const rows = [];
for (const r of ROOTS) {
  const root = await rootDir(r);
  const { ext4, artifacts } = pack(r, root);
  const best = bestOf();
  const cpuBest = new Map();
  const keep = (key, res) => {
    best.keep(key, res);
    cpuBest.set(key, Math.min(cpuBest.get(key) ?? Infinity, res.cpu));
  };
  const scan = (file) => run(process.execPath, [cli, 'scan', '--format', 'json', file]);
  for (let n = 0; n < RUNS; n++) {
    console.error(`bench: ${r.key} run ${n + 1}/${RUNS}`);
    keep('ext4', scan(ext4));
    for (const a of artifacts) {
      keep(`${a.label}:hostleak`, scan(a.file));
      keep(`${a.label}:bare`, run(a.bare[0], [...a.bare[1], a.bareOn ?? a.file]));
      keep(`${a.label}:tool`, run(a.tool[0], [...a.tool[1], a.toolOn ?? a.file]));
    }
  }
  for (const a of artifacts) {
    const h = `${a.label}:hostleak`;
    rows.push({
      root: r.name,
      label: a.label,
      mib: statSync(a.file).size / 2 ** 20,
      bareCpu: cpuBest.get(h) / cpuBest.get(`${a.label}:bare`),
      bareWall: best.get(h).wall / best.get(`${a.label}:bare`).wall,
      tool: cpuBest.get(h) / cpuBest.get(`${a.label}:tool`),
      ext4: cpuBest.get(h) / cpuBest.get('ext4'),
      passes: passes(a.file),
    });
  }
}

const x = (v) => `${v.toFixed(2)}x`;
console.log(`== archives: hostleak against the bare decompression and the format's tool, same root, same run (best of ${RUNS}; load average ${os.loadavg()[0].toFixed(1)})`);
console.log('| root | artifact (MiB) | CPU hostleak / bare decompression | wall hostleak / bare | CPU hostleak / tool | CPU hostleak / ext4 audit | passes (listing included) |');
console.log('|---|---|---|---|---|---|---|');
for (const w of rows) {
  console.log(`| ${w.root} | ${w.label} (${w.mib.toFixed(1)}) | ${x(w.bareCpu)} | ${x(w.bareWall)} | ${x(w.tool)} | ${x(w.ext4)} | ${w.passes} |`);
}
