import { forEachEntry, defineRule } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'setuid-in-store',
    severity: 'error',
    tags: ['nix', 'permissions'],
    description: 'A setuid or setgid file sits in /nix/store, which Nix never produces',
    remediation:
      'Nix strips setuid/setgid bits from every store path, so this file was copied or chmod-ed into the store by ' +
      'hand during the build. Use security.wrappers (NixOS) for setuid programs and rebuild the store from a clean ' +
      'copy (nix copy / nix-store --load-db) instead of copying files in.',
    references: ['https://nixos.org/manual/nixos/stable/options#opt-security.wrappers'],
  },
  async check({ inventory, report }) {
    const store = inventory.get('/nix/store');
    if (!store || store.type !== 'dir') return;
    await forEachEntry(inventory, '/nix/store', (e) => {
      if (e.type === 'dir' || e.type === 'symlink' || (e.mode & 0o6000) === 0) return;
      const bits = [(e.mode & 0o4000) !== 0 ? 'setuid' : '', (e.mode & 0o2000) !== 0 ? 'setgid' : ''].filter(Boolean).join('+');
      report({
        path: e.path,
        message: `${e.path} is ${bits} inside /nix/store (mode ${e.mode.toString(8).padStart(4, '0')}, owner uid ${e.uid})`,
        evidence: `mode=${e.mode.toString(8).padStart(4, '0')} uid=${e.uid} gid=${e.gid}`,
      });
    });
  },
});
