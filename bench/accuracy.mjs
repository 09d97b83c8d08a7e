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
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const outDir = path.join(here, 'out', 'accuracy');

const SERVER = ['systemd', 'systemd-sysv', 'openssh-server', 'sudo', 'cron', 'rsyslog'];
/** Each line is one leak and the rule that must report it: [rule, path, shell command run in the chroot]. */
export const CARELESS_LEAKS = [
  ['build-path-reference', '/etc/ssh/sshd_config', "echo 'Include /build/image/sshd-extra.conf' >> /etc/ssh/sshd_config"],
  ['editor-leftover', '/etc/ssh/sshd_config~', 'cp /etc/ssh/sshd_config /etc/ssh/sshd_config~'],
  ['authorized-keys', '/root/.ssh/authorized_keys', "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl builder@vm' > /root/.ssh/authorized_keys"],
  ['spool-leftover', '/var/spool/cron/crontabs/root', "echo '0 3 * * * /usr/local/bin/sync-from-builder' | crontab -"],
  ['shell-history', '/root/.bash_history', "printf 'cd /build/image\\nvi /etc/ssh/sshd_config\\n' > /root/.bash_history"],
  ['pinned-mac-address', '/etc/udev/rules.d/70-persistent-net.rules', `mkdir -p /etc/udev/rules.d && echo 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"' > /etc/udev/rules.d/70-persistent-net.rules`],
];
const CARELESS = CARELESS_LEAKS.map((l) => l[2]).join(' && ');

