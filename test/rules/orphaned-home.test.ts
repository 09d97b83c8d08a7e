import orphanedHome from '../../rules/orphaned-home.js';
import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';

ruleTester(orphanedHome, {
  valid: [
    { name: 'every home has an account', tree: withAccounts([]) },
    { name: 'no /home at all', tree: [{ path: '/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }] },
    {
      name: 'home root aliased by a symlink (/home -> var/home) is judged once, through the alias',
      tree: [
        { path: '/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n' },
        { path: '/home', target: 'var/home' },
        { path: '/var/home/alice', type: 'dir', uid: 1000 },
      ],
    },
    {
      name: 'passwd reached through a symlink inside the image (NixOS /etc/static)',
      tree: [
        { path: '/etc/static', target: '/nix/store/h-etc/etc' },
        { path: '/etc/passwd', target: '/etc/static/passwd' },
        { path: '/nix/store/h-etc/etc/passwd', content: 'carol:x:1001:100::/home/carol:/bin/sh\n' },
        { path: '/home/carol', type: 'dir', uid: 1001 },
      ],
    },
    { name: 'lost+found on a separate /home filesystem', tree: withAccounts([{ path: '/home/lost+found', type: 'dir', mode: '0700' }]) },
    { name: 'a symlink under /home is not a home directory', tree: withAccounts([{ path: '/home/link', target: '/home/alice' }]) },
  ],
  invalid: [
    {
      name: 'the disko leak: root-owned builder home without account',
      tree: withAccounts([{ path: '/home/bob', type: 'dir', uid: 0, gid: 0 }]),
      findings: [{ path: '/home/bob', message: ['/home/bob', 'HOME=/home/bob'], evidence: ['uid=0'] }],
    },
    {
      name: 'builder home under /Users and /var/home',
      tree: withAccounts([
        { path: '/Users/eve', type: 'dir' },
        { path: '/var/home/mallory', type: 'dir', uid: 1000 },
      ]),
      findings: [{ path: '/Users/eve' }, { path: '/var/home/mallory' }],
    },
    {
      name: 'an account with that name exists but its home is elsewhere',
      tree: withAccounts([{ path: '/home/root', type: 'dir' }]),
      findings: [{ path: '/home/root', message: ["account 'root' exists"] }],
    },
    {
      name: 'no readable passwd: reports once at info instead of flagging every home',
      tree: [
        { path: '/home/alice', type: 'dir', uid: 1000 },
        { path: '/home/bob', type: 'dir' },
        { path: '/home/carol', type: 'dir', uid: 1001 },
      ],
      findings: [{ path: '/home', severity: 'info', message: ['could not judge 3 home directories'] }],
    },
    {
      name: 'passwd is a symlink out of the image: counts as unreadable, not read from the host',
      tree: [
        { path: '/etc/passwd', target: '/etc/../../../../etc/passwd-on-host' },
        { path: '/home/bob', type: 'dir' },
      ],
      findings: [{ path: '/home', severity: 'info' }],
    },
  ],
});
