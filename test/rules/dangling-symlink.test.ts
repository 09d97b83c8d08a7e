import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import danglingSymlink from '../../rules/dangling-symlink.js';

ruleTester(danglingSymlink, {
  valid: [
    {
      name: 'run-time targets, resolving links, channel links and GC roots (reported by their own rules)',
      tree: withAccounts([
        { path: '/etc/resolv.conf', target: '/run/systemd/resolve/stub-resolv.conf' },
        { path: '/etc/mtab', target: '../proc/self/mounts' },
        { path: '/usr/bin/env', target: '/run/current-system/sw/bin/env' },
        { path: '/etc/ok', target: 'passwd' },
        { path: '/var/run', target: '/run' },
        { path: '/home/bob/.nix-defexpr/channels', target: '/tmp/state/profiles/per-user/root/channels' },
        { path: '/nix/var/nix/profiles/per-user/bob/channels', target: 'channels-1-link' },
        { path: '/nix/var/nix/gcroots/auto/x', target: '/build/result' },
        { path: '/nix/store/aaaa-x/lib/dangling', target: '/nowhere' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'links to host paths and loops',
      tree: withAccounts([
        { path: '/etc/app/config', target: '/home/bob/src/app/config' },
        { path: '/srv/a', target: 'b' },
        { path: '/srv/b', target: 'a' },
      ]),
      findings: [
        { path: '/etc/app/config', message: ['/home/bob does not exist in the image'] },
        { path: '/srv/a', message: ['loop'] },
        { path: '/srv/b', message: ['loop'] },
      ],
    },
    {
      name: 'store links with the store scan on',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/aaaa-x/lib/dangling', target: '/nowhere' }]),
      findings: [{ path: '/nix/store/aaaa-x/lib/dangling' }],
    },
  ],
});
