/** `--format github`: workflow commands, one per finding, escaped as the runner expects. */
import path from 'node:path';
import { escapeData, escapeProperty, formatGithub } from '../src/reporters/github.js';
import type { Report } from '../src/types.js';
import { cli, SAMPLES, TEST_HOST } from './helpers/gate.js';

describe('github format', () => {
  it('escapes data and properties', () => {
    expect(escapeData('50%\r\nnext')).toBe('50%25%0D%0Anext');
    expect(escapeData('a: b, c')).toBe('a: b, c');
    expect(escapeProperty('a: b, c%\n')).toBe('a%3A b%2C c%25%0A');
  });

  it('prints one command per finding, with the level mapped from the severity', async () => {
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'github', ...TEST_HOST]);
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    const json = JSON.parse((await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', ...TEST_HOST])).stdout);
    expect(lines).toHaveLength(json.targets[0].findings.length);
    for (const l of lines) expect(l).toMatch(/^::(error|warning|notice) title=hostleak [a-z0-9-]+%3A [^,]+,file=[^,:]+::.+$/);
    expect(lines.some((l) => l.startsWith('::error title=hostleak orphaned-home%3A /home/bob,file=home/bob::'))).toBe(true);
    // Multi-line messages are escaped onto one line.
    for (const l of lines) expect(l).not.toMatch(/\r/);
  });

  it('annotates failed targets and skips suppressed findings', () => {
    const report: Report = {
      version: 1,
      tool: { name: 'hostleak', version: '0' },
      targets: [
        { target: 'a,b:c.img', status: 'failed', error: 'bad\nthing', backend: null, durationMs: 0, filesystems: [], findings: [] },
        {
          target: 'ok.img',
          status: 'ok',
          error: null,
          backend: 'dir',
          durationMs: 0,
          filesystems: [],
          findings: [
            { ruleId: 'x', severity: 'info', path: '/p', filesystem: null, message: 'm', evidence: null, remediation: 'r', suppressed: { kind: 'baseline', reason: 'b.json' } },
            { ruleId: 'y', severity: 'info', path: '/q', filesystem: null, message: 'm', evidence: null, remediation: 'r' },
          ],
        },
      ],
    };
    expect(formatGithub(report).trimEnd().split('\n')).toEqual([
      '::error title=hostleak%3A a%2Cb%3Ac.img not audited::a,b:c.img: bad%0Athing',
      '::notice title=hostleak y%3A /q,file=q::/q: m%0AHow to fix: r%0ATarget: ok.img',
    ]);
  });
});
