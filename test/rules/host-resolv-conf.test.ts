import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import hostResolvConf from '../../rules/host-resolv-conf.js';

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
