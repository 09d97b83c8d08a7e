import danglingChannelSymlink from '../../rules/dangling-channel-symlink.js';
import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';

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
