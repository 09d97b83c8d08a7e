import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import hostGcroot from '../../rules/host-gcroot.js';

const STORE = '/nix/store/ylxq3d4nyc0n2f0zm8wr1sncbfnk0gvb-user-environment';

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
