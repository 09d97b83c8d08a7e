/**
 * Saved reports are validated against the published JSON Schema (docs/report.schema.json) before `convert` or
 * `merge` render them: the JSON reporter's real output validates (with an independent Ajv), and a report whose
 * numbers are strings (HTML in `durationMs`, a finding's `line`) is refused with exit 2 and one line, never rendered.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { REPORT_SCHEMA_FILE } from '../../src/commands/report-file.js';
import { cli, REPO_ROOT, SAMPLES, scratch, TEST_HOST } from '../helpers/gate.js';

const HTML = '<img src=x onerror=alert(1)>';
const schema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs', 'report.schema.json'), 'utf8')) as object;

type Json = Record<string, unknown> & { targets: Array<Record<string, unknown> & { findings: Array<Record<string, unknown>> }> };

let real: Json;
let s: ReturnType<typeof scratch>;
beforeAll(async () => {
  s = scratch();
  // Findings with and without a line, a suppressed one, and a failed target: every shape the reporter writes.
  const base = path.join(s.dir, 'b.json');
  const leaky = path.join(SAMPLES, 'leaky');
  await cli(['scan', path.join(SAMPLES, 'clean'), '--format', 'json', '--write-baseline', base, ...TEST_HOST]);
  const r = await cli(['scan', leaky, path.join(SAMPLES, 'clean'), path.join(s.dir, 'missing.raw'), '--format', 'json', '--baseline', base, '--show-suppressed', ...TEST_HOST]);
  expect(r.exitCode).toBe(3);
  real = JSON.parse(r.stdout) as Json;
});
afterAll(() => s.cleanup());

describe('the published report schema', () => {
  it('is the one the CLI loads, and the JSON reporter\'s real output validates against it', () => {
    expect(REPORT_SCHEMA_FILE).toBe(path.join(REPO_ROOT, 'docs', 'report.schema.json'));
    const validate = new Ajv({ strict: true, allowUnionTypes: true }).compile(schema);
    const ok = validate(real);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    const findings = real.targets.flatMap((t) => t.findings);
    expect(findings.some((f) => typeof f.line === 'number')).toBe(true);
    expect(real.targets.map((t) => t.status)).toContain('failed');
    // The validator does reject what the schema forbids.
    const broken = structuredClone(real);
    broken.targets[0]!.durationMs = HTML;
    expect(validate(broken)).toBe(false);
  });

  it('ships in the npm package', () => {
    const pj = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pj.files).toContain('docs/report.schema.json');
  });
});

describe('convert and merge refuse a report that does not validate', () => {
  const tampered: Array<[string, (r: Json) => void, RegExp]> = [
    ['durationMs is HTML', (r) => (r.targets[0]!.durationMs = HTML), /(: |targets\[0\]\.)durationMs must be number/],
    ["a finding's line is HTML", (r) => (r.targets[0]!.findings.find((f) => f.line)!.line = HTML), /(: |targets\[0\]\.)findings\[\d+\]\.line must be integer/],
    ['a status is unknown', (r) => (r.targets[1]!.status = HTML), /(: |targets\[1\]\.)status must be one of/],
    ['a message is not a string', (r) => (r.targets[0]!.findings[0]!.message = { html: HTML }), /(: |targets\[0\]\.)findings\[0\]\.message must be string/],
    ['a finding has a field the report does not have', (r) => (r.targets[0]!.findings[0]!.html = HTML), /(: |targets\[0\]\.)findings\[0\]\.html is not a known field/],
  ];

  it.each(tampered)('%s: exit 2, one line naming the field, nothing rendered', async (_name, edit, reason) => {
    const bad = structuredClone(real);
    edit(bad);
    const file = path.join(s.dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const jsonl = path.join(s.dir, 'bad.jsonl');
    writeFileSync(jsonl, bad.targets.map((t) => JSON.stringify(t)).join('\n') + '\n');
    const runs = [
      ...['html', 'markdown', 'text'].map((f) => ['convert', file, '--format', f]),
      ['merge', file, '--format', 'html'],
      ['merge', jsonl, '--format', 'markdown'],
    ];
    for (const args of runs) {
      const r = await cli(args);
      expect({ args, exitCode: r.exitCode, stdout: r.stdout }).toEqual({ args, exitCode: 2, stdout: '' });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(reason);
      // A jsonl line is named by its number (the target the edit made bad).
      expect(r.stderr).toMatch(args[1] === jsonl ? /bad\.jsonl:\d+: not a valid hostleak target result: / : /bad\.json: not a valid hostleak JSON report: targets\[/);
    }
  });

  it('the untampered report converts (exit 0) to html and markdown', async () => {
    const file = path.join(s.dir, 'good.json');
    writeFileSync(file, JSON.stringify(real));
    for (const f of ['html', 'markdown']) {
      const r = await cli(['convert', file, '--format', f]);
      expect({ f, exitCode: r.exitCode, stderr: r.stderr }).toEqual({ f, exitCode: 0, stderr: '' });
    }
  });
});
