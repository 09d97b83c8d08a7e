/**
 * The README's first command audits images-sample/leaky.raw.gz, committed so a fresh machine needs no image tools.
 * It must stay what images-sample/ builds from trees.json: same entries, same findings.
 * After changing the samples: `node images-sample/build-disks.mjs --bundle`.
 */
import path from 'node:path';
import type { Report } from '../src/types.js';
import { hostleak, json, REPO, SAMPLES } from './helpers/cli.js';

const BUNDLED = path.join(REPO, 'images-sample/leaky.raw.gz');
const BUILT = path.join(SAMPLES, 'leaky.raw');
const REFRESH = 'stale: run `node images-sample/build-disks.mjs --bundle` and commit images-sample/leaky.raw.gz';

function inventory(target: string): string[] {
  const r = hostleak(['inventory', target, '--backend', 'native']);
  expect(r.status).toBe(0);
  // mtime aside: mtools stamps new ESP directories with the build time.
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.stringify({ ...JSON.parse(l), mtime: undefined }));
}

describe('the bundled sample image', () => {
  it('has the same entries as the image built from trees.json', () => {
    const a = inventory(BUNDLED);
    const b = inventory(BUILT);
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(REFRESH);
    expect(a.length).toBeGreaterThan(100);
  });

  it('gives the same findings, and the README main job exits 1 on it', () => {
    const r = hostleak(['scan', BUNDLED, '--format', 'json']);
    expect(r.status).toBe(1);
    const strip = (rep: Report) => rep.targets[0]!.findings.map((f) => [f.ruleId, f.path, f.severity, f.message]);
    const built = json<Report>(hostleak(['scan', BUILT, '--format', 'json']));
    expect(strip(json<Report>(r))).toEqual(strip(built));
    expect(json<Report>(r).targets[0]!.backend).toBe('native');
  });
});
