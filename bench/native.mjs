#!/usr/bin/env node
// Benchmark: the native reader listing a GPT disk holding an ext4 with ~150k entries (many symlinks, some with
// targets over 60 bytes), against sleuthkit's `fls -r -m /` on the same filesystem, in the same run.
// Prints the best-of-N times, the ratio and the native run's peak RSS. The image is generated once under bench/out/.
//   node bench/native.mjs [--entries 150000] [--runs 3]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ENTRIES = opt('entries', 150000);
const RUNS = opt('runs', 3);
const out = path.join(here, 'out');
const disk = path.join(out, `large-${ENTRIES}.raw`);
const dist = path.join(here, '..', 'dist', 'src', 'backends', 'native', 'index.js');
const START_SECTOR = 2048;

function generate() {
  mkdirSync(out, { recursive: true });
  const tree = path.join(out, 'tree');
  rmSync(tree, { recursive: true, force: true });
  console.error(`generating a tree of ${ENTRIES} entries...`);
  let n = 0;
  const perDir = 60;
  for (let d = 0; n < ENTRIES; d++) {
    const dir = path.join(tree, 'nix', 'store', `${String(d).padStart(5, '0')}-pkg-${(d * 2654435761) >>> 0}`);
    mkdirSync(dir, { recursive: true });
    n++;
    for (let i = 0; i < perDir && n < ENTRIES; i++, n++) {
      const p = path.join(dir, `entry-${i}`);
      if (i % 3 === 0) symlinkSync(i % 9 === 0 ? `/nix/store/${'a'.repeat(32)}-a-long-target-name-over-sixty-bytes/bin/x${i}` : `../x/${i}`, p);
      else writeFileSync(p, `content ${d} ${i}\n`);
    }
  }
  const fsImg = path.join(out, 'large.ext4');
  const mb = Math.ceil(ENTRIES / 150) + 64;
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', String(ENTRIES + 1000), '-d', tree, fsImg, `${mb}M`]);
  execFileSync('truncate', ['-s', `${mb + 2}M`, disk]);
  execFileSync('sfdisk', ['-q', disk], { input: `label: gpt\nstart=${START_SECTOR}, type=linux, name="disk-main-root"\n` });
  execFileSync('dd', [`if=${fsImg}`, `of=${disk}`, 'bs=1M', `seek=${START_SECTOR * 512}`, 'oflag=seek_bytes', 'conv=notrunc', 'status=none']);
  rmSync(fsImg);
  rmSync(tree, { recursive: true, force: true });
}

function best(label, fn) {
  let min = Infinity;
  let last;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    last = fn();
    min = Math.min(min, performance.now() - t);
  }
  console.log(`${label.padEnd(34)} ${min.toFixed(0).padStart(6)} ms`);
  return { ms: min, last };
}

if (!existsSync(dist)) {
  console.error('build first: npm run build');
  process.exit(2);
}
if (!existsSync(disk)) generate();

const CHILD = `
const m = await import(process.argv[1]);
const t = performance.now();
const src = m.openNativeSource(process.argv[2]);
const { views, problems } = await m.listNativeFilesystems(src);
const ms = performance.now() - t;
process.stdout.write(JSON.stringify({ ms, entries: views.reduce((a, v) => a + v.inventory.size, 0), problems: problems.length,
  maxRssKb: process.resourceUsage().maxRSS }));
`;

const fls = best('fls -r -m / (sleuthkit)', () => {
  const r = spawnSync('fls', ['-r', '-m', '/', '-o', String(START_SECTOR), disk], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`fls failed: ${r.stderr}`);
  return r.stdout.toString().split('\n').length - 1;
});
let inner = Infinity;
const native = best('native (whole process)', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, dist, disk], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`native failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  inner = Math.min(inner, j.ms);
  return j;
});
console.log(`${'native (listing only, in process)'.padEnd(34)} ${inner.toFixed(0).padStart(6)} ms`);
console.log(`entries: fls ${fls.last}, native ${native.last.entries} (native includes /), problems ${native.last.problems}`);
console.log(`ratio native/fls: ${(native.ms / fls.ms).toFixed(2)} (whole process), ${(inner / fls.ms).toFixed(2)} (listing only)`);
console.log(`native peak RSS: ${(native.last.maxRssKb / 1024).toFixed(0)} MiB`);
