/**
 * Golden output per format for one scan of the leaky sample tree plus a target that does not exist, and `convert`
 * of the saved JSON report to every format giving the same bytes. Run with UPDATE_GOLDEN=1 to rewrite the files
 * after an intended change (new rules change them), then review the diff.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { FORMATS } from '../../src/reporters/index.js';
import { cli, REPO_ROOT, scratch, TEST_HOST } from '../helpers/gate.js';
import { golden } from '../helpers/golden.js';

const TARGETS = ['images-sample/out/leaky', 'images-sample/out/missing-image'];
const EXT: Record<string, string> = {
  text: 'txt',
  json: 'json',
  jsonl: 'jsonl',
  sarif: 'sarif.json',
  junit: 'xml',
  github: 'github.txt',
  markdown: 'md',
  html: 'html',
  gitlab: 'gitlab.json',
};

/** Remove what changes from run to run: durations, times, and the repository's absolute location. */
function normalise(s: string): string {
  return s
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, '2000-01-01T00:00:00.000Z')
    .replace(/\d{4}-\d{2}-\d{2} \d{2}(:|&#58;)\d{2} UTC/g, '2000-01-01 00$100 UTC')
    .replace(/"durationMs": ?\d+/g, (m) => m.replace(/\d+$/, '0'))
    .replace(/\((\w+), \d+ ms\)/g, '($1, 0 ms)')
    .replace(/ time="[\d.]+"/g, ' time="0"')
    .replace(/data-v="\d+">\d+ ms</g, 'data-v="0">0 ms<')
    .replace(/ · \d+ ms · /g, ' · 0 ms · ')
    .replace(/<p class="facts">\d+ ms<\/p>/g, '<p class="facts">0 ms</p>')
    .split(REPO_ROOT)
    .join('<repo>');
}


describe('golden output', () => {
  const outputs = new Map<string, string>();

  beforeAll(async () => {
    for (const f of FORMATS) {
      // --jobs 1: streamed formats (jsonl) write targets as they finish; one at a time keeps the order fixed.
      const r = await cli(['scan', ...TARGETS, '--format', f, '--jobs', '1', ...TEST_HOST]);
      expect(r.exitCode).toBe(3);
      outputs.set(f, normalise(r.stdout));
    }
  });

  it.each(FORMATS.map((f) => [f]))('%s', (format) => {
    golden(`leaky.${EXT[format]}`, outputs.get(format)!);
  });

  it.each(FORMATS.map((f) => [f]))('convert of the JSON report to %s gives the same output', async (format) => {
    const s = scratch();
    try {
      const saved = path.join(s.dir, 'report.json');
      writeFileSync(saved, outputs.get('json')!);
      const r = await cli(['convert', saved, '--format', format]);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(normalise(r.stdout)).toBe(outputs.get(format));
    } finally {
      s.cleanup();
    }
  });

  it('convert rejects a file that is not a hostleak report with exit 2', async () => {
    const s = scratch();
    try {
      const bad = path.join(s.dir, 'r.json');
      writeFileSync(bad, JSON.stringify({ version: 1, tool: { name: 'hostleak', version: '0.1.0' }, targets: [{ target: 'x', status: 'ok', error: null, backend: null, durationMs: 0, findings: [{ ruleId: 3 }] }] }));
      const r = await cli(['convert', bad, '--format', 'sarif']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('not a valid hostleak JSON report: targets[0].findings[0].');
      const missing = await cli(['convert', path.join(s.dir, 'nope.json'), '--format', 'sarif']);
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toContain('cannot read (ENOENT)');
    } finally {
      s.cleanup();
    }
  });
});
