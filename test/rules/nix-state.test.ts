import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import homelessShelter from '../../rules/homeless-shelter.js';
import strayPerUserProfile from '../../rules/stray-per-user-profile.js';
import hostGcroot from '../../rules/host-gcroot.js';
import setuidInStore from '../../rules/setuid-in-store.js';
import vmExchangeLeftover from '../../rules/vm-exchange-leftover.js';

const STORE = '/nix/store/ylxq3d4nyc0n2f0zm8wr1sncbfnk0gvb-user-environment';

ruleTester(homelessShelter, {
  valid: [
    { name: 'no /homeless-shelter', tree: withAccounts([]) },
    { name: 'the string only appears in a file', tree: withAccounts([{ path: '/etc/x', content: 'HOME=/homeless-shelter' }]) },
    { name: 'a similarly named directory', tree: withAccounts([{ path: '/homeless-shelters', type: 'dir' }]) },
  ],
  invalid: [
    {
      name: 'the sandbox HOME with a .nix-defexpr',
      tree: withAccounts([{ path: '/homeless-shelter/.nix-defexpr/channels', target: '/nix/var/nix/profiles/per-user/root/channels' }]),
      findings: [{ path: '/homeless-shelter', message: ['2 entries below'], evidence: ['/homeless-shelter/.nix-defexpr'] }],
    },
  ],
});

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

ruleTester(hostGcroot, {
  valid: [
    {
      name: 'NixOS defaults: profiles, run-time links, store paths',
      tree: withAccounts([
        { path: '/nix/var/nix/profiles', type: 'dir' },
        { path: STORE, type: 'dir' },
        { path: '/nix/var/nix/gcroots/profiles', target: '/nix/var/nix/profiles' },
        { path: '/nix/var/nix/gcroots/current-system', target: '/run/current-system' },
        { path: '/nix/var/nix/gcroots/booted-system', target: '/run/booted-system' },
        { path: '/nix/var/nix/gcroots/auto/abc', target: '/nix/var/nix/profiles' },
        { path: '/nix/var/nix/gcroots/keep', target: STORE },
      ]),
    },
  ],
  invalid: [
    {
      name: 'roots into the build VM, the install mount and a missing path',
      tree: withAccounts([
        { path: STORE, type: 'dir' },
        { path: '/nix/var/nix/gcroots/auto/a', target: '/mnt/nix/var/nix/profiles/system' },
        { path: '/nix/var/nix/gcroots/auto/b', target: '/build/source/result' },
        { path: '/nix/var/nix/gcroots/auto/c', target: '/home/bob/project/result' },
        { path: '/tmp/x', type: 'dir' },
        { path: '/nix/var/nix/gcroots/auto/d', target: '/tmp/x' },
      ]),
      findings: [
        { path: '/nix/var/nix/gcroots/auto/a', message: ['/mnt/'] },
        { path: '/nix/var/nix/gcroots/auto/b', message: ['/build/'] },
        { path: '/nix/var/nix/gcroots/auto/c', message: ['does not resolve'] },
        { path: '/nix/var/nix/gcroots/auto/d', message: ['/tmp/'] },
      ],
    },
  ],
});

ruleTester(setuidInStore, {
  valid: [
    {
      name: 'ordinary store modes; setuid wrappers outside the store',
      tree: withAccounts([
        { path: `${STORE}/bin/x`, content: 'x', mode: '0555' },
        { path: '/nix/store', type: 'dir', mode: '1775', gid: 30000 },
        { path: '/run/wrappers/bin/sudo', content: 'x', mode: '4511' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'setuid and setgid files in the store',
      tree: withAccounts([
        { path: `${STORE}/bin/su`, content: 'x', mode: '4755' },
        { path: `${STORE}/bin/wall`, content: 'x', mode: '2755' },
      ]),
      findings: [
        { path: `${STORE}/bin/su`, message: ['setuid', '4755'] },
        { path: `${STORE}/bin/wall`, message: ['setgid'] },
      ],
    },
  ],
});

ruleTester(vmExchangeLeftover, {
  valid: [
    { name: 'no exchange dir', tree: withAccounts([]) },
    { name: 'vmTools itself in the store', tree: withAccounts([{ path: `${STORE}/xchg/saved-env`, content: 'x' }]) },
    { name: 'a file called xchg', tree: withAccounts([{ path: '/srv/xchg', content: 'rates' }]) },
  ],
  invalid: [
    {
      name: 'xchg with saved-env, and a saved-env elsewhere',
      tree: withAccounts([
        { path: '/xchg/saved-env', content: 'declare -x HOME="/home/bob"\n' },
        { path: '/root/saved-env', content: 'declare -x USER="bob"\n' },
      ]),
      findings: [
        { path: '/xchg', message: ['exchange directory', '1 entry'], evidence: ['saved-env'] },
        { path: '/root/saved-env', message: ['saved host environment'] },
      ],
    },
  ],
});
