import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import unknownOwner from '../../rules/unknown-owner.js';
import worldWritable from '../../rules/world-writable.js';
import danglingSymlink from '../../rules/dangling-symlink.js';
import type { TreeEntry } from '../helpers/tree.js';

const many = (n: number, f: (i: number) => TreeEntry): TreeEntry[] => Array.from({ length: n }, (_, i) => f(i));

ruleTester(unknownOwner, {
  valid: [
    { name: 'everything owned by known accounts', tree: withAccounts([{ path: '/srv/data', type: 'dir', uid: 1000, gid: 100 }]) },
    {
      name: 'no /etc/group: only uids are judged',
      tree: [
        { path: '/etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
        { path: '/srv/x', content: 'x', gid: 4242 },
      ],
    },
  ],
  invalid: [
    {
      name: "the builder's uid on a copied tree, aggregated with a count",
      tree: withAccounts([
        { path: '/opt/app', type: 'dir', uid: 1001, gid: 1001 },
        ...many(50, (i) => ({ path: `/opt/app/f${i}`, content: 'x', uid: 1001, gid: 1001 })),
        { path: '/srv/one', content: 'x', uid: 0, gid: 4242 },
      ]),
      findings: [
        { path: '/opt/app', message: ['uid 1001 (no account)', '51 entries'] },
        { path: '/srv/one', message: ['gid 4242 (no group)'] },
      ],
    },
    {
      name: '10,000 store paths owned by a build uid: one finding, not 10,000',
      tree: withAccounts(many(10000, (i) => ({ path: `/nix/store/h${i}-p`, content: 'x', uid: 30001, gid: 30000 }))),
      findings: [{ path: '/nix/store', message: ['10000 entries below /nix/store'] }],
    },
    {
      name: 'accounts unknown: one info',
      tree: [{ path: '/srv/x', content: 'x', uid: 1000 }],
      findings: [{ path: '/', severity: 'info', message: ['could not judge'] }],
    },
  ],
});

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
