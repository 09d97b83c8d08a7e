/**
 * Container layers: whiteouts and opaque folders applied like a runtime, deleted files kept for the secret rules,
 * hostile member names kept inside the root, and every damaged layout a one-line TargetError (exit 3).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TargetError } from '../../src/errors.js';
import { dirBlobs, openContainer } from '../../src/resolve/container.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import type { Report } from '../../src/types.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-layers-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A layer tar of `files` (path -> content, or `-> target` for a symlink), made by GNU tar; `extra` tar flags. */
function layer(name: string, files: Record<string, string>, extra: string[] = [], members?: string[]): Buffer {
  const dir = path.join(tmp, `stage-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    if (c.startsWith('-> ')) symlinkSync(c.slice(3), path.join(dir, p));
    else writeFileSync(path.join(dir, p), c);
  }
  const out = path.join(tmp, `${name}.tar`);
  execFileSync('tar', ['--sort=name', '--format=gnu', ...extra, '-C', dir, '-cf', out, ...(members ?? ['.'])]);
  return readFileSync(out);
}

/** A docker-archive folder (manifest.json, config with diff_ids, <n>/layer.tar). */
function dockerArchive(name: string, layers: Buffer[], tweak: (cfg: { rootfs: { diff_ids: string[] } }) => void = () => {}): string {
  const dir = path.join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const cfg = { rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${createHash('sha256').update(l).digest('hex')}`) }, config: {} };
  tweak(cfg);
  layers.forEach((l, i) => {
    mkdirSync(path.join(dir, String(i)));
    writeFileSync(path.join(dir, String(i), 'layer.tar'), l);
  });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', Layers: layers.map((_, i) => `${i}/layer.tar`) }]));
  return dir;
}

const open = (dir: string) => openContainer(dirBlobs(dir), 'docker-archive', {});

describe('OCI layout folders', () => {
  it('a blobs folder that is a symlink out of the layout is refused', async () => {
    const outside = path.join(tmp, 'outside-blobs');
    cpSync(path.join(SAMPLES, 'leaky-oci', 'blobs'), outside, { recursive: true });
    const dir = path.join(tmp, 'oci-link');
    mkdirSync(dir);
    for (const f of ['oci-layout', 'index.json']) cpSync(path.join(SAMPLES, 'leaky-oci', f), path.join(dir, f));
    symlinkSync(outside, path.join(dir, 'blobs'));
    await expect(openContainer(dirBlobs(dir), 'oci-layout', {})).rejects.toThrow(/symlinked folder is not followed/);
  });
});

