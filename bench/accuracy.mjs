#!/usr/bin/env node
// Accuracy of the rule catalog on real distributions (`npm run bench`, or `node bench/accuracy.mjs` alone).
// Builds real Debian 12 root trees with debootstrap (root and network to a Debian mirror needed; cached under
// bench/out/accuracy/ once built), scans each with the dir backend and prints every finding at warning or above
// with its rule and path, so precision can be judged by reading the list. Then it counts:
//   - findings at warning or above on files the distribution's packages installed unchanged (must be 0),
//   - findings at warning or above under /usr (must be 0: nothing under /usr that the distribution ships),
//   - the instance state every debootstrap root really holds (host keys, machine-id, resolv.conf, build logs)
//     and whether it was reported (recall on known leaks).
// HOSTLEAK_ACCURACY=0 skips it; HOSTLEAK_ACCURACY_MIRROR overrides the mirror (default: the first deb.debian.org-like
// URI in /etc/apt/sources.list*).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const outDir = path.join(here, 'out', 'accuracy');

const SERVER = ['systemd', 'systemd-sysv', 'openssh-server', 'sudo', 'cron', 'rsyslog'];
export const ROOTS = [
  { name: 'debian12-minbase', include: [] },
  { name: 'debian12-server', include: SERVER },
  {
    name: 'debian12-fat',
    include: [...SERVER, 'python3', 'libpython3.11-testsuite', 'python3-botocore', 'openssl', 'git', 'nodejs', 'npm', 'ca-certificates'],
  },
];

function mirror() {
  if (process.env.HOSTLEAK_ACCURACY_MIRROR) return process.env.HOSTLEAK_ACCURACY_MIRROR;
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {}
  for (const f of files) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    const m = /(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\s*$/m.exec(text);
    if (m) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

/** Builds (or reuses) one root; returns its path. */
export function buildRoot(spec, log = console.log) {
  const dir = path.join(outDir, spec.name);
  const stamp = path.join(outDir, `${spec.name}.done`);
  const want = JSON.stringify(spec.include);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(outDir, 'debs'), { recursive: true });
  const args = ['--variant=minbase', `--cache-dir=${path.join(outDir, 'debs')}`];
  if (spec.include.length) args.push(`--include=${spec.include.join(',')}`);
  args.push('bookworm', dir, mirror());
  log(`debootstrap ${args.join(' ')}   (minutes)`);
  const r = spawnSync('nice', ['debootstrap', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`debootstrap failed for ${spec.name} (exit ${r.status})`);
  fs.writeFileSync(stamp, want);
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--build-only') {
  for (const spec of ROOTS) buildRoot(spec);
}
