#!/usr/bin/env node
// The guestfs backend on a real Debian 12 disk (`npm run bench` with HOSTLEAK_BENCH_GUESTFS_DEBIAN=1, or
// `node bench/guestfs-debian.mjs` alone). The root is the debootstrap server root of bench/accuracy.mjs (built
// once, cached under bench/out/accuracy/; root and a Debian mirror needed), packed into a GPT disk with one ext4
// partition by `mke2fs -d -E offset=` (cached as bench/out/debian12-server.raw). It runs the full audit through
// guestfs with --verbose and prints the phases the issue compares: `phase list` (inventory through the appliance)
// against `phase rules` (the rules, i.e. the file reads), plus the appliance commands and the bulk reads' log.
// HOSTLEAK_BENCH_ACCEL=kvm uses KVM (default: TCG).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRoot, ROOTS } from './accuracy.mjs';
import { accel as benchAccel, cli, here, repo } from './lib.mjs';

const START_SECTOR = 2048;

export async function debianDisk(out = path.join(here, 'out', 'debian12-server.raw')) {
  if (existsSync(out)) return out;
  const root = buildRoot(ROOTS.find((r) => r.name === 'debian12-server'));
  const du = execFileSync('du', ['-sm', '--apparent-size', root], { encoding: 'utf8' });
  const fsMiB = Math.ceil(Number(du.split('\t')[0]) * 1.5) + 128;
  const tmp = `${out}.tmp`;
  try {
    await fsp.writeFile(tmp, '');
    await fsp.truncate(tmp, (fsMiB + 2) * 1024 * 1024);
    execFileSync('sfdisk', ['-q', tmp], { input: `label: gpt\nstart=${START_SECTOR}, size=${fsMiB * 2048}, type=linux, name="root"\n` });
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'debian', '-E', `offset=${START_SECTOR * 512}`, '-d', root, tmp, `${fsMiB}M`]);
    await fsp.rename(tmp, out);
    return out;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** One audit through guestfs (`extra`: more scan arguments): wall time, the phases and the guestfs lines of --verbose. */
