import { defineRule, eachFileOfKind, lines } from '../src/engine/kit/index.js';

const MAC = '[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}';
/** Where a network interface gets pinned to one machine's hardware address, with the line that does it. */
const KINDS: Array<{ globs: string[]; line: RegExp; what: string }> = [
  { globs: ['/etc/udev/rules.d/*persistent-net*.rules'], line: new RegExp(`^[^#]*ATTRS?\\{address\\}==["']?(${MAC})`), what: 'udev persistent net rule' },
  { globs: ['/etc/sysconfig/network-scripts/ifcfg-*', '/etc/sysconfig/network/ifcfg-*'], line: new RegExp(`^\\s*(?:HWADDR|MACADDR|LLADDR)=["']?(${MAC})`), what: 'ifcfg HWADDR' },
  { globs: ['/etc/NetworkManager/system-connections/*'], line: new RegExp(`^\\s*mac-address=(${MAC})`), what: 'NetworkManager mac-address' },
  { globs: ['/etc/systemd/network/*.link', '/etc/systemd/network/*.network'], line: new RegExp(`^\\s*(?:Permanent)?MACAddress=\\s*(${MAC})`), what: 'systemd-networkd [Match] MACAddress' },
  { globs: ['/etc/netplan/*.yaml', '/etc/netplan/*.yml'], line: new RegExp(`^\\s*macaddress:\\s*["']?(${MAC})`), what: 'netplan match macaddress' },
];

/** In systemd .link/.network files only [Match] pins hardware ([Link] MACAddress= sets an address on purpose). */
function matchSectionOnly(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let section = '';
  for (const { line } of lines(text)) {
    const s = /^\s*\[([^\]]+)\]/.exec(line);
    if (s) section = s[1]!;
    else if (section === 'Match') { const m = re.exec(line); if (m) out.push(m[1]!); }
  }
  return out;
}

export default defineRule({
  meta: {
    id: 'pinned-mac-address',
    severity: 'warning',
    tags: ['network-state', 'instance-identity'],
    description: 'A network interface is pinned to the build machine\'s MAC address (udev persistent net rules, HWADDR=, mac-address=, [Match] MACAddress=)',
    remediation:
      'The build VM\'s network card address was written into the image: on every other machine the interface ' +
      'gets another name (eth1 instead of eth0) or the connection never comes up. Remove ' +
      '/etc/udev/rules.d/70-persistent-net.rules and drop HWADDR/mac-address lines from the image\'s network ' +
      'configuration; match interfaces by name or driver (virt-sysprep --operations udev-persistent-net,net-hwaddr).',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://www.freedesktop.org/software/systemd/man/latest/systemd.link.html'],
  },
  async check({ inventory, fs, report }) {
    await eachFileOfKind(inventory, fs, KINDS, (e, k, text) => {
      const macs = /\/etc\/systemd\/network\//.test(e.path)
        ? matchSectionOnly(text, k.line)
        : [...lines(text)].map(({ line }) => k.line.exec(line)?.[1]).filter((m): m is string => !!m);
      const real = [...new Set(macs.map((m) => m.toLowerCase().replace(/-/g, ':')))].filter((m) => m !== '00:00:00:00:00:00' && m !== 'ff:ff:ff:ff:ff:ff');
      if (real.length === 0) return;
      report({
        path: e.path,
        message: `${e.path} pins ${real.length === 1 ? 'an interface' : `${real.length} interfaces`} to the MAC address${real.length === 1 ? '' : 'es'} of the build machine (${k.what})`,
        evidence: real.slice(0, 4).join(', '),
      });
    });
  },
});
