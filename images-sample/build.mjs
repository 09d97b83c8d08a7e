#!/usr/bin/env node
// Materialise the sample root trees described in trees.json under images-sample/out/<variant>/.
// Owners need root (CI runs as root); as another user the trees are built with your own uid and a warning.
// Idempotent: a stamp with the spec's hash skips work when nothing changed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const specPath = path.join(here, 'trees.json');
const rebuildsPath = path.join(here, 'rebuilds.json');
const outDir = path.join(here, 'out');

/** trees.json, with the variants derived in rebuilds.json as `derived`. */
export function loadSpec() {
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const { $comment, ...derived } = JSON.parse(readFileSync(rebuildsPath, 'utf8'));
  return { ...spec, derived };
}

/** Every variant name: trees.json's, then the derived ones. */
export function variantNames(spec) {
  return [...Object.keys(spec.variants), ...Object.keys(spec.derived ?? {})];
}

/** The raw entries of a variant (base + its own; a derived one: its source's, with replacements and removals). */
function rawEntries(spec, variant) {
  const d = spec.derived?.[variant];
  if (d) {
    const replaced = new Set([...(d.remove ?? []), ...d.replace.map((e) => e.path)]);
    return [...rawEntries(spec, d.from).filter((e) => !replaced.has(e.path)), ...d.replace];
  }
  const extra = spec.variants[variant];
  if (!extra) throw new Error(`unknown variant ${variant}`);
  return [...spec.base, ...extra];
}

/** The entries of one variant: base plus the variant's own, with defaults filled in, parents first. */
export function variantEntries(spec, variant) {
  return rawEntries(spec, variant)
    .map((e) => ({
      uid: 0,
      gid: 0,
      mode: e.type === 'dir' ? '0755' : e.type === 'symlink' ? '0777' : '0644',
      ...e,
    }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Run a tool, output captured (throws with its stderr on failure). */
export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/**
 * True when every tool is on PATH; otherwise warns (or, under CI, throws) naming the missing ones and what could not
 * be built.
 */
export function haveTools(tools, what) {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length === 0) return true;
  const msg = `images-sample: cannot build ${what}, missing: ${missing.join(', ')} (scripts/install-system-deps.sh)`;
  if (process.env.CI) throw new Error(msg);
  console.warn(msg);
  return false;
}

/**
 * A build stamp: `fresh` when the hash of trees.json, the builder itself and `inputs` (files) matches the stamp and
 * every output exists; `write()` records it after a build.
 */
export function buildStamp(name, builder, inputs, outputs) {
  const h = createHash('sha256').update(readFileSync(specPath)).update(readFileSync(fileURLToPath(builder)));
  for (const f of inputs) h.update(readFileSync(f));
  const hash = h.digest('hex');
  const stamp = path.join(outDir, name);
  const fresh = existsSync(stamp) && readFileSync(stamp, 'utf8') === hash && outputs.every((o) => existsSync(o));
  return { fresh, write: () => fsp.writeFile(stamp, hash) };
}

export function contentOf(e) {
  const one = e.contentBase64 !== undefined ? Buffer.from(e.contentBase64, 'base64') : Buffer.from(e.content ?? '', 'utf8');
  // `repeat`: the content written that many times (a large file without a large spec).
  return e.repeat ? Buffer.concat(Array.from({ length: e.repeat }, () => one)) : one;
}

async function materialise(spec, variant, dest) {
  await fsp.rm(dest, { recursive: true, force: true });
  await fsp.mkdir(dest, { recursive: true });
  const entries = variantEntries(spec, variant);
  let chownWarned = false;
  for (const e of entries) {
    const p = path.join(dest, e.path);
    if (e.type === 'dir') await fsp.mkdir(p, { recursive: true });
    else if (e.type === 'file') await fsp.writeFile(p, contentOf(e));
    else if (e.type === 'symlink') await fsp.symlink(e.target, p);
    else throw new Error(`${e.path}: unsupported type ${e.type}`);
    try {
      await fsp.lchown(p, e.uid, e.gid);
    } catch (err) {
      if (!chownWarned) console.warn(`images-sample: cannot set owners (${err.code}); run as root for exact owners`);
      chownWarned = true;
    }
    if (e.type !== 'symlink') await fsp.chmod(p, parseInt(e.mode, 8));
  }
  await fsp.chmod(dest, 0o755);
  // Timestamps last, deepest first, so creating children does not bump their parents.
  for (const e of [...entries].reverse()) await fsp.lutimes(path.join(dest, e.path), spec.epoch, spec.epoch);
  await fsp.lutimes(dest, spec.epoch, spec.epoch);
}

async function main() {
  const raw = readFileSync(specPath);
  const self = readFileSync(fileURLToPath(import.meta.url));
  const hash = createHash('sha256').update(raw).update(readFileSync(rebuildsPath)).update(self).update(String(process.getuid?.() ?? '')).digest('hex');
  const stamp = path.join(outDir, '.stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash && !process.argv.includes('--force')) {
    console.log('images-sample: up to date');
    return;
  }
  const spec = loadSpec();
  await fsp.mkdir(outDir, { recursive: true });
  for (const variant of variantNames(spec)) {
    const dest = path.join(outDir, variant);
    await materialise(spec, variant, dest);
    console.log(`images-sample: built tree ${path.relative(process.cwd(), dest)}`);
  }
  await fsp.writeFile(stamp, hash);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await main();
  // Disk images (GPT: vfat ESP + ext4 root, raw/qcow2/zst) from the same trees.
  // A separate process: build-disks.mjs imports this module's helpers.
  execFileSync(process.execPath, [path.join(here, 'build-disks.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
  // squashfs (each compressor), erofs (plain, lz4) and iso9660 (Rock Ridge + Joliet) images of the leaky tree.
  execFileSync(process.execPath, [path.join(here, 'build-fs.mjs'), ...process.argv.slice(2).filter((a) => a === '--force')], { stdio: 'inherit' });
  // Archives, container images and a nix `result` folder built from the leaky sample (needs the disk images).
  execFileSync(process.execPath, [path.join(here, 'build-archives.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
}
