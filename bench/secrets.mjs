#!/usr/bin/env node
// Secret detection: hostleak's own catalogue (src/engine/kit/secrets.ts + the secret rules) against secretlint's
// recommended preset (@secretlint/secretlint-rule-preset-recommend, MIT), on the same files.
//   node bench/secrets.mjs [ROOT...]      (npm run build first)
// - recall: a tree with one planted leak per format issue 26 lists, written as each tool writes it; hostleak is
//   run as a user runs it (the CLI, every rule), secretlint on every file of the tree;
// - false positives on pristine roots: the Debian 12 roots bench/accuracy.mjs builds with debootstrap
//   (bench/out/accuracy/debian12-*), or the ROOTs given: hostleak's secret findings at warning or above (CLI) and
//   its detectors' raw hits (before the package database), secretlint's hits on the same text files;
// - speed: MB/s of each detector over the same text files held in memory (one process, same invocation), and
//   hostleak's cost of searching binary files' printable strings (before: binaries skipped; after: searched).
// secretlint is installed into bench/out/secretlint (npm install, ~1.5 MB, 8 packages) on first run: it is not
// a dependency of hostleak.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli, here, repo } from './lib.mjs';

const kit = await import(pathToFileURL(path.join(repo, 'dist/src/engine/kit/index.js')).href);
const SECRET_RULES = new Set(['secret-token', 'private-key', 'credential-file', 'git-remote-credentials', 'network-secret', 'baked-ssh-host-key']);
const MAX_BYTES = 1024 * 1024;

async function secretlint() {
  const dir = path.join(here, 'out', 'secretlint');
  const core = path.join(dir, 'node_modules/@secretlint/core/module/index.js');
  if (!fs.existsSync(core)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '@secretlint/core@13', '@secretlint/secretlint-rule-preset-recommend@13'], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm install of secretlint failed');
  }
  const { lintSource } = await import(pathToFileURL(core).href);
  const preset = (await import(pathToFileURL(path.join(dir, 'node_modules/@secretlint/secretlint-rule-preset-recommend/module/index.js')).href)).creator;
  const version = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules/@secretlint/secretlint-rule-preset-recommend/package.json'), 'utf8')).version;
  const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: preset }] };
  return {
    version,
    async lint(filePath, content) {
      const r = await lintSource({ source: { filePath, content, ext: path.extname(filePath), contentType: 'text' }, options: { config, maskSecrets: true } });
      return r.messages.filter((m) => m.type === 'message' || m.severity === 'error' || m.severity === 'warning');
    },
  };
}

/** hostleak's content detectors, as the content rules apply them (tokens, keys, URL credentials). */
function hostleakHits(text) {
  return kit.findTokens(text).length + kit.findPrivateKeys(text).length + kit.findUrlCredentials(text).length;
}

