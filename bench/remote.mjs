#!/usr/bin/env node
// Remote images (`hostleak scan http://...`): what fraction of an image an audit over range requests transfers, and
// what the audit costs next to the same audit of the local file, on a real nginx on the loopback (its own prefix and
// port). Every image is audited both ways in this run; the findings must be the same.
//   - the samples: images-sample/out/leaky.raw (64 MiB raw GPT disk), leaky.qcow2, leaky.vhdx;
//   - a large sparse image built here: a 20 GiB ext4 holding the leaky sample tree (mkfs.ext4 -d), as raw and as
//     qcow2 (qemu-img convert), cached under bench/out/.
// Bytes are nginx's $body_bytes_sent summed over the audit's requests.
//   node bench/remote.mjs            (wrap in `flock /tmp/heavy.lock` on a shared machine)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const bin = path.join(repo, 'dist/src/bin/hostleak.js');
const samples = path.join(repo, 'images-sample/out');
const out = path.join(here, 'out', 'remote');
mkdirSync(out, { recursive: true });

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return r;
}

/** The large sparse image: 20 GiB ext4 with the leaky sample tree, raw and qcow2. */
function largeImages() {
  const raw = path.join(out, 'sparse-20g.ext4.raw');
  const qcow2 = path.join(out, 'sparse-20g.ext4.qcow2');
  if (!existsSync(qcow2)) {
    rmSync(raw, { force: true });
    run('truncate', ['-s', '20G', raw]);
    run('mkfs.ext4', ['-q', '-F', '-L', 'nixos', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-d', path.join(samples, 'leaky'), raw]);
    run('qemu-img', ['convert', '-O', 'qcow2', raw, qcow2]);
  }
  return [raw, qcow2];
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

async function nginx(roots) {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-nginx-'));
  const port = await freePort();
  const log = path.join(prefix, 'access.log');
  const locations = Object.entries(roots)
    .map(([name, dir]) => `location /${name}/ { alias ${dir}/; }`)
    .join('\n    ');
  writeFileSync(
    path.join(prefix, 'nginx.conf'),
    `worker_processes 1; pid ${prefix}/nginx.pid; error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  log_format counted '$uri\\t$status\\t$body_bytes_sent';
  access_log ${log} counted;
  client_body_temp_path ${prefix}/b; proxy_temp_path ${prefix}/p; fastcgi_temp_path ${prefix}/f; uwsgi_temp_path ${prefix}/u; scgi_temp_path ${prefix}/s;
  server { listen 127.0.0.1:${port}; ${locations} }
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    url: `http://127.0.0.1:${port}`,
    lines,
    stop: () => {
      child.kill('SIGQUIT');
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function audit(target) {
  const t0 = process.hrtime.bigint();
  const r = run(process.execPath, [bin, 'scan', '--format', 'json', '--backend', 'auto', target]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const t = JSON.parse(r.stdout).targets[0];
  return { ms, status: t.status, backend: t.backend, findings: t.findings.map((f) => `${f.ruleId} ${f.path}`).sort().join('\n'), n: t.findings.length };
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const [bigRaw, bigQcow2] = largeImages();
const web = await nginx({ samples, large: out });
try {
  const images = [
    ['leaky.raw', path.join(samples, 'leaky.raw'), `${web.url}/samples/leaky.raw`],
    ['leaky.qcow2', path.join(samples, 'leaky.qcow2'), `${web.url}/samples/leaky.qcow2`],
    ['leaky.vhdx', path.join(samples, 'leaky.vhdx'), `${web.url}/samples/leaky.vhdx`],
    ['20 GiB sparse ext4, raw', bigRaw, `${web.url}/large/${path.basename(bigRaw)}`],
    ['20 GiB sparse ext4, qcow2', bigQcow2, `${web.url}/large/${path.basename(bigQcow2)}`],
  ];
  console.log('remote images over HTTP range requests (nginx on 127.0.0.1), against the same audit of the local file');
  console.log('image | file size (allocated) | bytes sent | fraction | requests | findings same | local ms | remote ms');
  for (const [name, file, url] of images) {
    const local = audit(file);
    const before = web.lines().length;
    const remote = audit(url);
    const lines = web.lines().slice(before);
    const sent = lines.reduce((n, l) => n + Number(l.split('\t')[2]), 0);
    const st = statSync(file);
    const same = local.findings === remote.findings && local.status === remote.status;
    console.log(
      `${name} | ${mb(st.size)} (${mb(st.blocks * 512)}) | ${mb(sent)} | ${((100 * sent) / st.size).toFixed(2)}% | ${lines.length} | ${same ? 'yes' : 'NO'} (${remote.n}) | ${local.ms.toFixed(0)} | ${remote.ms.toFixed(0)}`,
    );
    if (!same) process.exitCode = 1;
  }
} finally {
  web.stop();
}
