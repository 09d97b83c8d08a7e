/** Content rules stay linear in the bytes read: PEM header floods and thousands of host-identity hits. */
import { describe, expect, it } from '@jest/globals';
import { requireTools } from '../helpers/tools.js';
import { hostileCases, record, runMeasured } from './harness.js';

requireTools('mke2fs', '/usr/bin/time');

const cases = hostileCases(['pem-headers', 'host-identity-many']);

interface Out {
  targets: Array<{ status: string; findings: Array<{ ruleId: string }> }>;
}

describe('content rules on hostile content', () => {
  it('40 files of 1 MiB of PEM BEGIN lines: scanned, no key reported', () => {
    const m = record('pem-headers', runMeasured(['scan', cases['pem-headers']!.file, '--backend', 'native', '--format', 'json', '--timeout', '120']));
    expect(m.status).toBe(0);
    const t = (JSON.parse(m.stdout) as Out).targets[0]!;
    expect(t.status).toBe('ok');
    expect(t.findings.filter((f) => f.ruleId === 'private-key')).toEqual([]);
    expect(m.peakMiB).toBeLessThan(512);
  });
  it('5,000 directories and 5,000 files naming the build host: every one reported', () => {
    const args = ['scan', cases['host-identity-many']!.file, '--backend', 'native', '--format', 'json', '--timeout', '120'];
    const m = record('host-identity-many', runMeasured([...args, '--host-user', 'hostuser', '--host-home', '/home/hostuser']));
    expect(m.status).toBe(0);
    const t = (JSON.parse(m.stdout) as Out).targets[0]!;
    expect(t.findings.filter((f) => f.ruleId === 'host-identity-reference').length).toBe(10_000);
    expect(m.peakMiB).toBeLessThan(512);
  });
});
