/**
 * The "Done when" on a small Debian-like tree with a real dpkg database (built with dpkg-deb + dpkg --root):
 * one instance of every per-machine family virt-sysprep removes gets a finding at warning or above; what the
 * distribution shipped (packaged files installed unchanged, AWS's documented example keys), an empty apt lock, an
 * empty btmp, /etc/skel and a generic /etc/hosts get none; instance state is still reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Finding, Report } from '../../src/types.js';
import { hostleak, json } from '../helpers/cli.js';
import { debianRoot, type FakePackage, plant, removeRoot } from '../helpers/debian-root.js';
import { FAKE_OPENSSH_KEY } from '../helpers/fake-secrets.js';
import { elfHeader, loginRecord } from '../helpers/records.js';

const elfCore = elfHeader(4);
const wtmp = loginRecord();
/** A package with a build path and an example key in files it installs (sitecustomize.py the builder edits later). */
const PYTHON_STDLIB: FakePackage = {
  name: 'libpython3.11-stdlib',
  files: {
    'usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py': "build_time_vars = {'abs_builddir': '/build/python3.11-Ab12/build-shared'}\n",
    'usr/lib/python3.11/test/keycert.pem': FAKE_OPENSSH_KEY,
    'usr/lib/python3.11/sitecustomize.py': "PREFIX = '/usr'\n",
  },
};
const AWS_DOC = 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n';

