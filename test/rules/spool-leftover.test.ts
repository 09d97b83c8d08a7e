import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/spool-leftover.js';

ruleTester(rule, {
  valid: [
    {
      name: 'empty spools, empty mailboxes, at\'s sequence file',
      tree: withAccounts([
        { path: '/var/spool/cron/crontabs', type: 'dir', mode: '1730' },
        { path: '/var/spool/cron/atjobs/.SEQ', content: '0\n' },
        { path: '/var/mail/alice', content: '' },
        { path: '/var/spool/mail', target: '../mail' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'a root crontab, an at job and a mailbox (reached through the /var/spool/mail link once)',
      tree: withAccounts([
        { path: '/var/spool/cron/crontabs/root', content: '* * * * * /root/build.sh\n', mode: '0600' },
        { path: '/var/spool/cron/atjobs/a0000101a2b3c', content: '#!/bin/sh\n' },
        { path: '/var/mail/root', content: 'From root@vm Mon Jan  1\nSubject: Cron\n' },
        { path: '/var/spool/mail', target: '../mail' },
      ]),
      findings: [
        { path: '/var/spool/cron/crontabs/root', message: ['crontab of user root'] },
        { path: '/var/spool/cron/atjobs/a0000101a2b3c', message: ['at job'] },
        { path: '/var/mail/root', message: ['mailbox of root'] },
      ],
    },
  ],
});
