import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/login-records.js';
import { loginRecord } from '../helpers/records.js';

const zeros = (n: number) => Buffer.alloc(n).toString('base64');
const record = () => loginRecord().toString('base64');

ruleTester(rule, {
  valid: [
    {
      name: 'empty btmp and wtmp, a lastlog of zeros (sparse, nobody logged in)',
      tree: withAccounts([
        { path: '/var/log/btmp', content: '', mode: '0660' },
        { path: '/var/log/wtmp', content: '' },
        { path: '/var/log/lastlog', contentBase64: zeros(292 * 1001) },
      ]),
    },
  ],
  invalid: [
    {
      name: 'a login in wtmp, a failed one in btmp',
      tree: withAccounts([
        { path: '/var/log/wtmp', contentBase64: record() },
        { path: '/var/log/btmp', contentBase64: record() },
      ]),
      findings: [
        { path: '/var/log/wtmp', message: ['384 bytes'] },
        { path: '/var/log/btmp' },
      ],
    },
  ],
});