function audit(img, accel, extra = []) {
  const env = { ...process.env };
  if (accel === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  const t = performance.now();
  const r = spawnSync(
    'nice',
    [process.execPath, cli, 'scan', '--backend', 'guestfs', '--accel', accel, '--verbose', '--format', 'json', ...extra, img],
    { env, encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  const wall = performance.now() - t;
  if (r.status !== 0 && r.status !== 1) throw new Error(`hostleak exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const ms = (re) => Number(re.exec(r.stderr)?.[1] ?? NaN);
  const report = JSON.parse(r.stdout).targets[0];
  return {
    wall,
    list: ms(/phase list: (\d+) ms/),
    rules: ms(/phase rules: (\d+) ms/),
    findings: report.findings.length,
    status: report.status,
    lines: r.stderr.split('\n').filter((l) => /phase |guestfs: .*(commands|bulk|entries)/.test(l)),
  };
}

/**
 * The bulk alternative the issue proposed, measured: for each directory, one `tar-out` of it against the pipelined
 * `pread`s hostleak issues for its files (each up to 1 MiB, as the text pass reads them), both from a cold page cache
 * (`drop-caches 3` first), in one appliance, best of two rounds with the order swapped.
 */
async function bulkVsPread(img, root, accel) {
  const { Guestfish, quoteArg } = await import(path.join(repo, 'dist/src/backends/guestfish.js'));
  const env = { ...process.env };
  if (accel === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  const g = new Guestfish({ env, timeoutMs: 30 * 60 * 1000 });
  const rows = [];
  const floor = { files: 0, rows: [] };
  try {
    await g.run(`add-drive ${quoteArg(img)} readonly:true format:raw`);
    await g.run('run');
    await g.run('mount-ro /dev/sda1 /');
    const timed = async (f) => {
      await g.run('drop-caches 3');
      const t = performance.now();
      await f();
      return performance.now() - t;
    };
    for (const dir of ['/etc', '/var/lib/dpkg', '/usr/share/doc', '/usr/bin', '/usr/lib/x86_64-linux-gnu']) {
      const files = filesOf(root, dir);
      const tar = () => g.raw(`tar-out ${quoteArg(dir)} /dev/null`);
      const pread = () => Promise.all(files.map((f) => g.raw(`pread ${quoteArg(f.p)} ${Math.min(f.size, 1 << 20)} 0`)));
      let bestTar = Infinity;
      let bestPread = Infinity;
      for (const order of [[tar, pread], [pread, tar]]) {
        for (const f of order) {
          const ms = await timed(f);
          if (f === tar) bestTar = Math.min(bestTar, ms);
          else bestPread = Math.min(bestPread, ms);
        }
      }
      const mib = files.reduce((a, f) => a + Math.min(f.size, 1 << 20), 0) / 1048576;
      rows.push({ dir, files: files.length, mib, tar: bestTar, pread: bestPread });
    }
    // What one file costs the appliance whatever carries it: the same small files, warm (the listing has just read
    // their inodes, a first pass their data), through each mechanism.
    const files = filesOf(root, '/usr/share/zoneinfo');
    await g.run('find0 / /dev/null');
    const each = (cmd) => () => Promise.all(files.map((f) => g.raw(cmd(f))));
    const once = async (f) => {
      const t = performance.now();
      await f();
      return (performance.now() - t) / files.length;
    };
    const cold = await once(each((f) => `pread ${quoteArg(f.p)} 1 0`));
    floor.rows.push(
      { how: '`pread` of 1 byte, data not yet cached', ms: cold },
      { how: '`pread` of 1 byte, warm', ms: await once(each((f) => `pread ${quoteArg(f.p)} 1 0`)) },
      { how: '`tar-out` of the folder, warm', ms: await once(() => g.raw('tar-out /usr/share/zoneinfo /dev/null')) },
      { how: '`checksums-out md5` of the folder, warm', ms: await once(() => g.raw('checksums-out md5 /usr/share/zoneinfo /dev/null')) },
      { how: '`ping-daemon` (the round trip alone)', ms: await once(each(() => 'ping-daemon')) },
    );
    floor.files = files.length;
  } finally {
    await g.close();
  }
  return { rows, floor };
}

/** Non-empty regular files under a folder of the root tree, with their sizes. */
function filesOf(root, dir) {
  const listing = execFileSync('find', [path.join(root, dir), '-type', 'f', '-size', '+0', '-printf', '%s %P\\n'], { encoding: 'utf8' });
  return listing.split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf(' ');
    return { size: Number(l.slice(0, i)), p: `${dir}/${l.slice(i + 1)}` };
  });
}

const main = process.argv[1] === fileURLToPath(import.meta.url);
const rootBuilt = () => existsSync(path.join(here, 'out', 'accuracy', 'debian12-server.done'));
if (main && !rootBuilt() && spawnSync('debootstrap', ['--version']).status !== 0) {
  console.log('\n(guestfs Debian benchmark skipped: debootstrap is not installed; apt-get install debootstrap, run as root)');
} else if (main) {
  const accel = benchAccel;
  const img = await debianDisk();
  console.log(`\n== guestfs backend on a real Debian 12 disk (debootstrap server root, GPT + ext4; accel: ${accel})`);
  console.log(`-- ${path.relative(process.cwd(), img)}`);
  const r = audit(img, accel);
  for (const l of r.lines) console.log(`    ${l.replace(/^.*?(phase |guestfs: )/, '$1')}`);
  console.log(`full audit ${(r.wall / 1000).toFixed(1)} s, ${r.status}, ${r.findings} findings`);
  console.log(`ratio phase rules / phase list: ${(r.rules / r.list).toFixed(2)}  (${r.rules} ms / ${r.list} ms; the goal is <= 1)`);
  console.log('\n-- the same with --trust-packages (files a package installed with a checksum, outside /etc, left unread)');
  const t = audit(img, accel, ['--trust-packages']);
  for (const l of t.lines) console.log(`    ${l.replace(/^.*?(phase |guestfs: )/, '$1')}`);
  console.log(`full audit ${(t.wall / 1000).toFixed(1)} s, ${t.status}, ${t.findings} findings`);
  console.log(`ratio phase rules / phase list: ${(t.rules / t.list).toFixed(2)}  (${t.rules} ms / ${t.list} ms)`);
  if (process.env.HOSTLEAK_BENCH_BULK !== '0') {
    const root = buildRoot(ROOTS.find((x) => x.name === 'debian12-server'));
    const { rows, floor } = await bulkVsPread(img, root, accel);
    console.log('\n-- one `tar-out DIR` vs pipelined `pread`s of its files (cold cache, best of 2; HOSTLEAK_BENCH_BULK=0 skips)');
    console.log('directory                        files     MiB   tar-out     pread  tar-out / pread');
    for (const b of rows) {
      console.log(
        `${b.dir.padEnd(30)} ${String(b.files).padStart(7)} ${b.mib.toFixed(1).padStart(7)} ${(b.tar / 1000).toFixed(2).padStart(8)} s ${(b.pread / 1000).toFixed(2).padStart(7)} s ${(b.tar / b.pread).toFixed(2).padStart(16)}`,
      );
    }
    console.log(`\n-- what one file costs the appliance, by mechanism (/usr/share/zoneinfo: ${floor.files} small files; ms per file)`);
    for (const f of floor.rows) console.log(`${f.how.padEnd(48)} ${f.ms.toFixed(2).padStart(6)} ms`);
    // Any mechanism pays the cheapest warm cost plus what bringing a file's data off the emulated disk adds (cold
    // minus warm pread): the data of an audit's files is cold, only their inodes are warm after the listing.
    const [cold, warm, ...bulk] = floor.rows.map((f) => f.ms);
    const least = Math.min(warm, ...bulk.slice(0, 2)) + (cold - warm);
    const files = Number(/read (\d+) files/.exec(r.lines.join('\n'))?.[1] ?? NaN);
    console.log(
      `least a file can cost: ${least.toFixed(2)} ms (cheapest warm + the cold-data cost); the default audit's ${files} files: ` +
        `${((files * least) / 1000).toFixed(1)} s at best, against a listing of ${(r.list / 1000).toFixed(1)} s`,
    );
  }
  if (!(r.rules <= r.list)) process.exitCode = 1;
}
