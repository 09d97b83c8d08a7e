import { cannotJudge, defineRule, joinPath } from '../src/engine/kit/index.js';

const PER_USER = '/nix/var/nix/profiles/per-user';

export default defineRule({
  meta: {
    id: 'stray-per-user-profile',
    severity: 'warning',
    tags: ['nix', 'host-leak', 'builder-home'],
    description: 'A Nix per-user profile directory belongs to a user with no account in the image',
    remediation:
      "Nix created a per-user profile for the builder's user (USER/LOGNAME leaked into the build). Run the image " +
      "build with USER=root (or unset the host's environment before the build VM starts) and remove the directory.",
    references: ['https://github.com/nix-community/disko/issues/622'],
  },
  check({ inventory, accounts, report }) {
    const r = inventory.resolve(PER_USER);
    if (!r.ok || r.entry.type !== 'dir') return;
    const names = inventory.children(r.path);
    if (names.length === 0) return;
    if (!accounts.known) {
      cannotJudge(report, PER_USER, `${names.length} per-user profile(s)`, accounts.reason);
      return;
    }
    for (const name of names) {
      if (accounts.userByName(name)) continue;
      const p = joinPath(PER_USER, name);
      const e = inventory.get(joinPath(r.path, name));
      report({
        path: p,
        message: `${p} is the Nix profile directory of '${name}', who has no account in the image: the builder's user leaked into the build`,
        evidence: e ? `${e.type}, owner uid=${e.uid} gid=${e.gid}` : null,
      });
    }
  },
});
