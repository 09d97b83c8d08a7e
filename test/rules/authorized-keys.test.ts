import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/authorized-keys.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

ruleTester(rule, {
  valid: [
    {
      name: 'empty and comment-only files, a public key that is not an authorized_keys',
      tree: withAccounts([
        { path: '/root/.ssh/authorized_keys', content: '' },
        { path: '/home/alice/.ssh/authorized_keys', content: '# add keys here\n', uid: 1000 },
        { path: '/etc/skel/.bashrc', content: '# ~/.bashrc\n' },
        { path: '/root/.ssh/id_ed25519.pub', content: `ssh-ed25519 ${KEY} root@vm\n` },
      ]),
    },
  ],
  invalid: [
    {
      name: 'root\'s key of the build host, a user\'s key, a NixOS declared key (info)',
      host: { user: 'bob', name: 'buildbox' },
      tree: withAccounts([
        { path: '/root/.ssh/authorized_keys', content: `ssh-ed25519 ${KEY} bob@buildbox\n` },
        { path: '/home/alice/.ssh/authorized_keys2', content: `no-pty,command="/bin/true" ssh-ed25519 ${KEY} alice@laptop\n`, uid: 1000 },
        { path: '/etc/ssh/authorized_keys.d/alice', content: `ssh-ed25519 ${KEY} alice@laptop\n` },
      ]),
      findings: [
        { path: '/root/.ssh/authorized_keys', message: ['a key', "the build host's (bob@buildbox)"], evidence: ['ssh-ed25519 SHA256:', 'bob@buildbox'], absent: [KEY] },
        { path: '/home/alice/.ssh/authorized_keys2', evidence: ['alice@laptop'] },
        { path: '/etc/ssh/authorized_keys.d/alice', severity: 'info', message: ['declared'] },
      ],
    },
  ],
});
