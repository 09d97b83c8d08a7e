/**
 * The host boundary (src/resolve/boundary.ts): every path a target names stays inside it, and --allow-backing-file
 * never reaches an image found inside one. Each entry point is tried: hydra-build-products lines (through a symlinked
 * folder, a store path, a host path), a product link out of a result folder, a folder's contents, a product link into
 * the store (allowed), an OCI layout blob, an archive member and a nested image. No byte of the host disk may reach
 * any output.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireTools } from '../helpers/tools.js';
import { SAMPLES } from '../helpers/cli.js';
import { hostileCases, record, runMeasured, type Measured } from './harness.js';

requireTools('mke2fs', 'qemu-img', 'tar', '/usr/bin/time');

// @ts-expect-error plain ESM builder script without types
const { HOST_MARKER } = (await import('../../images-sample/hostile.mjs')) as { HOST_MARKER: string };

const cases = hostileCases(['result-symlinked-folder', 'result-link-out', 'result-missing-host', 'tar-vmdk-descriptor', 'nested-vmdk-descriptor']);

function noHostByte(m: Measured): void {
  expect(m.stdout).not.toContain(HOST_MARKER);
  expect(m.stderr).not.toContain(HOST_MARKER);
  expect(m.leftovers).toEqual([]);
}

describe('host boundary', () => {
  it('a result folder never leads to a host file: symlinked folder, store path, host path, link out', () => {
    for (const name of ['result-symlinked-folder', 'result-link-out']) {
      for (const format of ['json', 'text']) {
        const m = record(`${name} ${format}`, runMeasured(['scan', cases[name]!.file, '--format', format, '--verbose']));
        noHostByte(m);
        expect(m.status).toBe(3);
        expect(m.stdout + m.stderr).toMatch(/neither a root tree/);
        expect(m.stdout + m.stderr).not.toMatch(/host-secret\.raw.*(ext2|filesystem)/);
      }
    }
  });

  it('what a hydra line says reads the same whether the host path exists or not', () => {
    const strip = (m: Measured, file: string) => (m.stdout + m.stderr).split(file).join('RESULT').replace(/"(durationMs|startedAt|auditedAt)": ("[^"]*"|\d+)/g, '');
    const exists = runMeasured(['scan', cases['result-symlinked-folder']!.file, '--format', 'json']);
    const missing = runMeasured(['scan', cases['result-missing-host']!.file, '--format', 'json']);
    expect(exists.status).toBe(3);
    expect(strip(exists, cases['result-symlinked-folder']!.file)).toBe(strip(missing, cases['result-missing-host']!.file));
  });

  it('a product linked into the Nix store is audited when the result is itself in the store', () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'hl-store-'));
    try {
      const image = path.join(store, '0000000000000000000000000000000b-image');
      const out = path.join(store, '0000000000000000000000000000000c-result');
      mkdirSync(image);
      mkdirSync(path.join(out, 'nix-support'), { recursive: true });
      copyFileSync(path.join(SAMPLES, 'leaky.raw'), path.join(image, 'disk.raw'));
      symlinkSync(path.join(image, 'disk.raw'), path.join(out, 'disk.raw'));
      writeFileSync(path.join(out, 'nix-support/hydra-build-products'), `file raw-image ${out}/disk.raw\n`);
      const link = path.join(store, '..', `${path.basename(store)}-result`);
      symlinkSync(out, link);
      try {
        const inStore = runMeasured(['scan', link, '--format', 'json', '--fail-on', 'never'], { env: { NIX_STORE_DIR: store } });
        expect(inStore.status).toBe(0);
        expect(JSON.parse(inStore.stdout).targets.map((t: { target: string }) => path.basename(t.target))).toEqual(['disk.raw']);
        // The same folder outside the store: its product leads out of it, so it holds nothing.
        const outside = runMeasured(['scan', link, '--format', 'json'], { env: { NIX_STORE_DIR: path.join(store, 'elsewhere') } });
        expect(outside.status).toBe(3);
        expect(outside.stdout).toMatch(/neither a root tree/);
      } finally {
        rmSync(link, { force: true });
      }
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });

  it('--allow-backing-file does not reach a VMDK descriptor inside an archive or a nested image', () => {
    const member = record('tar-vmdk-descriptor --allow-backing-file', runMeasured(['scan', cases['tar-vmdk-descriptor']!.file, '--allow-backing-file', '--format', 'json']));
    noHostByte(member);
    expect(member.status).toBe(3);
    expect(member.stdout).toMatch(/refusing vmdk image with an extent file on the host/);
    const nested = record(
      'nested-vmdk-descriptor --nested --allow-backing-file',
      runMeasured(['scan', cases['nested-vmdk-descriptor']!.file, '--nested', '--allow-backing-file', '--format', 'json', '--fail-on', 'never']),
    );
    noHostByte(nested);
    expect(nested.status).toBe(3);
    const t = JSON.parse(nested.stdout).targets[0];
    expect(t.status).toBe('partial');
    expect(t.error).toMatch(/images\/disk\.vmdk: nested vmdk .*refusing vmdk image with an extent file on the host/);
  });
});
