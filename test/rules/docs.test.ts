import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinRules } from '../../rules/index.js';

/** Every rule in rules/ (TypeScript and declarative YAML), by file name: the file name is the rule id. */
const ruleFiles = readdirSync('rules')
  .filter((f) => /\.(ts|ya?ml)$/.test(f) && f !== 'index.ts')
  .map((f) => f.replace(/\.(ts|ya?ml)$/, ''));

describe('every rule has its test file and doc page', () => {
  test('the rule files are found (the checks below are not vacuous)', () => {
    expect(ruleFiles).toContain('orphaned-home');
    expect(ruleFiles.length).toBeGreaterThanOrEqual(builtinRules.length);
  });

  for (const id of ruleFiles) {
    test(`${id}: test/rules/${id}.test.ts and docs/rules/${id}.md`, () => {
      expect([existsSync(`test/rules/${id}.test.ts`), existsSync(`docs/rules/${id}.md`)]).toEqual([true, true]);
    });
  }

  test('every built-in rule is a file of its id', () => {
    expect(builtinRules.map((r) => r.meta.id).filter((id) => !ruleFiles.includes(id))).toEqual([]);
  });

  test('rules/index.ts lists every rules/<id>.ts once, imports and list sorted by id', () => {
    const tsRules = readdirSync('rules').filter((f) => f.endsWith('.ts') && f !== 'index.ts').map((f) => f.slice(0, -3)).sort();
    expect(builtinRules.map((r) => r.meta.id)).toEqual(tsRules);
    const imported = [...readFileSync('rules/index.ts', 'utf8').matchAll(/^import \w+ from '\.\/([\w-]+)\.js';$/gm)].map((m) => m[1]);
    expect(imported).toEqual(tsRules);
  });
});

describe('rule docs', () => {
  for (const rule of builtinRules) {
    const file = `docs/rules/${rule.meta.id}.md`;
    it(`${rule.meta.id}: doc page agrees with the rule's metadata`, () => {
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
