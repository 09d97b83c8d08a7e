import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import strayPerUserProfile from '../../rules/stray-per-user-profile.js';

ruleTester(strayPerUserProfile, {
  valid: [
    {
      name: 'profiles of accounts that exist',
      tree: withAccounts([
        { path: '/nix/var/nix/profiles/per-user/root/channels', target: 'channels-1-link' },
        { path: '/nix/var/nix/profiles/per-user/alice', type: 'dir', uid: 1000 },
      ]),
    },
    { name: 'no per-user directory', tree: withAccounts([]) },
  ],
  invalid: [
    {
      name: "the builder's profile",
      tree: withAccounts([{ path: '/nix/var/nix/profiles/per-user/bob', type: 'dir', uid: 1001 }]),
      findings: [{ path: '/nix/var/nix/profiles/per-user/bob', message: ["'bob'"], evidence: ['uid=1001'] }],
    },
    {
      name: 'accounts unknown: one info, not a flood',
      tree: [
        { path: '/nix/var/nix/profiles/per-user/root', type: 'dir' },
        { path: '/nix/var/nix/profiles/per-user/bob', type: 'dir' },
      ],
      findings: [{ path: '/nix/var/nix/profiles/per-user', severity: 'info', message: ['could not judge 2'] }],
    },
  ],
});
