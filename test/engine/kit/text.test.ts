import { runRules } from '../../../src/engine/runtime/runner.js';
import { defineRule } from '../../../src/engine/kit/rule.js';
import { aggregate } from '../../../src/engine/kit/aggregate.js';
import { hostTerms, matchTerms } from '../../../src/engine/kit/identity.js';
import { makeAccounts, parsePasswd } from '../../../src/engine/runtime/accounts.js';
import { CONTENT_PASS_OPTIONS, isBinary, MIN_STRING, printableStrings, TEXT_SCAN_OPTIONS, textCandidates, textScanOptions } from '../../../src/engine/kit/text.js';
import { builtinRules } from '../../../rules/index.js';
import { BASE_PASSWD, memoryRoot, withAccounts } from '../../helpers/tree.js';
import { FAKE_GITHUB_TOKEN } from '../../helpers/fake-secrets.js';
import fc from 'fast-check';

const tree = withAccounts([
  { path: '/etc/app.conf', content: 'root=/build/source\n' },
  { path: '/etc/token', content: `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n` },
  { path: '/etc/blob', contentBase64: Buffer.from('\0\0/build/x').toString('base64') },
  { path: '/etc/big', content: 'x'.repeat(5000) },
  { path: '/etc/logo.png', content: '/build/not-read' },
  { path: '/nix/store/aaaa-x/share/y', content: '/build/in-store' },
  { path: '/proc/self/environ', content: '/build/proc' },
]);

describe('text candidates', () => {
  it('selects regular non-empty files (bigger ones too: their first maxBytes is scanned), outside the store and run-time trees, not binary types', () => {
    const root = memoryRoot(tree);
    const opts = { includeStore: false, maxBytes: 4096 };
    const got = textCandidates(root.inventory, opts).map((e) => e.path);
    expect(got).toEqual(['/etc/app.conf', '/etc/big', '/etc/blob', '/etc/group', '/etc/passwd', '/etc/token']);
    expect(textCandidates(root.inventory, opts)).toBe(textCandidates(root.inventory, opts)); // cached
    expect(textCandidates(root.inventory, { includeStore: true, maxBytes: 1 << 20 }).map((e) => e.path)).toContain('/nix/store/aaaa-x/share/y');
  });
  it('reads options from rule configuration', () => {
    expect(textScanOptions({})).toEqual({ includeStore: false, maxBytes: 1024 * 1024, trustPackages: false });
    expect(textScanOptions({ scanStore: true, maxTextBytes: 10, trustPackages: true })).toEqual({ includeStore: true, maxBytes: 10, trustPackages: true });
  });
  it('calls data with a NUL byte binary', () => {
    expect(isBinary(Buffer.from('a\0b'))).toBe(true);
    expect(isBinary(Buffer.from('plain text'))).toBe(false);
  });
});

