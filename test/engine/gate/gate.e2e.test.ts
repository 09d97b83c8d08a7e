/** The CI gate through the built binary (dist/): real process, real exit codes, files written with --output. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SAMPLES, scratch, TEST_HOST } from '../../helpers/gate.js';

const BIN = path.join(REPO_ROOT, 'dist', 'src', 'bin', 'hostleak.js');

function hostleak(args: string[], cwd = REPO_ROOT) {
  if (!existsSync(BIN)) throw new Error(`${BIN} missing: run npm run build first`);
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gate through the built CLI', () => {
  let s: ReturnType<typeof scratch>;
  beforeEach(() => {
    s = scratch();
  });
  afterEach(() => s.cleanup());

  it('writes SARIF and a baseline, then passes with the baseline', () => {
    const sarif = path.join(s.dir, 'out.sarif');
    const base = path.join(s.dir, 'base.json');
    const first = hostleak(['scan', path.join(SAMPLES, 'leaky'), '--format', 'sarif', '-o', sarif, '--write-baseline', base, ...TEST_HOST]);
    expect(first.code).toBe(1);
    expect(first.stdout).toBe('');
    const log = JSON.parse(readFileSync(sarif, 'utf8'));
    expect(log.runs[0].results.length).toBeGreaterThanOrEqual(3);
    const again = hostleak(['scan', path.join(SAMPLES, 'leaky'), '--baseline', base, ...TEST_HOST]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no findings');
    expect(again.stderr).toMatch(/\d+ findings suppressed by baseline/);
  });

  it('exits 2 on a config that names an unknown rule, without a stack trace', () => {
    writeFileSync(path.join(s.dir, 'hostleak.config.json'), JSON.stringify({ rules: { 'made-up-rule': 'off' } }));
    const r = hostleak(['scan', path.join(SAMPLES, 'leaky')], s.dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("hostleak: hostleak.config.json: rules.made-up-rule: unknown rule id 'made-up-rule' ('hostleak rules' lists them)");
  });
});
