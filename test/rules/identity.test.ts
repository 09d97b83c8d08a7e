import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import bakedMachineId from '../../rules/baked-machine-id.js';
import bakedSshHostKey from '../../rules/baked-ssh-host-key.js';
import bakedRandomSeed from '../../rules/baked-random-seed.js';
import hostResolvConf from '../../rules/host-resolv-conf.js';
import { FAKE_KEY_BODY_LINES, FAKE_OPENSSH_KEY } from '../helpers/fake-secrets.js';

const ID = '4f0c2e1b9d8a7c6b5a4f3e2d1c0b9a8f';

ruleTester(bakedMachineId, {
  valid: [
    { name: 'empty', tree: withAccounts([{ path: '/etc/machine-id', content: '' }]) },
    { name: 'uninitialized', tree: withAccounts([{ path: '/etc/machine-id', content: 'uninitialized\n' }]) },
    { name: 'whitespace only', tree: withAccounts([{ path: '/etc/machine-id', content: '\n' }]) },
    { name: 'missing, dbus id is a symlink', tree: withAccounts([{ path: '/var/lib/dbus/machine-id', target: '/etc/machine-id' }]) },
  ],
  invalid: [
    {
      name: 'both ids baked',
      tree: withAccounts([
        { path: '/etc/machine-id', content: `${ID}\n` },
        { path: '/var/lib/dbus/machine-id', content: `${ID}\n` },
      ]),
      findings: [
        { path: '/etc/machine-id', evidence: ['4f0c…[32 chars'], absent: [ID] },
        { path: '/var/lib/dbus/machine-id', absent: [ID] },
      ],
    },
  ],
});

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

ruleTester(bakedRandomSeed, {
  valid: [
    { name: 'no seeds', tree: withAccounts([{ path: '/var/lib/systemd', type: 'dir' }]) },
    { name: 'empty seed', tree: withAccounts([{ path: '/var/lib/systemd/random-seed', content: '' }]) },
  ],
  invalid: [
    {
      name: 'systemd and systemd-boot seeds',
      tree: withAccounts([
        { path: '/var/lib/systemd/random-seed', contentBase64: Buffer.alloc(512, 7).toString('base64') },
        { path: '/boot/loader/random-seed', contentBase64: Buffer.alloc(32, 9).toString('base64') },
      ]),
      findings: [
        { path: '/var/lib/systemd/random-seed', message: ['512-byte'] },
        { path: '/boot/loader/random-seed', message: ['32-byte'] },
      ],
    },
    {
      name: 'the ESP audited on its own',
      tree: [{ path: '/loader/random-seed', contentBase64: Buffer.alloc(32, 1).toString('base64') }],
      findings: [{ path: '/loader/random-seed' }],
    },
  ],
});

ruleTester(hostResolvConf, {
  valid: [
    { name: 'a symlink to the resolved stub', tree: withAccounts([{ path: '/etc/resolv.conf', target: '/run/systemd/resolve/stub-resolv.conf' }]) },
    { name: 'a local stub resolver', tree: withAccounts([{ path: '/etc/resolv.conf', content: 'nameserver 127.0.0.53\noptions edns0\n' }]) },
    { name: 'no nameserver lines', tree: withAccounts([{ path: '/etc/resolv.conf', content: '# managed at boot\n' }]) },
    { name: 'no resolv.conf', tree: withAccounts([]) },
  ],
  invalid: [
    {
      name: "the builder's resolvers copied in",
      tree: withAccounts([{ path: '/etc/resolv.conf', content: 'search corp.example\nnameserver 10.1.2.3\nnameserver 127.0.0.1\n#nameserver 9.9.9.9\n' }]),
      findings: [{ path: '/etc/resolv.conf', message: ['10.1.2.3'], evidence: ['nameserver 10.1.2.3'], absent: ['9.9.9.9', '127.0.0.1'] }],
    },
  ],
});
