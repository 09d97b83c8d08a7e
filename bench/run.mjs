#!/usr/bin/env node
// Benchmark, all measured in this run on the same machine (ratios, never absolute thresholds):
//   1. bare appliance: `guestfish --ro -a IMG run`                      (the floor: one launch)
//   2. hostleak full audit through guestfs                              (one launch + inventory + reads)
//   3. `virt-ls -lR` over the same filesystem                           (the reference tool)
// on the large Nix-store-like image (bench/make-large.mjs) and on the sample image images-sample/out/leaky.raw.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { makeLarge } from './make-large.mjs';

const accel = process.env.HOSTLEAK_BENCH_ACCEL ?? 'tcg';
const env = { ...process.env };
if (accel === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';

function time(label, cmd, args) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  const s = (Date.now() - t) / 1000;
  const extra = r.status === 0 || r.status === 1 ? '' : ` (exit ${r.status}: ${String(r.stderr).trim().split('\n').pop()})`;
  console.log(`${label.padEnd(44)} ${s.toFixed(1).padStart(7)} s${extra}`);
  return { s, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const cli = path.resolve('dist/src/bin/hostleak.js');
mkdirSync('bench/out', { recursive: true });
const large = await makeLarge(path.resolve('bench/out/large.raw'));

console.log(`accel: ${accel}`);
for (const [name, img, dev] of [
  ['sample leaky.raw', path.resolve('images-sample/out/leaky.raw'), '/dev/sda2'],
  ['large', large, '/dev/sda'],
]) {
  console.log(`\n== ${name}: ${img}`);
  const bare = time('guestfish --ro -a IMG run', 'guestfish', ['--ro', '--format=raw', '-a', img, 'run']);
  const audit = time('hostleak scan (guestfs, full audit)', process.execPath, [cli, 'scan', '--backend', 'guestfs', '--accel', accel, '--verbose', '--format', 'json', img]);
  for (const l of audit.stderr.split('\n').filter((l) => /entries|appliance up/.test(l))) console.log(`    ${l}`);
  const vls = time('virt-ls -lR', 'virt-ls', ['--format=raw', '-a', img, '-m', dev, '-lR', '/']);
  console.log(`ratio audit / bare launch: ${(audit.s / bare.s).toFixed(2)}`);
  console.log(`ratio audit / virt-ls -lR: ${(audit.s / vls.s).toFixed(2)}  (virt-ls listed ${vls.stdout.split('\n').length - 1} lines)`);
}

// The artifact-store benchmark (~50 images, cold vs cached); HOSTLEAK_BENCH_STORE=0 skips it.
if (process.env.HOSTLEAK_BENCH_STORE !== '0') {
  const r = spawnSync(process.execPath, [path.resolve('bench/store.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
