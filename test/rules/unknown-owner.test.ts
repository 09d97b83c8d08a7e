import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import unknownOwner from '../../rules/unknown-owner.js';
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
      findings: [{ path: '/nix/store', message: ['10000 entries in /nix/store', 'uid 30001'] }],
    },
    {
      name: 'accounts unknown: one info',
      tree: [{ path: '/srv/x', content: 'x', uid: 1000 }],
      findings: [{ path: '/', severity: 'info', message: ['could not judge'] }],
    },
  ],
});
