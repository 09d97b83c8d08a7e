import { defineRule, redact } from '../src/engine/kit/index.js';

const FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

export default defineRule({
  meta: {
    id: 'baked-machine-id',
    severity: 'warning',
    tags: ['instance-identity'],
    description: 'The image carries a machine id, so every machine booted from it shares one',
    remediation:
      'Empty the file (or write "uninitialized") at the end of the build so systemd generates a fresh id on first ' +
      "boot; nixpkgs' make-disk-image removes /etc/machine-id for this reason. Make /var/lib/dbus/machine-id a " +
      'symlink to /etc/machine-id.',
    references: ['https://github.com/NixOS/nixpkgs/pull/17779', 'https://www.freedesktop.org/software/systemd/man/machine-id.html'],
  },
  async check({ inventory, fs, report }) {
    await Promise.all(
      FILES.map(async (p) => {
        const e = inventory.get(p);
        if (!e || e.type !== 'file') return; // a symlink (dbus -> /etc/machine-id) is reported at its target
        const text = (await fs.readText(p, { maxBytes: 4096 }))?.trim() ?? '';
        if (text === '' || text === 'uninitialized') return;
        report({
          path: p,
          message: `${p} holds a machine id; every machine booted from this image will share it`,
          evidence: /^[0-9a-f]{32}$/.test(text) ? `id ${redact(text)}` : `${text.length} bytes, not a valid id (${redact(text)})`,
        });
      }),
    );
  },
});
