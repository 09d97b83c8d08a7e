import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import shellHistory from '../../rules/shell-history.js';
import leftoverTemp from '../../rules/leftover-temp.js';
import buildLog from '../../rules/build-log.js';

ruleTester(shellHistory, {
  valid: [
    {
      name: 'empty histories, look-alike names, histories in the store',
      tree: withAccounts([
        { path: '/root/.bash_history', content: '' },
        { path: '/home/alice/.bash_history.d', type: 'dir' },
        { path: '/etc/skel/.bashrc', content: 'HISTFILE=~/.bash_history\n' },
        { path: '/nix/store/aaaa-skel/.viminfo', content: 'x' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'bash, python, less and fish histories',
      tree: withAccounts([
        { path: '/root/.bash_history', content: 'nixos-install --root /mnt\n' },
        { path: '/home/alice/.python_history', content: 'import os\n', uid: 1000 },
        { path: '/root/.lesshst', content: '.less-history-file:\n' },
        { path: '/root/.local/share/fish/fish_history', content: '- cmd: ls\n' },
      ]),
      findings: [
        { path: '/root/.bash_history', message: ['26 bytes'], absent: ['nixos-install'] },
        { path: '/home/alice/.python_history', evidence: ['uid=1000'] },
        { path: '/root/.lesshst' },
        { path: '/root/.local/share/fish/fish_history' },
      ],
    },
  ],
});

ruleTester(leftoverTemp, {
  valid: [
    { name: 'empty temp dirs', tree: withAccounts([{ path: '/tmp', type: 'dir', mode: '1777' }, { path: '/var/tmp', type: 'dir', mode: '1777' }]) },
    { name: '/var/tmp is a link to /tmp, both empty', tree: withAccounts([{ path: '/tmp', type: 'dir' }, { path: '/var/tmp', target: '../tmp' }]) },
  ],
  invalid: [
    {
      name: 'state left by the build VM, reported per top entry',
      tree: withAccounts([
        { path: '/tmp/state/profiles/per-user/root/x', content: 'x' },
        { path: '/tmp/nixos-install.log', content: 'done\n' },
        { path: '/var/tmp/cache', type: 'dir' },
      ]),
      findings: [
        { path: '/tmp/state', message: ['4 entries below'] },
        { path: '/tmp/nixos-install.log', message: ['5 bytes'] },
        { path: '/var/tmp/cache', message: ['0 entries'] },
      ],
    },
  ],
});

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
