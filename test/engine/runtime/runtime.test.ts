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

  it('one leaked file, one finding at warning+: a build path in a shell history is folded, a token is not', async () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(3)}q7R8s9`;
    const root = memoryRoot(
      withAccounts([
        { path: '/root/.bash_history', content: `cd /build/image\nmake\n` },
        { path: '/root/.zsh_history', content: `export GITHUB_TOKEN=${token}\ncd /build/image\n` },
        { path: '/etc/app.conf', content: 'data = /build/image/data\n' },
      ]),
    );
    const rules = builtinRules.map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, host);
    const at = (p: string) => findings.filter((f) => f.path === p).map((f) => `${f.ruleId}:${f.severity}`).sort();
    expect(at('/root/.bash_history')).toEqual(['build-path-reference:info', 'shell-history:warning']);
    expect(findings.find((f) => f.path === '/root/.bash_history' && f.ruleId === 'build-path-reference')!.message).toMatch(
      /\(the file itself is reported by shell-history\)$/,
    );
    // The token is worse than the file's own finding: it stays an error.
    expect(at('/root/.zsh_history')).toEqual(['build-path-reference:info', 'secret-token:error', 'shell-history:warning']);
    // A file no coversFile rule reports keeps its finding.
    expect(at('/etc/app.conf')).toEqual(['build-path-reference:warning']);
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

  it('reads each file of a batch only up to what was asked of it, not the batch largest limit', async () => {
    const big = 'x'.repeat(100_000);
    const tree = withAccounts([
      { path: '/data/head', content: big },
      { path: '/data/whole', content: big },
    ]);
    const root = memoryRoot(tree);
    const asked: Array<[string[], number]> = [];
    const readFiles = root.readFiles.bind(root);
    root.readFiles = (paths, maxBytes) => {
      asked.push([paths, maxBytes]);
      return readFiles(paths, maxBytes);
    };
    const reader = defineRule({
      meta: { id: 'reader', severity: 'info', tags: [], description: 'd', remediation: 'r' },
      async check({ fs, report }) {
        const [head, whole] = await Promise.all([fs.readFile('/data/head', { maxBytes: 64 }), fs.readFile('/data/whole')]);
        report({ path: '/data', message: `${head!.data.length} ${head!.truncated} ${whole!.data.length} ${whole!.truncated}` });
        // A later, larger read of the head-only file goes back to the backend (the cache holds 64 bytes of it).
        const again = await fs.readFile('/data/head', { maxBytes: 1000 });
        report({ path: '/data/head', message: `${again!.data.length}` });
      },
    });
    const { findings } = await runRules(root, [{ rule: reader, severity: 'info', options: {} }], host);
    expect(findings.map((f) => f.message).sort()).toEqual(['1000', '64 true 100000 false']);
    const calls = asked.filter(([paths]) => paths.some((p) => p.startsWith('/data/')));
    expect(calls.map(([paths, max]) => `${paths.join(',')}@${max}`).sort()).toEqual([
      '/data/head@1000',
      '/data/head@64',
      '/data/whole@1048576',
    ]);
  });

  it('prefixes paths with the device when a filesystem stands alone', async () => {
    const root = memoryRoot(withAccounts([{ path: '/home/bob', type: 'dir' }]), '/dev/sda1');
    const rules = builtinRules.map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, host);
    expect(findings.map((f) => f.path)).toContain('/dev/sda1:/home/bob');
  });
});
