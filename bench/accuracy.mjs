#!/usr/bin/env node
// Accuracy of the rule catalog on real distributions (`npm run bench`, or `node bench/accuracy.mjs` alone).
// Builds real Debian 12 root trees with debootstrap and apt (root and network to a Debian mirror needed; cached under
// bench/out/accuracy/ once built, minutes each), plants the leaks real builders leave (families below, each made by
// the real tool where there is one), packs every root into an ext4 image with mke2fs -d and audits the image with
// the native backend, twice: with the builder's identity (--host-user/--host-home/--host-name) and without it.
//   - precision at warning+: a finding is a true leak when it matches a known leak of that root (same rule, at or
//     below the leak's path); anything else at warning+ is a false positive, and a file dpkg shipped unchanged
//     (dpkg --verify, ucf's hashfile) at warning+ always is;
//   - recall: the known leaks (what debootstrap/apt/npm/pip/go really leave, plus the planted families) that got a
//     warning+ finding.
// HOSTLEAK_ACCURACY=0 skips it; HOSTLEAK_ACCURACY_MIRROR overrides the mirror (default: the first deb.debian.org-like
// URI in /etc/apt/sources.list*); HOSTLEAK_ACCURACY_ROOTS=a,b limits the roots. `--build-only` builds the roots.
// Run it under `flock /tmp/heavy.lock` on a shared machine: building and packing the roots is disk and CPU heavy.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const outDir = path.join(here, 'out', 'accuracy');

/** The builder whose identity leaks into the planted root, and the flags that tell hostleak who it was. */
export const BUILDER = { user: 'alice-b', home: '/home/alice-b', name: 'buildbox-7' };
const identityFlags = (b) => ['--host-user', b.user, '--host-home', b.home, '--host-name', b.name];
/** The builder of the other roots: this machine, which ran debootstrap (it copies the host's /etc/hostname). */
const THIS_MACHINE = { user: os.userInfo().username, home: os.homedir(), name: os.hostname() };
const builderOf = (spec) => (spec.name === 'debian12-planted' ? BUILDER : THIS_MACHINE);
/** "Without": an identity that shares nothing with the builder's (a generic CI runner auditing someone else's image). */
const WITHOUT_IDENTITY = ['--host-user', 'root', '--host-home', '/root', '--host-name', 'localhost'];

const SERVER = ['systemd', 'systemd-sysv', 'openssh-server', 'sudo', 'cron', 'rsyslog'];

/**
 * Planted leaks, by family: [rule, path, shell command run in the chroot, { identity: true } when only the builder's
 * identity can find it]. Each is what a real build leaves, made with the real tool where there is one (crontab, cp,
 * tar). Other families plug in here: add an array to FAMILIES (secret formats, credential files, ... ) and it is
 * planted into debian12-planted, counted in recall, and its findings count as true leaks.
 */
