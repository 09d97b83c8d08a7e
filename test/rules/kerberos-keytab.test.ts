import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/kerberos-keytab.js';

const KEYTAB = Buffer.from([5, 2, 0, 0, 0, 0x40, 0, 1, 0, 11, ...Buffer.from('EXAMPLE.COM')]).toString('base64');

ruleTester(rule, {
  valid: [
    {
      name: 'an empty keytab, a keytab-named text file, krb5.conf',
      tree: withAccounts([
        { path: '/etc/krb5.keytab', content: '' },
        { path: '/usr/share/doc/krb5/example.keytab', content: 'not a keytab\n' },
        { path: '/etc/krb5.conf', content: '[libdefaults]\n default_realm = EXAMPLE.COM\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'host keytab, a service keytab, a KDC stash',
      tree: withAccounts([
        { path: '/etc/krb5.keytab', contentBase64: KEYTAB, mode: '0600' },
        { path: '/etc/httpd/http.keytab', contentBase64: KEYTAB },
        { path: '/etc/krb5kdc/stash', contentBase64: KEYTAB },
      ]),
      findings: [
        { path: '/etc/krb5.keytab', message: ['Kerberos keytab'], evidence: ['0600'] },
        { path: '/etc/httpd/http.keytab' },
        { path: '/etc/krb5kdc/stash', message: ['KDC'] },
      ],
    },
  ],
});