describe('printable strings of a binary', () => {
  /** The definition, as a regex: every run of at least MIN_STRING tab or 0x20-0x7e bytes, one a line. */
  const reference = (data: Buffer) => (data.toString('latin1').match(new RegExp(`[\\t\\x20-\\x7e]{${MIN_STRING},}`, 'g')) ?? []).join('\n');

  it('keeps the runs of at least 8 printable bytes, one a line, at both ends and between any bytes', () => {
    const data = Buffer.concat([Buffer.from('/build/x1'), Buffer.from([0, 0x7f, 0xff]), Buffer.from('short\0'), Buffer.from('\tnix-build-x\n'), Buffer.from('12345678')]);
    expect(printableStrings(data)).toBe('/build/x1\n\tnix-build-x\n12345678');
    expect(printableStrings(Buffer.from('1234567'))).toBe('');
    expect(printableStrings(Buffer.alloc(0))).toBe('');
  });

  it('is the regex definition on any bytes (runs of every length around the minimum, any separators)', () => {
    // Runs of printable bytes and of others, with lengths near MIN_STRING so every edge of the skip is taken.
    const run = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a.map((b) => 0x20 + (b % 0x5f)))),
      fc.uint8Array({ minLength: 1, maxLength: 3 }).map((a) => Buffer.from(a.map((b) => (b % 2 ? 0x80 + (b % 0x80) : b % 9)))),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(fc.array(run, { maxLength: 30 }), (parts) => {
        const data = Buffer.concat(parts);
        expect(printableStrings(data)).toBe(reference(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not keep what a large file left behind: a small one after it gives only its own runs', () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 'A');
    expect(printableStrings(big).length).toBe(big.length);
    expect(printableStrings(Buffer.from('\0abcdefgh\0'))).toBe('abcdefgh');
  });
});

describe('shared content pass', () => {
  it('reads every candidate once, in one batch, for all content rules together', async () => {
    const root = memoryRoot(tree);
    const ids = ['build-path-reference', 'secret-token', 'private-key', 'host-identity-reference'];
    const rules = builtinRules.filter((r) => ids.includes(r.meta.id)).map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, { user: 'bob', home: '/home/bob', name: 'bobs-laptop' });
    const all = root.reads.flat();
    expect(new Set(all).size).toBe(all.length); // nothing read twice
    const passBatches = root.reads.filter((b) => b.includes('/etc/app.conf'));
    expect(passBatches).toHaveLength(1);
    expect(passBatches[0]).toEqual(expect.arrayContaining(['/etc/app.conf', '/etc/token', '/etc/blob']));
    expect(findings.map((f) => `${f.ruleId} ${f.path}`).sort()).toEqual([
      'build-path-reference /etc/app.conf',
      // a binary file is searched in its printable strings
      'build-path-reference /etc/blob',
      'secret-token /etc/token',
    ]);
  });

  it('is declared, not timed: a rule that awaits before subscribing still shares the one pass', async () => {
    const root = memoryRoot(tree);
    const seen: string[] = [];
    const late = defineRule({
      readsText: true,
      meta: { id: 'late-reader', severity: 'info', tags: [], description: 'test', remediation: 'test', references: [] },
      async check(ctx) {
        await ctx.packages();
        await new Promise((r) => setTimeout(r, 20));
        await ctx.scanText((file) => seen.push(file.entry.path));
      },
    });
    const rules = [late, ...builtinRules.filter((r) => r.meta.id === 'secret-token')].map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, { user: 'bob', home: '/home/bob', name: 'bobs-laptop' });
    expect(findings.map((f) => `${f.ruleId} ${f.path}`)).toEqual(['secret-token /etc/token']);
    expect(seen).toEqual(['/etc/app.conf', '/etc/big', '/etc/blob', '/etc/group', '/etc/passwd', '/etc/token']);
    expect(root.reads.filter((b) => b.includes('/etc/app.conf'))).toHaveLength(1);
  });

  it('readsText gives a rule every option of the pass (or --trust-packages would give it a full pass of its own)', () => {
    const meta = { id: 'pass-reader', severity: 'info' as const, tags: [], description: 'test', remediation: 'test', references: [] };
    const own = { depth: { type: 'number', default: 2, description: 'test' } } as const;
    const rule = defineRule({ readsText: true, meta: { ...meta, options: own }, check() {} });
    expect(Object.keys(rule.meta.options ?? {})).toEqual(['depth', ...Object.keys(CONTENT_PASS_OPTIONS)]);
    expect(rule.meta.options?.trustPackages).toBe(CONTENT_PASS_OPTIONS.trustPackages);
    expect(defineRule({ meta, check() {} }).meta.options).toBeUndefined();
    // The pass's options are the pass's: a rule that declares one itself is refused, with what to do.
    expect(() => defineRule({ readsText: true, meta: { ...meta, options: { ...TEXT_SCAN_OPTIONS } }, check() {} })).toThrow(
      "rule 'pass-reader' declares readsText, which gives it scanStore, maxTextBytes: remove them from its meta.options",
    );
  });

  it('a rule that reads text files without declaring it crashes as a finding, and never holds up the pass', async () => {
    const root = memoryRoot(tree);
    const undeclared = defineRule({
      meta: { id: 'undeclared-reader', severity: 'info', tags: [], description: 'test', remediation: 'test', references: [] },
      async check(ctx) {
        await ctx.scanText(() => undefined);
      },
    });
    const rules = [undeclared, ...builtinRules.filter((r) => r.meta.id === 'secret-token')].map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const { findings } = await runRules(root, rules, { user: 'bob', home: '/home/bob', name: 'bobs-laptop' });
    expect(findings.map((f) => `${f.ruleId} ${f.message}`)).toEqual([
      "rule-crashed rule 'undeclared-reader' crashed: rule 'undeclared-reader' reads text files without declaring readsText",
      'secret-token /etc/token holds a secret (GitHub token), first on line 1',
    ]);
  });
});

describe('aggregate', () => {
  it('reports the top-most flagged path with a count', () => {
    expect(aggregate(['/home/bob', '/home/bob/a', '/home/bob/a/b', '/srv/x'])).toEqual([
      { path: '/home/bob', count: 3, merged: false },
      { path: '/srv/x', count: 1, merged: false },
    ]);
  });
  it('merges a crowded directory into one group', () => {
    const paths = Array.from({ length: 500 }, (_, i) => `/nix/store/h${i}-p`).flatMap((p) => [p, `${p}/bin`]);
    const members = Array.from({ length: 500 }, (_, i) => `/nix/store/h${i}-p`).sort();
    expect(aggregate(paths)).toEqual([{ path: '/nix/store', count: 1000, merged: true, members }]);
  });
  it('does not confuse sibling prefixes', () => {
    expect(aggregate(['/a', '/a-b/c', '/a/c']).map((g) => g.path)).toEqual(['/a', '/a-b/c']);
  });
});

describe('host identity terms', () => {
  const root = memoryRoot(withAccounts([]));
  const accounts = makeAccounts(parsePasswd(BASE_PASSWD), []);
  it('ignores generic names, short names and names the image owns', () => {
    const { terms, ignored } = hostTerms({ user: 'root', home: '/root', name: 'localhost' }, accounts, root.inventory);
    expect(terms).toEqual([]);
    expect(ignored).toHaveLength(3);
    expect(hostTerms({ user: 'runner', home: '/', name: 'vm' }, accounts, root.inventory).terms).toEqual([]);
    expect(hostTerms({ user: 'alice', home: '/home/alice', name: 'nixos' }, accounts, root.inventory).terms).toEqual([]);
  });
  it('matches the home as a path, the user as a path component or login, the hostname as a word', () => {
    const { terms } = hostTerms({ user: 'bob', home: '/home/bob', name: 'bobs-laptop.example.org' }, accounts, root.inventory);
    expect(terms.map((t) => `${t.kind}:${t.value}`)).toEqual([
      'home:/home/bob', 'user:bob', 'hostname:bobs-laptop.example.org', 'hostname:bobs-laptop',
    ]);
    expect(matchTerms('HOME=/home/bob\n', terms)?.first.term.kind).toBe('home');
    expect(matchTerms('ssh-ed25519 AAAA bob@bobs-laptop', terms)?.count).toBe(2);
    expect(matchTerms('/var/lib/bob/x', terms)?.first.term.kind).toBe('user');
    expect(matchTerms('bobby /home/bobby bob is a name; bobs-laptops', terms)).toBeNull();
  });
});
