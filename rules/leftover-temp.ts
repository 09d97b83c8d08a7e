import { defineRule, joinPath } from '../src/engine/kit/index.js';

const TEMP_DIRS = ['/tmp', '/var/tmp'];

export default defineRule({
  meta: {
    id: 'leftover-temp',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Files left in /tmp or /var/tmp by the build',
    remediation:
      'Temporary files of the build (downloads, state, sockets, editor swap files) ended up in the image. Build ' +
      'with TMPDIR outside the target filesystem, clean /tmp and /var/tmp before sealing the image, or mount ' +
      '/tmp as tmpfs (NixOS boot.tmp.useTmpfs).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  check({ inventory, report }) {
    for (const dir of TEMP_DIRS) {
      const r = inventory.resolve(dir);
      if (!r.ok || r.entry.type !== 'dir') continue;
      if (dir === '/var/tmp' && r.path === '/tmp') continue; // /var/tmp -> /tmp: reported once
      for (const name of inventory.children(r.path)) {
        const real = joinPath(r.path, name);
        const e = inventory.get(real)!;
        const below = e.type === 'dir' ? inventory.count(real) : 0;
        const p = joinPath(dir, name);
        report({
          path: p,
          message: `${p} (${e.type}${e.type === 'dir' ? `, ${below} entr${below === 1 ? 'y' : 'ies'} below` : `, ${e.size} bytes`}) was left in ${dir} by the build`,
          evidence: `owner uid=${e.uid} gid=${e.gid}`,
        });
      }
    }
  },
});
