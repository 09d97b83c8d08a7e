/**
 * Redaction at one chokepoint: a token planted in each place an image can put a string into a report (a tar member
 * name quoted by a partial line, a symlink target, a file name on a finding's path, archive member names that
 * become device names, a filesystem label, a build product's file name that becomes the target name) never reaches
 * any output format, stderr included, whether scanned or converted from a saved report.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { redact } from '../../src/engine/kit/redact.js';
import { FORMATS } from '../../src/reporters/index.js';
import { FAKE_AWS_KEY_ID, FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { cli, scratch, TEST_HOST } from '../helpers/gate.js';
import { requireTool } from '../helpers/tools.js';

requireTool('tar', 'mke2fs', 'xorriso');

const TOKEN = FAKE_GITHUB_TOKEN;
/** Short enough for an ISO 9660 volume id (32 d-characters). */
const LABEL_TOKEN = FAKE_AWS_KEY_ID;
const RAW = [TOKEN, LABEL_TOKEN];

let s: ReturnType<typeof scratch>;
let targets: string[];
/** A saved report with the tokens in the clear (written by hand, or by an older hostleak). */
let rawReport: string;
beforeAll(async () => {
  s = scratch('hl-redaction-');
  const tree = path.join(s.dir, 'tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'home', 'bob', '.nix-defexpr'), { recursive: true });
  mkdirSync(path.join(tree, 'home', 'bob', TOKEN));
  writeFileSync(path.join(tree, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  // A symlink target (dangling-channel-symlink quotes it) and a file name (shell-history names it).
  symlinkSync(`/tmp/${TOKEN}/chan`, path.join(tree, 'home', 'bob', '.nix-defexpr', 'channels'));
  writeFileSync(path.join(tree, 'home', 'bob', TOKEN, '.bash_history'), 'ls\n');
  writeFileSync(path.join(tree, 'etc', 'orig'), 'x\n');
  linkSync(path.join(tree, 'etc', 'orig'), path.join(tree, 'etc', `${TOKEN}-copy`));
  // A tar member named with the token whose hard link target is deleted: the partial line names the member.
  const rootTar = path.join(s.dir, 'root.tar');
  execFileSync('tar', ['-cf', rootTar, '-C', tree, './etc/passwd', './etc/orig', `./etc/${TOKEN}-copy`, './home']);
  execFileSync('tar', ['--delete', '-f', rootTar, './etc/orig']);
  // Images as archive members named with the token (their filesystems' devices are named after them), one of them
  // an ISO whose volume id is a token (the filesystem label).
  const pack = path.join(s.dir, 'pack');
  mkdirSync(pack);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, path.join(pack, `a-${TOKEN}.img`), '4M'], { stdio: 'ignore' });
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', LABEL_TOKEN, '-R', '-o', path.join(pack, 'b.iso'), tree], { stdio: 'ignore' });
  const imagesTar = path.join(s.dir, 'images.tar');
  execFileSync('tar', ['-cf', imagesTar, '-C', pack, '.']);
  // A folder of build products: the product's file name becomes a target name.
  const result = path.join(s.dir, 'result');
  mkdirSync(result);
  cpSync(path.join(pack, `a-${TOKEN}.img`), path.join(result, `disk-${TOKEN}.img`));
  targets = [rootTar, imagesTar, result];
  const r = await cli(['scan', ...targets, '--format', 'json', ...TEST_HOST]);
  rawReport = path.join(s.dir, 'raw.json');
  writeFileSync(rawReport, r.stdout.split(redact(TOKEN)).join(TOKEN).split(redact(LABEL_TOKEN)).join(LABEL_TOKEN));
});
afterAll(() => s.cleanup());

const leaks = (text: string) => RAW.filter((t) => text.includes(t));

describe('a token planted in every image-derived string', () => {
  it('reaches the report redacted, in each place it was planted', async () => {
    const r = await cli(['scan', ...targets, '--format', 'json', ...TEST_HOST]);
    expect(r.exitCode).toBe(3);
    type T = { target: string; status: string; error: string | null; filesystems: Array<{ device: string; label: string | null }>; findings: Array<{ path: string; message: string; filesystem: string | null }> };
    const report = JSON.parse(r.stdout) as { targets: T[] };
    const red = redact(TOKEN);
    const [root, images, product] = report.targets as [T, T, T];
    // Found, and redacted, where each was planted (so the greps below test something).
    expect(root.status).toBe('partial');
    expect(root.error).toContain(`./etc/${red}-copy: hard link`);
    expect(root.findings.map((f) => f.path)).toContain(`/home/bob/${red}/.bash_history`);
    expect(root.findings.map((f) => f.message).join('\n')).toContain(`/tmp/${red}/chan`);
    expect(images.filesystems.map((f) => f.device)).toContain(`a-${red}.img:/dev/sda`);
    expect(images.findings.map((f) => f.path)).toContain(`a-${red}.img:/dev/sda:/home/bob`);
    expect(images.filesystems.map((f) => f.label)).toContain(redact(LABEL_TOKEN));
    expect(product.target).toBe(path.join(s.dir, 'result', `disk-${red}.img`));
  });

  it.each(FORMATS.map((f) => [f]))('never reaches the %s output or stderr (with --verbose)', async (format) => {
    const r = await cli(['scan', ...targets, '--format', format, '--verbose', ...TEST_HOST]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect({ stdout: leaks(r.stdout), stderr: leaks(r.stderr) }).toEqual({ stdout: [], stderr: [] });
  });

  it.each(FORMATS.map((f) => [f]))('never reaches %s through convert of a saved report that holds it raw', async (format) => {
    const saved = rawReport;
    expect(leaks(readFileSync(saved, 'utf8'))).toEqual(RAW);
    for (const command of ['convert', 'merge']) {
      const r = await cli([command, saved, '--format', format]);
      // merge gives the exit code of the merged report (a partial target in it: 3), convert always 0.
      expect({ command, exitCode: r.exitCode }).toEqual({ command, exitCode: command === 'merge' ? 3 : 0 });
      expect({ command, stdout: leaks(r.stdout), stderr: leaks(r.stderr) }).toEqual({ command, stdout: [], stderr: [] });
    }
  });
});