describe('a Debian-like tree with one instance of every family', () => {
  let root: string;
  let findings: Finding[];
  let stderr: string;
  beforeAll(() => {
    root = debianRoot([
      PYTHON_STDLIB,
      { name: 'npm', files: { 'usr/share/nodejs/npm/lib/utils/config.js': "const gyp = '/build/config.gypi'\n" } },
      { name: 'kmod', files: { 'etc/modules-load.d/modules.conf': { target: '../modules' } } },
      { name: 'python3-botocore', files: { 'usr/share/doc/python3-botocore/examples/s3.py': AWS_DOC } },
      { name: 'base-files', files: { 'etc/skel/.bashrc': '# ~/.bashrc\n', 'etc/skel/.profile': '# ~/.profile\n' } },
    ]);
    plant(root, {
      // changed after install: the builder edited a packaged file
      'usr/lib/python3.11/sitecustomize.py': "PREFIX = '/build/python3.11-Ab12/debian/tmp'\n",
      'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
      'etc/group': 'root:x:0:\n',
      'etc/shadow': 'root:*:19000:0:99999:7:::\n',
      'etc/shadow-': 'root:$y$j9T$abc$defghijklmnop:19000:0:99999:7:::\n',
      'etc/hostname': 'vm\n',
      'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
      'etc/machine-id': '4f0c2b6e8a1d4e3f9b7c5a2d1e0f3a4b\n',
      'etc/resolv.conf': 'nameserver 10.255.255.53\n',
      'etc/ssh/ssh_host_ed25519_key': FAKE_OPENSSH_KEY,
      'etc/udev/rules.d/70-persistent-net.rules': 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n',
      'etc/NetworkManager/system-connections/wifi.nmconnection': '[wifi]\nssid=Builders\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=builders-wifi-passphrase\n',
      'etc/nginx/nginx.conf~': 'user www-data;\n',
      'usr/share/doc/aws-example/README': AWS_DOC,
      'var/cache/apt/archives/lock': '',
      'var/cache/apt/archives/partial/.keep': '',
      'var/cache/apt/archives/bash_5.2.15-2+b7_amd64.deb': '!<arch>\ndebian-binary   ',
      'var/cache/dnf/fedora-a1b2/packages/bash-5.2.rpm': 'rpm',
      'var/lib/dhcp/dhclient.eth0.leases': 'lease {\n  fixed-address 10.0.2.15;\n}\n',
      'var/spool/cron/crontabs/root': '0 * * * * /root/build-hook.sh\n',
      'var/mail/root': 'From root@vm Mon Jan  1 00:00:00 2024\nSubject: Cron <root@vm>\n\nok\n',
      'var/log/wtmp': wtmp,
      'var/log/btmp': '',
      'var/log/dpkg.log': '2024-01-01 00:00:00 install bash:amd64 <none> 5.2.15-2+b7\n',
      'var/lib/cloud/instances/iid-build-vm/datasource': 'DataSourceNoCloud\n',
      'root/core': elfCore,
      'root/.ssh/authorized_keys': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@vm\n',
      'etc/app/app.conf': 'data = /build/app-src/data\n',
    });
    const r = hostleak(['scan', root, '--backend', 'dir', '--format', 'json', '--fail-on', 'never', '--host-name', 'vm', '--host-user', 'alice', '--host-home', '/home/alice', '--verbose']);
    expect(r.status).toBe(0);
    findings = json<Report>(r).targets[0]!.findings;
    stderr = r.stderr;
  });
  afterAll(() => removeRoot(root));

  const atLeastWarning = (f: Finding) => f.severity === 'error' || f.severity === 'warning';
  const at = (p: string) => findings.filter((f) => f.path === p && atLeastWarning(f)).map((f) => f.ruleId);

  it.each([
    ['/var/cache/apt/archives', 'package-cache'],
    ['/var/cache/dnf', 'package-cache'],
    ['/etc/shadow-', 'account-backup'],
    ['/var/lib/dhcp/dhclient.eth0.leases', 'dhcp-lease'],
    ['/etc/udev/rules.d/70-persistent-net.rules', 'pinned-mac-address'],
    ['/etc/NetworkManager/system-connections/wifi.nmconnection', 'network-secret'],
    ['/var/spool/cron/crontabs/root', 'spool-leftover'],
    ['/var/mail/root', 'spool-leftover'],
    ['/var/log/wtmp', 'login-records'],
    ['/etc/nginx/nginx.conf~', 'editor-leftover'],
    ['/var/lib/cloud/instances', 'cloud-init-state'],
    ['/root/core', 'crash-dump'],
    ['/root/.ssh/authorized_keys', 'authorized-keys'],
    ['/etc/hostname', 'build-hostname'],
    // instance state the families above must not crowd out
    ['/etc/ssh/ssh_host_ed25519_key', 'baked-ssh-host-key'],
    ['/etc/machine-id', 'baked-machine-id'],
    ['/etc/resolv.conf', 'host-resolv-conf'],
    ['/var/log/dpkg.log', 'build-log'],
  ])('%s: %s at warning or above', (p, rule) => {
    expect(at(p)).toContain(rule);
  });

  it('--verbose says which package database was read', () => {
    expect(stderr).toContain('package database: dpkg (5 packages');
  });

  it('the secret is redacted', () => {
    expect(JSON.stringify(findings)).not.toContain('builders-wifi-passphrase');
  });

  it('what the distribution shipped, example keys, an empty lock and btmp, /etc/skel and a generic /etc/hosts: nothing at warning or above', () => {
    const quiet = ['/usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py', '/usr/share/nodejs/npm/lib/utils/config.js', '/etc/modules-load.d/modules.conf',
      '/usr/lib/python3.11/test/keycert.pem', '/usr/share/doc/python3-botocore/examples/s3.py', '/usr/share/doc/aws-example/README', '/var/cache/apt/archives/lock',
      '/var/log/btmp', '/etc/skel/.bashrc', '/etc/skel/.profile', '/etc/hosts'];
    expect(findings.filter((f) => atLeastWarning(f) && quiet.some((q) => f.path === q || f.path.startsWith(`${q}/`)))).toEqual([]);
    expect(findings.filter((f) => f.path.startsWith('/usr/share/doc') || f.path.startsWith('/etc/skel') || f.path === '/etc/hosts')).toEqual([]);
  });

  it('shipped files are info with the package named; builder-made changes say so', () => {
    const sysconfig = findings.find((f) => f.path === '/usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py')!;
    expect(sysconfig).toMatchObject({ ruleId: 'build-path-reference', severity: 'info' });
    expect(sysconfig.message).toContain('installed unchanged by dpkg package libpython3.11-stdlib');
    expect(findings.find((f) => f.path === '/etc/modules-load.d/modules.conf')).toMatchObject({ severity: 'info' });
    const edited = findings.find((f) => f.path === '/usr/lib/python3.11/sitecustomize.py')!;
    expect(edited).toMatchObject({ ruleId: 'build-path-reference', severity: 'warning' });
    expect(edited.message).toContain('changed after install');
    expect(findings.find((f) => f.path === '/etc/app/app.conf')!.message).toContain('not installed by any package');
  });
});

