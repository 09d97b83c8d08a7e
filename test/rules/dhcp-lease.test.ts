import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/dhcp-lease.js';

const LEASE = 'lease {\n  interface "ens3";\n  fixed-address 10.0.2.15;\n  option routers 10.0.2.2;\n}\n';

ruleTester(rule, {
  valid: [
    {
      name: 'empty lease files, dhcpd.conf, an empty leases folder',
      tree: withAccounts([
        { path: '/var/lib/dhcp/dhcpd.leases', content: '' },
        { path: '/var/lib/dhcp/dhclient.leases', content: '' },
        { path: '/etc/dhcp/dhclient.conf', content: 'request subnet-mask;\n' },
        { path: '/var/lib/NetworkManager', type: 'dir' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'dhclient, dhcpcd, NetworkManager and dhcpd leases',
      tree: withAccounts([
        { path: '/var/lib/dhcp/dhclient.ens3.leases', content: LEASE },
        { path: '/var/lib/dhcpcd/ens3.lease', contentBase64: 'AgEGAAAAAAA=' },
        { path: '/var/lib/NetworkManager/internal-uuid-ens3.lease', content: 'ADDRESS=192.168.122.40\n' },
        { path: '/var/lib/dhcp/dhcpd.leases', content: 'lease 10.0.0.9 {\n}\n' },
      ]),
      findings: [
        { path: '/var/lib/dhcp/dhclient.ens3.leases', message: ['client lease', 'address 10.0.2.15'] },
        { path: '/var/lib/dhcpcd/ens3.lease', message: ['client lease'] },
        { path: '/var/lib/NetworkManager/internal-uuid-ens3.lease', evidence: ['192.168.122.40'] },
        { path: '/var/lib/dhcp/dhcpd.leases', message: ['server lease', '10.0.0.9'] },
      ],
    },
  ],
});
