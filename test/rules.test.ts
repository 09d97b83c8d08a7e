import danglingChannelSymlink from '../rules/dangling-channel-symlink.js';
import orphanedHome from '../rules/orphaned-home.js';
import rootOwnedNixDefexpr from '../rules/root-owned-nix-defexpr.js';
import { ruleTester } from './helpers/rule-tester.js';
import { withAccounts } from './helpers/tree.js';

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

ruleTester(rootOwnedNixDefexpr, {
  valid: [
    { name: "root's own .nix-defexpr", tree: withAccounts([{ path: '/root/.nix-defexpr', type: 'dir' }]) },
    {
      name: "a user's own .nix-defexpr",
      tree: withAccounts([{ path: '/home/alice/.nix-defexpr', type: 'dir', uid: 1000, gid: 100 }]),
    },
    {
      name: 'root-owned .nix-defexpr in the home of another uid-0 account',
      tree: withAccounts(
        [{ path: '/var/lib/toor/.nix-defexpr', type: 'dir' }],
        'root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/var/lib/toor:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n',
      ),
    },
  ],
  invalid: [
    {
      name: 'the disko leak: root-owned .nix-defexpr in an orphaned home',
      tree: withAccounts([
        { path: '/home/bob', type: 'dir' },
        { path: '/home/bob/.nix-defexpr', type: 'dir' },
      ]),
      findings: [{ path: '/home/bob/.nix-defexpr', message: ['no account owns', 'HOME=/home/bob'] }],
    },
    {
      name: "root-owned .nix-defexpr in a real user's home",
      tree: withAccounts([{ path: '/home/alice/.nix-defexpr', type: 'dir', uid: 0 }]),
      findings: [{ path: '/home/alice/.nix-defexpr', message: ['home of alice'] }],
    },
    {
      name: "Nix's sandbox HOME leaked",
      tree: withAccounts([{ path: '/homeless-shelter/.nix-defexpr', type: 'dir' }]),
      findings: [{ path: '/homeless-shelter/.nix-defexpr' }],
    },
    {
      name: 'a service account home outside /home',
      tree: withAccounts(
        [{ path: '/var/lib/svc/.nix-defexpr', type: 'dir' }],
        'root:x:0:0::/root:/bin/sh\nsvc:x:500:500::/var/lib/svc:/bin/sh\n',
      ),
      findings: [{ path: '/var/lib/svc/.nix-defexpr', message: ['home of svc'] }],
    },
  ],
});

const profiles = [
  { path: '/nix/var/nix/profiles/per-user/root/channels', target: 'channels-1-link' },
  { path: '/nix/var/nix/profiles/per-user/root/channels-1-link', target: '/nix/store/abc-user-environment' },
  { path: '/nix/store/abc-user-environment', type: 'dir' as const },
];

ruleTester(danglingChannelSymlink, {
  valid: [
    {
      name: "root's channels link resolves inside the image",
      tree: withAccounts([
        ...profiles,
        { path: '/root/.nix-defexpr/channels', target: '/nix/var/nix/profiles/per-user/root/channels' },
        { path: '/root/.nix-defexpr/channels_root', target: '../../nix/var/nix/profiles/per-user/root/channels' },
      ]),
    },
    {
      name: 'a link into /run exists only at run time',
      tree: withAccounts([{ path: '/root/.nix-defexpr/channels', target: '/run/user/0/channels' }]),
    },
    {
      name: 'dangling links elsewhere are not channel links',
      tree: withAccounts([{ path: '/etc/foo', target: '/tmp/state/x' }]),
    },
  ],
  invalid: [
    {
      name: 'the disko leak: channels into the build VM temp dir',
      tree: withAccounts([{ path: '/home/bob/.nix-defexpr/channels', target: '/tmp/state/profiles/per-user/root/channels' }]),
      findings: [
        {
          path: '/home/bob/.nix-defexpr/channels',
          message: ['/tmp/state/profiles/per-user/root/channels'],
          evidence: ['/tmp/state/profiles/per-user/root/channels'],
        },
      ],
    },
    {
      name: 'a link nested inside .nix-defexpr, channels_root, and a per-user profile link',
      tree: withAccounts([
        { path: '/root/.nix-defexpr/channels_root', target: '/build/channels' },
        { path: '/root/.nix-defexpr/sub/nixpkgs', target: '../../missing' },
        { path: '/nix/var/nix/profiles/per-user/root/channels', target: 'channels-3-link' },
      ]),
      findings: [
        { path: '/root/.nix-defexpr/channels_root' },
        { path: '/root/.nix-defexpr/sub/nixpkgs' },
        { path: '/nix/var/nix/profiles/per-user/root/channels', message: ['channels-3-link'] },
      ],
    },
    {
      name: 'a link loop never resolves',
      tree: withAccounts([
        { path: '/root/.nix-defexpr/channels', target: 'channels2' },
        { path: '/root/.nix-defexpr/channels2', target: 'channels' },
      ]),
      findings: [
        { path: '/root/.nix-defexpr/channels', message: ['loop'] },
        { path: '/root/.nix-defexpr/channels2', message: ['loop'] },
      ],
    },
    {
      name: 'a link to a path only the build host has',
      tree: withAccounts([
        { path: '/root/.nix-defexpr/channels', target: '/home/alice/../../../nix/var/nix/profiles/per-user/root/channels' },
      ]),
      findings: [{ path: '/root/.nix-defexpr/channels' }],
    },
  ],
});
