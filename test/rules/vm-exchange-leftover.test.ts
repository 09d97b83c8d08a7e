import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import vmExchangeLeftover from '../../rules/vm-exchange-leftover.js';

const STORE = '/nix/store/ylxq3d4nyc0n2f0zm8wr1sncbfnk0gvb-user-environment';

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
