/**
 * What a new user meets when something is missing or mistyped: every message says what happened and what to type
 * instead, on one line, with exit 2 (usage) or 3 (this machine cannot audit), never yargs' or libguestfs' own words.
 * Shell completion is tried in the real shells.
 */
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { builtinRules } from '../rules/index.js';
import { BIN, hostleak, REPO } from './helpers/cli.js';
import { describeWithTools } from './helpers/tools.js';

const SAMPLE = path.join(REPO, 'images-sample/leaky.raw.gz');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-messages-'));

/** stderr as one string, and the exit status. */
function fails(args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmp): { status: number | null; stderr: string } {
  const r = hostleak(args, { env, cwd });
  return { status: r.status, stderr: r.stderr };
}

describe('scan without what to audit', () => {
  it('no target: says what a target is', () => {
    const r = fails(['scan']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('name what to audit: hostleak scan TARGET...');
    expect(r.stderr).not.toContain('non-option arguments');
  });

  it('--cache IMG: the image was taken for the cache folder, and the message says so', () => {
    const r = fails(['scan', '--cache', SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`'${SAMPLE}' was taken as the --cache folder`);
    expect(r.stderr).toContain('hostleak scan --cache DIR TARGET...');
  });

  it('--cache IMG OTHER: a file is never used as the cache folder', () => {
    const r = fails(['scan', '--cache', SAMPLE, SAMPLE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is a file, not a folder');
  });

  it('a bare --cache writes nothing into the working folder', () => {
    const cwd = mkdtempSync(path.join(tmp, 'bare-'));
    const r = fails(['scan', SAMPLE, '--cache'], {}, cwd);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--cache takes the folder');
    expect(spawnSync('ls', ['-A', cwd], { encoding: 'utf8' }).stdout).toBe('');
  });
});

describe('the cache key', () => {
  it('when no key file can be made, names HOSTLEAK_CACHE_KEY and --cache-key', () => {
    // HOME is a file: no state directory can be made under it, as for a container user with an unwritable HOME.
    const home = path.join(tmp, 'home-is-a-file');
    writeFileSync(home, '');
    const r = fails(['scan', SAMPLE, '--cache', path.join(tmp, 'cache')], { HOME: home, XDG_STATE_HOME: '' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('HOSTLEAK_CACHE_KEY');
    expect(r.stderr).toContain('--cache-key FILE');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('config files', () => {
  it('a key in another spelling gets the right one suggested', () => {
    const dir = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(dir, 'hostleak.config.yaml'), 'fail-on: warning\n');
    const r = fails(['scan', SAMPLE], {}, dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('fail-on: is not a known field: did you mean failOn?');
  });

  it('a nested misspelling too', () => {
    const dir = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(dir, 'hostleak.config.yaml'), 'host:\n  usr: bob\n');
    expect(fails(['scan', SAMPLE], {}, dir).stderr).toContain('host.usr: is not a known field: did you mean user?');
  });

  it.each([
    ['a trailing comma', '{\n  "failOn": "error",\n}\n', 'line 3, column 1'],
    ['a bare word (where it stops being a JSON literal)', '{\n  "failOn": "error",\n  "rules": nope\n}\n', 'line 3, column 13'],
    ['a missing comma', '{\n  "failOn": "error"\n  "rules": {}\n}\n', 'line 3, column 3'],
    ['the end of the file', '{\n  "failOn": "error",\n', 'line 3, column 1'],
  ])('JSON with %s: the line and column', (_what, text, where) => {
    const dir = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(dir, 'hostleak.config.json'), text);
    const r = fails(['scan', SAMPLE], {}, dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`hostleak.config.json: not valid JSON at ${where}: `);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('without libguestfs', () => {
  // A PATH with a shell and node only: what a machine without libguestfs-tools has.
  const bin = mkdtempSync(path.join(tmp, 'bin-'));
  symlinkSync(process.execPath, path.join(bin, 'node'));
  symlinkSync('/bin/sh', path.join(bin, 'sh'));
  const env = { PATH: bin };

  it('--backend guestfs says how to install guestfish, exit 3', () => {
    const r = fails(['scan', SAMPLE, '--backend', 'guestfs'], env);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('guestfish is not installed: install libguestfs-tools');
    expect(r.stderr).not.toContain('rejected the image');
  });

  it('doctor prints FAIL with the fix and exits non-zero', () => {
    const r = hostleak(['doctor'], { env, cwd: tmp });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/^FAIL {2}libguestfs: guestfish not found\n {6}fix: install libguestfs-tools/m);
    expect(r.stderr).toContain('libguestfs failed');
  });
});

describeWithTools(['bash', 'zsh', 'fish'], 'shell completion', () => {
  // `hostleak` on the PATH, as after `npm install --global`.
  const bin = mkdtempSync(path.join(tmp, 'completion-'));
  writeFileSync(path.join(bin, 'hostleak'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const script = (shell: string) => {
    const r = hostleak(['completion', shell]);
    expect(r.status).toBe(0);
    const file = path.join(bin, `completion.${shell}`);
    writeFileSync(file, r.stdout);
    return file;
  };
  const sh = (shell: string, code: string) => spawnSync(shell, ['-c', code], { env, encoding: 'utf8', cwd: bin }).stdout.split('\n').filter(Boolean);
  const danglingRules = builtinRules.map((r) => r.meta.id).filter((id) => id.startsWith('dangling')).sort();

  it('bash: rule ids after explain, flags without one-letter --v', () => {
    const file = script('bash');
    const complete = (...words: string[]) =>
      sh('bash', `source '${file}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hostleak_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`);
    expect(complete('hostleak', 'explain', 'dang').sort()).toEqual(danglingRules);
    expect(complete('hostleak', 'scan', '--v').sort()).toEqual(['--verbose', '--version']);
    expect(complete('hostleak', 'scan', '--format', 'sa')).toEqual(['sarif']);
  });

  it('zsh: the same, with descriptions under zsh', () => {
    const file = script('zsh');
    // compdef and _describe come from compinit in an interactive shell; here they print what they were given.
    const complete = (...words: string[]) =>
      sh('zsh', `compdef() {}; source '${file}'; _describe() { print -l -- "\${(@P)2}"; }; _files() { print FILES; }; ` +
        `words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; SHELL=/bin/zsh _hostleak`);
    expect(complete('hostleak', 'explain', 'dang').sort()).toEqual(danglingRules);
    const flags = complete('hostleak', 'scan', '--');
    expect(flags).toContain('--verbose:print phases, timings and backend to stderr');
    expect(flags.filter((f) => /^--.(:|$)/.test(f))).toEqual([]);
  });

  it('fish: the same', () => {
    const file = script('fish');
    const complete = (line: string) => sh('fish', `source '${file}'; complete -C '${line}'`).map((l) => l.split('\t')[0]!);
    expect(complete('hostleak explain dang').sort()).toEqual(danglingRules);
    expect(complete('hostleak scan --v').sort()).toEqual(['--verbose', '--version']);
  });

  it('completion picks the shell from $SHELL, and refuses one it does not know', () => {
    expect(hostleak(['completion'], { env: { SHELL: '/usr/bin/fish' } }).stdout).toContain('complete -c hostleak');
    const r = hostleak(['completion', 'tcsh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('completion takes one of bash, zsh, fish');
  });
});
