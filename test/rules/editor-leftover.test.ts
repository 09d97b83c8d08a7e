import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/editor-leftover.js';

ruleTester(rule, {
  valid: [
    {
      name: '/etc/skel, ordinary names, leftovers in the store, dpkg\'s /var/backups',
      tree: withAccounts([
        { path: '/etc/skel/.bashrc', content: '# ~/.bashrc\n' },
        { path: '/etc/skel/.profile', content: '# ~/.profile\n' },
        { path: '/etc/nginx/nginx.conf', content: 'events {}\n' },
        { path: '/nix/store/aaaa-src/patch.orig', content: 'x' },
        { path: '/var/backups/passwd.bak', content: 'root:x:0:0::/root:/bin/sh\n' },
        { path: '/usr/share/doc/approx/README', content: 'x' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'editor backup, vim swap, emacs auto-save, patch leftovers, dpkg-old',
      tree: withAccounts([
        { path: '/etc/nginx/nginx.conf~', content: 'events {}\n' },
        { path: '/etc/nginx/.nginx.conf.swp', content: 'b0VIM 9.0' },
        { path: '/root/#notes#', content: 'todo' },
        { path: '/srv/app/main.c.orig', content: 'int main;' },
        { path: '/srv/app/main.c.rej', content: '@@' },
        { path: '/etc/ssh/sshd_config.dpkg-old', content: 'PermitRootLogin yes\n' },
      ]),
      findings: [
        { path: '/etc/nginx/nginx.conf~', message: ['editor backup'] },
        { path: '/etc/nginx/.nginx.conf.swp', message: ['vim swap file'] },
        { path: '/root/#notes#', message: ['Emacs'] },
        { path: '/srv/app/main.c.orig', message: ['patch or merge leftover'] },
        { path: '/srv/app/main.c.rej' },
        { path: '/etc/ssh/sshd_config.dpkg-old', message: ['package manager'] },
      ],
    },
  ],
});