export const ROOTS = [
  { name: 'debian12-minbase', include: [] },
  { name: 'debian12-server', include: SERVER },
  // debootstrap's own resolver cannot install npm's dependency tree: the fat root is the server root plus
  // `apt-get install` run inside it (chroot, services kept from starting by policy-rc.d, removed afterwards).
  {
    name: 'debian12-fat',
    from: 'debian12-server',
    include: SERVER,
    install: ['python3', 'libpython3.11-testsuite', 'python3-botocore', 'openssl', 'git', 'nodejs', 'npm', 'ca-certificates'],
  },
  // The server after a careless build: what people do in a chroot by hand, with the real tools (crontab, sed, cp).
  {
    name: 'debian12-careless',
    from: 'debian12-server',
    include: SERVER,
    script: CARELESS,
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
  const want = JSON.stringify([spec.include, spec.install ?? [], spec.script ?? '']);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  if (spec.from) {
    const base = buildRoot(ROOTS.find((r) => r.name === spec.from), log);
    const run = (cmd, args) => {
      const r = spawnSync('nice', [cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    };
    run('cp', ['-a', base, dir]);
    const policy = path.join(dir, 'usr/sbin/policy-rc.d');
    fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    try {
      if (spec.install) {
        log(`chroot ${dir} apt-get install ${spec.install.join(' ')}   (minutes)`);
        run('chroot', [dir, 'apt-get', 'update', '-q']);
        run('chroot', [dir, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', ...spec.install]);
      }
      if (spec.script) run('chroot', [dir, 'sh', '-ec', spec.script]);
    } finally {
      fs.rmSync(policy, { force: true });
    }
    fs.writeFileSync(stamp, want);
    return dir;
  }
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

/** Every path each package installed (canonical inside the root: /lib/x is /usr/lib/x on merged-/usr Debian). */
function dpkgOwned(root) {
  const info = path.join(root, 'var/lib/dpkg/info');
  const owned = new Set();
  const dirs = new Map();
  const canon = (p) => {
    const parent = path.posix.dirname(p);
    let c = dirs.get(parent);
    if (c === undefined) {
      try { c = '/' + path.relative(fs.realpathSync(root), fs.realpathSync(path.join(root, parent))); } catch { c = parent; }
      dirs.set(parent, c);
    }
    return path.posix.join(c, path.posix.basename(p));
  };
  for (const f of fs.readdirSync(info)) {
    if (!f.endsWith('.list')) continue;
    for (const line of fs.readFileSync(path.join(info, f), 'utf8').split('\n')) if (line.startsWith('/')) owned.add(canon(line));
  }
  // The independent oracle for "changed after install": dpkg's own verification of every packaged file's md5sum.
  const v = spawnSync('dpkg', [`--root=${root}`, '--verify'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const changed = new Set();
  for (const line of (v.stdout ?? '').split('\n')) {
    const m = /^\S{9}\s+(?:c\s+)?(\/.*)$/.exec(line);
    if (m) changed.add(canon(m[1]));
  }
  // ucf-managed configuration (written by maintainer scripts, e.g. sshd_config): its hashfile has what was written.
  const ucf = (f) => { try { return fs.readFileSync(path.join(root, 'var/lib/ucf', f), 'utf8'); } catch { return ''; } };
  for (const line of ucf('hashfile').split('\n')) {
    const m = /^([0-9a-f]{32})\s+(\/\S+)$/.exec(line);
    if (!m) continue;
    owned.add(canon(m[2]));
    let now = '';
    try { now = createHash('md5').update(fs.readFileSync(path.join(root, m[2]))).digest('hex'); } catch {}
    if (now !== m[1]) changed.add(canon(m[2]));
  }
  return { owned, changed };
}

const warnOrAbove = (f) => f.severity === 'error' || f.severity === 'warning';

/** What every debootstrap root really holds and hostleak must keep reporting: [rule, path glob, present?]. */
function knownLeaks(root, spec) {
  const out = [];
  const has = (p) => fs.existsSync(path.join(root, p));
  for (const k of ['rsa', 'ecdsa', 'ed25519']) if (has(`etc/ssh/ssh_host_${k}_key`)) out.push(['baked-ssh-host-key', `/etc/ssh/ssh_host_${k}_key`]);
  if (fs.existsSync(path.join(root, 'etc/machine-id')) && fs.statSync(path.join(root, 'etc/machine-id')).size > 0) out.push(['baked-machine-id', '/etc/machine-id']);
  if (has('etc/resolv.conf')) out.push(['host-resolv-conf', '/etc/resolv.conf']);
  for (const l of ['dpkg.log', 'bootstrap.log', 'alternatives.log', 'apt/history.log', 'apt/term.log']) {
    const p = path.join(root, 'var/log', l);
    if (fs.existsSync(p) && fs.statSync(p).size > 0) out.push(['build-log', `/var/log/${l}`]);
  }
  if (fs.readdirSync(path.join(root, 'var/cache/apt/archives')).some((n) => n.endsWith('.deb'))) out.push(['package-cache', '/var/cache/apt/archives']);
  if (spec.script === CARELESS) for (const [rule, p] of CARELESS_LEAKS) out.push([rule, p]);
  return out;
}

export function measure(spec, log = console.log) {
  const root = buildRoot(spec, log);
  const cli = path.join(repo, 'dist/src/bin/hostleak.js');
  const t = Date.now();
  const r = spawnSync(process.execPath, [cli, 'scan', '--backend', 'dir', '--format', 'json', '--fail-on', 'never', root], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (Date.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`hostleak scan ${root} exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const findings = JSON.parse(r.stdout).targets[0].findings;
  const { owned, changed } = dpkgOwned(root);
  // A finding at a folder a package made (apt's archives/) is about what the build put inside it, not the folder.
  const isDir = (p) => { try { return fs.lstatSync(path.join(root, p)).isDirectory(); } catch { return false; } };
  const shipped = (p) => owned.has(p) && !changed.has(p) && !isDir(p);
  const loud = findings.filter(warnOrAbove);
  log(`\n-- ${spec.name}: ${owned.size} packaged paths, ${changed.size} changed after install (dpkg --verify, ucf hashfile); scan ${seconds.toFixed(1)} s`);
  for (const f of loud) log(`  ${f.severity.padEnd(7)} ${f.ruleId.padEnd(24)} ${f.path}${shipped(f.path) ? '   <-- SHIPPED UNCHANGED' : ''}`);
  const leaks = knownLeaks(root, spec);
  const missed = leaks.filter(([rule, p]) => !loud.some((f) => f.ruleId === rule && f.path === p));
  // The careless build edited a packaged conffile: the finding must say so (dpkg --verify agrees it changed).
  const edited = findings.find((f) => f.path === '/etc/ssh/sshd_config' && f.ruleId === 'build-path-reference');
  if (edited) log(`  changed after install, as ucf's hashfile says too (${changed.has('/etc/ssh/sshd_config')}): ${edited.message}`);
  const row = {
    root: spec.name,
    findings: findings.length,
    warnOrAbove: loud.length,
    info: findings.length - loud.length,
    onShippedUnchanged: loud.filter((f) => shipped(f.path)).length,
    underUsr: loud.filter((f) => f.path === '/usr' || f.path.startsWith('/usr/')).length,
    knownLeaks: leaks.length,
    knownLeaksReported: leaks.length - missed.length,
    seconds,
  };
  for (const [rule, p] of missed) log(`  MISSED ${rule} ${p}`);
  return row;
}

const main = process.argv[1] === fileURLToPath(import.meta.url);
if (main && process.argv[2] === '--build-only') {
  for (const spec of ROOTS) buildRoot(spec);
} else if (main) {
  if (process.env.HOSTLEAK_ACCURACY === '0') {
    console.log('\n(accuracy benchmark skipped: HOSTLEAK_ACCURACY=0)');
  } else if (spawnSync('debootstrap', ['--version']).status !== 0 && !ROOTS.every((s) => fs.existsSync(path.join(outDir, `${s.name}.done`)))) {
    console.log('\n(accuracy benchmark skipped: debootstrap is not installed; apt-get install debootstrap, run as root)');
  } else {
    console.log('\n== accuracy on real Debian 12 roots (debootstrap, dir backend, default host identity)');
    const rows = ROOTS.map((s) => measure(s));
    console.log('\nroot               findings  warning+  info  warning+ on shipped-unchanged  warning+ under /usr  known leaks reported');
    for (const r of rows) {
      console.log(`${r.root.padEnd(18)} ${String(r.findings).padStart(8)}  ${String(r.warnOrAbove).padStart(8)}  ${String(r.info).padStart(4)}  ${String(r.onShippedUnchanged).padStart(29)}  ${String(r.underUsr).padStart(19)}  ${r.knownLeaksReported}/${r.knownLeaks}`);
      if (r.onShippedUnchanged > 0 || r.underUsr > 0 || r.knownLeaksReported < r.knownLeaks) process.exitCode = 1;
    }
  }
}
