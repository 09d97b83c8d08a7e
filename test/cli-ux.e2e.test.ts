/**
 * The command line as people meet it: a closed pipe, typos, bad numbers, help, shell completion, machine-readable
 * rule metadata and colour settings.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { run } from '../src/cli.js';
import { builtinRules } from '../rules/index.js';
import { BIN, hostleak, REPO, SAMPLES } from './helpers/cli.js';

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
const ESC = '\u001b[';

/** `hostleak ARGS | head -c 50` under `set -o pipefail`: the pipeline's status is hostleak's. */
function piped(args: string[]): { status: string; stderr: string; bytes: number } {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('bash', ['-c', `set -o pipefail; node '${BIN}' ${quoted} | head -c 50 | wc -c; echo "status=$?" >&2`], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const status = /status=(\d+)/.exec(r.stderr)?.[1] ?? 'none';
  return { status, stderr: r.stderr.replace(/status=\d+\n?/, ''), bytes: Number(r.stdout.trim()) };
}

describe('a closed stdout', () => {
  it('scan --format jsonl | head -c 50: no stack trace, the audit still exits 1 on findings', () => {
    // Four targets stream four lines of ~30 KB: head has gone before the later ones are written.
    const targets = ['leaky', 'leaky.raw', 'leaky.qcow2', 'leaky-rebuilt'].map((t) => path.join(SAMPLES, t));
    const r = piped(['scan', ...targets, '--format', 'jsonl', '--jobs', '1', ...HOST]);
    expect(r.bytes).toBe(50);
    expect(r.stderr).toBe('');
    expect(r.status).toBe('1');
  });

  it('a report bigger than the pipe (SARIF) cut by head: quiet, exit 1', () => {
    const r = piped(['scan', path.join(SAMPLES, 'leaky'), '--format', 'sarif', ...HOST]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe('1');
  });
});

describe('typos and bad numbers: exit 2, one line, a suggestion', () => {
  it.each([
    [['scna', 'x'], "hostleak: unknown command 'scna': did you mean scan?"],
    [['scan', 'x', '--formt', 'json'], "hostleak: unknown option '--formt' for scan: did you mean --format?"],
    [['rules', '--fromat', 'json'], "hostleak: unknown option '--fromat' for rules: did you mean --format?"],
    [['scan', 'x', '--format', 'sarf'], "hostleak: --format 'sarf' is not one of text, json, jsonl, sarif, junit, github, markdown, html, gitlab: did you mean sarif?"],
    [['scan', 'x', '--jobs', 'abc'], "hostleak: --jobs takes a whole number >= 1, not 'abc'"],
    [['scan', 'x', '--jobs', '0'], "hostleak: --jobs takes a whole number >= 1, not '0'"],
    [['scan', 'x', '--jobs', '1.5'], "hostleak: --jobs takes a whole number >= 1, not '1.5'"],
    [['scan', 'x', '--timeout', 'soon'], "hostleak: --timeout takes a positive number, not 'soon'"],
  ])('%j', async (argv, first) => {
    const r = await run(argv, { env: {}, color: false });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(first);
    expect(r.stderr).not.toContain('NaN');
  });
});

describe('help', () => {
  it('wraps at word boundaries and shows examples for every command', async () => {
    for (const command of ['scan', 'convert', 'merge', 'ls', 'cat', 'inventory', 'diff', 'rules', 'explain', 'doctor']) {
      const r = await run([command, '--help'], { env: {} });
      expect([command, r.exitCode]).toEqual([command, 0]);
      expect([command, r.stdout]).toEqual([command, expect.stringContaining('Examples:')]);
      for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(110);
    }
    const scan = (await run(['scan', '--help'], { env: {} })).stdout.replace(/\s+/g, ' ');
    // Long descriptions come out whole once the layout's line breaks are undone: no word was cut in two.
    for (const d of [
      'most bytes decompressing one image may write to the temp dir, e.g. 8G (default: 80% of its free space)',
      'exit 1 when a finding is at or above this severity (default: error, or the config)',
      'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
    ]) {
      expect(scan).toContain(d);
    }
  });
});

describe('hostleak completion', () => {
  it('prints a bash completion script whose completions come from hostleak itself', async () => {
    const script = hostleak(['completion']);
    expect(script.status).toBe(0);
    expect(script.stdout).toContain('complete -o bashdefault -o default -F _hostleak_yargs_completions hostleak');
    expect(script.stdout).toContain('hostleak --get-yargs-completions');
    const commands = hostleak(['--get-yargs-completions', 'hostleak', 'sc']);
    expect(commands.status).toBe(0);
    expect(commands.stdout.split('\n')).toContain('scan');
    const formats = hostleak(['--get-yargs-completions', 'hostleak', 'scan', '--format', '']);
    expect(formats.stdout.split('\n')).toEqual(expect.arrayContaining(['sarif', 'github', 'markdown']));
  });
});

describe('rules --format json', () => {
  it('lists every rule with its metadata and security-severity', async () => {
    const r = await run(['rules', '--format', 'json'], { env: {}, cwd: REPO });
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.version).toBe(1);
    expect(doc.rules.map((x: { id: string }) => x.id).sort()).toEqual(builtinRules.map((x) => x.meta.id).sort());
    for (const x of doc.rules) {
      expect(x).toMatchObject({ enabled: true, source: 'builtin', helpUri: expect.stringContaining(`/docs/rules/${x.id}.md`) });
      expect(x.securitySeverity).toBeGreaterThan(0);
      expect(x.description.length).toBeGreaterThan(0);
    }
  });
});

describe('colour', () => {
  const leaky = ['scan', path.join(SAMPLES, 'leaky'), ...HOST];
  it.each([
    ['a colour terminal', {}, true, true],
    ['TERM=dumb', { TERM: 'dumb' }, true, false],
    ['NO_COLOR=1', { NO_COLOR: '1' }, true, false],
    ['FORCE_COLOR=0', { FORCE_COLOR: '0' }, true, false],
    ['FORCE_COLOR=false', { FORCE_COLOR: 'false' }, true, false],
    ['FORCE_COLOR=1 into a pipe', { FORCE_COLOR: '1' }, false, true],
    ['FORCE_COLOR=1 on TERM=dumb', { FORCE_COLOR: '1', TERM: 'dumb' }, false, true],
  ])('%s', async (_what, env, tty, coloured) => {
    const r = await run(leaky, { env: env as NodeJS.ProcessEnv, color: tty, cwd: REPO });
    expect(r.exitCode).toBe(1);
    expect(r.stdout.includes(ESC)).toBe(coloured);
  });

  it('--no-color wins over FORCE_COLOR, and the real binary on a pipe has none', async () => {
    const r = await run([...leaky, '--no-color'], { env: { FORCE_COLOR: '1' }, color: true, cwd: REPO });
    expect(r.stdout).not.toContain(ESC);
    expect(hostleak(leaky).stdout).not.toContain(ESC);
  });
});
