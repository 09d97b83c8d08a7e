/**
 * The markdown step summary stays under GitHub's 1 MiB limit whatever the store's size (a bigger summary is dropped
 * whole): a real report of the leaky sample, copied to 3,000 images, is cut with a pointer to the run's artifacts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../src/types.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-summary-'));
const GITHUB = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'org/images', GITHUB_RUN_ID: '42' };

describe('markdown step summary', () => {
  const one = json<Report>(hostleak(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json']));
  const leaky = one.targets[0]!;

  it('3,000 leaky images at deep paths: under 1 MiB, the worst first, and the rest pointed to', () => {
    // Hydra-like output paths: about 200 characters each.
    const deep = `hydra/build-outputs/${'nixos-image-x86_64-linux-'.repeat(6)}`;
    const big: Report = { ...one, targets: Array.from({ length: 3000 }, (_, i) => ({ ...leaky, target: `${deep}/${String(i).padStart(4, '0')}/disk.raw` })) };
    const file = path.join(tmp, 'big.json');
    writeFileSync(file, JSON.stringify(big));
    const r = hostleak(['convert', file, '--format', 'markdown'], { env: GITHUB });
    expect(r.status).toBe(0);
    expect(Buffer.byteLength(r.stdout)).toBeLessThan(1024 * 1024);
    expect(r.stdout).toContain(`| ${deep.replace(/_/g, '\\_')}/0000/disk.raw | audited |`);
    expect(r.stdout).toMatch(/\d+ more targets with findings or not audited completely: see the full report \(the artifacts of https&#58;\/\/github\.com\/org\/images\/actions\/runs\/42\)/);
    expect(r.stdout).toMatch(/\d+ more findings: see the full report/);
    // The findings table starts with errors.
    expect(r.stdout.split('### Findings')[1]).toMatch(/^\s+\|[^\n]+\n\|[^\n]+\n\| :red_circle: error/);
  });

  it('clean images are counted, not listed; a small store is not cut', () => {
    const clean = json<Report>(hostleak(['scan', path.join(SAMPLES, 'clean'), '--format', 'json']));
    const mixed: Report = { ...one, targets: [leaky, ...Array.from({ length: 50 }, (_, i) => ({ ...clean.targets[0]!, target: `clean-${i}` }))] };
    const file = path.join(tmp, 'mixed.json');
    writeFileSync(file, JSON.stringify(mixed));
    const r = hostleak(['convert', file, '--format', 'markdown']);
    expect(r.stdout).toContain('50 targets audited with no findings.');
    expect(r.stdout).not.toContain('| clean-1 |');
    expect(r.stdout).not.toContain('more finding');
  });
});
