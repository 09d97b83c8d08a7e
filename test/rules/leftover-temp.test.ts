import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import leftoverTemp from '../../rules/leftover-temp.js';

ruleTester(leftoverTemp, {
  valid: [
    { name: 'empty temp dirs', tree: withAccounts([{ path: '/tmp', type: 'dir', mode: '1777' }, { path: '/var/tmp', type: 'dir', mode: '1777' }]) },
    { name: '/var/tmp is a link to /tmp, both empty', tree: withAccounts([{ path: '/tmp', type: 'dir' }, { path: '/var/tmp', target: '../tmp' }]) },
  ],
  invalid: [
    {
      name: 'state left by the build VM, reported per top entry',
      tree: withAccounts([
        { path: '/tmp/state/profiles/per-user/root/x', content: 'x' },
        { path: '/tmp/nixos-install.log', content: 'done\n' },
        { path: '/var/tmp/cache', type: 'dir' },
      ]),
      findings: [
        { path: '/tmp/state', message: ['4 entries below'] },
        { path: '/tmp/nixos-install.log', message: ['5 bytes'] },
        { path: '/var/tmp/cache', message: ['0 entries'] },
      ],
    },
  ],
});
