import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import hostIdentityReference from '../../rules/host-identity-reference.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';

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
    {
      name: 'a Jenkins agent: the CI account name is evidence, not a generic word',
      host: { user: 'jenkins', name: 'localhost' },
      tree: withAccounts([{ path: '/etc/app/app.conf', content: 'cache = /home/jenkins/.cache/app\n' }]),
      findings: [{ path: '/etc/app/app.conf', message: ['user jenkins'] }],
    },
  ],
});
