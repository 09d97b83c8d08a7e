import { baseName, defineRule, plural } from '../src/engine/kit/index.js';

/** Backup copies of the account files: shadow's tools write `<file>-`, Debian's daily dpkg job `/var/backups/*.bak`. */
const BACKUPS = ['passwd', 'shadow', 'group', 'gshadow', 'subuid', 'subgid'].flatMap((f) => [`/etc/${f}-`, `/etc/${f}.OLD`, `/var/backups/${f}.bak`]);
const HASHED = /^(?:shadow|gshadow)/;

/** Names of the accounts (or groups) a passwd/group/shadow-like file lists. */
function namesIn(text: string): string[] {
  return text.split('\n').map((l) => l.split(':')[0]!).filter((n) => n !== '' && !n.startsWith('#'));
}

export default defineRule({
  meta: {
    id: 'account-backup',
    severity: 'warning',
    tags: ['session-residue', 'secret'],
    description: 'Backup copies of the account files (passwd-, shadow-, group-, gshadow-, subuid-, subgid-, /var/backups/*.bak)',
    remediation:
      'Adding or changing accounts during the build left the previous account files behind: they can hold accounts ' +
      'and password hashes the image no longer has (a build user removed at the end, a temporary password). ' +
      'Remove /etc/{passwd,shadow,group,gshadow,subuid,subgid}- and /var/backups/*.bak at the end of the build ' +
      '(virt-sysprep --operations passwd-backups).',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://manpages.debian.org/bookworm/passwd/shadow.5.en.html'],
  },
  async check({ inventory, fs, report }) {
    await Promise.all(
      BACKUPS.map(async (p) => {
        const e = inventory.get(p);
        if (!e || e.type !== 'file' || e.size === 0) return;
        const name = baseName(p).replace(/(?:-|\.OLD|\.bak)$/, '');
        const [text, current] = await Promise.all([fs.readText(p, { maxBytes: 4 << 20 }), fs.readText(`/etc/${name}`, { maxBytes: 4 << 20 })]);
        if (!text) return;
        const had = namesIn(text);
        const now = new Set(current ? namesIn(current) : []);
        const gone = current ? had.filter((n) => !now.has(n)) : [];
        // A hash that can be cracked offline: anything but the locked / no-password markers.
        const hashes = HASHED.test(name) ? text.split('\n').filter((l) => { const h = l.split(':')[1] ?? ''; return h.length > 2 && !/^[!*]/.test(h); }).length : 0;
        report({
          path: p,
          severity: hashes > 0 ? 'error' : undefined,
          message:
            `${p} is a backup of /etc/${name} left by the build (${plural(had.length, 'entry', 'entries')}` +
            (gone.length > 0 ? `, ${gone.length} no longer in /etc/${name}: ${gone.slice(0, 5).join(', ')}` : '') +
            (hashes > 0 ? `, ${plural(hashes, 'password hash', 'password hashes')}` : '') +
            ')',
          evidence: `${e.size} bytes, mode ${(e.mode & 0o7777).toString(8).padStart(4, '0')}`,
        });
      }),
    );
  },
});
