import { defineRule, describeKey, findPrivateKeys, plural } from '../src/engine/kit/index.js';

/** The key type a Dropbear key file starts with (uint32 length + `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-*`...). */
function dropbearKeyType(b: Buffer): string | null {
  if (b.length < 8) return null;
  const n = b.readUInt32BE(0);
  if (n < 7 || n > 40 || b.length < 4 + n) return null;
  const t = b.subarray(4, 4 + n).toString('latin1');
  return /^(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+)$/.test(t) ? t : null;
}

export default defineRule({
  meta: {
    id: 'baked-ssh-host-key',
    severity: 'error',
    tags: ['instance-identity', 'secret'],
    description: 'A private SSH host key (OpenSSH or Dropbear) is baked into the image, so every machine booted from it shares it',
    remediation:
      'Do not generate host keys during the build: sshd (NixOS services.openssh) creates them on first boot when ' +
      'they are missing. Delete /etc/ssh/ssh_host_*_key (and /etc/dropbear/dropbear_*_host_key: dropbear -R makes them on first start) from the image. If sharing a key is deliberate (keys ' +
      'injected on purpose), allowlist the path with a reason.',
    references: ['https://github.com/grml/grml-debootstrap/issues/67', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    // OpenSSH's host keys, and Dropbear's (its own binary format, written by dropbearkey from its postinst).
    const keys = [...inventory.glob('/etc/ssh/ssh_host_*_key'), ...inventory.glob('/etc/dropbear/dropbear_*_host_key')].filter(
      (e) => e.type === 'file' || e.type === 'symlink',
    );
    await Promise.all(
      keys.map(async (e) => {
        const r = await fs.readFile(e.path, { maxBytes: 64 * 1024 });
        if (!r || r.size === 0) return;
        const key = findPrivateKeys(r.data.toString('utf8'))[0];
        const dropbear = dropbearKeyType(r.data);
        report({
          path: e.path,
          message:
            `${e.path} is a private ${dropbear ? `Dropbear (${dropbear})` : 'SSH'} host key (${plural(r.size, 'byte')}); ` +
            'every machine booted from this image shares it',
          evidence: key ? describeKey(key) : `${r.size} bytes of key material`,
        });
      }),
    );
  },
});