export const FAMILIES = {
  careless: [
    ['build-path-reference', '/etc/ssh/sshd_config', "echo 'Include /build/image/sshd-extra.conf' >> /etc/ssh/sshd_config"],
    ['editor-leftover', '/etc/ssh/sshd_config~', 'cp /etc/ssh/sshd_config /etc/ssh/sshd_config~'],
    ['authorized-keys', '/root/.ssh/authorized_keys', "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl builder@vm' > /root/.ssh/authorized_keys"],
    ['spool-leftover', '/var/spool/cron/crontabs/root', "echo '0 3 * * * /usr/local/bin/sync-from-builder' | crontab -"],
    ['shell-history', '/root/.bash_history', "printf 'cd /build/image\\nvi /etc/ssh/sshd_config\\n' > /root/.bash_history"],
    ['pinned-mac-address', '/etc/udev/rules.d/70-persistent-net.rules', `mkdir -p /etc/udev/rules.d && echo 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"' > /etc/udev/rules.d/70-persistent-net.rules`],
  ],
  // A file generated in each CI's workspace that kept the path (a unit, a .pth, a config): one per CI.
  ci: [
    ['/home/runner/work/app/app', 'github-actions.service'],
    ['/__w/app/app', 'github-container.conf'],
    ['/github/workspace', 'github-docker-action.conf'],
    ['/builds/group/app', 'gitlab.conf'],
    ['/var/lib/jenkins/workspace/app', 'jenkins.conf'],
    ['/home/jenkins/workspace/app', 'jenkins-agent.conf'],
    ['/var/jenkins_home/workspace/app', 'jenkins-docker.conf'],
    ['/home/vsts/work/1/s', 'azure.conf'],
    ['/azp/_work/1/s', 'azure-docker.conf'],
    ['/home/circleci/project', 'circleci.conf'],
    ['/home/travis/build/org/app', 'travis.conf'],
    ['/opt/atlassian/pipelines/agent/build', 'bitbucket.conf'],
    ['/drone/src', 'drone.conf'],
    ['/woodpecker/src/codeberg.org/org/app', 'woodpecker.conf'],
    ['/opt/buildagent/work/4f2a9c', 'teamcity.conf'],
    ['/var/lib/buildkite-agent/builds/agent-1/org/app', 'buildkite.conf'],
    ['/tmp/nix-build-app-1.0.drv-0/source', 'nix.conf'],
  ].map(([dir, file]) => ['build-path-reference', `/etc/app/ci/${file}`, `mkdir -p /etc/app/ci && printf 'root = ${dir}/dist\\n' > /etc/app/ci/${file}`]),
  // Only the builder's identity says these are leaks: its home, its login, its hostname.
  identity: [
    ['host-identity-reference', '/etc/app/paths.conf', `mkdir -p /etc/app && echo 'data = ${BUILDER.home}/src/app/data' > /etc/app/paths.conf`, { identity: true }],
    ['host-identity-reference', '/etc/app/notify.conf', `mkdir -p /etc/app && echo 'mailto = ${BUILDER.user}@corp.example' > /etc/app/notify.conf`, { identity: true }],
    ['host-identity-reference', '/etc/motd', `echo 'built on ${BUILDER.name}' >> /etc/motd`, { identity: true }],
    // debootstrap copies the builder's /etc/hostname: the planted root was built on buildbox-7.
    ['build-hostname', '/etc/hostname', `echo ${BUILDER.name} > /etc/hostname`, { identity: true }],
  ],
  // Packer/Vagrant: the build account is deleted, its passwordless sudo rule is not.
  sudoers: [
    ['sudoers-unknown-account', '/etc/sudoers.d/90-packer', "echo 'packer ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-packer && chmod 440 /etc/sudoers.d/90-packer"],
    // visudo -c: sudo's own parser accepts both files.
    ['sudoers-unknown-account', '/etc/sudoers', "printf 'vagrant ALL=(ALL) NOPASSWD: ALL\\n' >> /etc/sudoers && visudo -c >/dev/null"],
  ],
  // Language caches the dev root's npm/pip/go really made are counted in every root that has them (knownLeaks);
  // Maven and Gradle are planted with their real layouts.
  caches: [
    ['language-cache', '/root/.cache/pip', 'mkdir -p /root/.cache/pip/http-v2/a/b/c/d/e && head -c 2048 /dev/urandom > /root/.cache/pip/http-v2/a/b/c/d/e/0a1b2c3d4e5f.body && mkdir -p /root/.cache/pip/wheels/3f/2a && head -c 2048 /dev/urandom > /root/.cache/pip/wheels/3f/2a/six-1.16.0-py2.py3-none-any.whl'],
    ['language-cache', '/root/go/pkg/mod', 'mkdir -p /root/go/pkg/mod/cache/download/golang.org/x/text/@v && echo v0.14.0 > /root/go/pkg/mod/cache/download/golang.org/x/text/@v/list && head -c 4096 /dev/urandom > /root/go/pkg/mod/cache/download/golang.org/x/text/@v/v0.14.0.zip'],
    ['language-cache', '/root/.m2/repository', 'mkdir -p /root/.m2/repository/org/slf4j/slf4j-api/2.0.13 && head -c 4096 /dev/urandom > /root/.m2/repository/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar && echo 2.0.13 > /root/.m2/repository/org/slf4j/slf4j-api/2.0.13/_remote.repositories'],
    ['language-cache', '/root/.gradle/caches', 'mkdir -p /root/.gradle/caches/modules-2/files-2.1/org.slf4j/slf4j-api/2.0.13/abc && head -c 4096 /dev/urandom > /root/.gradle/caches/modules-2/files-2.1/org.slf4j/slf4j-api/2.0.13/abc/slf4j-api-2.0.13.jar'],
  ],
  // Issue 26's secret formats and credential files, each where and how its tool writes it (git config writes its
  // own file; the others are the documented formats of tools the dev root does not have: token values are fake).
  secrets: [
    ['credential-file', '/etc/apt/sources.list.d/corp.list', "echo 'deb https://builder:Apt5rcFakePw@apt.corp.example/debian bookworm main' > /etc/apt/sources.list.d/corp.list"],
    ['credential-file', '/etc/apt/auth.conf.d/corp.conf', "mkdir -p /etc/apt/auth.conf.d && printf 'machine apt.corp.example\\nlogin builder\\npassword AptAuthFakePw7\\n' > /etc/apt/auth.conf.d/corp.conf && chmod 600 /etc/apt/auth.conf.d/corp.conf"],
    ['credential-file', '/root/.gitconfig', "HOME=/root git config --global url.https://bob:GitCfgFakePw3@git.corp.example/.insteadOf https://git.corp.example/"],
    ['credential-file', '/etc/pip.conf', "printf '[global]\\nindex-url = https://bob:PipCfgFakePw9@pypi.corp.example/simple\\n' > /etc/pip.conf"],
    ['credential-file', '/srv/app/.env', "mkdir -p /srv/app && printf 'DATABASE_URL=postgres://app:DbEnvFakePw4@db:5432/app\\nSECRET_KEY_BASE=9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0\\n' > /srv/app/.env"],
    ['credential-file', '/root/.m2/settings.xml', "mkdir -p /root/.m2 && printf '<settings><servers><server><id>corp</id><username>deploy</username><password>MvnFakePw2</password></server></servers></settings>\\n' > /root/.m2/settings.xml"],
    ['credential-file', '/root/.config/gcloud/application_default_credentials.json', `mkdir -p /root/.config/gcloud && echo '{"client_id":"764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com","client_secret":"d-FL95Q19q7MQmFpd7hHD0Ty","refresh_token":"1//0gFAKEfakeFAKEfake-hostleak-bench-refresh","type":"authorized_user"}' > /root/.config/gcloud/application_default_credentials.json`],
    ['private-key', '/opt/app/service-account.json', `mkdir -p /opt/app && node -e 'const {generateKeyPairSync:g}=require("crypto");const k=g("rsa",{modulusLength:2048}).privateKey.export({type:"pkcs8",format:"pem"});process.stdout.write(JSON.stringify({type:"service_account",project_id:"p",private_key:k,client_email:"ci@p.iam.gserviceaccount.com"},null,2))' > /opt/app/service-account.json`],
    ['credential-file', '/root/.vault-token', 'printf hvs.FAKEfakeFAKEfake0123456789ab > /root/.vault-token'],
    ['credential-file', '/root/.gem/credentials', "mkdir -p /root/.gem && printf -- '---\\n:rubygems_api_key: rubygems_0123456789abcdef0123456789abcdef0123456789abcdef\\n' > /root/.gem/credentials"],
    ['credential-file', '/root/.cargo/credentials.toml', "mkdir -p /root/.cargo && printf '[registry]\\ntoken = \"cioFAKEfakeFAKEfake0123456789abcdef\"\\n' > /root/.cargo/credentials.toml"],
    ['credential-file', '/root/.terraform.d/credentials.tfrc.json', `mkdir -p /root/.terraform.d && echo '{"credentials":{"app.terraform.io":{"token":"FAKEfake012345.atlasv1.FAKEfakeFAKEfake0123456789abcdefABCDEFfakeFAKEfake0123456789hostleak"}}}' > /root/.terraform.d/credentials.tfrc.json`],
    ['secret-token', '/etc/default/app-tokens', "printf 'GOOGLE=AIzaSyFAKEfakeFAKEfake0123456789hostlea\\nSTRIPE=sk_live_FAKEfakeFAKEfake0123456789\\nSENDGRID=SG.FAKEfakeFAKEfake012345.FAKEfakeFAKEfake0123456789abcdefABCDEFhostl\\nDOCKER=dckr_pat_FAKEfakeFAKEfake0123456789a\\nHF=hf_FAKEfakeFAKEfake0123456789abcdefgh\\nOPENAI=sk-proj-FAKEfakeFAKEfake0123456789abcdefABCDEF_hostleak-tests\\n' > /etc/default/app-tokens"],
    ['secret-token', '/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/0a1b2c/private_key.json', `mkdir -p /etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/0a1b2c && node -e 'const {generateKeyPairSync:g}=require("crypto");process.stdout.write(JSON.stringify(g("rsa",{modulusLength:2048}).privateKey.export({format:"jwk"})))' > /etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/0a1b2c/private_key.json`],
    ['credential-file', '/var/lib/systemd/credential.secret', 'mkdir -p /var/lib/systemd && systemd-creds setup'],
  ],
  // A tree copied with its owners kept (uid 1000 of the builder's checkout): one finding for the tree.
  ownership: [
    ['unknown-owner', '/opt/app', 'mkdir -p /tmp/app/lib && echo x > /tmp/app/lib/a.py && echo y > /tmp/app/lib/b.py && echo z > /tmp/app/run.sh && tar -C /tmp --owner=1000 --group=1000 --numeric-owner -cf /tmp/app.tar app && tar -C /opt --same-owner -xf /tmp/app.tar && rm -rf /tmp/app /tmp/app.tar'],
  ],
};

