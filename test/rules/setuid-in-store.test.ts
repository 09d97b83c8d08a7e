import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import setuidInStore from '../../rules/setuid-in-store.js';

const STORE = '/nix/store/ylxq3d4nyc0n2f0zm8wr1sncbfnk0gvb-user-environment';

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
