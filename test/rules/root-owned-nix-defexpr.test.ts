import rootOwnedNixDefexpr from '../../rules/root-owned-nix-defexpr.js';
import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';

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