/** Placeholder traps: what a careful builder leaves on purpose (examples, templates). None of it is a leak. */
const PLACEHOLDERS = [
  'mkdir -p /etc/app/examples',
  "printf 'AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\\nAWS_SECRET_ACCESS_KEY=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\\n' > /etc/app/examples/aws.env",
  "printf '//registry.npmjs.org/:_authToken=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\\n' > /etc/app/examples/npmrc",
  "printf 'GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\nDATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\\nAPI_KEY=EXAMPLE\\n' > /etc/app/examples/app.env",
].join(' && ');

/** A careful cleanup of the cloud image: what virt-sysprep would remove, gone. */
const CAREFUL = [
  'apt-get clean',
  'rm -rf /var/lib/apt/lists/* /var/log/*.log /var/log/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old',
  'rm -f /etc/ssh/ssh_host_* /etc/resolv.conf && : > /etc/machine-id',
  'cloud-init clean --logs || true',
  PLACEHOLDERS,
].join(' && ');

/**
 * `npm install -g` as root (the common Dockerfile line): bookworm's npm 9 keeps the uids of each package's tarball
 * (501, 1000: old packages published from a laptop); pip and go fill their caches, npm leaves _cacache and _logs.
 */
const DEV = [
  'export HOME=/root',
  'npm install -g --no-audit --no-fund nodemon pm2 eslint typescript',
  // PyPI and the Go proxy are out of reach here: go builds a local module (its real build cache); pip's and Go's
  // download caches are planted with their layouts (FAMILIES.caches).
  "mkdir -p /tmp/hello && cd /tmp/hello && printf 'module example.com/hello\\ngo 1.19\\n' > go.mod && printf 'package main\\n\\nfunc main() {}\\n' > main.go && go build -o /usr/local/bin/hello . && cd / && rm -rf /tmp/hello",
].join(' && ');

