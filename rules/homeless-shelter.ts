import { defineRule } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'homeless-shelter',
    severity: 'error',
    tags: ['nix', 'host-leak', 'builder-home'],
    description: "/homeless-shelter exists: Nix's sandbox HOME leaked into the image",
    remediation:
      'Something in the image build ran with HOME=/homeless-shelter (the Nix sandbox default) and wrote there, ' +
      'typically nix-env creating .nix-defexpr. Export HOME=$TMPDIR (or HOME=/root inside the image) before ' +
      'nixos-install / switch-to-configuration, and remove the directory from the image.',
    references: ['https://github.com/NixOS/nixpkgs/pull/292561'],
  },
  check({ inventory, report }) {
    const e = inventory.get('/homeless-shelter');
    if (!e) return;
    const below = e.type === 'dir' ? [...inventory.walk('/homeless-shelter')] : [];
    report({
      path: '/homeless-shelter',
      message:
        `/homeless-shelter exists (${e.type}` +
        (below.length > 0 ? `, ${below.length} entr${below.length === 1 ? 'y' : 'ies'} below it` : '') +
        "): a build step ran with Nix's sandbox HOME and wrote into it",
      evidence: below.slice(0, 3).map((b) => b.path).join(', ') || null,
    });
  },
});
