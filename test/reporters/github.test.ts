/** `--format github`: workflow commands, one per finding, escaped as the runner expects. */
import path from 'node:path';
import { escapeData, escapeProperty, formatGithub } from '../../src/reporters/github.js';
import { mdCell } from '../../src/reporters/markdown.js';
import type { Report } from '../../src/types.js';
import { cli, SAMPLES, TEST_HOST } from '../helpers/gate.js';
import { parseCommands } from '../helpers/actions-runner.js';
import { securitySeverity } from '../../src/reporters/security.js';
import { builtinRules } from '../../rules/index.js';

describe('github format', () => {
  it('escapes data and properties', () => {
    expect(escapeData('50%\r\nnext')).toBe('50%25\\r%0Anext');
    // Control characters from an image never reach the log viewer: ESC, BEL and bidi overrides show as escapes.
    expect(escapeData('a\x1b[31mred\x07\u202e')).toBe('a\\e[31mred\\x07\\u202e');
    expect(escapeData('a: b, c')).toBe('a: b, c');
    expect(escapeProperty('a: b, c%\n')).toBe('a%3A b%2C c%25%0A');
  });

  it('annotates the most important findings within the 10 + 10 per step GitHub shows, and counts the rest in one notice', async () => {
    const r = await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'github', ...TEST_HOST]);
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    const json = JSON.parse((await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', ...TEST_HOST])).stdout);
    const all = json.targets[0].findings as Array<{ severity: string; ruleId: string }>;
    const n = (s: string) => all.filter((f) => f.severity === s).length;
    expect(n('error')).toBeGreaterThan(10);
    expect(n('warning')).toBeGreaterThan(10);
    const level = (l: string) => l.slice(2, l.indexOf(' '));
    expect(lines.filter((l) => level(l) === 'error')).toHaveLength(10);
    expect(lines.filter((l) => level(l) === 'warning')).toHaveLength(10);
    for (const l of lines.slice(0, -1)) {
      expect(l).toMatch(/^::(error|warning|notice) title=hostleak [a-z0-9-]+%3A [^,]+,file=[^,:]+(,line=\d+)?(,col=\d+)?::.+$/);
    }
    // Errors first; the secrets (critical security-severity) lead.
    expect(lines.findIndex((l) => level(l) === 'warning')).toBe(10);
    const score = (id: string) => securitySeverity(builtinRules.find((r) => r.meta.id === id)!.meta);
    const top = Math.max(...all.filter((f) => f.severity === 'error').map((f) => score(f.ruleId)));
    expect(score(/^::error title=hostleak ([a-z0-9-]+)%3A/.exec(lines[0]!)![1]!)).toBe(top);
    expect(lines.at(-1)).toBe(
      `::notice title=hostleak%3A more findings than GitHub annotates::${n('error') - 10} errors and ${n('warning') - 10} warnings ` +
        'not annotated: GitHub shows 10 error and 10 warning annotations per step. The job summary, the SARIF report ' +
        '(code scanning) and the JSON report list every finding.',
    );
    // Content findings carry their line.
    expect(lines.some((l) => l.startsWith('::error title=hostleak secret-token%3A /root/.bash_history,file=root/.bash_history,line=2,col=21::'))).toBe(true);
    for (const l of lines) expect(l).not.toMatch(/\r/);
  });

  it('escapes file= once: a path with % , : and spaces round-trips through the runner\'s unescaping', () => {
    const report: Report = {
      version: 1,
      tool: { name: 'hostleak', version: '0' },
      targets: [
        {
          target: 'x.img', status: 'ok', error: null, backend: 'dir', durationMs: 0, filesystems: [],
          findings: [{ ruleId: 'y', severity: 'warning', path: '/etc/a 100%,b:c', filesystem: null, message: 'm', evidence: null, remediation: 'r' }],
        },
      ],
    };
    const line = formatGithub(report).trimEnd();
    expect(line).toContain(',file=etc/a 100%25%2Cb%3Ac::');
    expect(parseCommands(line)[0]!.properties.file).toBe('etc/a 100%,b:c');
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

  it('markdown cells render image strings as text: no HTML, no table break, no link, no control byte', () => {
    const cell = mdCell('<img src=x onerror=y> | [a](https://evil.example) *b* `c`\x1b[1m\nnext @bob www.x.org');
    expect(cell.replace(/<br>/g, '')).not.toMatch(/[<>\x1b\n]/);
    expect(cell).not.toMatch(/(^|[^\\])\|/);
    expect(cell).not.toContain('https://');
    expect(cell).not.toContain('www.');
    expect(cell).toContain('&lt;img src=x onerror=y&gt; \\| \\[a\\]\\(https&#58;//evil.example\\) \\*b\\* \\`c\\`\\\\e\\[1m<br>next &#64;bob www&#46;x.org');
  });
});