export const ROOTS = [
  { name: 'debian12-minbase', include: [] },
  { name: 'debian12-server', include: SERVER },
  // A cloud image: the server plus cloud-init (services kept from starting by policy-rc.d, removed afterwards).
  { name: 'debian12-cloud', from: 'debian12-server', install: ['cloud-init', 'ca-certificates', 'curl'] },
  // A developer box: compilers, package managers and test suites full of sample keys (all shipped by dpkg), then
  // `npm install -g` of four tools, a pip install and a go install as root.
  {
    name: 'debian12-dev',
    from: 'debian12-cloud',
    install: ['git', 'python3-pip', 'nodejs', 'npm', 'golang-go', 'openssl', 'python3-botocore', 'libpython3.11-testsuite'],
    script: DEV,
  },
  // The cloud image after a careful cleanup, with placeholder traps (example credentials that are not secrets).
  { name: 'debian12-careful', from: 'debian12-cloud', script: CAREFUL },
  // The developer box after a careless build: every planted family, plus the placeholder traps.
  { name: 'debian12-planted', from: 'debian12-dev', script: () => [...Object.values(FAMILIES).flat().map((l) => l[2]), PLACEHOLDERS].join(' && ') },
];
const scriptOf = (spec) => (typeof spec.script === 'function' ? spec.script() : spec.script ?? '');

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

