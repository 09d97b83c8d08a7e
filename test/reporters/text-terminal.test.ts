/**
 * The text report as an 80-column terminal shows it (issue 28): every line fits, wrapped at word boundaries with
 * continuation lines under the text they continue, each rule's fix right after its first finding, and a closing
 * line with the counts and `hostleak explain RULE`. Into a pipe or file nothing is wrapped.
 */
import path from 'node:path';
import stringWidth from 'string-width';
import { run } from '../../src/cli.js';
import { REPO, SAMPLES } from '../helpers/cli.js';
import { withArticle } from '../../src/words.js';

const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];
const scan = (io: { tty: boolean; columns?: number; color?: boolean }, extra: string[] = []) =>
  run(['scan', path.join(SAMPLES, 'leaky'), ...HOST, ...extra], { env: {}, cwd: REPO, color: io.color ?? false, tty: io.tty, columns: io.columns });

describe('text report on a terminal', () => {
  it.each([80, 100])('%i columns: every line fits, no word is cut', async (columns) => {
    const r = await scan({ tty: true, columns });
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split('\n');
    for (const l of lines) expect([l, stringWidth(l)]).toEqual([l, expect.any(Number)]);
    expect(Math.max(...lines.map((l) => stringWidth(l)))).toBeLessThan(columns);
    // Undoing the wrap (joining continuation lines) gives back the unwrapped report's words in order.
    const plain = (await scan({ tty: false })).stdout;
    const words = (s: string) => s.replace(/\d+ ms\b/g, 'N ms').replace(/\s+/g, ' ');
    expect(words(r.stdout) === words(plain)).toBe(true);
  });

  it('colours survive the wrap: every line that opens a colour closes it', async () => {
    const r = await scan({ tty: true, columns: 80, color: true });
    for (const l of r.stdout.split('\n')) {
      const opens = (l.match(/\u001b\[(?:3[1-6]|1|2|4)m/g) ?? []).length;
      const closes = (l.match(/\u001b\[(?:39|22|24)m/g) ?? []).length;
      expect([l, closes >= opens]).toEqual([l, true]);
    }
  });

  it('continuation lines hang under the text; each fix comes once per rule, after its first finding', async () => {
    const r = await scan({ tty: true, columns: 80 });
    const lines = r.stdout.split('\n');
    for (const [i, l] of lines.entries()) {
      // A line inside a finding starts at column 10 (under the path), or is a finding's own head line.
      if (i > 1 && l !== '' && !/^\S/.test(l)) expect([l, /^ {2}(error|warning|info) {1,4}\S|^ {10}\S/.test(l)]).toEqual([l, true]);
    }
    const fixes = lines.filter((l) => l.startsWith('          fix: '));
    // The rules, from the unwrapped report (a long path pushes the rule id to the next line at 80 columns).
    const unwrapped = (await scan({ tty: false })).stdout;
    const rules = new Set([...unwrapped.matchAll(/^ {2}(?:error|warning|info) +\S+ {2}([a-z-]+)$/gm)].map((m) => m[1]));
    expect(fixes).toHaveLength(rules.size);
    expect(r.stdout).not.toContain('How to fix');
    expect(lines.filter(Boolean).slice(-2).join(' ')).toMatch(/^\d+ errors, \d+ warnings, \d+ info in 1 target \(hostleak explain RULE: why it matters, how to fix it\)$/);
  });

  it('says "1 entry", "an ext2 filesystem", "a squashfs filesystem"', async () => {
    // --no-nested: the image inside the image is named, not opened.
    const r = await scan({ tty: false }, ['--no-nested']);
    expect(r.stdout).toContain('(1 entry)');
    const [, article, kind] = / is (an?) (\S+) filesystem inside the image/.exec(r.stdout)!;
    expect(article).toBe(/^[aeiou]/.test(kind!) ? 'an' : 'a');
    expect(withArticle('ext2 filesystem')).toBe('an ext2 filesystem');
    expect(withArticle('xfs filesystem')).toBe('an xfs filesystem');
    expect(withArticle('squashfs filesystem')).toBe('a squashfs filesystem');
    expect(r.stdout).not.toMatch(/\(1 entries\)|\(1 bytes\)| a ext2 /);
  });
});
