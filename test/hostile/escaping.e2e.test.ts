/**
 * Image strings are escaped for every sink and secrets in names and link targets are redacted: names with ESC,
 * OSC-8, CR and newlines, formula link targets, a token in a link target and in a file name, a 2 MiB .env.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
// @ts-expect-error plain ESM builder script without types
import { FAKE_TOKEN } from '../../images-sample/hostile.mjs';
import { requireTools } from '../helpers/tools.js';
import { loadHostileCases, measurements, record, runMeasured } from './harness.js';

requireTools('mke2fs', '/usr/bin/time');

let file: string;
beforeAll(async () => {
  file = (await loadHostileCases(['output-injection']))['output-injection']!.file;
});
afterAll(() => {
  console.log(measurements.join('\n'));
});

/** RFC 4180 fields of a CSV text (quoted fields may hold commas and doubled quotes). */
function csvFields(text: string): string[] {
  const out: string[] = [];
  const re = /("(?:[^"]|"")*"|[^,\n]*)(,|\n|$)/g;
  for (let m = re.exec(text); m && m[0] !== ''; m = re.exec(text)) {
    const f = m[1]!;
    out.push(f.startsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f);
  }
  return out;
}

describe('output injection', () => {
  it.each(['text', 'json', 'jsonl', 'sarif', 'junit', 'github', 'html', 'gitlab'])('%s: no control byte reaches a terminal format, no token anywhere', (format) => {
    const m = record(`output-injection scan ${format}`, runMeasured(['scan', file, '--format', format, '--backend', 'native']));
    expect(m.status).toBe(1);
    expect(m.stdout + m.stderr).not.toContain(FAKE_TOKEN);
    expect(m.stderr).not.toMatch(/[\x1b\r\x07]/);
    if (format === 'text' || format === 'github') expect(m.stdout).not.toMatch(/[\x1b\r\x07]/);
    if (format === 'json') {
      const findings = (JSON.parse(m.stdout) as { targets: Array<{ findings: Array<{ ruleId: string; path: string }> }> }).targets[0]!.findings;
      // A 2 MiB .env: its token on line 1 is found, and the file is named as only partly scanned.
      expect(findings).toEqual(expect.arrayContaining([
        expect.objectContaining({ ruleId: 'secret-token', path: '/dev/sda:/srv/.env' }),
        expect.objectContaining({ ruleId: 'content-partly-scanned', path: '/dev/sda:/srv/.env' }),
        expect.objectContaining({ ruleId: 'dangling-symlink', path: '/dev/sda:/srv/token-link' }),
      ]));
    }
  });
  it('text shows the characters as escapes and forges no report line', () => {
    const m = runMeasured(['scan', file, '--backend', 'native']);
    expect(m.stdout).toContain('/srv/newline\\nname -> /gone\\n  error   /forged');
    expect(m.stdout.split('\n').some((l) => l.startsWith('  error   /forged'))).toBe(false);
    expect(m.stdout).toContain('\\rFAKE REPORT LINE');
  });
  it('ls -lR and inventory escape names and redact tokens; CSV fields never start a formula', () => {
    const ls = record('output-injection ls', runMeasured(['ls', '-lR', file, '/dev/sda:/srv', '--backend', 'native']));
    expect(ls.status).toBe(0);
    expect(ls.stdout).not.toMatch(/[\x1b\r\x07]/);
    expect(ls.stdout).toContain('clear\\e[2J\\e[H-screen');
    expect(ls.stdout).not.toContain(FAKE_TOKEN);
    const csv = record('output-injection inventory csv', runMeasured(['inventory', file, '--format', 'csv', '--backend', 'native']));
    expect(csv.status).toBe(0);
    expect(csv.stdout).not.toContain(FAKE_TOKEN);
    const fields = csvFields(csv.stdout);
    expect(fields).toContain(`'=HYPERLINK("https://evil.example/","x")`);
    expect(fields.filter((f) => /^[=+\-@\t\r]/.test(f))).toEqual([]);
    const jsonl = runMeasured(['inventory', file, '--backend', 'native']);
    expect(jsonl.stdout).not.toContain(FAKE_TOKEN);
  });
  it('stderr messages escape what the image named', () => {
    const m = runMeasured(['cat', file, '/dev/sda:/srv/newline\nname', '--backend', 'native']);
    expect(m.status).not.toBe(0);
    expect(m.stderr).not.toMatch(/[\x1b\r]/);
    expect(m.stderr.trim().split('\n')).toHaveLength(1);
  });
});
