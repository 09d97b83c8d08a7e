/** The config file: discovery, schema validation with named fields (exit 2), and what it changes in a run. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostIdentity } from '../../../src/commands/context.js';
import { cli, SAMPLES, scratch, TEST_HOST } from '../../helpers/gate.js';
import type { Finding } from '../../../src/types.js';

describe('config', () => {
  let s: ReturnType<typeof scratch>;
  beforeEach(() => {
    s = scratch();
  });
  afterEach(() => s.cleanup());

  const leaky = path.join(SAMPLES, 'leaky');
  const write = (name: string, text: string) => {
    writeFileSync(path.join(s.dir, name), text);
    return path.join(s.dir, name);
  };
  const scanIn = (extra: string[] = []) => cli(['scan', leaky, '--format', 'json', ...TEST_HOST, ...extra], { cwd: s.dir });

  it('an unknown rule id exits 2 and names the file, the field and the rule; nothing is audited', async () => {
    write('hostleak.config.yaml', 'rules:\n  no-such-rule: error\n');
    const r = await scanIn();
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "hostleak: hostleak.config.yaml: rules.no-such-rule: unknown rule id 'no-such-rule' ('hostleak rules' lists them)\n",
    );
  });

  it.each([
    ['an ignore entry without a reason', 'ignore:\n  - rule: orphaned-home\n    paths: [/home/bob]\n', 'ignore[0].reason: is required'],
    ['an ignore entry for an unknown rule', 'ignore:\n  - rule: nope\n    reason: x\n', "ignore[0].rule: unknown rule id 'nope'"],
    ['a bad severity', 'rules:\n  orphaned-home: fatal\n', "rules.orphaned-home: must be 'off', a severity"],
    ['a bad expiry date', 'ignore:\n  - rule: orphaned-home\n    reason: x\n    expires: next week\n', 'ignore[0].expires: must be a date'],
    ['an impossible date', 'ignore:\n  - rule: orphaned-home\n    reason: x\n    expires: 2026-02-30\n', "ignore[0].expires: '2026-02-30' is not a real date"],
    ['a relative ignore glob', 'ignore:\n  - rule: orphaned-home\n    reason: x\n    paths: [home/bob]\n', 'ignore[0].paths[0]: must be an absolute glob'],
    ['an unknown top-level field', 'rule:\n  orphaned-home: off\n', 'rule: is not a known field'],
    ['a bad backend', 'backend:\n  name: floppy\n', 'backend.name: must be one of'],
    ['invalid YAML', 'rules: [\n', 'not valid YAML'],
    ['an option a rule does not take', 'rules:\n  secret-token: [error, { maxBytes: 10 }]\n', "rules.secret-token.options: unknown option 'maxBytes' (it takes scanStore, maxTextBytes, trustPackages)"],
    ['an option of the wrong type', 'rules:\n  secret-token: [error, { maxTextBytes: lots }]\n', 'rules.secret-token.options: option \'maxTextBytes\' must be a number >= 1, not "lots"'],
    ['options for a rule that takes none', 'rules:\n  orphaned-home: [error, { depth: 2 }]\n', "rules.orphaned-home.options: unknown option 'depth' (it takes no options)"],
  ])('%s exits 2 naming the field', async (_name, text, message) => {
    write('hostleak.config.yaml', text);
    const r = await scanIn();
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`hostleak.config.yaml: ${message}`);
  });

  it('is found as JSON too, and two config files in one directory are an error', async () => {
    write('hostleak.config.json', JSON.stringify({ rules: { 'orphaned-home': 'off' } }));
    const r = await scanIn();
    expect(r.exitCode).toBe(1);
    expect((JSON.parse(r.stdout).targets[0].findings as Finding[]).map((f) => f.ruleId)).not.toContain('orphaned-home');
    write('hostleak.config.yml', 'rules: {}\n');
    const both = await scanIn();
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('hostleak.config.json and hostleak.config.yml both exist');
  });

  it('--config names a file anywhere; a missing one exits 2', async () => {
    const file = write('ci.yaml', 'rules:\n  orphaned-home: off\n');
    const r = await cli(['scan', leaky, '--format', 'json', '--config', file, ...TEST_HOST]);
    expect((JSON.parse(r.stdout).targets[0].findings as Finding[]).map((f) => f.ruleId)).not.toContain('orphaned-home');
    const missing = await cli(['scan', leaky, '--config', path.join(s.dir, 'nope.yaml')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('nope.yaml: cannot read (ENOENT)');
  });

  it('overrides severities (all three forms) and the fail-on threshold', async () => {
    write(
      'hostleak.config.yaml',
      [
        'rules:',
        '  orphaned-home: warning',
        '  root-owned-nix-defexpr: [info]',
        '  dangling-channel-symlink: { severity: warning, options: {} }',
        'failOn: never',
        '',
      ].join('\n'),
    );
    const r = await scanIn();
    const findings = JSON.parse(r.stdout).targets[0].findings as Finding[];
    const sev = Object.fromEntries(findings.filter((f) => f.path.startsWith('/home/bob')).map((f) => [f.ruleId, f.severity]));
    expect(sev).toMatchObject({ 'orphaned-home': 'warning', 'root-owned-nix-defexpr': 'info', 'dangling-channel-symlink': 'warning' });
    // failOn from the config: never fail on findings...
    expect(r.exitCode).toBe(0);
    // ...and the command line wins over the config.
    const strict = await scanIn(['--fail-on', 'warning']);
    expect(strict.exitCode).toBe(1);
  });

  it('supplies the host identity, which flags override and which overrides the environment', async () => {
    const file = write('hostleak.config.yaml', 'host:\n  user: bob\n  home: /home/bob\n');
    const { loadConfig } = await import('../../../src/engine/gate/config.js');
    const cfg = await loadConfig(file, s.dir, ['auto', 'dir']);
    const env = { USER: 'someone', HOME: '/nonexistent' };
    const host = hostIdentity({ _: [] }, env, cfg.host);
    expect(host.user).toBe('bob');
    expect(host.home).toBe('/home/bob');
    expect(host.name).toBeTruthy(); // not configured: this machine's name
    expect(hostIdentity({ _: [], 'host-user': 'carol' }, env, cfg.host).user).toBe('carol');
    expect(hostIdentity({ _: [] }, env, {}).user).toBe('someone');
  });
});
