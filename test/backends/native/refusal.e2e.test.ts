/**
 * `--backend auto` on an image the native readers refuse (the leaky sample as squashfs with lzo blocks, which the
 * kernel reads) goes to libguestfs, says why under --verbose, and audits it: the sample's leaks are found, never
 * "unrecognised" or a hard error.
 */
import path from 'node:path';
import { hostleak, json, SAMPLES } from '../../helpers/cli.js';
import { leakyTreeFindings } from '../../helpers/fs-compare.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('guestfish');

interface Report {
  targets: Array<{ status: string; backend: string; findings: Array<{ ruleId: string; severity: string; path: string; evidence: string | null }> }>;
}

it('auto hands a refused squashfs (lzo) to libguestfs, says why, and finds the leaks', () => {
  const r = hostleak(['scan', '--verbose', '--format', 'json', '--fail-on', 'never', path.join(SAMPLES, 'leaky.squashfs-lzo')], { timeoutMs: 600_000 });
  expect(r.stderr).toContain('the native readers refuse it (/dev/sda: squashfs with lzo compression is not supported by the native reader); using libguestfs');
  const t = json<Report>(r).targets[0]!;
  expect({ exit: r.status, status: t.status, backend: t.backend }).toEqual({ exit: 0, status: 'ok', backend: 'guestfs' });
  const got = t.findings.map((f) => `${f.ruleId} ${f.severity} ${f.path} ${f.evidence ?? ''}`).sort();
  expect(got).toEqual(leakyTreeFindings());
});
