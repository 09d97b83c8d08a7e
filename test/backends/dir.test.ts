/** The dir backend must never leave the tree: symlinks to host files are dangling, and their content never shows. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dirBackend } from '../../src/backends/dir.js';
import { createImageFs } from '../../src/engine/runtime/imagefs.js';
import { hostleak } from '../helpers/cli.js';

const MARKER = `HOST-ONLY-SECRET-${process.pid}-${Date.now()}`;
let base: string;
let tree: string;
let hostFile: string;

beforeAll(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'hostleak-dir-'));
  tree = path.join(base, 'tree');
  hostFile = path.join(base, 'host-passwd');
  // A passwd-shaped file that exists only on the host, outside the tree.
  writeFileSync(hostFile, `bob:x:1000:100:${MARKER}:/home/bob:/bin/sh\n`);
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'home/bob/.nix-defexpr'), { recursive: true });
  symlinkSync(hostFile, path.join(tree, 'etc/passwd')); // absolute: means <tree>/<hostFile> in the image
  symlinkSync('../../../../../../../../' + hostFile, path.join(tree, 'etc/group')); // .. escape
  symlinkSync(hostFile, path.join(tree, 'home/bob/.nix-defexpr/channels'));
  symlinkSync(path.dirname(hostFile), path.join(tree, 'hostdir'));
  symlinkSync(hostFile, path.join(tree, 'hostfile')); // a link at the top of the tree
  writeFileSync(path.join(tree, '.env'), 'APP_ENV=production\n'); // a file at the top of the tree
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('dir backend on a tree with links to host-only files', () => {
  it('lists links without following them and resolves them as dangling', async () => {
    const img = await dirBackend.open(tree, {});
    const root = img.roots[0]!;
    expect(root.inventory.get('/etc/passwd')).toMatchObject({ type: 'symlink', target: hostFile });
    expect(root.inventory.resolve('/etc/passwd')).toMatchObject({ ok: false, reason: 'missing' });
    expect(root.inventory.resolve('/etc/group')).toMatchObject({ ok: false, reason: 'missing' });
    expect(root.inventory.get('/hostdir')?.type).toBe('symlink');
    // Nothing below the host directory was listed through the link.
    expect([...root.inventory.walk('/')].some((e) => e.path.includes('host-passwd'))).toBe(false);
    const fs = createImageFs(root);
    expect(await fs.readText('/etc/passwd')).toBeNull();
    expect(await fs.readText('/hostdir/host-passwd')).toBeNull();
  });

  it('refuses to read through a symlinked component even if asked directly', async () => {
    const img = await dirBackend.open(tree, {});
    const res = await img.roots[0]!.readFiles(['/hostdir/host-passwd', '/etc/passwd'], 1024);
    // Errors (from another realm under jest), never content: the linked directory is refused before any open, the
    // linked file by the kernel (O_NOFOLLOW).
    expect((res.get('/hostdir/host-passwd') as Error).message).toBe('refusing to read /hostdir/host-passwd: a component is not a plain directory');
    expect((res.get('/etc/passwd') as NodeJS.ErrnoException).code).toBe('ELOOP');
  });

  it('reads a file at the top of the tree, and still refuses a link there', async () => {
    const img = await dirBackend.open(tree, {});
    const res = await img.roots[0]!.readFiles(['/.env', '/hostfile'], 1024);
    const env = res.get('/.env')!;
    expect('data' in env && env.data.toString()).toBe('APP_ENV=production\n');
    expect((res.get('/hostfile') as NodeJS.ErrnoException).code).toBe('ELOOP');
  });

  it('the host file content appears in no output format', () => {
    for (const format of ['text', 'json']) {
      const r = hostleak(['scan', tree, '--format', format, '--verbose']);
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).not.toContain(MARKER);
    }
    const r = hostleak(['scan', tree, '--format', 'json']);
    const findings = JSON.parse(r.stdout).targets[0].findings as Array<{ ruleId: string; severity: string }>;
    // passwd does not resolve inside the image, so homes cannot be judged: one info finding, not a flag per home.
    expect(findings.filter((f) => f.ruleId === 'orphaned-home').map((f) => f.severity)).toEqual(['info']);
    expect(findings.some((f) => f.ruleId === 'dangling-channel-symlink')).toBe(true);
  });
});

describe('dir backend on names fast-glob would not list', () => {
  const TOKEN = `ghp_${'a1B2c3D4e5F6g7H8i9J0'.repeat(2).slice(0, 36)}`;
  let hostile: string;
  beforeAll(() => {
    hostile = path.join(base, 'names');
    // A folder with a newline in its name, glob metacharacters, and a name that is not UTF-8: each holds a token.
    mkdirSync(path.join(hostile, 'etc', 'd\nx'), { recursive: true });
    writeFileSync(path.join(hostile, 'etc', 'd\nx', '.git-credentials'), `https://ci:${TOKEN}@github.com\n`);
    writeFileSync(path.join(hostile, 'etc', '[*]{a,b}!'), `GITHUB_TOKEN=${TOKEN}\n`);
    writeFileSync(Buffer.from(path.join(hostile, 'etc', 'tok-\xfe\xff'), 'latin1'), `GITHUB_TOKEN=${TOKEN}\n`);
  });

  it('lists every name the kernel lists, and reads the one that is not UTF-8', async () => {
    const img = await dirBackend.open(hostile, {});
    const root = img.roots[0]!;
    const names = [...root.inventory.walk('/')].map((e) => e.path).filter((p) => p !== '/').sort();
    // What find(1) lists below the tree, one NUL-ended name each.
    const found = execFileSync('find', [hostile, '-mindepth', '1', '-print0']).toString('latin1').split('\0').filter(Boolean);
    expect(names.length).toBe(found.length);
    expect(names).toEqual(['/etc', '/etc/[*]{a,b}!', '/etc/d\nx', '/etc/d\nx/.git-credentials', '/etc/tok-\ufffd\ufffd']);
    const got = (await root.readFiles(['/etc/tok-\ufffd\ufffd'], 1024)).get('/etc/tok-\ufffd\ufffd')!;
    expect('data' in got && got.data.toString()).toBe(`GITHUB_TOKEN=${TOKEN}\n`);
    expect(img.problems).toEqual([]);
  });

  it('finds the token in each of them', () => {
    const r = hostleak(['scan', hostile, '--format', 'json']);
    expect(r.status).toBe(1);
    const findings = JSON.parse(r.stdout).targets[0].findings as Array<{ ruleId: string; path: string; severity: string }>;
    const tokens = findings.filter((f) => f.severity === 'error').map((f) => f.path).sort();
    expect(tokens).toEqual(['/etc/[*]{a,b}!', '/etc/d\nx/.git-credentials', '/etc/tok-\ufffd\ufffd']);
    expect(r.stdout).not.toContain(TOKEN);
  });
});

