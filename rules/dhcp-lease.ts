import { defineRule, globOnce, plural } from '../src/engine/kit/index.js';

/** Where DHCP clients and servers keep their leases (all distributions; networkd's run-time folder for tarballs). */
const CLIENT = [
  '/var/lib/dhcp/dhclient*', '/var/lib/dhclient/*', '/var/lib/dhcpcd/*', '/var/lib/dhcpcd5/*', '/var/db/dhcpcd/*',
  '/var/db/dhclient*', '/var/lib/NetworkManager/*.lease', '/var/lib/NetworkManager/*.leases', '/var/lib/wicked/lease*',
  '/run/systemd/netif/leases/*', '/var/lib/systemd/network/leases/*',
];
const SERVER = ['/var/lib/dhcp/dhcpd*.leases', '/var/lib/dhcpd/*.leases', '/var/lib/misc/dnsmasq.leases', '/var/lib/dnsmasq/*.leases', '/var/lib/kea/*.csv'];
/** Addresses named in a lease, for evidence (not secret; tells which network the builder was on). */
const ADDRESS = /(?:fixed-address|lease|ADDRESS=)\s*([0-9]{1,3}(?:\.[0-9]{1,3}){3})/;

export default defineRule({
  meta: {
    id: 'dhcp-lease',
    severity: 'warning',
    tags: ['network-state'],
    description: 'DHCP client or server leases (dhclient, dhcpcd, NetworkManager, systemd-networkd, dhcpd, dnsmasq, kea) from the build',
    remediation:
      'The build VM or chroot got an address by DHCP and the lease was saved: every machine booted from the image ' +
      'starts by asking for the builder\'s address on the builder\'s network. Remove the lease files at the end of ' +
      'the build (virt-sysprep --operations dhcp-client-state,dhcp-server-state).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    const leases = [
      ...globOnce(inventory, CLIENT).map((e) => ({ e, side: 'client' })),
      ...globOnce(inventory, SERVER).map((e) => ({ e, side: 'server' })),
    ].filter(({ e }) => e.type === 'file' && e.size > 0);
    const seen = new Set<string>();
    await Promise.all(
      leases.map(async ({ e, side }) => {
        if (seen.has(e.path)) return;
        seen.add(e.path);
        const text = await fs.readText(e.path, { maxBytes: 256 * 1024 });
        const addr = text ? ADDRESS.exec(text)?.[1] : undefined;
        report({
          path: e.path,
          message: `${e.path} is a DHCP ${side} lease file (${plural(e.size, 'byte')}) saved during the build` + (addr ? `, address ${addr}` : ''),
          evidence: addr ? `address ${addr}` : `${e.size} bytes`,
        });
      }),
    );
  },
});
