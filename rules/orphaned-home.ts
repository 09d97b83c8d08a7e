import { accountsOwningHome, cannotJudge, defineRule, HOME_ROOTS, homeDirs, ownerName, plural } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'orphaned-home',
    severity: 'error',
    tags: ['host-leak', 'builder-home'],
    description: 'A directory under /home (or /Users, /var/home) is not the home of any account in the image',
    remediation:
      'Run the image build with HOME pointing inside the build sandbox (HOME=/root or HOME=$TMPDIR before ' +
      'nixos-install / switch-to-configuration), and start the build VM with a clean environment instead of the ' +
      "builder's exported one.",
    references: ['https://github.com/nix-community/disko/issues/622', 'https://github.com/NixOS/nixpkgs/pull/292561'],
  },
  check({ inventory, accounts, report }) {
    const homes = homeDirs(inventory);
    if (homes.length === 0) return;
    if (!accounts.known) {
      const roots = HOME_ROOTS.filter((r) => inventory.resolve(r).ok);
      cannotJudge(report, roots[0] ?? homes[0]!.path, plural(homes.length, 'home directory', 'home directories'), accounts.reason);
      return;
    }
    for (const h of homes) {
      if (accountsOwningHome(inventory, accounts, h.canonical).length > 0) continue;
      const name = h.path.slice(h.path.lastIndexOf('/') + 1);
      report({
        path: h.path,
        message:
          `${h.path} is not the home of any account in the image's /etc/passwd (owned by ` +
          `${ownerName(accounts, h.entry.uid)}); the build environment probably had HOME=${h.path}` +
          (accounts.userByName(name) ? ` (account '${name}' exists but its home is elsewhere)` : ''),
        evidence: `owner uid=${h.entry.uid} gid=${h.entry.gid} mode=${h.entry.mode.toString(8).padStart(4, '0')}`,
      });
    }
  },
});
