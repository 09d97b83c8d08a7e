/** Every rule, built in or added later, gets a code-scanning security-severity from the documented mapping. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { securityLabel, securitySeverity, SECURITY_BASE, SECURITY_TAG_BONUS } from '../../src/reporters/security.js';
import { builtinRules } from '../../rules/index.js';
import { REPO_ROOT } from '../helpers/gate.js';

describe('security-severity', () => {
  it.each(builtinRules.map((r) => [r.meta.id, r.meta] as const))('%s has a score in 0.1-10.0', (_id, meta) => {
    const s = securitySeverity(meta);
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThanOrEqual(10);
  });

  it('derives from severity and the most serious tag; meta.securitySeverity overrides', () => {
    expect(securitySeverity({ severity: 'error', tags: [] })).toBe(SECURITY_BASE.error);
    expect(securitySeverity({ severity: 'warning', tags: ['nix'] })).toBe(SECURITY_BASE.warning);
    expect(securitySeverity({ severity: 'error', tags: ['secret', 'permissions'] })).toBe(SECURITY_BASE.error + SECURITY_TAG_BONUS.secret!);
    expect(securitySeverity({ severity: 'info', tags: [], securitySeverity: 8.25 })).toBe(8.3);
    expect(securityLabel(9.5)).toBe('critical');
    expect(securityLabel(7.0)).toBe('high');
    expect(securityLabel(4.0)).toBe('medium');
    expect(securityLabel(1.0)).toBe('low');
  });

  it('docs/ci.md states the mapping, and every score its table lists is the one reports carry', () => {
    const md = readFileSync(path.join(REPO_ROOT, 'docs', 'ci.md'), 'utf8');
    expect(md).toContain(
      `**error ${SECURITY_BASE.error.toFixed(1)}, warning ${SECURITY_BASE.warning.toFixed(1)}, info ${SECURITY_BASE.info.toFixed(1)}**`,
    );
    for (const [tag, bonus] of Object.entries(SECURITY_TAG_BONUS)) expect(md).toContain(`\`${tag}\` +${bonus.toFixed(1)}`);
    const rows = [...md.matchAll(/^\| `([a-z0-9-]+)` \| (error|warning|info) \| (\d+\.\d) (\w+) \|/gm)];
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [, id, severity, score, label] of rows) {
      const meta = builtinRules.find((r) => r.meta.id === id)?.meta;
      expect([id, meta?.severity, meta && securitySeverity(meta).toFixed(1), meta && securityLabel(securitySeverity(meta))]).toEqual([id, severity, score, label]);
    }
  });
});
