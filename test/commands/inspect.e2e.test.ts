/** ls, cat, inventory and diff through the built CLI on the sample trees. */
import path from 'node:path';
import type { DiffReport } from '../../src/commands/diff.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { planted } from '../helpers/planted.js';

const leaky = path.join(SAMPLES, 'leaky');
const clean = path.join(SAMPLES, 'clean');

describe('hostleak ls', () => {
  it('shows owners by name from the image: alice owns her home, root owns the builder home', () => {
    const r = hostleak(['ls', leaky, '/home', '-l']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^drwx------ alice\s+users\s+4096 \S+ alice$/);
    expect(lines[1]).toMatch(/^drwxr-xr-x root\s+root\s+4096 \S+ bob$/);
  });

  it('shows numbers for owners without an account, and whether links resolve', () => {
    const r = hostleak(['ls', leaky, '/home/bob/.nix-defexpr', '-l']);
    expect(r.stdout).toContain('channels -> /tmp/state/profiles/per-user/root/channels  [dangling: /tmp/state does not exist in the image]');
    const root = hostleak(['ls', leaky, '/root/.nix-defexpr', '-l']).stdout;
    expect(root).toContain('channels -> /nix/var/nix/profiles/per-user/root/channels\n');
    expect(root).not.toContain('dangling');
  });

  it('-R lists the subtree with full paths', () => {
    const r = hostleak(['ls', leaky, '/home/bob', '-R']);
    expect(r.stdout.trim().split('\n')).toEqual(['/home/bob/', '/home/bob/.nix-defexpr/', '/home/bob/.nix-defexpr/channels']);
    // The root is '/', not '//'.
    expect(hostleak(['ls', leaky, '-R']).stdout.split('\n').slice(0, 3)).toEqual(['/', '/bin/', '/bin/sh']);
  });

  it('a path that is not in the image exits 2 with a reason', () => {
    const r = hostleak(['ls', leaky, '/nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('hostleak: /nope: not in the image (/nope does not exist in the image)\n');
  });
});

describe('hostleak cat', () => {
  it('prints the fstab stored in /nix/store through /etc/fstab -> /etc/static/fstab', () => {
    const r = hostleak(['cat', leaky, '/etc/fstab']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('/dev/disk/by-partlabel/disk-main-ESP /boot vfat');
  });

  it('refuses directories, dangling links, and never reads the host', () => {
    expect(hostleak(['cat', leaky, '/etc'])).toMatchObject({ status: 2, stdout: '' });
    const r = hostleak(['cat', leaky, '/home/bob/.nix-defexpr/channels']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('does not resolve inside the image');
  });

  it('--verbose prints the phase timing and backend', () => {
    const r = hostleak(['cat', leaky, '/etc/passwd', '--verbose']);
    expect(r.stderr).toMatch(/hostleak: phase open: \d+ ms \(dir backend\)/);
  });
});

describe('hostleak inventory', () => {
  it('jsonl: one entry per line, every entry once', () => {
    const r = hostleak(['inventory', leaky]);
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; mode: string; uid: number });
    const paths = rows.map((x) => x.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(rows.find((x) => x.path === '/home/alice')).toMatchObject({ type: 'dir', mode: '0700', uid: 1000 });
    expect(rows.find((x) => x.path === '/tmp')).toMatchObject({ mode: '1777' });
  });

  it('csv: a header and quoted fields', () => {
    const r = hostleak(['inventory', leaky, '--format', 'csv']);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('path,type,mode,uid,gid,size,mtime,target,filesystem');
    expect(lines).toContain('/home/bob,dir,0755,0,0,4096,2023-11-14T22:13:20Z,,dir');
  });
});

describe('hostleak diff', () => {
  it('clean -> leaky: exactly the planted leaks are added, their findings are new, exit 1', () => {
    const r = hostleak(['diff', clean, leaky, '--format', 'json']);
    expect(r.status).toBe(1);
    const d = json<DiffReport>(r);
    const want = planted();
    expect(d.added.map((e) => e.path)).toEqual(want.added);
    expect(d.removed.map((e) => e.path)).toEqual(want.removed);
    expect(d.changed.map((e) => e.path)).toEqual(want.changed);
    expect(d.added.map((e) => e.path)).toEqual(expect.arrayContaining(['/home/bob', '/home/bob/.nix-defexpr/channels']));
    const seeds = d.findings.new.filter((f) => f.path.startsWith('/home/bob')).map((f) => f.ruleId);
    expect(seeds).toEqual(expect.arrayContaining(['dangling-channel-symlink', 'orphaned-home', 'root-owned-nix-defexpr']));
    // Every finding of the leaky tree is new: the clean one has none at warning or above.
    const leakyFindings = json<{ targets: Array<{ findings: unknown[] }> }>(hostleak(['scan', leaky, '--format', 'json'])).targets[0]!.findings;
    expect(d.findings.new).toHaveLength(leakyFindings.length);
    expect(d.findings.fixed.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('leaky -> clean: the leaks are removed and their findings fixed, exit 0', () => {
    const r = hostleak(['diff', leaky, clean]);
    expect(r.status).toBe(0);
    const want = planted();
    expect(r.stdout).toContain(`Removed (${want.added.length} entries)`);
    expect(r.stdout).toMatch(/Fixed findings \(\d+\)/);
    expect(r.stdout.trimEnd().split('\n').pop()).toMatch(
      new RegExp(`^${want.removed.length} added, ${want.added.length} removed, ${want.changed.length} changed; 0 new findings, \\d+ fixed$`),
    );
  });

  it('a missing side exits 3', () => {
    expect(hostleak(['diff', clean, '/nonexistent']).status).toBe(3);
  });
});
