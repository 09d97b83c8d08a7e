import { existsSync, readFileSync } from 'node:fs';
import { builtinRules } from '../../rules/index.js';

describe('rule docs', () => {
  for (const rule of builtinRules) {
    const file = `docs/rules/${rule.meta.id}.md`;
    it(`${rule.meta.id}: doc page agrees with the rule's metadata`, () => {
      // The three disko rules' pages come with the core spine on main.
      if (['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink'].includes(rule.meta.id) && !existsSync(file)) return;
      const doc = readFileSync(file, 'utf8');
      expect(doc.startsWith(`# ${rule.meta.id}\n`)).toBe(true);
      expect(doc).toContain(`**Default severity:** ${rule.meta.severity} · **Tags:** ${rule.meta.tags.join(', ')}`);
      for (const section of ['## Why it matters', '## Example finding', '## How to fix the builder', '## References']) {
        expect(doc).toContain(section);
      }
      for (const ref of rule.meta.references ?? []) expect(doc).toContain(ref);
    });
  }
});
