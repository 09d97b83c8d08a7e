import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import buildLog from '../../rules/build-log.js';

ruleTester(buildLog, {
  valid: [
    {
      name: 'empty logs and directories',
      tree: withAccounts([
        { path: '/var/log/wtmp', content: '' },
        { path: '/var/log/journal', type: 'dir' },
        { path: '/nix/var/log/nix/drvs', type: 'dir' },
        { path: '/var/log/nginx', type: 'dir' },
      ]),
    },
    {
      name: 'logs other rules report: login records (login-records), cloud-init\'s logs (cloud-init-state)',
      tree: withAccounts([
        { path: '/var/log/wtmp', content: 'x' },
        { path: '/var/log/btmp.1', content: 'x' },
        { path: '/var/log/lastlog', content: 'x' },
        { path: '/var/log/cloud-init.log', content: 'x' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'journal and Nix build logs grouped, other logs per file',
      tree: withAccounts([
        { path: '/var/log/journal/0123/system.journal', content: 'LPKSHHRH' },
        { path: '/var/log/journal/0123/user-1000.journal', content: 'LPKSHHRH' },
        { path: '/nix/var/log/nix/drvs/ab/cdef-hello.drv.bz2', content: 'BZh9' },
        { path: '/var/log/dpkg.log', content: 'install x\n' },
        { path: '/var/log/apt/history.log', content: 'Start-Date\n' },
      ]),
      findings: [
        { path: '/var/log/journal', message: ['2 non-empty log files'] },
        { path: '/nix/var/log/nix/drvs', message: ['1 non-empty log file '] },
        { path: '/var/log/dpkg.log' },
        { path: '/var/log/apt/history.log' },
      ],
    },
  ],
});
