import { baseName, defineRule, type HostIdentity, entriesNamed, sha256 } from '../src/engine/kit/index.js';

const KEY = /(?:^|\s)((?:sk-)?(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521))(?:@openssh\.com)?)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/;
/** NixOS writes keys declared in the configuration here (users.users.<name>.openssh.authorizedKeys): deliberate. */
const DECLARED = /^\/etc\/ssh\/authorized_keys\.d\//;

export interface AuthorizedKey {
  type: string;
  fingerprint: string;
  comment: string;
}

export function parseAuthorizedKeys(text: string): AuthorizedKey[] {
  const out: AuthorizedKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = KEY.exec(line);
    if (!m) continue;
    const blob = Buffer.from(m[2]!, 'base64');
    const fingerprint = `SHA256:${sha256(blob, 'base64').replace(/=+$/, '')}`;
    out.push({ type: m[1]!, fingerprint, comment: (m[3] ?? '').trim() });
  }
  return out;
}

/** True when a key comment (`user@host`) names the build host's user or hostname exactly. */
function namesHost(comment: string, host: HostIdentity): boolean {
  const at = comment.lastIndexOf('@');
  if (at < 0) return false;
  const user = comment.slice(0, at).toLowerCase();
  const name = comment.slice(at + 1).toLowerCase();
  const hn = host.name?.toLowerCase();
  return (!!host.user && user === host.user.toLowerCase()) || (!!hn && (name === hn || name === hn.split('.')[0] || name.split('.')[0] === hn.split('.')[0]));
}

export default defineRule({
  meta: {
    id: 'authorized-keys',
    severity: 'warning',
    tags: ['access', 'host-identity'],
    description: 'An authorized_keys file in a home (or sshd\'s key folder) lets a key log in to every machine booted from the image',
    remediation:
      'Whoever holds the private half of these keys can log in to every machine made from the image; when the ' +
      'comment reads user@buildhost it is usually the builder\'s own key, copied while debugging the build. ' +
      'Remove the file, and provision login keys per machine at first boot (cloud-init, systemd credentials, ' +
      'ignition); keep deliberate keys in the image configuration (NixOS openssh.authorizedKeys) and allowlist ' +
      'them (virt-sysprep --operations ssh-userdir).',
    references: ['https://man.openbsd.org/sshd.8#AUTHORIZED_KEYS_FILE_FORMAT', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, host, report }) {
    const central = ['/etc/ssh/authorized_keys.d', '/etc/ssh/authorized_keys'].flatMap((d) => (inventory.get(d)?.type === 'dir' ? [...inventory.walk(d)] : []));
    const files = [
      ...entriesNamed(inventory, (n) => n === 'authorized_keys' || n === 'authorized_keys2').filter((e) => e.path.endsWith(`/.ssh/${baseName(e.path)}`)),
      ...central,
    ].filter((e) => (e.type === 'file' || e.type === 'symlink') && !e.path.startsWith('/nix/store/'));
    await Promise.all(
      files.map(async (e) => {
        const text = await fs.readText(e.path, { maxBytes: 1024 * 1024 });
        const keys = text ? parseAuthorizedKeys(text) : [];
        if (keys.length === 0) return;
        const builder = keys.filter((k) => namesHost(k.comment, host));
        report({
          path: e.path,
          severity: DECLARED.test(e.path) && builder.length === 0 ? 'info' : undefined,
          message:
            `${e.path} authorizes ${keys.length === 1 ? 'a key' : `${keys.length} keys`} to log in` +
            (builder.length > 0 ? `, ${builder.length === 1 ? 'one' : builder.length} of them the build host's (${builder[0]!.comment})` : '') +
            (DECLARED.test(e.path) ? ' (declared in the image configuration)' : ''),
          evidence: keys.slice(0, 3).map((k) => `${k.type} ${k.fingerprint}${k.comment ? ` ${k.comment}` : ''}`).join('; '),
        });
      }),
    );
  },
});
