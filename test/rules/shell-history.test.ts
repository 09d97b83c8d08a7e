import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import shellHistory from '../../rules/shell-history.js';

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
