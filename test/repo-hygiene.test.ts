/**
 * A fresh clone passes its own tests: nothing the project ships or runs reads outside the repository or names a
 * path of a development machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers/cli.js';

const DIRS = ['src', 'rules', 'test', 'bench', 'scripts', 'images-sample', '.ci'];
// The sibling folder the project's fixtures were copied from, and the development machines' work tree.
const OUTSIDE = [/\.\.\/shared\b/, /\bshared\/(corpus|spec)\b/, /['"`]\/work\//, /'\.\.', 'shared'/];

it('no tracked file under src, rules, test, bench, scripts, images-sample or .ci reaches outside the repository', () => {
  const files = execFileSync('git', ['ls-files', '-z', '--', ...DIRS], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.startsWith('test/fixtures/') && !f.startsWith('test/golden/') && f !== 'test/repo-hygiene.test.ts');
  expect(files.length).toBeGreaterThan(50);
  const hits: string[] = [];
  for (const f of files) {
    const text = readFileSync(path.join(REPO, f), 'latin1');
    if (text.includes('\0')) continue; // a binary sample image, not code
    text.split('\n').forEach((line, i) => {
      if (OUTSIDE.some((re) => re.test(line))) hits.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
    });
  }
  expect(hits).toEqual([]);
});
