import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/build-hostname.js';

const GENERIC_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n';

ruleTester(rule, {
  valid: [
    { name: 'a generic /etc/hosts and another name', host: { name: 'vm' }, tree: withAccounts([{ path: '/etc/hosts', content: GENERIC_HOSTS }, { path: '/etc/hostname', content: 'web01\n' }]) },
    { name: 'a name that only contains the host name', host: { name: 'vm' }, tree: withAccounts([{ path: '/etc/hostname', content: 'vm-template\n' }, { path: '/etc/hosts', content: '127.0.1.1 vmhost\n' }]) },
    { name: 'the builder is called localhost or debian', host: { name: 'debian' }, tree: withAccounts([{ path: '/etc/hostname', content: 'debian\n' }]) },
    { name: 'no host name known', tree: withAccounts([{ path: '/etc/hostname', content: 'vm\n' }]) },
  ],
  invalid: [
    {
      name: 'a two-letter build host name in hostname, hosts and mailname',
      host: { name: 'vm' },
      tree: withAccounts([
        { path: '/etc/hostname', content: 'vm\n' },
        { path: '/etc/hosts', content: `${GENERIC_HOSTS}127.0.1.1\tvm.corp.example vm\n` },
        { path: '/etc/mailname', content: 'VM\n' },
      ]),
      findings: [
        { path: '/etc/hostname', message: ['after the build host (vm)'] },
        { path: '/etc/hosts', message: ['127.0.1.1', 'line 4'] },
        { path: '/etc/mailname' },
      ],
    },
    {
      name: 'a NixOS hostname declared in the configuration (a store file) is info',
      host: { name: 'laptop' },
      tree: withAccounts([
        { path: '/etc/hostname', target: '/etc/static/hostname' },
        { path: '/etc/static', target: '/nix/store/aaaa-etc/etc' },
        { path: '/nix/store/aaaa-etc/etc/hostname', content: 'laptop\n' },
      ]),
      findings: [{ path: '/etc/hostname', severity: 'info', message: ['declared in the image configuration'] }],
    },
    {
      name: 'a fully qualified build host name matches its short form',
      host: { name: 'ci-07.builders.example.org' },
      tree: withAccounts([{ path: '/etc/hostname', content: 'ci-07\n' }]),
      findings: [{ path: '/etc/hostname', evidence: ['ci-07'] }],
    },
  ],
});
