#!/usr/bin/env node
/**
 * docs/debugging.md's outputs come from real runs: this script runs every `$ hostleak ...` command of the page's
 * console blocks on the sample images (`npm run samples` builds images-sample/out/) and writes what they print into
 * the page. `--check` writes nothing and exits 1 when the page differs from a fresh run (durations aside);
 * test/debugging-doc.test.ts runs it, so the page stays true.
 *
 * The commands run from a scratch folder holding a link to images-sample/ and a hostleak.config.yaml that sets the
 * build host's identity to the sample's builder (bob on bobs-laptop), so the output is the same on every machine.
 * A comment before a block steers it:
 *   <!-- doc: keep REGEX N -->  only the first two lines, the last one, and each line matching REGEX with the N lines
 *                               after it are shown; `  ...` marks what was cut
 *   <!-- doc: by hand -->       left as it is (it needs the libguestfs appliance)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DOC = path.join(REPO, 'docs', 'debugging.md');
const check = process.argv.includes('--check');

const work = mkdtempSync(path.join(os.tmpdir(), 'hostleak-doc-'));
symlinkSync(path.join(REPO, 'images-sample'), path.join(work, 'images-sample'));
writeFileSync(path.join(work, 'hostleak.config.yaml'), 'host:\n  user: bob\n  home: /home/bob\n  name: bobs-laptop\n');
const bin = path.join(work, 'bin');
execFileSync('mkdir', [bin]);
writeFileSync(path.join(bin, 'hostleak'), `#!/bin/sh\nexec '${process.execPath}' '${path.join(REPO, 'dist/src/bin/hostleak.js')}' "$@"\n`, { mode: 0o755 });

function runCommand(cmd) {
  const r = spawnSync('/bin/sh', ['-c', `{ ${cmd}; } 2>&1`], {
    cwd: work,
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}`, LANG: 'C.UTF-8', NO_COLOR: '1', TMPDIR: os.tmpdir() },
  });
  return r.stdout.replace(/\n$/, '').split('\n');
}

function elide(lines, keep) {
  if (!keep) return lines;
  const shown = new Set([0, 1, lines.length - 1]);
  lines.forEach((l, i) => {
    if (keep.re.test(l)) for (let k = i; k <= i + keep.after && k < lines.length; k++) shown.add(k);
  });
  const out = [];
  let cut = false;
  lines.forEach((l, i) => {
    if (shown.has(i)) {
      if (cut) out.push('  ...');
      out.push(l);
      cut = false;
    } else cut = true;
  });
  return out;
}

const text = readFileSync(DOC, 'utf8');
const out = text.replace(/(<!-- doc: ([^>]*?) -->\n)?```console\n([\s\S]*?)```/g, (whole, _c, directive, body) => {
  if (directive === 'by hand') return whole;
  let keep = null;
  const m = directive && /^keep (.+) (\d+)$/.exec(directive);
  if (m) keep = { re: new RegExp(m[1]), after: Number(m[2]) };
  const lines = [];
  for (const line of body.split('\n')) {
    if (!line.startsWith('$ ')) continue;
    if (lines.length > 0) lines.push('');
    lines.push(line, ...elide(runCommand(line.slice(2)), keep));
  }
  return `${whole.slice(0, whole.indexOf('```console'))}\`\`\`console\n${lines.join('\n')}\n\`\`\``;
});
rmSync(work, { recursive: true, force: true });

const normal = (s) => s.replace(/\b\d+ ms\b/g, 'N ms');
if (check) {
  if (normal(out) !== normal(text)) {
    const a = normal(text).split('\n');
    const b = normal(out).split('\n');
    const i = a.findIndex((l, k) => l !== b[k]);
    process.stderr.write(`docs/debugging.md differs from a fresh run at line ${i + 1}:\n  page: ${a[i]}\n  run:  ${b[i]}\n(node scripts/debugging-doc.mjs rewrites it)\n`);
    process.exit(1);
  }
} else {
  writeFileSync(DOC, out);
}
