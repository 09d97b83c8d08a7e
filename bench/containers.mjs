#!/usr/bin/env node
// Benchmark of the native disk-container readers, everything measured in this run on this machine (ratios, never
// thresholds). The large bench disk (bench/make-large.mjs: GPT + ext4, ~147k entries) is converted once by qemu-img to
// each container builders ship (cached under bench/out/), then for each one:
//   native             `hostleak scan --backend native --format json IMG` (the container read in place)
//   convert + native   `qemu-img convert -f FMT -O raw IMG tmp.raw` then the same scan of tmp.raw (what a CI job
//                      without native container readers would do); the conversion's share is shown
//   guestfs            `hostleak scan --backend guestfs` (one appliance under TCG; skip with HOSTLEAK_BENCH_GUESTFS=0;
//                      per-image --timeout HOSTLEAK_BENCH_GUESTFS_TIMEOUT seconds, default 1800)
// The raw disk's native audit is the baseline row. Native and convert+native are best of N (interleaved); guestfs
// runs once (minutes under TCG).
//   node bench/containers.mjs [--runs 2]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { accel, bestOf, cli, GUESTFS, here, opt, run, seconds, summary } from './lib.mjs';
import { largeImagePath, makeLarge } from './make-large.mjs';

const RUNS = opt('runs', Number(process.env.HOSTLEAK_BENCH_RUNS ?? 2));

/** The containers, as `nixos-rebuild build-image` variants and cloud exports produce them. */
const CONTAINERS = [
  { name: 'vhd (dynamic)', suffix: 'vhd', format: 'vpc', options: 'subformat=dynamic' },
  { name: 'vhd (fixed)', suffix: 'fixed.vhd', format: 'vpc', options: 'subformat=fixed' },
  { name: 'vhdx', suffix: 'vhdx', format: 'vhdx', options: '' },
  { name: 'vmdk (monolithicSparse)', suffix: 'vmdk', format: 'vmdk', options: 'subformat=monolithicSparse' },
  { name: 'vmdk (streamOptimized)', suffix: 'stream.vmdk', format: 'vmdk', options: 'subformat=streamOptimized' },
  { name: 'vdi', suffix: 'vdi', format: 'vdi', options: '' },
];

if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}
const raw = await makeLarge(largeImagePath(path.join(here, 'out')));
for (const c of CONTAINERS) {
  c.file = raw.replace(/\.raw$/, `.${c.suffix}`);
  if (!existsSync(c.file) || statSync(c.file).mtimeMs < statSync(raw).mtimeMs) {
    console.error(`bench: converting ${path.basename(raw)} to ${c.name} (once; cached afterwards)...`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', c.format, ...(c.options ? ['-o', c.options] : []), raw, `${c.file}.tmp`]);
    execFileSync('mv', [`${c.file}.tmp`, c.file]);
  }
}
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-containers-'));

const scan = (img, backend) => run(process.execPath, [cli, 'scan', '--backend', backend, '--format', 'json', img]);

const best = bestOf();
const keep = best.keep;
try {
  for (let n = 0; n < RUNS; n++) {
    keep('raw', scan(raw, 'native'));
    for (const c of CONTAINERS) {
      keep(`${c.suffix}:native`, scan(c.file, 'native'));
      const out = path.join(tmp, 'disk.raw');
      const conv = run('qemu-img', ['convert', '-f', c.format, '-O', 'raw', c.file, out]);
      const audit = scan(out, 'native');
      rmSync(out, { force: true });
      keep(`${c.suffix}:convert`, { wall: conv.wall + audit.wall, cpu: conv.cpu + audit.cpu, conv, stdout: audit.stdout });
    }
  }
  const guestfs = new Map();
  if (GUESTFS) {
    const env = { ...process.env, ...(accel === 'tcg' ? { LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' } : {}) };
    for (const c of CONTAINERS) {
      const t = performance.now();
      const timeout = process.env.HOSTLEAK_BENCH_GUESTFS_TIMEOUT ?? '1800';
      const r = spawnSync(process.execPath, [cli, 'scan', '--backend', 'guestfs', '--accel', accel, '--timeout', timeout, '--format', 'json', c.file], {
        env,
        maxBuffer: 1 << 30,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      guestfs.set(c.suffix, { wall: performance.now() - t, stdout: String(r.stdout), status: r.status });
    }
  }

  const s = seconds;
  const wc = (r) => `${s(r.wall)} / ${s(r.cpu)} cpu`;
  const rawBest = best.get('raw');
  console.log(`== disk containers: ${path.relative(process.cwd(), raw)} converted by qemu-img (native: best of ${RUNS}; wall / cpu; load average ${os.loadavg()[0].toFixed(1)})`);
  console.log(`${'raw (baseline)'.padEnd(26)} native ${wc(rawBest)}   ${summary(rawBest)}`);
  for (const c of CONTAINERS) {
    const nat = best.get(`${c.suffix}:native`);
    const conv = best.get(`${c.suffix}:convert`);
    const g = guestfs.get(c.suffix);
    const size = (statSync(c.file).blocks * 512) / 2 ** 20;
    let line = `${c.name.padEnd(26)} native ${wc(nat)} | convert+native ${wc(conv)} (convert ${wc(conv.conv)}) cpu x${(conv.cpu / nat.cpu).toFixed(2)}`;
    if (g) {
      let why = '';
      if (g.status !== 0 && g.status !== 1) {
        try {
          why = ` (exit ${g.status}: ${JSON.parse(g.stdout).targets[0].error})`;
        } catch {
          why = ` (exit ${g.status})`;
        }
      }
      line += ` | guestfs ${s(g.wall)} x${(g.wall / nat.wall).toFixed(1)}${why}`;
    }
    console.log(`${line}   [${size.toFixed(0)} MiB; ${summary(nat)}; native/raw cpu x${(nat.cpu / rawBest.cpu).toFixed(2)}]`);
  }
  if (!GUESTFS) console.log('(guestfs runs skipped: HOSTLEAK_BENCH_GUESTFS=0)');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
