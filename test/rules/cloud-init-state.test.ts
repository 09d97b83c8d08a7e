import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/cloud-init-state.js';

ruleTester(rule, {
  valid: [
    {
      name: 'cloud-init installed, never run: configuration and empty state folders',
      tree: withAccounts([
        { path: '/etc/cloud/cloud.cfg', content: 'users: [default]\n' },
        { path: '/var/lib/cloud/instances', type: 'dir' },
        { path: '/var/lib/cloud/scripts/per-boot', type: 'dir' },
        { path: '/var/log/cloud-init.log', content: '' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'the build VM\'s instance state, current-instance link and logs',
      tree: withAccounts([
        { path: '/var/lib/cloud/instances/i-0abc123/user-data.txt', content: '#cloud-config\n' },
        { path: '/var/lib/cloud/instances/i-0abc123/sem/config_ssh', content: '' },
        { path: '/var/lib/cloud/instance', target: '/var/lib/cloud/instances/i-0abc123' },
        { path: '/var/lib/cloud/data/instance-id', content: 'i-0abc123\n' },
        { path: '/var/log/cloud-init.log', content: 'Cloud-init v. 23.1 running\n' },
        { path: '/var/log/cloud-init-output.log', content: 'finished\n' },
      ]),
      findings: [
        // i-0abc123/, user-data.txt, sem/, sem/config_ssh
        { path: '/var/lib/cloud/instances', message: ['1 instance', '(4 entries)'], evidence: ['i-0abc123'] },
        { path: '/var/lib/cloud/instance', evidence: ['i-0abc123'] },
        // A folder with one file holds one entry, not "0 entries".
        { path: '/var/lib/cloud/data', message: ['(1 entry)'] },
        { path: '/var/log/cloud-init.log' },
        { path: '/var/log/cloud-init-output.log' },
      ],
    },
  ],
});
