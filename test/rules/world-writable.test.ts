import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import worldWritable from '../../rules/world-writable.js';

ruleTester(worldWritable, {
  valid: [
    {
      name: 'sticky temp dirs, their contents, symlinks and devices',
      tree: withAccounts([
        { path: '/tmp/x', content: 'x', mode: '0666' },
        { path: '/var/tmp', type: 'dir', mode: '1777' },
        { path: '/nix/var/nix/profiles/per-user', type: 'dir', mode: '1777' },
        { path: '/etc/link', target: '/etc/passwd' },
        { path: '/dev/null', type: 'chardev', mode: '0666' },
        { path: '/srv/shared', type: 'dir', mode: '1777' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'a world-writable file and a non-sticky directory',
      tree: withAccounts([
        { path: '/etc/app.conf', content: 'x', mode: '0666' },
        { path: '/srv/drop', type: 'dir', mode: '0777' },
        { path: '/srv/drop/inner', content: 'x', mode: '0666' },
      ]),
      findings: [
        { path: '/etc/app.conf', message: ['file with mode 0666'] },
        { path: '/srv/drop', message: ['directory with mode 0777', '1 more'] },
      ],
    },
  ],
});