/** What a root is made of (its stamp): rebuilt when this, or its base's, changes. */
function recipe(spec) {
  if (!spec.from) return JSON.stringify([spec.include, [], '']);
  return JSON.stringify([spec.from, recipe(ROOTS.find((r) => r.name === spec.from)), spec.install ?? [], scriptOf(spec)]);
}

/** Builds (or reuses) one root; returns its path. */
export function buildRoot(spec, log = console.log) {
  const dir = path.join(outDir, spec.name);
  const stamp = path.join(outDir, `${spec.name}.done`);
  const want = recipe(spec);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return dir;
  fs.rmSync(stamp, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  if (spec.from) {
    const base = buildRoot(ROOTS.find((r) => r.name === spec.from), log);
    // Behind a TLS-intercepting proxy the host trusts a CA the chroot does not: npm, pip and go in the chroot get
    // the host's bundle through the environment, from a file removed afterwards (nothing of it stays in the root).
    const CA = '/tmp/hostleak-bench-ca.crt';
    const ca = ['/etc/ssl/certs/ca-certificates.crt', process.env.NODE_EXTRA_CA_CERTS].find((f) => f && fs.existsSync(f));
    const caEnv = { NODE_EXTRA_CA_CERTS: CA, SSL_CERT_FILE: CA, PIP_CERT: CA, REQUESTS_CA_BUNDLE: CA, GIT_SSL_CAINFO: CA };
    const run = (cmd, args) => {
      const r = spawnSync('nice', [cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...caEnv, DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' } });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    };
    log(`cp -a ${base} ${dir}`);
    run('cp', ['-a', base, dir]);
    const policy = path.join(dir, 'usr/sbin/policy-rc.d');
    fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    // npm, pip and go want /proc; debootstrap's resolv.conf (the host's) lets them reach their registries.
    if (ca) fs.copyFileSync(ca, path.join(dir, CA));
    run('mount', ['-t', 'proc', 'proc', path.join(dir, 'proc')]);
    try {
      if (spec.install) {
        log(`chroot ${dir} apt-get install ${spec.install.join(' ')}   (minutes)`);
        run('chroot', [dir, 'apt-get', 'update', '-q']);
        run('chroot', [dir, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', ...spec.install]);
      }
      const script = scriptOf(spec);
      if (script) {
        log(`chroot ${dir} sh -ec <${spec.name} script>`);
        run('chroot', [dir, 'sh', '-ec', script]);
      }
    } finally {
      spawnSync('umount', [path.join(dir, 'proc')]);
      fs.rmSync(path.join(dir, CA), { force: true });
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

/** Files (and folders, `withDirs`) below `dir` in the root (host paths), walked without following symlinks. */
function* filesBelow(dir, withDirs = false) {
  let names;
  try { names = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const d of names) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) {
      if (withDirs) yield p;
      yield* filesBelow(p, withDirs);
    } else yield p;
  }
}
const nonEmpty = (root, p) => { for (const f of filesBelow(path.join(root, p))) if (fs.lstatSync(f).size > 0) return true; return false; };

/** The innermost node_modules package of a path, as the unknown-owner rule groups it. */
function npmPackage(p) {
  const i = p.lastIndexOf('/node_modules/');
  if (i < 0) return null;
  const [a, b] = p.slice(i + 14).split('/');
  if (!a || a.startsWith('.')) return null;
  return a.startsWith('@') ? (b ? `${p.slice(0, i + 14)}${a}/${b}` : null) : p.slice(0, i + 14) + a;
}

/**
 * What a root really holds that a careful builder would not ship: { rule, path, family, identity? }. Counted from the
 * root itself (what debootstrap, apt, npm, pip and go left), plus the planted families of debian12-planted.
 */
export function knownLeaks(root, spec) {
  const out = [];
  const add = (rule, p, family, extra = {}) => out.push({ rule, path: p, family, ...extra });
  const has = (p) => fs.existsSync(path.join(root, p));
  const size = (p) => { try { return fs.lstatSync(path.join(root, p)).size; } catch { return 0; } };
  for (const k of ['rsa', 'ecdsa', 'ed25519']) if (has(`etc/ssh/ssh_host_${k}_key`)) add('baked-ssh-host-key', `/etc/ssh/ssh_host_${k}_key`, 'instance');
  if (size('etc/machine-id') > 0) add('baked-machine-id', '/etc/machine-id', 'instance');
  if (has('etc/resolv.conf')) add('host-resolv-conf', '/etc/resolv.conf', 'instance');
  // debootstrap copied this machine's hostname (the planted root's is the planted builder's, below).
  let hostname = '';
  try { hostname = fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8').trim(); } catch {}
  if (spec.name !== 'debian12-planted' && hostname && hostname === os.hostname()) add('build-hostname', '/etc/hostname', 'identity', { identity: true });
  for (const l of ['dpkg.log', 'bootstrap.log', 'alternatives.log', 'apt/history.log', 'apt/term.log', 'apt/eipp.log.xz', 'cloud-init.log', 'cloud-init-output.log']) {
    if (size(`var/log/${l}`) > 0) add(l.startsWith('cloud-init') ? 'cloud-init-state' : 'build-log', `/var/log/${l}`, 'logs');
  }
  // adduser/shadow's backups written while packages created their system accounts (virt-sysprep's passwd-backups).
  for (const f of ['passwd', 'shadow', 'group', 'gshadow', 'subuid', 'subgid']) if (size(`etc/${f}-`) > 0) add('account-backup', `/etc/${f}-`, 'backups');
  try { if (fs.readdirSync(path.join(root, 'var/cache/apt/archives')).some((n) => n.endsWith('.deb'))) add('package-cache', '/var/cache/apt/archives', 'caches'); } catch {}
  for (const d of ['instances', 'data', 'sem', 'handlers']) {
    try { if (fs.readdirSync(path.join(root, 'var/lib/cloud', d)).length > 0) add('cloud-init-state', `/var/lib/cloud/${d}`, 'instance'); } catch {}
  }
  // Language caches npm/pip/go really filled (the dev root's script), wherever a home has one.
  for (const c of ['.npm/_cacache', '.npm/_logs', '.cache/pip', 'go/pkg/mod', '.cache/go-build']) if (nonEmpty(root, `root/${c}`)) add('language-cache', `/root/${c}`, 'caches');
  // npm install -g as root: every package whose files kept a tarball uid the image has no account for.
  const uids = new Set(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split(':')[2])));
  const gids = new Set(fs.readFileSync(path.join(root, 'etc/group'), 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split(':')[2])));
  const pkgs = new Set();
  for (const f of filesBelow(path.join(root, 'usr/local/lib/node_modules'), true)) {
    const st = fs.lstatSync(f);
    if (uids.has(st.uid) && gids.has(st.gid)) continue;
    const pkg = npmPackage('/' + path.relative(root, f));
    if (pkg) pkgs.add(pkg);
  }
  for (const pkg of [...pkgs].sort()) add('unknown-owner', pkg, 'npm-global');
  if (spec.name === 'debian12-planted') {
    for (const [family, leaks] of Object.entries(FAMILIES)) for (const [rule, p, , opts] of leaks) add(rule, p, family, opts ?? {});
  }
  // The same file can be a leak for two families (a planted edit of a file debootstrap already leaks): keep one.
  const seen = new Set();
  return out.filter((l) => { const k = `${l.rule} ${l.path}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

/** A finding is a known leak's when the rule agrees and it is at the leak's path or below it. */
const matches = (f, l) => f.ruleId === l.rule && (f.path === l.path || f.path.startsWith(l.path + '/'));

/** The root packed into an ext4 image with mke2fs -d (owners, modes, links as the root has them); cached. */
export function packExt4(root, spec, log = console.log) {
  const img = path.join(outDir, `${spec.name}.ext4`);
  const stamp = path.join(outDir, `${spec.name}.done`);
  if (fs.existsSync(img) && fs.statSync(img).mtimeMs >= fs.statSync(stamp).mtimeMs) return img;
  const du = spawnSync('du', ['-sb', root], { encoding: 'utf8' });
  const bytes = Number(du.stdout.split(/\s/)[0]);
  const mib = Math.ceil((bytes * 1.3) / (1 << 20)) + 128;
  log(`mke2fs -t ext4 -d ${root} ${img} ${mib}M`);
  fs.rmSync(img, { force: true });
  const r = spawnSync('nice', ['mke2fs', '-q', '-F', '-t', 'ext4', '-N', String(Math.max(65536, Math.ceil(bytes / 8192))), '-L', 'root', '-d', root, img, `${mib}M`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`mke2fs failed for ${spec.name} (exit ${r.status})`);
  return img;
}

function scan(img, identity) {
  const cli = path.join(repo, 'dist/src/bin/hostleak.js');
  const t = Date.now();
  const r = spawnSync(process.execPath, [cli, 'scan', '--backend', 'native', '--format', 'json', '--fail-on', 'never', ...identity, img], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`hostleak scan ${img} exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const target = JSON.parse(r.stdout).targets[0];
  if (target.status !== 'ok') throw new Error(`hostleak scan ${img}: ${target.status} ${target.error ?? ''}`);
  return { findings: target.findings, seconds: (Date.now() - t) / 1000 };
}

export function measure(spec, log = console.log) {
  const root = buildRoot(spec, log);
  const img = packExt4(root, spec, log);
  const { owned, changed } = dpkgOwned(root);
  // A finding at a folder a package made (apt's archives/) is about what the build put inside it, not the folder.
  const isDir = (p) => { try { return fs.lstatSync(path.join(root, p)).isDirectory(); } catch { return false; } };
  const shipped = (p) => owned.has(p) && !changed.has(p) && !isDir(p);
  const leaks = knownLeaks(root, spec);
  const rows = [];
  for (const [mode, identity] of [['with identity', identityFlags(builderOf(spec))], ['without', WITHOUT_IDENTITY]]) {
    const { findings, seconds } = scan(img, identity);
    const loud = findings.filter(warnOrAbove);
    const expected = leaks.filter((l) => mode === 'with identity' || !l.identity);
    const truePos = loud.filter((f) => !shipped(f.path) && leaks.some((l) => matches(f, l)));
    const falsePos = loud.filter((f) => !truePos.includes(f));
    const found = expected.filter((l) => loud.some((f) => matches(f, l)));
    log(`\n-- ${spec.name}, ${mode}: ${findings.length} findings, ${loud.length} at warning+, scan ${seconds.toFixed(1)} s`);
    for (const f of falsePos) log(`  FALSE POSITIVE ${f.severity.padEnd(7)} ${f.ruleId.padEnd(24)} ${f.path}${shipped(f.path) ? '   <-- SHIPPED UNCHANGED' : ''}  ${f.message.slice(0, 120)}`);
    for (const l of expected) if (!found.includes(l)) log(`  MISSED ${l.family.padEnd(10)} ${l.rule.padEnd(24)} ${l.path}`);
    rows.push({
      root: spec.name,
      mode,
      findings: findings.length,
      warnOrAbove: loud.length,
      truePositives: truePos.length,
      onShippedUnchanged: loud.filter((f) => shipped(f.path)).length,
      leaks: expected.length,
      found: found.length,
      byFamily: Object.fromEntries([...new Set(expected.map((l) => l.family))].map((fam) => [fam, `${found.filter((l) => l.family === fam).length}/${expected.filter((l) => l.family === fam).length}`])),
      seconds,
    });
  }
  return rows;
}

const pct = (a, b) => (b === 0 ? '   -  ' : `${((100 * a) / b).toFixed(1).padStart(5)}%`);

const main = process.argv[1] === fileURLToPath(import.meta.url);
const only = process.env.HOSTLEAK_ACCURACY_ROOTS?.split(',');
const selected = ROOTS.filter((s) => !only || only.includes(s.name));
if (main && process.argv[2] === '--build-only') {
  for (const spec of selected) buildRoot(spec);
} else if (main) {
  if (process.env.HOSTLEAK_ACCURACY === '0') {
    console.log('\n(accuracy benchmark skipped: HOSTLEAK_ACCURACY=0)');
  } else if (spawnSync('debootstrap', ['--version']).status !== 0 && !selected.every((s) => fs.existsSync(path.join(outDir, `${s.name}.done`)))) {
    console.log('\n(accuracy benchmark skipped: debootstrap is not installed; apt-get install debootstrap, run as root)');
  } else {
    console.log('\n== accuracy on real Debian 12 roots (debootstrap + apt, packed with mke2fs -d, native backend)');
    // A root that cannot be built (a registry down) is reported and left out; the totals say which were measured.
    const rows = selected.flatMap((s) => {
      try {
        return measure(s);
      } catch (e) {
        console.log(`\n-- ${s.name}: NOT MEASURED: ${e.message}`);
        process.exitCode = 1;
        return [];
      }
    });
    console.log('\nroot               identity       findings  warning+  true  shipped  precision   leaks found  recall   by family');
    for (const r of rows) {
      console.log(
        `${r.root.padEnd(18)} ${r.mode.padEnd(13)} ${String(r.findings).padStart(9)}  ${String(r.warnOrAbove).padStart(8)}  ${String(r.truePositives).padStart(4)}  ${String(r.onShippedUnchanged).padStart(7)}  ${pct(r.truePositives, r.warnOrAbove).padStart(9)}  ${String(r.leaks).padStart(6)} ${String(r.found).padStart(5)}  ${pct(r.found, r.leaks)}  ${Object.entries(r.byFamily).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      );
    }
    for (const mode of ['with identity', 'without']) {
      const rs = rows.filter((r) => r.mode === mode);
      const sum = (k) => rs.reduce((n, r) => n + r[k], 0);
      console.log(`TOTAL ${mode.padEnd(13)}: precision at warning+ ${pct(sum('truePositives'), sum('warnOrAbove'))} (${sum('truePositives')}/${sum('warnOrAbove')}), recall ${pct(sum('found'), sum('leaks'))} (${sum('found')}/${sum('leaks')}), warning+ on shipped-unchanged files ${sum('onShippedUnchanged')}`);
    }
    const w = rows.filter((r) => r.mode === 'with identity');
    const wo = rows.filter((r) => r.mode === 'without');
    const s = (rs, k) => rs.reduce((n, r) => n + r[k], 0);
    if (s(rows, 'truePositives') < 0.99 * s(rows, 'warnOrAbove') || s(w, 'found') < 0.95 * s(w, 'leaks') || s(wo, 'found') < 0.9 * s(wo, 'leaks')) process.exitCode = 1;
  }
}