// ---- the planted tree: one leak per format, written the way the tool writes it ----
function plantedTree() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hostleak-bench-secrets-'));
  const put = (p, c) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), c);
  };
  const t = (prefix, n, alphabet = 'A1b2C3d4E5f6G7h8J9k0') => prefix + Array.from({ length: n }, (_, i) => alphabet[(i * 7 + n) % alphabet.length]).join('');
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
  const privateKey = spawnSync('openssl', ['genpkey', '-algorithm', 'ed25519'], { encoding: 'utf8' }).stdout;
  const rsa = spawnSync('openssl', ['genpkey', '-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:2048'], { encoding: 'utf8' }).stdout;
  const leaks = [
    ['aws', 'root/.aws/credentials', `[default]\naws_access_key_id = ${t('AKIA', 16, 'QWERTYUIOPASDFGHJKLZ')}\naws_secret_access_key = ${t('', 40)}\n`],
    ['github', 'root/.bash_history', `export GITHUB_TOKEN=${t('ghp_', 36)}\n`],
    ['gitlab', 'etc/gitlab-runner/env', `CI_TOKEN=${t('glpat-', 20)}\n`],
    ['slack', 'etc/default/notify', `SLACK_TOKEN=${t('xoxb-1234567890-0987654321-', 24)}\n`],
    ['npm', 'root/.npmrc', `//registry.npmjs.org/:_authToken=${t('npm_', 36)}\n`],
    ['google-api', 'srv/web/config.js', `const key = "${t('AIza', 35)}";\n`],
    ['stripe', 'srv/shop/.env', `STRIPE_SECRET_KEY=${t('sk_live_', 24)}\n`],
    ['sendgrid', 'etc/mailer.conf', `api_key = ${t('SG.', 22)}.${t('', 43)}\n`],
    ['docker-hub', 'root/ci.sh', `echo ${t('dckr_pat_', 27)} | docker login -u bob --password-stdin\n`],
    ['pypi', 'root/.pypirc', `[pypi]\nusername = __token__\npassword = ${t('pypi-AgEIcHlwaS5vcmc', 60)}\n`],
    ['huggingface', 'root/.cache/huggingface/token', t('hf_', 34)],
    ['openai', 'srv/bot/.env', `OPENAI_API_KEY=${t('sk-proj-', 48)}\n`],
    ['pem-key', 'root/.ssh/id_ed25519', privateKey],
    ['gcp-service-account', 'opt/app/sa.json', JSON.stringify({ type: 'service_account', project_id: 'p', private_key_id: 'a', private_key: rsa, client_email: 'ci@p.iam.gserviceaccount.com' }, null, 2)],
    ['url-apt-sources', 'etc/apt/sources.list.d/corp.list', 'deb https://builder:Apt5ecretPw@apt.corp.example/debian bookworm main\n'],
    ['url-git-config', 'root/.gitconfig', '[url "https://bob:G1tPassw0rd@git.corp.example/"]\n\tinsteadOf = https://git.corp.example/\n'],
    ['url-pip-conf', 'etc/pip.conf', '[global]\nindex-url = https://bob:P1pPassw0rd@pypi.corp.example/simple\n'],
    ['dotenv-database-url', 'srv/api/.env', 'DATABASE_URL=postgres://app:Db5ecretPw@db:5432/app\n'],
    ['dotenv-secret-key-base', 'srv/rails/.env', `SECRET_KEY_BASE=${'0123456789abcdef'.repeat(8)}\n`],
    ['apt-auth-conf', 'etc/apt/auth.conf.d/corp.conf', 'machine apt.corp.example\nlogin builder\npassword Apt4uthPw\n'],
    ['maven-settings', 'root/.m2/settings.xml', '<settings><servers><server><id>corp</id><username>d</username><password>MvnPassw0rd</password></server></servers></settings>\n'],
    ['gcloud-adc', 'root/.config/gcloud/application_default_credentials.json', JSON.stringify({ client_id: 'x.apps.googleusercontent.com', client_secret: 'd-FL95Q19q7MQmFpd7hHD0Ty', refresh_token: '1//0g' + t('', 60), type: 'authorized_user' })],
    ['vault-token', 'root/.vault-token', t('hvs.', 24)],
    ['rubygems', 'root/.gem/credentials', `---\n:rubygems_api_key: ${t('rubygems_', 48, '0123456789abcdef')}\n`],
    ['cargo', 'root/.cargo/credentials.toml', `[registry]\ntoken = "${t('cio', 32)}"\n`],
    ['terraform', 'root/.terraform.d/credentials.tfrc.json', JSON.stringify({ credentials: { 'app.terraform.io': { token: `${t('', 14)}.atlasv1.${t('', 67)}` } } })],
    ['jwk-certbot', 'etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/0a1b/private_key.json', JSON.stringify({ n: t('', 64), e: 'AQAB', d: t('', 64), p: t('', 32), q: t('', 32), kty: 'RSA' })],
  ];
  for (const [, p, c] of leaks) put(p, c);
  // Placeholder traps: neither tool may report these.
  const traps = [
    ['etc/default/placeholders', `AWS_ACCESS_KEY_ID=AKIA${'X'.repeat(16)}\nAWS_SECRET_ACCESS_KEY=${'X'.repeat(40)}\nNPM_TOKEN=npm_${'X'.repeat(36)}\nGITHUB_TOKEN=ghp_${'x'.repeat(36)}\n`],
    ['srv/api/.env.example', 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\n'],
    ['srv/web/README.md', 'export OPENAI_API_KEY=<your-key>\nexport STRIPE_KEY=sk_live_EXAMPLEEXAMPLEEXAMPLE00\n'],
  ];
  for (const [p, c] of traps) put(p, c);
  return { root, leaks, traps };
}

function walk(root, visit, rel = '') {
  let names;
  try {
    names = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const d of names) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) {
      if (!['/proc', '/sys', '/dev', '/run'].includes(r)) walk(root, visit, r);
    } else if (d.isFile()) visit(r);
  }
}

function readAll(root) {
  const text = [];
  const binary = [];
  walk(root, (p) => {
    if (kit.isBinaryName(p)) return;
    let data;
    try {
      const fd = fs.openSync(path.join(root, p), 'r');
      const buf = Buffer.alloc(Math.min(MAX_BYTES, fs.fstatSync(fd).size));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      fs.closeSync(fd);
      data = buf.subarray(0, n);
    } catch {
      return;
    }
    if (data.length === 0) return;
    (kit.isBinary(data) ? binary : text).push({ path: p, data });
  });
  return { text, binary };
}

