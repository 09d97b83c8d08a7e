import { defineRule, describeKey, findPrivateKeys, plural } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'baked-ssh-host-key',
    severity: 'error',
    tags: ['instance-identity', 'secret'],
    description: 'A private SSH host key is baked into the image, so every machine booted from it shares it',
    remediation:
      'Do not generate host keys during the build: sshd (NixOS services.openssh) creates them on first boot when ' +
      'they are missing. Delete /etc/ssh/ssh_host_*_key from the image. If sharing a key is deliberate (keys ' +
      'injected on purpose), allowlist the path with a reason.',
    references: ['https://github.com/grml/grml-debootstrap/issues/67', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    const keys = inventory.glob('/etc/ssh/ssh_host_*_key').filter((e) => e.type === 'file' || e.type === 'symlink');
    await Promise.all(
      keys.map(async (e) => {
        const r = await fs.readFile(e.path, { maxBytes: 64 * 1024 });
        if (!r || r.size === 0) return;
        const key = findPrivateKeys(r.data.toString('utf8'))[0];
        report({
          path: e.path,
          message: `${e.path} is a private SSH host key (${plural(r.size, 'byte')}); every machine booted from this image shares it`,
          evidence: key ? describeKey(key) : `${r.size} bytes of key material`,
        });
      }),
    );
  },
});
