import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import bakedMachineId from '../../rules/baked-machine-id.js';

const ID = '4f0c2e1b9d8a7c6b5a4f3e2d1c0b9a8f';

ruleTester(bakedMachineId, {
  valid: [
    { name: 'empty', tree: withAccounts([{ path: '/etc/machine-id', content: '' }]) },
    { name: 'uninitialized', tree: withAccounts([{ path: '/etc/machine-id', content: 'uninitialized\n' }]) },
    { name: 'whitespace only', tree: withAccounts([{ path: '/etc/machine-id', content: '\n' }]) },
    { name: 'missing, dbus id is a symlink', tree: withAccounts([{ path: '/var/lib/dbus/machine-id', target: '/etc/machine-id' }]) },
  ],
  invalid: [
    {
      name: 'both ids baked',
      tree: withAccounts([
        { path: '/etc/machine-id', content: `${ID}\n` },
        { path: '/var/lib/dbus/machine-id', content: `${ID}\n` },
      ]),
      findings: [
        { path: '/etc/machine-id', evidence: ['4f0c…[32 chars'], absent: [ID] },
        { path: '/var/lib/dbus/machine-id', absent: [ID] },
      ],
    },
  ],
});
