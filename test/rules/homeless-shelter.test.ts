import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import homelessShelter from '../../rules/homeless-shelter.js';

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
