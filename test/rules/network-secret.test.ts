import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/network-secret.js';

const NM = '[connection]\nid=office\ntype=wifi\n[wifi]\nssid=OfficeNet\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=correct horse battery staple\n';

ruleTester(rule, {
  valid: [
    {
      name: 'agent-owned secrets, an open network, a commented psk',
      tree: withAccounts([
        { path: '/etc/NetworkManager/system-connections/office.nmconnection', content: '[wifi]\nssid=OfficeNet\n[wifi-security]\nkey-mgmt=wpa-psk\npsk-flags=1\n' },
        { path: '/etc/wpa_supplicant/wpa_supplicant.conf', content: 'network={\n  ssid="cafe"\n  key_mgmt=NONE\n  #psk="old"\n}\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'NetworkManager psk, wpa_supplicant psk, VPN secrets (redacted)',
      tree: withAccounts([
        { path: '/etc/NetworkManager/system-connections/office.nmconnection', content: NM, mode: '0600' },
        { path: '/etc/wpa_supplicant/wpa_supplicant-wlan0.conf', content: 'network={\n  ssid="home"\n  psk="hunter2hunter2"\n}\n' },
        { path: '/etc/NetworkManager/system-connections/vpn.nmconnection', content: '[vpn]\nservice-type=openvpn\n[vpn-secrets]\ncert-pass=s3cretpass\n' },
      ]),
      findings: [
        { path: '/etc/NetworkManager/system-connections/office.nmconnection', message: ['SSID "OfficeNet"', 'psk'], evidence: ['psk'], absent: ['battery'] },
        { path: '/etc/wpa_supplicant/wpa_supplicant-wlan0.conf', message: ['psk'], absent: ['hunter2hunter2'] },
        { path: '/etc/NetworkManager/system-connections/vpn.nmconnection', message: ['cert-pass'], absent: ['s3cretpass'] },
      ],
    },
  ],
});
