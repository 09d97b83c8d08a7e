/** Declarative YAML rules: each predicate through the real engine, validation on load, and --rules-dir end to end. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { declarativeRule, loadRulesDir } from '../../../src/engine/gate/declarative.js';
import type { Finding } from '../../../src/types.js';
import { cli, SAMPLES, scratch, TEST_HOST } from '../../helpers/gate.js';
import { BASE_GROUP, BASE_PASSWD } from '../../helpers/tree.js';
import { ruleTester } from '../../helpers/rule-tester.js';

const rule = (yaml: string) => declarativeRule(YAML.parse(yaml), 'test.yaml');
const accounts = [
  { path: '/etc/passwd', content: BASE_PASSWD },
  { path: '/etc/group', content: BASE_GROUP },
];

ruleTester(
  rule(`
id: private-key-in-etc
severity: error
description: A private key under /etc
remediation: Generate keys on first boot
match:
  glob: /etc/**
  type: file
  content: { pattern: "-----BEGIN [A-Z ]*PRIVATE KEY-----", maxBytes: 4096 }
`),
  {
    valid: [
      { name: 'public key', tree: [{ path: '/etc/ssh/key.pub', content: 'ssh-ed25519 AAAA' }] },
      { name: 'key outside the glob', tree: [{ path: '/srv/key', content: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n' }] },
      {
        name: 'marker beyond the size cap',
        tree: [{ path: '/etc/big', content: `${'x'.repeat(5000)}\n-----BEGIN OPENSSH PRIVATE KEY-----\n` }],
      },
    ],
    invalid: [
      {
        name: 'a key, reported by line only',
        tree: [{ path: '/etc/ssh/ssh_host_ed25519_key', content: '\n\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n' }],
        findings: [
          {
            path: '/etc/ssh/ssh_host_ed25519_key',
            message: ['A private key under /etc'],
            evidence: ['line 3'],
            absent: ['b3BlbnNzaC1rZXktdjEAAAAA'],
          },
        ],
      },
    ],
  },
);

ruleTester(
  rule(`
id: dangling-in-etc
severity: warning
description: A dangling symlink in /etc
remediation: Remove it
message: "{path} points at {target}"
match: { glob: "/etc/**", target: dangling }
`),
  {
    valid: [
      { name: 'resolving link', tree: [{ path: '/etc/a', content: 'x' }, { path: '/etc/b', target: 'a' }] },
      { name: 'link into /run', tree: [{ path: '/etc/resolv.conf', target: '/run/systemd/resolve/stub-resolv.conf' }] },
    ],
    invalid: [
      {
        name: 'link to a build path',
        tree: [{ path: '/etc/x', target: '/build/source/x' }],
        findings: [{ path: '/etc/x', message: ['/etc/x points at /build/source/x'] }],
      },
    ],
  },
);

ruleTester(
  rule(`
id: gcroot-to-build
severity: error
description: A gcroot points into a build directory
remediation: Remove the gcroot
match:
  glob: [/nix/var/nix/gcroots/**]
  target: { pattern: "^/(build|tmp)/" }
`),
  {
    valid: [{ name: 'store root', tree: [{ path: '/nix/var/nix/gcroots/auto/a', target: '/nix/store/abc-x' }] }],
    invalid: [
      {
        name: 'build root',
        tree: [{ path: '/nix/var/nix/gcroots/auto/b', target: '/tmp/nix-build-x/result' }],
        findings: [{ path: '/nix/var/nix/gcroots/auto/b', evidence: ['/tmp/nix-build-x/result'] }],
      },
    ],
  },
);

ruleTester(
  rule(`
id: alice-world-writable
severity: info
description: World-writable file owned by alice or uid 2000
remediation: chmod o-w
match:
  glob: /srv/**
  type: [file, dir]
  owner: [alice, 2000]
  mode: { any: "0002", none: "1000" }
`),
  {
    valid: [
      { name: 'not world-writable', tree: [...accounts, { path: '/srv/a', content: 'x', uid: 1000, mode: '0644' }] },
      { name: 'other owner', tree: [...accounts, { path: '/srv/a', content: 'x', uid: 0, mode: '0666' }] },
      { name: 'sticky dir', tree: [...accounts, { path: '/srv/t', type: 'dir', uid: 1000, mode: '1777' }] },
    ],
    invalid: [
      {
        name: 'by name and by uid',
        tree: [
          ...accounts,
          { path: '/srv/a', content: 'x', uid: 1000, mode: '0666' },
          { path: '/srv/b', type: 'dir', uid: 2000, mode: '0777' },
        ],
        findings: [{ path: '/srv/a' }, { path: '/srv/b' }],
      },
    ],
  },
);

ruleTester(
  rule(`
id: setuid-in-store
severity: error
description: setuid file in the store
remediation: Nix forbids it
match: { glob: "/nix/store/**", mode: { all: "4000" } }
`),
  {
    valid: [{ name: 'plain', tree: [{ path: '/nix/store/x/bin/a', content: 'x', mode: '0755' }] }],
    invalid: [
      {
        name: 'setuid',
        tree: [{ path: '/nix/store/x/bin/su', content: 'x', mode: '4755' }],
        findings: [{ path: '/nix/store/x/bin/su' }],
      },
    ],
  },
);

describe('declarative rules: validation', () => {
  it.each([
    ['missing remediation', 'id: a\nseverity: error\ndescription: d\nmatch: { glob: /x }\n', 'remediation: is required'],
    ['relative glob', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: x }\n', 'match.glob: must be an absolute glob'],
    ['bad id', 'id: Not_Kebab\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x }\n', 'id: must match pattern'],
    ['bad severity', 'id: a\nseverity: fatal\ndescription: d\nremediation: r\nmatch: { glob: /x }\n', 'severity: must be one of'],
    ['unquoted mode', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x, mode: { all: 0002 } }\n', 'match.mode.all: must be octal'],
    ['bad regex', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x, content: { pattern: "(" } }\n', 'match.content.pattern: not a valid regular expression'],
    ['huge size cap', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x, content: { pattern: a, maxBytes: 99999999 } }\n', 'match.content.maxBytes: must be <='],
    ['bad target', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x, target: broken }\n', "match.target: must be 'dangling'"],
    ['unknown field', 'id: a\nseverity: error\ndescription: d\nremediation: r\nmatch: { glob: /x, size: 3 }\n', 'match.size: is not a known field'],
  ])('%s', (_n, text, message) => {
    expect(() => rule(text)).toThrow(`test.yaml: ${message}`);
  });

  it('loads one rule or a list per file, in file-name order', async () => {
    const s = scratch();
    try {
      writeFileSync(path.join(s.dir, 'b.yaml'), 'id: b-rule\nseverity: info\ndescription: d\nremediation: r\nmatch: { glob: /b }\n');
      writeFileSync(
        path.join(s.dir, 'a.yml'),
        '- { id: a-one, severity: info, description: d, remediation: r, match: { glob: /a } }\n' +
          '- { id: a-two, severity: info, description: d, remediation: r, match: { glob: /a } }\n',
      );
      writeFileSync(path.join(s.dir, 'README.md'), 'not a rule');
      expect((await loadRulesDir(s.dir)).map((r) => r.rule.meta.id)).toEqual(['a-one', 'a-two', 'b-rule']);
      writeFileSync(path.join(s.dir, 'c.yaml'), '- { id: c, severity: info, description: d, remediation: r, match: {} }\n');
      await expect(loadRulesDir(s.dir)).rejects.toThrow(/c\.yaml\[0\]: match\.glob: is required/);
    } finally {
      s.cleanup();
    }
  });
});

describe('declarative rules: --rules-dir', () => {
  let s: ReturnType<typeof scratch>;
  beforeEach(() => {
    s = scratch();
  });
  afterEach(() => s.cleanup());

  const dir = () => {
    const d = path.join(s.dir, 'rules');
    mkdirSync(d, { recursive: true });
    return d;
  };

  it('runs custom rules through the engine next to the built-in ones, with config and SARIF metadata', async () => {
    const d = dir();
    writeFileSync(
      path.join(d, 'bob.yaml'),
      'id: bob-leftovers\nseverity: warning\ndescription: Something of bob is in the image\nremediation: Remove /home/bob\n' +
        'match:\n  glob: /home/bob/**\n  type: symlink\n  target: dangling\n',
    );
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--rules-dir', d, ...TEST_HOST]);
    const findings = JSON.parse(r.stdout).targets[0].findings as Finding[];
    expect(findings.filter((f) => f.ruleId === 'bob-leftovers').map((f) => f.path)).toEqual(['/home/bob/.nix-defexpr/channels']);
    expect(findings.some((f) => f.ruleId === 'orphaned-home')).toBe(true);

    // The config can configure it (rulesDir from the config, relative to the config file).
    writeFileSync(path.join(s.dir, 'hostleak.config.yaml'), 'rulesDir: rules\nrules:\n  bob-leftovers: error\n');
    const c = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'sarif', ...TEST_HOST], { cwd: s.dir });
    const run = JSON.parse(c.stdout).runs[0];
    const res = run.results.find((x: { ruleId: string }) => x.ruleId === 'bob-leftovers');
    expect(res.level).toBe('error');
    const desc = run.tool.driver.rules.find((x: { id: string }) => x.id === 'bob-leftovers');
    expect(desc.helpUri).toBeUndefined();
    expect(desc.help.text).toBe('Remove /home/bob');
    expect(desc.defaultConfiguration.level).toBe('warning');
  });

  it('a duplicate of a built-in id exits 2', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'dup.yaml'), 'id: orphaned-home\nseverity: info\ndescription: d\nremediation: r\nmatch: { glob: /x }\n');
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--rules-dir', d]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`hostleak: ${path.join(d, 'dup.yaml')}: id: 'orphaned-home' duplicates a built-in rule\n`);
  });

  it('a duplicate across custom files, an invalid rule or a missing directory exits 2', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'a.yaml'), 'id: x-rule\nseverity: info\ndescription: d\nremediation: r\nmatch: { glob: /x }\n');
    writeFileSync(path.join(d, 'b.yaml'), 'id: x-rule\nseverity: info\ndescription: d\nremediation: r\nmatch: { glob: /y }\n');
    const dup = await cli(['rules', '--rules-dir', d]);
    expect(dup.exitCode).toBe(2);
    expect(dup.stderr).toContain(`b.yaml: id: 'x-rule' is already defined in ${path.join(d, 'a.yaml')}`);
    const missing = await cli(['scan', path.join(SAMPLES, 'leaky'), '--rules-dir', path.join(s.dir, 'nope')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('cannot read rules directory (ENOENT)');
  });

  it('hostleak rules lists custom rules after validating them', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'a.yaml'), 'id: my-rule\nseverity: info\ndescription: Mine\nremediation: r\nmatch: { glob: /x }\n');
    const r = await cli(['rules', '--rules-dir', d]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^my-rule\s+info\s+Mine$/m);
  });
});
