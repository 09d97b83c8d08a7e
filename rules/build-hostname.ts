import { DEFAULT_HOSTNAMES, defineRule, isStorePath, lines } from '../src/engine/kit/index.js';

/** Files holding one name: the machine's (hostname, SUSE's HOSTNAME) or its mail name (Debian's mailname). */
const NAME_FILES = ['/etc/hostname', '/etc/HOSTNAME', '/etc/mailname'];

export default defineRule({
  meta: {
    id: 'build-hostname',
    severity: 'warning',
    tags: ['host-identity', 'network-state'],
    description: 'The image\'s /etc/hostname, /etc/mailname or /etc/hosts holds exactly the build host\'s name',
    remediation:
      'The build copied the builder\'s own name into the image (debootstrap copies /etc/hostname from the host; ' +
      'a chroot inherits it): every machine booted from it calls itself after the build host. Set the name in ' +
      'the image configuration, leave it to DHCP/cloud-init, or write a neutral one (localhost) at the end of the ' +
      'build (virt-sysprep --operations net-hostname). hostleak takes the builder\'s name from --host-name ' +
      '(default: this machine\'s).',
    references: ['https://manpages.debian.org/bookworm/debootstrap/debootstrap.8.en.html', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ fs, host, report }) {
    const full = host.name?.trim().toLowerCase() ?? '';
    const short = full.split('.')[0]!;
    // Only an exact, whole-name match counts, and never a loopback name or a distribution default.
    if (!full || DEFAULT_HOSTNAMES.has(full) || DEFAULT_HOSTNAMES.has(short)) return;
    const isHost = (n: string) => { const v = n.toLowerCase().replace(/\.$/, ''); return v === full || v === short; };
    await Promise.all([
      ...NAME_FILES.map(async (p) => {
        const text = await fs.readText(p, { maxBytes: 64 * 1024 });
        if (text === null) return;
        const name = [...lines(text)].map(({ line }) => line.trim()).find((l) => l !== '' && !l.startsWith('#'));
        if (!name || !isHost(name)) return;
        // NixOS writes /etc/hostname from the configuration (networking.hostName) into the store: the name was
        // chosen, not copied from the builder, even if it is the builder's own (building your machine's config).
        const r = fs.resolve(p);
        const declared = r.ok && isStorePath(r.path);
        report({
          path: p,
          severity: declared ? 'info' : undefined,
          message: `${p} names the machine after the build host (${name})` + (declared ? ', declared in the image configuration' : ''),
          evidence: name,
        });
      }),
      (async () => {
        const text = await fs.readText('/etc/hosts', { maxBytes: 1024 * 1024 });
        if (text === null) return;
        for (const { line, n } of lines(text)) {
          const words = line.replace(/#.*/, '').trim().split(/\s+/);
          if (words.length < 2) continue;
          const hit = words.slice(1).find(isHost);
          if (hit) {
            report({ path: '/etc/hosts', message: `/etc/hosts maps ${words[0]} to the build host's name ${hit} (line ${n})`, evidence: `line ${n}: ${line.trim()}` });
            return;
          }
        }
      })(),
    ]);
  },
});
