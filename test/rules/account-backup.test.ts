import { ruleTester } from '../helpers/rule-tester.js';
import { BASE_PASSWD, withAccounts } from '../helpers/tree.js';
import rule from '../../rules/account-backup.js';

ruleTester(rule, {
  valid: [
    { name: 'no backups; empty backups', tree: withAccounts([{ path: '/etc/shadow', content: 'root:*:19000::::::\n' }, { path: '/etc/passwd-', content: '' }]) },
  ],
  invalid: [
    {
      name: 'shadow- with a hash of an account removed later (error), passwd-, subuid-, /var/backups copy',
      tree: withAccounts([
        { path: '/etc/shadow', content: 'root:*:19000::::::\nalice:!:19000::::::\n' },
        { path: '/etc/shadow-', content: 'root:*:19000::::::\nalice:!:19000::::::\nbuilder:$6$salt$hashhashhash:19000::::::\n', mode: '0640' },
        { path: '/etc/passwd-', content: `${BASE_PASSWD}builder:x:1001:100::/home/builder:/bin/sh\n` },
        { path: '/etc/subuid-', content: 'alice:100000:65536\n' },
        { path: '/var/backups/group.bak', content: 'root:x:0:\n' },
      ]),
      findings: [
        { path: '/etc/shadow-', severity: 'error', message: ['1 no longer in /etc/shadow: builder', '1 password hash'], absent: ['hashhash'] },
        { path: '/etc/passwd-', message: ['backup of /etc/passwd', 'builder'] },
        { path: '/etc/subuid-', message: ['1 entry'] },
        { path: '/var/backups/group.bak', message: ['backup of /etc/group'] },
      ],
    },
  ],
});
