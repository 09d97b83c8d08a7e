import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/pinned-mac-address.js';

ruleTester(rule, {
  valid: [
    {
      name: 'comments only, a set MAC in [Link], interfaces matched by name',
      tree: withAccounts([
        { path: '/etc/udev/rules.d/70-persistent-net.rules', content: '# This file was automatically generated\n# SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56"\n' },
        { path: '/etc/systemd/network/10-mac.link', content: '[Match]\nOriginalName=eth0\n[Link]\nMACAddress=02:00:00:00:00:01\n' },
        { path: '/etc/netplan/50.yaml', content: 'network:\n  ethernets:\n    eth0:\n      dhcp4: true\n' },
        { path: '/etc/NetworkManager/system-connections/wired.nmconnection', content: '[ethernet]\nmac-address-blacklist=\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'udev persistent net rules, ifcfg HWADDR, nmconnection mac-address, networkd [Match]',
      tree: withAccounts([
        {
          path: '/etc/udev/rules.d/70-persistent-net.rules',
          content: 'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n',
        },
        { path: '/etc/sysconfig/network-scripts/ifcfg-eth0', content: 'DEVICE=eth0\nHWADDR=52:54:00:AB:CD:EF\n' },
        { path: '/etc/NetworkManager/system-connections/wired.nmconnection', content: '[ethernet]\nmac-address=52:54:00:11:22:33\n' },
        { path: '/etc/systemd/network/10-lan.network', content: '[Match]\nMACAddress=52:54:00:44:55:66\n[Network]\nDHCP=yes\n' },
      ]),
      findings: [
        { path: '/etc/udev/rules.d/70-persistent-net.rules', evidence: ['52:54:00:12:34:56'], message: ['udev'] },
        { path: '/etc/sysconfig/network-scripts/ifcfg-eth0', evidence: ['52:54:00:ab:cd:ef'] },
        { path: '/etc/NetworkManager/system-connections/wired.nmconnection', evidence: ['52:54:00:11:22:33'] },
        { path: '/etc/systemd/network/10-lan.network', evidence: ['52:54:00:44:55:66'] },
      ],
    },
  ],
});
