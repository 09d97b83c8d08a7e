import { defineRule } from '../../../src/engine/kit/rule.js';
import { DuplicateRuleError } from '../../../src/errors.js';
import { Registry } from '../../../src/engine/runtime/registry.js';
import { runRules } from '../../../src/engine/runtime/runner.js';
import { builtinRules } from '../../../rules/index.js';
import { memoryRoot, withAccounts } from '../../helpers/tree.js';
import { existsSync, readdirSync } from 'node:fs';

const host = { user: null, home: null, name: null };

describe('registry', () => {
  it('rejects a duplicate id', () => {
    const r = new Registry(builtinRules);
    expect(() => r.add(builtinRules[0]!)).toThrow(DuplicateRuleError);
  });

  it('rejects ids that are not kebab-case', () => {
    expect(() =>
      defineRule({ meta: { id: 'Bad_Id', severity: 'info', tags: [], description: 'd', remediation: 'r' }, check() {} }),
    ).toThrow(/kebab-case/);
  });

  it('lists every rules/*.ts file, each with a doc page', () => {
    const files = readdirSync('rules').filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.startsWith('_'));
    const ids = builtinRules.map((r) => r.meta.id).sort();
    expect(files.map((f) => f.replace(/\.ts$/, '')).sort()).toEqual(ids);
    for (const id of ids) expect(existsSync(`docs/rules/${id}.md`)).toBe(true);
  });
});

describe('runner', () => {
  it('turns a throwing rule into a rule-crashed finding and still runs the others', async () => {
    const boom = defineRule({
      meta: { id: 'boom', severity: 'warning', tags: [], description: 'd', remediation: 'r' },
      check() {
        throw new Error('kaput\nsecond line');
      },
    });
    const root = memoryRoot(withAccounts([{ path: '/home/bob', type: 'dir' }]));
    const rules = [boom, ...builtinRules].map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, host);
    const crashed = findings.find((f) => f.ruleId === 'rule-crashed');
    expect(crashed).toMatchObject({ severity: 'error', message: "rule 'boom' crashed: kaput" });
    expect(findings.some((f) => f.ruleId === 'orphaned-home' && f.path === '/home/bob')).toBe(true);
  });

  it('batches reads issued in the same tick into one backend call and reads each file once', async () => {
    const tree = withAccounts(Array.from({ length: 20 }, (_, i) => ({ path: `/data/f${i}`, content: `file ${i}` })));
    const root = memoryRoot(tree);
    const reader = defineRule({
      meta: { id: 'reader', severity: 'info', tags: [], description: 'd', remediation: 'r' },
      async check({ inventory, fs, report }) {
        const files = inventory.glob('/data/*');
        const texts = await Promise.all(files.map((e) => fs.readText(e.path)));
        const again = await Promise.all(files.map((e) => fs.readText(e.path)));
        expect(again).toEqual(texts);
        report({ path: '/data', message: texts.join(',') });
      },
    });
    const { findings, batches, filesRead } = await runRules(root, [{ rule: reader, severity: 'info', options: {} }], host);
    expect(findings[0]!.message).toContain('file 19');
    // passwd+group in one batch, the 20 files in another; the second pass is served from the cache.
    expect(batches).toBe(2);
    expect(filesRead).toBe(22);
    expect(root.reads.map((b) => b.length)).toEqual([2, 20]);
  });

  it('prefixes paths with the device when a filesystem stands alone', async () => {
    const root = memoryRoot(withAccounts([{ path: '/home/bob', type: 'dir' }]), '/dev/sda1');
    const rules = builtinRules.map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, host);
    expect(findings.map((f) => f.path)).toContain('/dev/sda1:/home/bob');
  });
});