describe('layers', () => {
  it('whiteouts delete, opaque whiteouts hide lower folders, and the deleted files ship in their layer', async () => {
    const l1 = layer('l1', { 'a/x': 'x1\n', 'a/y': 'y1\n', 'd/keep': 'k\n', 'd/old': 'o\n', 'f': 'first\n' });
    const l2 = layer('l2', { 'a/.wh.x': '', 'd/.wh..wh..opq': '', 'd/new': 'n\n', 'f': 'second\n' });
    const image = await open(dockerArchive('wh', [l1, l2]));
    const [root, shadow] = image.roots;
    const files = root!.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path);
    expect(files).toEqual(['/a/y', '/d/new', '/f']);
    const got = await root!.readFiles(['/f', '/d/new'], 100);
    expect((got.get('/f') as { data: Buffer }).data.toString()).toBe('second\n');
    // Layer 1 still holds what layer 2 deleted or replaced; only the secret rules look at it.
    expect(shadow!.prefix).toBe(image.filesystems[0]!.device);
    expect(shadow!.ruleTags).toEqual(['secret']);
    expect(shadow!.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['/a/x', '/d/keep', '/d/old', '/f']);
    const old = await shadow!.readFiles(['/a/x', '/f'], 100);
    expect((old.get('/a/x') as { data: Buffer }).data.toString()).toBe('x1\n');
    expect((old.get('/f') as { data: Buffer }).data.toString()).toBe('first\n');
  });

  it('a whiteout or a duplicate in the same layer hides a file that still ships: audited as shipped but hidden', async () => {
    const token = `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`;
    // GNU tar sorts root/.env before root/.wh..env: the whiteout deletes a file of its own layer.
    const l1 = layer('same1', { 'etc/hostname': 'box\n', 'root/.env': token, 'root/.wh..env': '', 'srv/app.env': token });
    // The same layer again with srv/app.env appended (tar -r): a second member of that name replaces the first.
    const stage = path.join(tmp, 'stage-same1-dup');
    mkdirSync(path.join(stage, 'srv'), { recursive: true });
    writeFileSync(path.join(stage, 'srv/app.env'), 'PORT=80\n');
    const file = path.join(tmp, 'same1.tar');
    writeFileSync(file, l1);
    execFileSync('tar', ['--format=gnu', '-C', stage, '-rf', file, './srv/app.env']);
    const dup = readFileSync(file);
    const dir = dockerArchive('same-layer', [dup]);
    const image = await open(dir);
    const [root, hidden] = image.roots;
    expect(root!.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['/etc/hostname', '/srv/app.env']);
    expect(hidden!.ruleTags).toEqual(['secret']);
    expect(hidden!.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['/root/.env', '/srv/app.env']);
    const got = await hidden!.readFiles(['/root/.env', '/srv/app.env'], 100);
    expect((got.get('/root/.env') as { data: Buffer }).data.toString()).toBe(token);
    expect((got.get('/srv/app.env') as { data: Buffer }).data.toString()).toBe(token);
    // Where GNU tar says each member is.
    const blocks = execFileSync('tar', ['-tvRf', file], { encoding: 'utf8' });
    const at = (name: string) => [...blocks.matchAll(new RegExp(`^block (\\d+): .* \\./${name.replace(/\./g, '\\.')}$`, 'gm'))].map((m) => Number(m[1]) * 512);
    const layerName = `layer 1 (${image.filesystems[0]!.device})`;
    expect(hidden!.noteOf!('/root/.env')).toBe(
      `shipped but hidden: member at byte ${at('root/.env')[0]} of ${layerName}, deleted by a whiteout at byte ${at('root/.wh..env')[0]} of ${layerName}`,
    );
    expect([at('root/.env').length, at('root/.wh..env').length, at('srv/app.env').length]).toEqual([1, 1, 2]);
    const [first, second] = at('srv/app.env');
    expect(hidden!.noteOf!('/srv/app.env')).toBe(
      `shipped but hidden: member at byte ${first} of ${layerName}, replaced by a file of the same name at byte ${second} of ${layerName}`,
    );
    const r = hostleak(['scan', '--format', 'json', dir]);
    expect(r.status).toBe(1);
    const paths = json<Report>(r).targets[0]!.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path);
    expect(paths).toEqual([`${image.filesystems[0]!.device}:/root/.env`, `${image.filesystems[0]!.device}:/srv/app.env`]);
  });

  it('member names through symlinks, `../` and `/` stay inside the image root', async () => {
    const l1 = layer('h1', { evil: '-> /', up: '-> ../../..', 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
    const l2 = layer('h2', { 'x/shadow': 'root:!:1::::::\n', 'y/z': 'z\n' }, ['-P', '--transform=s,^x/,evil/etc/,', '--transform=s,^y/,up/../../abs/,'], ['x/shadow', 'y/z']);
    const image = await open(dockerArchive('hostile', [l1, l2]));
    const paths = image.roots[0]!.inventory.entries().map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/etc/passwd', '/etc/shadow', '/abs/z']));
    expect(paths.every((p) => p.startsWith('/') && !p.split('/').includes('..'))).toBe(true);
  });

  it('a truncated layer, a missing layer and a layer that does not match its diff_id are TargetErrors', async () => {
    const l1 = layer('t1', { 'etc/hostname': 'box\n', 'etc/big': 'A'.repeat(50_000) });
    const cut = dockerArchive('cut', [l1.subarray(0, 20_000)], (c) => (c.rootfs.diff_ids = [`sha256:${createHash('sha256').update(l1.subarray(0, 20_000)).digest('hex')}`]));
    await expect(open(cut)).rejects.toThrow(TargetError);
    await expect(open(cut)).rejects.toThrow(/layer 1 .*truncated tar archive/);
    const wrong = dockerArchive('wrong', [l1], (c) => (c.rootfs.diff_ids = [`sha256:${'0'.repeat(64)}`]));
    await expect(open(wrong)).rejects.toThrow(/diff_id digest mismatch/);
    const missing = dockerArchive('missing', [l1]);
    rmSync(path.join(missing, '0', 'layer.tar'));
    await expect(open(missing)).rejects.toThrow(/layer 1 \(0\/layer.tar\) is missing/);
    const counts = dockerArchive('counts', [l1], (c) => c.rootfs.diff_ids.push(c.rootfs.diff_ids[0]!));
    await expect(open(counts)).rejects.toThrow(/lists 2 layer digests but manifest.json lists 1/);
  });
});
