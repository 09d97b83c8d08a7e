/** Golden output per reporter, on a fixed report. Regenerate with UPDATE_GOLDEN=1 after an intended change. */
import { render, FORMATS } from '../../src/reporters/index.js';
import { summaryLine } from '../../src/reporters/text.js';
import type { Report } from '../../src/types.js';
import { golden } from '../helpers/golden.js';

export const FIXED_REPORT: Report = {
  version: 1,
  tool: { name: 'hostleak', version: '0.1.0' },
  targets: [
    {
      target: 'result/disk.raw',
      status: 'ok',
      error: null,
      backend: 'dir',
      durationMs: 42,
      filesystems: [{ device: 'dir', type: 'dir', label: null, mountpoint: '/' }],
      findings: [
        {
          ruleId: 'orphaned-home',
          severity: 'error',
          path: '/home/bob',
          filesystem: 'dir',
          message: "/home/bob is not the home of any account in the image's /etc/passwd",
          evidence: 'owner uid=0 gid=0 mode=0755',
          remediation: 'Set HOME=/root before switch-to-configuration.',
        },
        {
          ruleId: 'example-warning',
          severity: 'warning',
          path: '/etc/x',
          filesystem: 'dir',
          message: 'a warning',
          evidence: null,
          remediation: 'Fix x.',
        },
        {
          ruleId: 'example-info',
          severity: 'info',
          path: '/home',
          filesystem: null,
          message: 'could not judge',
          evidence: null,
          remediation: 'Ship a passwd.',
        },
      ],
    },
    {
      target: 'missing.qcow2',
      status: 'failed',
      error: 'no such file or directory',
      backend: null,
      durationMs: 0,
      filesystems: [],
      findings: [],
    },
  ],
};


describe('reporters', () => {
  it('offers text and json', () => {
    expect(FORMATS).toEqual(expect.arrayContaining(['text', 'json']));
  });

  it('text, plain', async () => golden('report.txt', await render('text', FIXED_REPORT, { color: false })));
  it('text, coloured', async () => golden('report.color.txt', await render('text', FIXED_REPORT, { color: true })));
  it('json', async () => {
    const out = await render('json', FIXED_REPORT, { color: false });
    golden('report.json', out);
    expect(JSON.parse(out)).toEqual(FIXED_REPORT);
  });

  it('summary line counts severities and incomplete targets', () => {
    expect(summaryLine(FIXED_REPORT)).toBe('1 error, 1 warning, 1 info in 2 targets; 1 target not audited completely');
  });

  it('reporters are pure: same input, same output, input untouched', async () => {
    const before = JSON.stringify(FIXED_REPORT);
    expect(await render('text', FIXED_REPORT, { color: false })).toBe(await render('text', FIXED_REPORT, { color: false }));
    expect(JSON.stringify(FIXED_REPORT)).toBe(before);
  });
});
