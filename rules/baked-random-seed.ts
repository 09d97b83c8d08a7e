import { defineRule } from '../src/engine/kit/index.js';

/** systemd's seed, and systemd-boot's on the ESP wherever it is mounted (or the ESP audited on its own). */
const SEEDS = [
  '/var/lib/systemd/random-seed',
  '/boot/loader/random-seed',
  '/efi/loader/random-seed',
  '/boot/efi/loader/random-seed',
  '/loader/random-seed',
];

export default defineRule({
  meta: {
    id: 'baked-random-seed',
    severity: 'warning',
    tags: ['instance-identity'],
    description: 'A random seed file is baked into the image, so every machine booted from it starts with the same seed',
    remediation:
      'Delete /var/lib/systemd/random-seed and loader/random-seed on the ESP at the end of the build (bootctl ' +
      'install writes the ESP one; systemd-random-seed.service creates both on first boot). virt-sysprep does the same.',
    references: [
      'https://systemd.io/RANDOM_SEEDS/',
      'https://libguestfs.org/virt-sysprep.1.html',
    ],
  },
  check({ inventory, report }) {
    for (const p of SEEDS) {
      const e = inventory.get(p);
      if (!e || e.type !== 'file' || e.size === 0) continue;
      report({
        path: p,
        message: `${p} holds a ${e.size}-byte random seed; every machine booted from this image credits the same seed`,
        evidence: `${e.size} bytes`,
      });
    }
  },
});
