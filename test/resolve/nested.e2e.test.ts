/**
 * Images inside images: named as not audited by default (nested-image, info), audited as roots of their own with
 * --nested, in place when the backend maps files (native ext4) and copied out otherwise (a tar root tree).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('mke2fs');

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
  it('without --nested it is named as not audited (info), never silently skipped', () => {
    const { r, t } = scan(outerImg);
    expect(r.status).toBe(0);
    expect(t.findings.map((f) => [f.ruleId, f.path, f.severity])).toContainEqual(['nested-image', INNER, 'info']);
    expect(t.findings.some((f) => f.path.startsWith(`${INNER}:`))).toBe(false);
  });

  for (const [name, target] of [
    ['mapped in place (native ext4)', () => outerImg],
    ['copied out of a tar root tree', () => outerTar],
  ] as const) {
    it(`--nested audits it as its own root: ${name}`, () => {
      const { r, t } = scan(target(), ['--nested']);
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
