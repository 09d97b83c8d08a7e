import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import bakedRandomSeed from '../../rules/baked-random-seed.js';

ruleTester(bakedRandomSeed, {
  valid: [
    { name: 'no seeds', tree: withAccounts([{ path: '/var/lib/systemd', type: 'dir' }]) },
    { name: 'empty seed', tree: withAccounts([{ path: '/var/lib/systemd/random-seed', content: '' }]) },
  ],
  invalid: [
    {
      name: 'systemd and systemd-boot seeds',
      tree: withAccounts([
        { path: '/var/lib/systemd/random-seed', contentBase64: Buffer.alloc(512, 7).toString('base64') },
        { path: '/boot/loader/random-seed', contentBase64: Buffer.alloc(32, 9).toString('base64') },
      ]),
      findings: [
        { path: '/var/lib/systemd/random-seed', message: ['512-byte'] },
        { path: '/boot/loader/random-seed', message: ['32-byte'] },
      ],
    },
    {
      name: 'the ESP audited on its own',
      tree: [{ path: '/loader/random-seed', contentBase64: Buffer.alloc(32, 1).toString('base64') }],
      findings: [{ path: '/loader/random-seed' }],
    },
  ],
});