describe('--trust-packages on the same kind of tree', () => {
  let root: string;
  let trusting: Finding[];
  let thorough: Finding[];
  beforeAll(() => {
    root = debianRoot([
      PYTHON_STDLIB,
      { name: 'app-conf', files: { 'etc/app/app.conf': 'data = /usr/share/app\n' }, conffiles: ['/etc/app/app.conf'] },
      // a package that ships a filesystem image (a squashfs head)
      { name: 'app-data', files: { 'usr/share/app/data.img': `hsqs${'\0'.repeat(4096)}` } },
      { name: 'app-tool', files: { 'usr/bin/app-tool': '#!/bin/sh\nexec /usr/lib/app/run\n' } },
    ]);
    // The builder diverts the packaged tool and puts its own in its place: its checksum is not the package's.
    execFileSync('dpkg-divert', [`--root=${root}`, '--local', '--rename', '--divert', '/usr/bin/app-tool.distrib', '--add', '/usr/bin/app-tool'], { stdio: 'ignore' });
    plant(root, {
      'usr/lib/python3.11/sitecustomize.py': "PREFIX = '/build/python3.11-Ab12/debian/tmp'\n",
      'etc/app/app.conf': 'data = /build/app-src/data\n',
      'usr/local/bin/deploy': '#!/bin/sh\nexport SRC=/build/app-src\n',
      'usr/bin/app-tool': '#!/bin/sh\nexec /build/app-src/run\n',
      // a disk image no package installed: nested-image still reads its head
      'srv/disk.img': Buffer.concat([Buffer.from('hsqs'), Buffer.alloc(4096)]),
    });
    const run = (extra: string[]) => {
      // --no-nested: what the nested-image rule itself reads (the fake image heads are not opened as images).
      const r = hostleak(['scan', root, '--backend', 'dir', '--format', 'json', '--fail-on', 'never', '--no-nested', ...extra]);
      expect(r.status).toBe(0);
      return json<Report>(r).targets[0]!.findings;
    };
    trusting = run(['--trust-packages']);
    thorough = run([]);
  });
  afterAll(() => removeRoot(root));

  const paths = (fs: Finding[], rule: string) => fs.filter((f) => f.ruleId === rule).map((f) => f.path).sort();

  it('files a package installed with a checksum are not read: shipped or changed, they give no content finding', () => {
    expect(paths(thorough, 'build-path-reference')).toEqual(expect.arrayContaining(['/usr/lib/python3.11/_sysconfigdata__x86_64-linux-gnu.py', '/usr/lib/python3.11/sitecustomize.py']));
    expect(paths(thorough, 'private-key')).toContain('/usr/lib/python3.11/test/keycert.pem');
    expect(trusting.filter((f) => f.path.startsWith('/usr/lib/python3.11/'))).toEqual([]);
  });

  it('what no package installed, configuration files under /etc and a diverted path are still read', () => {
    expect(paths(trusting, 'build-path-reference')).toEqual(['/etc/app/app.conf', '/usr/bin/app-tool', '/usr/local/bin/deploy']);
    expect(paths(trusting, 'nested-image')).toEqual(['/srv/disk.img']);
  });

  it("a packaged image's head is not read either", () => {
    expect(paths(thorough, 'nested-image')).toEqual(['/srv/disk.img', '/usr/share/app/data.img']);
  });

  it('the report says how many files were trusted unread, and the thorough run says nothing of it', () => {
    const note = trusting.find((f) => f.ruleId === 'content-partly-scanned' && f.path === '/')!;
    expect(note.severity).toBe('info');
    expect(note.message).toMatch(/^3 files a package installed with a recorded checksum were not searched \(--trust-packages\)/);
    expect(thorough.filter((f) => f.ruleId === 'content-partly-scanned')).toEqual([]);
  });

  it('on an image whose package database is not read (rpm), it says it trusted nothing', () => {
    const rpmRoot = mkdtempSync(path.join(os.tmpdir(), 'hostleak-rpm-'));
    try {
      mkdirSync(path.join(rpmRoot, 'var/lib/rpm'), { recursive: true });
      writeFileSync(path.join(rpmRoot, 'var/lib/rpm/rpmdb.sqlite'), 'SQLite format 3\0');
      mkdirSync(path.join(rpmRoot, 'etc/app'), { recursive: true });
      writeFileSync(path.join(rpmRoot, 'etc/app/app.conf'), 'data = /build/app-src/data\n');
      const r = hostleak(['scan', rpmRoot, '--backend', 'dir', '--format', 'json', '--fail-on', 'never', '--trust-packages']);
      const found = json<Report>(r).targets[0]!.findings;
      // A damaged database (here 16 bytes of SQLite magic): the reason it was not read, and nothing trusted.
      expect(found.find((f) => f.ruleId === 'content-partly-scanned')!.message).toMatch(
        /^--trust-packages left every file to be searched: rpm database \/var\/lib\/rpm\/rpmdb\.sqlite not read \([^)]+\)+: file ownership unknown$/,
      );
      expect(found.map((f) => f.ruleId)).toContain('build-path-reference');
    } finally {
      rmSync(rpmRoot, { recursive: true, force: true });
    }
  });
});
