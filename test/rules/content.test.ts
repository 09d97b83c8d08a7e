import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import buildPathReference from '../../rules/build-path-reference.js';
import hostIdentityReference from '../../rules/host-identity-reference.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';

ruleTester(buildPathReference, {
  valid: [
    {
      name: 'similar paths, store files, binaries, oversized files',
      tree: withAccounts([
        { path: '/etc/make.conf', content: 'O=/usr/src/linux/build/\nURL=https://ci.example.org/builds/1\n' },
        { path: '/nix/store/aaaa-x/lib/x.pc', content: 'prefix=/build/source\n' },
        { path: '/etc/udev/hwdb.bin', contentBase64: Buffer.from('\0KSLP/build/systemd\0').toString('base64') },
        { path: '/srv/huge.txt', content: `${'x'.repeat(2000)}\n/build/x\n` },
        { path: '/etc/link', target: '/nix/store/aaaa-x' },
      ]),
      options: { maxTextBytes: 1024 },
    },
  ],
  invalid: [
    {
      name: 'contents and symlink targets naming build paths, one finding per file',
      tree: withAccounts([
        { path: '/etc/systemd/system/app.service', content: `[Service]\nEnvironment=TOKEN=${FAKE_GITHUB_TOKEN}\nExecStart=/build/source/app --x /build/source/y\n` },
        { path: '/etc/profile.local', content: 'export PATH=/tmp/nix-build-hello-2.12.drv-0/bin:$PATH\n' },
        { path: '/var/lib/app/state.json', content: '{"workspace":"/home/runner/work/proj/proj"}' },
        { path: '/opt/app/current', target: '/private/tmp/nix-build-app.drv-0/out' },
      ]),
      findings: [
        { path: '/etc/systemd/system/app.service', message: ['/build/', '2 occurrences', 'line 3'], evidence: ['line 3: ExecStart=/build/source/app'], absent: [FAKE_GITHUB_TOKEN] },
        { path: '/etc/profile.local', message: ['/tmp/nix-build-'] },
        { path: '/var/lib/app/state.json', message: ['/home/runner/work/'] },
        { path: '/opt/app/current', message: ['/private/tmp/nix-build-'] },
      ],
    },
    {
      name: 'the store with the store scan on',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/aaaa-x/lib/x.pc', content: 'prefix=/build/source\n' }]),
      findings: [{ path: '/nix/store/aaaa-x/lib/x.pc' }],
    },
  ],
});

const BOB = { user: 'bob', home: '/home/bob', name: 'bobs-laptop' };

ruleTester(hostIdentityReference, {
  valid: [
    {
      name: 'running as root in CI: generic identity flags nothing',
      host: { user: 'root', home: '/root', name: 'localhost' },
      tree: withAccounts([{ path: '/root/.profile', content: 'cd /root\n' }, { path: '/etc/hostname', content: 'localhost\n' }]),
    },
    {
      name: 'GitHub runner: bare runner name, short hostname',
      host: { user: 'runner', home: '/', name: 'vm' },
      tree: withAccounts([{ path: '/etc/motd', content: 'the runner vm\n' }]),
    },
    {
      name: 'the builder user is also an account of the image',
      host: { user: 'alice', home: '/home/alice', name: 'nixos' },
      tree: withAccounts([{ path: '/home/alice/.bashrc', content: 'cd /home/alice\n', uid: 1000 }]),
    },
    {
      name: 'no identity at all',
      tree: withAccounts([{ path: '/home/bob', type: 'dir' }]),
    },
    {
      name: 'names inside longer words and in the store',
      host: BOB,
      tree: withAccounts([
        { path: '/etc/motd', content: 'bobby was here; see /home/bobby and bobs-laptops\n' },
        { path: '/nix/store/aaaa-nixos-system-bobs-laptop-24.05/etc', content: 'x' },
      ]),
    },
  ],
  invalid: [
    {
      name: "the builder's home, a link into it, the hostname in a key comment, the user as a login",
      host: BOB,
      tree: withAccounts([
        { path: '/home/bob/.nix-defexpr/channels', target: '/tmp/state/x' },
        { path: '/etc/app/config', target: '/home/bob/src/app/config' },
        { path: '/etc/ssh/ssh_host_ed25519_key.pub', content: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@bobs-laptop\n' },
        { path: '/etc/postfix/main.cf', content: `myhostname = mail\nrelay = ${FAKE_GITHUB_TOKEN} bob@example.org\n` },
        { path: '/home/bob/notes', content: '/home/bob/x\n' },
      ]),
      findings: [
        { path: '/home/bob', message: ['home /home/bob', '3 entries below'] },
        { path: '/etc/app/config', message: ['points at', '/home/bob'] },
        { path: '/etc/ssh/ssh_host_ed25519_key.pub', message: ['hostname bobs-laptop', 'line 1'], evidence: ['root@bobs-laptop'] },
        { path: '/etc/postfix/main.cf', message: ['user bob'], absent: [FAKE_GITHUB_TOKEN] },
      ],
    },
  ],
});
