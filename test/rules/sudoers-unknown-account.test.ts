import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule, { sudoRules } from '../../rules/sudoers-unknown-account.js';

/** Debian 12's /etc/sudoers as the sudo package installs it (comments trimmed). */
const DEBIAN_SUDOERS = `Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults\tuse_pty
# User privilege specification
root\tALL=(ALL:ALL) ALL
# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL
# See sudoers(5) for more information on "@include" directives:
@includedir /etc/sudoers.d
`;

ruleTester(rule, {
  valid: [
    {
      name: "Debian's sudoers, its README, an alias and rules for accounts that exist",
      tree: withAccounts(
        [
          { path: '/etc/sudoers', content: DEBIAN_SUDOERS },
          { path: '/etc/sudoers.d/README', content: '# Files in this directory are read by sudo\n#includedir /etc/sudoers.d\n' },
          { path: '/etc/sudoers.d/90-cloud-init-users', content: '# Created by cloud-init\nalice ALL=(ALL) NOPASSWD:ALL\n' },
          { path: '/etc/sudoers.d/admins', content: 'User_Alias ADMINS = alice, #0\nADMINS ALL=(ALL) NOPASSWD: ALL\n#1000 ALL=(ALL) ALL\n' },
        ],
        undefined,
        'root:x:0:\nusers:x:100:\nsudo:x:27:alice\n',
      ),
    },
    {
      name: 'backups sudo itself ignores (a dot or a trailing ~ in the name)',
      tree: withAccounts([
        { path: '/etc/sudoers.d/packer.bak', content: 'packer ALL=(ALL) NOPASSWD: ALL\n' },
        { path: '/etc/sudoers.d/packer~', content: 'packer ALL=(ALL) NOPASSWD: ALL\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: "Packer's and Vagrant's NOPASSWD rules outlive their accounts",
      tree: withAccounts([
        { path: '/etc/sudoers', content: DEBIAN_SUDOERS.replace('%sudo', '%sudo_missing') + 'vagrant ALL=(ALL) NOPASSWD: ALL\n' },
        { path: '/etc/sudoers.d/90-packer', content: 'Defaults:packer !requiretty\npacker ALL=(ALL) \\\n  NOPASSWD: ALL\n' },
        { path: '/etc/sudoers.d/ci', content: 'jenkins ALL=(ALL) /usr/bin/apt-get\n' },
      ]),
      findings: [
        { path: '/etc/sudoers', message: ['without a password', 'vagrant', '%sudo_missing', '2 rules'], evidence: ['vagrant ALL=(ALL) NOPASSWD: ALL'] },
        { path: '/etc/sudoers.d/90-packer', message: ['without a password', 'packer', 'line 2'] },
        { path: '/etc/sudoers.d/ci', severity: 'info', message: ['gives sudo to jenkins, which'] },
      ],
    },
    {
      name: 'accounts unknown: one info',
      tree: [{ path: '/etc/sudoers', content: 'packer ALL=(ALL) NOPASSWD: ALL\n' }],
      findings: [{ path: '/etc/sudoers', severity: 'info', message: ['could not judge'] }],
    },
  ],
});

describe('sudoRules', () => {
  it('reads user specifications, not defaults, aliases, includes or comments', () => {
    const { rules, aliases } = sudoRules('Defaults env_reset\n# packer ALL=ALL\nUser_Alias OPS = bob, carol\nOPS, dave ALL = (root) NOPASSWD: /bin/ls # x\n@include /x\n');
    expect([...aliases]).toEqual(['OPS']);
    expect(rules).toEqual([{ who: ['OPS', 'dave'], nopasswd: true, line: 4, text: 'OPS, dave ALL = (root) NOPASSWD: /bin/ls' }]);
  });
});
