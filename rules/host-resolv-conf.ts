import { defineRule, lines } from '../src/engine/kit/index.js';

/** Local stub resolvers (systemd-resolved, dnsmasq, unbound) are not the builder's. */
function isLoopback(addr: string): boolean {
  return /^127\./.test(addr) || addr === '::1' || addr === '0.0.0.0' || addr === '::';
}

export default defineRule({
  meta: {
    id: 'host-resolv-conf',
    severity: 'warning',
    tags: ['network', 'host-leak'],
    description: "/etc/resolv.conf is a regular file naming nameservers: the builder's resolver configuration",
    remediation:
      'The build copied the host resolv.conf into the image (containers and chroots bind it in). Leave ' +
      '/etc/resolv.conf as the symlink your distribution manages (systemd-resolved, resolvconf, NixOS ' +
      'networking.resolvconf) or empty it at the end of the build.',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    const e = inventory.get('/etc/resolv.conf');
    if (!e || e.type !== 'file' || e.size === 0) return;
    const text = await fs.readText('/etc/resolv.conf', { maxBytes: 64 * 1024 });
    if (!text) return;
    const servers: string[] = [];
    for (const { line } of lines(text)) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      if (m && !isLoopback(m[1]!)) servers.push(m[1]!);
    }
    if (servers.length === 0) return;
    report({
      path: '/etc/resolv.conf',
      message: `/etc/resolv.conf is a regular file with the build host's nameserver${servers.length > 1 ? 's' : ''} ${servers.join(', ')}`,
      evidence: servers.map((s) => `nameserver ${s}`).join('; '),
    });
  },
});