function scanCli(root) {
  const r = spawnSync(process.execPath, [cli, 'scan', root, '--backend', 'dir', '--format', 'json', '--fail-on', 'never'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const t0 = JSON.parse(r.stdout).targets[0];
  return t0.findings;
}

const sl = await secretlint();
console.log(`secretlint-rule-preset-recommend ${sl.version}, hostleak ${JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).version} (dist)`);

// ---- recall ----
const planted = plantedTree();
const findings = scanCli(planted.root).filter((f) => f.severity !== 'info');
console.log(`\n== recall on ${planted.leaks.length} planted leaks (issue 26 formats), and ${planted.traps.length} placeholder files`);
console.log('format                       hostleak  secretlint');
let hl = 0;
let sc = 0;
for (const [name, p, c] of planted.leaks) {
  const h = findings.some((f) => f.path === `/${p}`);
  const s = (await sl.lint(`/${p}`, typeof c === 'string' ? c : '')).length > 0;
  hl += h ? 1 : 0;
  sc += s ? 1 : 0;
  console.log(`${name.padEnd(28)} ${(h ? 'found' : '-').padEnd(9)} ${s ? 'found' : '-'}`);
}
let hlTrap = 0;
let slTrap = 0;
for (const [p, c] of planted.traps) {
  hlTrap += findings.some((f) => f.path === `/${p}`) ? 1 : 0;
  slTrap += (await sl.lint(`/${p}`, c)).length > 0 ? 1 : 0;
}
console.log(`recall: hostleak ${hl}/${planted.leaks.length}, secretlint ${sc}/${planted.leaks.length}; placeholder files reported: hostleak ${hlTrap}/${planted.traps.length}, secretlint ${slTrap}/${planted.traps.length}`);
fs.rmSync(planted.root, { recursive: true, force: true });

// ---- false positives and speed on pristine roots ----
const args = process.argv.slice(2);
const roots = args.length > 0 ? args : fs.existsSync(path.join(here, 'out/accuracy'))
  ? fs.readdirSync(path.join(here, 'out/accuracy')).filter((n) => n.startsWith('debian12-') && fs.existsSync(path.join(here, 'out/accuracy', n, 'etc'))).map((n) => path.join(here, 'out/accuracy', n))
  : [];
if (roots.length === 0) console.log('\n(no pristine roots: run bench/accuracy.mjs first (debootstrap), or pass ROOT folders)');
for (const root of roots) {
  const { text, binary } = readAll(root);
  const mb = (files) => files.reduce((s, f) => s + f.data.length, 0) / 1e6;
  const strs = text.map((f) => f.data.toString('utf8'));
  // hostleak's detectors over the text files.
  let t = performance.now();
  let hlFiles = 0;
  for (const s of strs) hlFiles += hostleakHits(s) > 0 ? 1 : 0;
  const hlSec = (performance.now() - t) / 1000;
  // The same, plus binary files' printable strings (what the content pass now adds).
  t = performance.now();
  let binFiles = 0;
  for (const f of binary) binFiles += hostleakHits(kit.printableStrings(f.data)) > 0 ? 1 : 0;
  const binSec = (performance.now() - t) / 1000;
  // secretlint over the same text files.
  t = performance.now();
  let slFiles = 0;
  const slExamples = [];
  for (let i = 0; i < text.length; i++) {
    const m = await sl.lint(text[i].path, strs[i]);
    if (m.length > 0) {
      slFiles++;
      if (slExamples.length < 5) slExamples.push(`${text[i].path} (${m[0].ruleId})`);
    }
  }
  const slSec = (performance.now() - t) / 1000;
  const cliHigh = scanCli(root).filter((f) => SECRET_RULES.has(f.ruleId) && f.severity !== 'info');
  console.log(`\n== ${path.basename(root)}: ${text.length} text files (${mb(text).toFixed(1)} MB), ${binary.length} binary files (${mb(binary).toFixed(1)} MB)`);
  console.log(`hostleak  detectors: ${hlFiles} files with a hit, ${(mb(text) / hlSec).toFixed(0)} MB/s; CLI secret findings at warning+: ${cliHigh.length}${cliHigh.length ? ` (${cliHigh.slice(0, 5).map((f) => `${f.ruleId} ${f.path}`).join(', ')})` : ''}`);
  console.log(`hostleak  binaries' printable strings: ${binFiles} files with a hit, ${(mb(binary) / binSec).toFixed(0)} MB/s (${binSec.toFixed(2)} s added to ${hlSec.toFixed(2)} s)`);
  console.log(`secretlint preset: ${slFiles} files with a hit, ${(mb(text) / slSec).toFixed(1)} MB/s${slExamples.length ? ` (${slExamples.join(', ')})` : ''}`);
}
