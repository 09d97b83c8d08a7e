import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import bakedSshHostKey from '../../rules/baked-ssh-host-key.js';
import { FAKE_KEY_BODY_LINES, FAKE_OPENSSH_KEY } from '../helpers/fake-secrets.js';

ruleTester(bakedSshHostKey, {
  valid: [
    {
      name: 'public host keys and config only',
      tree: withAccounts([
        { path: '/etc/ssh/ssh_host_ed25519_key.pub', content: 'ssh-ed25519 AAAAC3Nza root@demo\n' },
        { path: '/etc/ssh/sshd_config', content: 'HostKey /etc/ssh/ssh_host_ed25519_key\n' },
      ]),
    },
    { name: 'an empty placeholder', tree: withAccounts([{ path: '/etc/ssh/ssh_host_rsa_key', content: '' }]) },
  ],
  invalid: [
    {
      name: 'a private host key',
      tree: withAccounts([{ path: '/etc/ssh/ssh_host_ed25519_key', content: FAKE_OPENSSH_KEY, mode: '0600' }]),
      findings: [{ path: '/etc/ssh/ssh_host_ed25519_key', evidence: ['OPENSSH PRIVATE KEY'], absent: FAKE_KEY_BODY_LINES }],
    },
  ],
});
