import { accountsOwningHome, defineRule, homeDirs, joinPath, ownerName } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'root-owned-nix-defexpr',
    severity: 'error',
    tags: ['nix', 'host-leak', 'builder-home'],
    description: 'A root-owned .nix-defexpr sits in a home directory that does not belong to root',
    remediation:
      'nix-env ran as root with HOME set to this directory during the build. Set HOME=/root (or HOME=$TMPDIR) ' +
      'before anything in the image build calls nix-env, e.g. before switch-to-configuration boot.',
    references: ['https://github.com/nix-community/disko/issues/622'],
  },
  check({ inventory, accounts, report }) {
    // Candidate homes: everything under the home roots, every account's home, and Nix's sandbox HOME.
    const candidates = new Map<string, string>(); // canonical -> path as named
    for (const h of homeDirs(inventory)) candidates.set(h.canonical, h.path);
    for (const u of accounts.users) {
      const r = inventory.resolve(u.home);
      if (r.ok && r.entry.type === 'dir' && !candidates.has(r.path)) candidates.set(r.path, u.home);
    }
    const shelter = inventory.resolve('/homeless-shelter');
    if (shelter.ok && shelter.entry.type === 'dir') candidates.set(shelter.path, '/homeless-shelter');

    for (const [canonical, named] of candidates) {
      const defexpr = inventory.get(joinPath(canonical, '.nix-defexpr'));
      if (!defexpr || defexpr.uid !== 0) continue;
      const owners = accounts.known ? accountsOwningHome(inventory, accounts, canonical) : [];
      if (owners.some((u) => u.uid === 0)) continue;
      if (!accounts.known && canonical === '/root') continue;
      const whose = owners.length > 0 ? `the home of ${owners.map((u) => u.name).join(', ')}` : 'a home no account owns';
      report({
        path: joinPath(named, '.nix-defexpr'),
        message: `${joinPath(named, '.nix-defexpr')} is owned by root inside ${whose}: nix-env ran as root with HOME=${named} during the build`,
        evidence: `owner ${ownerName(accounts, defexpr.uid)}, type ${defexpr.type}`,
      });
    }
  },
});
