/**
 * Images inside images: audited as roots of their own by default (in place when the backend maps files, native ext4;
 * copied out otherwise, a tar root tree), images inside those too; with --no-nested named as not audited
 * (nested-image, warning). One that cannot be opened, sits too deep or passes the target's write cap makes the target
 * partial (exit 3), never clean.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('mke2fs', 'mksquashfs');

const INNER = '/var/lib/machines/inner.img';
let tmp: string;
let outerImg: string;
let outerTar: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-nested-'));
  const outer = path.join(tmp, 'outer');
  mkdirSync(path.join(outer, 'etc'), { recursive: true });
  mkdirSync(path.join(outer, 'var/lib/machines'), { recursive: true });
  writeFileSync(path.join(outer, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(outer, 'etc/group'), 'root:x:0:\n');
  writeFileSync(path.join(outer, 'etc/fstab'), '');
  // The leaky sample tree as an ext4 filesystem image stored inside the outer filesystem.
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', path.join(SAMPLES, 'leaky'), path.join(outer, INNER), '16M']);
  outerImg = path.join(tmp, 'outer.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', outer, outerImg, '48M']);
  outerTar = path.join(tmp, 'outer.tar');
  execFileSync('tar', ['--numeric-owner', '-C', outer, '-cf', outerTar, '.']);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const HOST = ['--host-user', 'nobody-here', '--host-name', 'no-such-host', '--host-home', '/nonexistent'];
const scan = (target: string, extra: string[] = []) => {
  const r = hostleak(['scan', target, '--format', 'json', ...HOST, ...extra]);
  return { r, t: json<Report>(r).targets[0]! };
};

describe('a filesystem image inside an image', () => {
  it('with --no-nested it is named as not audited (warning), never silently skipped', () => {
    const { r, t } = scan(outerImg, ['--no-nested']);
    expect(r.status).toBe(0);
    expect(t.findings.map((f) => [f.ruleId, f.path, f.severity])).toContainEqual(['nested-image', INNER, 'warning']);
    expect(t.findings.some((f) => f.path.startsWith(`${INNER}:`))).toBe(false);
    // --fail-on warning makes the unaudited image fail the gate.
    expect(scan(outerImg, ['--no-nested', '--fail-on', 'warning']).r.status).toBe(1);
  });

  for (const [name, target, flags] of [
    ['mapped in place (native ext4), by default', () => outerImg, []],
    ['copied out of a tar root tree, by default', () => outerTar, []],
    ['with --nested (the old flag)', () => outerImg, ['--nested']],
  ] as const) {
    it(`audits it as its own root: ${name}`, () => {
      const { r, t } = scan(target(), [...flags]);
      expect(r.status).toBe(1);
      expect(t.status).toBe('ok');
      const at = (id: string) => t.findings.filter((f) => f.ruleId === id).map((f) => f.path);
      expect(at('orphaned-home')).toContain(`${INNER}:/home/bob`);
      expect(at('root-owned-nix-defexpr')).toContain(`${INNER}:/home/bob/.nix-defexpr`);
      expect(at('dangling-channel-symlink')).toContain(`${INNER}:/home/bob/.nix-defexpr/channels`);
      // Audited now, so no longer reported as not audited.
      expect(at('nested-image')).not.toContain(INNER);
    });
  }
});

describe('what cannot be audited inside an image is never clean', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp, 'more');
    mkdirSync(dir);
  });

  /** A root tree holding `files` (path -> host file to copy in), as a tar. */
  const tarWith = (name: string, files: Record<string, string>) => {
    const root = path.join(dir, `${name}-tree`);
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    for (const [p, from] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      execFileSync('cp', [from, path.join(root, p)]);
    }
    const out = path.join(dir, `${name}.tar`);
    execFileSync('tar', ['--numeric-owner', '-C', root, '-cf', out, '.']);
    return out;
  };

  it('an image inside a nested image is audited too (findings read OUTER:INNER:/path)', () => {
    // outer.img (with the leaky tree inside) inside a tar: two levels.
    const target = tarWith('two-levels', { 'srv/outer.img': outerImg });
    const { r, t } = scan(target);
    expect(r.status).toBe(1);
    expect(t.status).toBe('ok');
    expect(t.findings.filter((f) => f.ruleId === 'orphaned-home').map((f) => f.path)).toContain(`/srv/outer.img:${INNER}:/home/bob`);
    expect(t.findings.filter((f) => f.ruleId === 'nested-image')).toEqual([]);
  });

  it('an image stored compressed (in an xz squashfs: not mappable in place) is copied out and audited', () => {
    const sq = path.join(dir, 'outer.squashfs');
    execFileSync('mksquashfs', [path.join(tmp, 'outer'), sq, '-comp', 'xz', '-noappend', '-quiet', '-no-progress']);
    const { r, t } = scan(sq);
    expect(r.status).toBe(1);
    expect(t.status).toBe('ok');
    expect(t.findings.filter((f) => f.ruleId === 'orphaned-home').map((f) => f.path)).toContain(`${INNER}:/home/bob`);
  });

  it('a file that looks like an image but cannot be opened makes the target partial (exit 3), named at warning', () => {
    const fake = path.join(dir, 'fake.raw');
    const head = Buffer.alloc(8192);
    head.writeUInt16LE(0xef53, 1024 + 0x38); // an ext superblock magic and nothing else
    writeFileSync(fake, head);
    const { r, t } = scan(tarWith('fake', { 'var/lib/machines/fake.raw': fake }));
    expect(r.status).toBe(3);
    expect(t.status).toBe('partial');
    expect(t.error).toMatch(/var\/lib\/machines\/fake\.raw: nested ext2 filesystem not audited/);
    expect(t.findings.map((f) => [f.ruleId, f.path, f.severity])).toContainEqual(['nested-image', '/var/lib/machines/fake.raw', 'warning']);
  });

  it("copy-outs count against the target's --max-decompressed: past it the target is partial", () => {
    const { r, t } = scan(outerTar, ['--max-decompressed', '1M']);
    expect(r.status).toBe(3);
    expect(t.status).toBe('partial');
    expect(t.error).toMatch(/nested ext4 filesystem not audited: \d+ bytes to copy out pass the \d+ bytes left of the limit on the temp directory \(--max-decompressed\)/);
  });
});
