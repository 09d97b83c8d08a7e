/**
 * Issue 26's missed secret families, each planted in a root tree the way the real tool writes it (dropbearkey, gpg,
 * openssl pkcs12, systemd-creds, git config, node's JWK export; the documented file formats where the tool needs
 * an account or the network: Cargo, Terraform, gcloud, RubyGems, Maven), scanned through the CLI: every family is
 * found at its severity (in a gcc-built binary too: a token, the builder's home and build folder compiled in), the placeholder traps beside them are not reported at warning or above, and no output
 * format holds a planted secret.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FORMATS, type Finding, type Report } from '../../src/types.js';
import { hostleak, json } from '../helpers/cli.js';
import {
  FAKE_DOCKERHUB_TOKEN, FAKE_GOOGLE_API_KEY, FAKE_HF_TOKEN, FAKE_OPENAI_KEY, FAKE_PYPI_TOKEN, FAKE_RUBYGEMS_KEY,
  FAKE_CRATES_TOKEN, FAKE_SENDGRID_KEY, FAKE_STRIPE_KEY, FAKE_TERRAFORM_TOKEN, FAKE_VAULT_TOKEN,
} from '../helpers/fake-secrets.js';

const APT_PASS = 'APTsrcFAKEpass9c1e';
const APT_AUTH = 'APTauthFAKEpass77c1';
const GIT_PASS = 'GITcfgFAKEpass31ab';
const PIP_PASS = 'PIPcfgFAKEpasse2a1';
const DB_PASS = 'DBenvFAKEpass81f2';
const SECRET_KEY_BASE = randomBytes(64).toString('hex');
const MAVEN_PASS = 'MVNsettingsFAKEpass4d';
const GCLOUD_REFRESH = '1//0gFAKEfakeFAKEfake-hostleak-tests-refresh-token-0123456789';

/** What each family's finding must be: path, rule, severity. */
const EXPECTED: Array<{ path: string; ruleId: string; severity: 'error' | 'warning' }> = [];
const expect_ = (p: string, ruleId: string, severity: 'error' | 'warning' = 'error') => EXPECTED.push({ path: p, ruleId, severity });

let work: string;
let root: string;
/** Every secret planted, as it would appear in an output if it leaked. */
const secrets: string[] = [
  APT_PASS, APT_AUTH, GIT_PASS, PIP_PASS, DB_PASS, SECRET_KEY_BASE, MAVEN_PASS, GCLOUD_REFRESH, FAKE_VAULT_TOKEN,
  FAKE_RUBYGEMS_KEY, FAKE_CRATES_TOKEN, FAKE_TERRAFORM_TOKEN, FAKE_GOOGLE_API_KEY, FAKE_STRIPE_KEY, FAKE_SENDGRID_KEY,
  FAKE_DOCKERHUB_TOKEN, FAKE_PYPI_TOKEN, FAKE_HF_TOKEN, FAKE_OPENAI_KEY,
];

function put(p: string, content: string | Buffer, mode?: number): void {
  const full = path.join(root, p);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
  if (mode !== undefined) chmodSync(full, mode);
}
const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });

/** Long runs of key material from a binary or text key file (hex or base64 of 32+ characters). */
function keyMaterial(file: string): string[] {
  const data = readFileSync(path.join(root, file));
  return [data.toString('base64').slice(0, 64), data.subarray(data.length - 48).toString('hex'), ...(data.toString('latin1').match(/[0-9A-F]{40,}|[A-Za-z0-9+/]{40,}/g) ?? [])];
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hostleak-secrets-'));
  root = path.join(work, 'root');
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
  put('etc/group', 'root:x:0:\nalice:x:1000:\n');

  // URLs with credentials: apt sources, git config (git itself writes it), pip.conf (pip's configparser format).
  put('etc/apt/sources.list.d/private.list', `deb https://builder:${APT_PASS}@apt.example.org/debian bookworm main\n`);
  expect_('/etc/apt/sources.list.d/private.list', 'credential-file');
  mkdirSync(path.join(root, 'root'), { recursive: true });
  run('git', ['config', '--file', path.join(root, 'root/.gitconfig'), `url.https://bob:${GIT_PASS}@git.example.org/.insteadOf`, 'https://git.example.org/']);
  expect_('/root/.gitconfig', 'credential-file');
  put('etc/pip.conf', `[global]\nindex-url = https://bob:${PIP_PASS}@pypi.example.org/simple\n`);
  expect_('/etc/pip.conf', 'credential-file');
  put('srv/app/.env', `RAILS_ENV=production\nDATABASE_URL=postgres://app:${DB_PASS}@db.internal:5432/app\nSECRET_KEY_BASE=${SECRET_KEY_BASE}\n`);
  expect_('/srv/app/.env', 'credential-file');

  // Credential files.
  put('etc/apt/auth.conf.d/private.conf', `machine apt.example.org\nlogin builder\npassword ${APT_AUTH}\n`, 0o600);
  expect_('/etc/apt/auth.conf.d/private.conf', 'credential-file');
  put('root/.m2/settings.xml', `<settings>\n  <servers>\n    <server>\n      <id>corp-nexus</id>\n      <username>deploy</username>\n      <password>${MAVEN_PASS}</password>\n    </server>\n  </servers>\n</settings>\n`);
  expect_('/root/.m2/settings.xml', 'credential-file');
  put('root/.config/gcloud/application_default_credentials.json', JSON.stringify({
    account: '', client_id: '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
    client_secret: 'd-FL95Q19q7MQmFpd7hHD0Ty', quota_project_id: 'hostleak-tests', refresh_token: GCLOUD_REFRESH, type: 'authorized_user', universe_domain: 'googleapis.com',
  }, null, 2));
  expect_('/root/.config/gcloud/application_default_credentials.json', 'credential-file');
  put('root/.vault-token', FAKE_VAULT_TOKEN, 0o600);
  expect_('/root/.vault-token', 'credential-file');
  put('root/.gem/credentials', `---\n:rubygems_api_key: ${FAKE_RUBYGEMS_KEY}\n`, 0o600);
  expect_('/root/.gem/credentials', 'credential-file');
  put('root/.cargo/credentials.toml', `[registry]\ntoken = "${FAKE_CRATES_TOKEN}"\n`, 0o600);
  expect_('/root/.cargo/credentials.toml', 'credential-file');
  put('root/.terraform.d/credentials.tfrc.json', JSON.stringify({ credentials: { 'app.terraform.io': { token: FAKE_TERRAFORM_TOKEN } } }, null, 2));
  expect_('/root/.terraform.d/credentials.tfrc.json', 'credential-file');

  // A GCP service-account key: its PEM has \n escapes inside the JSON string.
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  put('opt/app/service-account.json', JSON.stringify({ type: 'service_account', project_id: 'hostleak-tests', private_key_id: 'a1b2c3', private_key: sa, client_email: 'ci@hostleak-tests.iam.gserviceaccount.com' }, null, 2));
  expect_('/opt/app/service-account.json', 'private-key');
  secrets.push(...sa.split('\n').filter((l) => l && !l.startsWith('-----')));

  // Token formats in a service's config.
  put('etc/default/app', [FAKE_GOOGLE_API_KEY, FAKE_STRIPE_KEY, FAKE_SENDGRID_KEY, FAKE_DOCKERHUB_TOKEN, FAKE_PYPI_TOKEN, FAKE_HF_TOKEN, FAKE_OPENAI_KEY].map((t, i) => `KEY${i}="${t}"`).join('\n') + '\n');
  expect_('/etc/default/app', 'secret-token');

  // Dropbear host keys, made by dropbearkey as dropbear's postinst does.
  mkdirSync(path.join(root, 'etc/dropbear'), { recursive: true });
  run('dropbearkey', ['-t', 'ed25519', '-f', path.join(root, 'etc/dropbear/dropbear_ed25519_host_key')]);
  expect_('/etc/dropbear/dropbear_ed25519_host_key', 'baked-ssh-host-key');
  secrets.push(readFileSync(path.join(root, 'etc/dropbear/dropbear_ed25519_host_key')).subarray(-64).toString('hex'));

  // GnuPG secret keys, made by gpg: one without a passphrase (error), one with (warning).
  for (const [home, pass] of [['root/.gnupg', ''], ['home/alice/.gnupg', 'correct horse battery']] as const) {
    const dir = path.join(root, home);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    run('gpg', ['--homedir', dir, '--batch', '--pinentry-mode', 'loopback', '--passphrase', pass, '--quick-gen-key', 'Builder <builder@example.org>', 'ed25519']);
    run('gpgconf', ['--homedir', dir, '--kill', 'all']);
    for (const f of readdirSync(path.join(dir, 'private-keys-v1.d'))) {
      const p = `/${home}/private-keys-v1.d/${f}`;
      expect_(p, 'credential-file', pass ? 'warning' : 'error');
      const d = /\(d #([0-9A-F]+)#\)/.exec(readFileSync(path.join(root, p), 'latin1'))?.[1];
      if (d) secrets.push(d);
    }
    rmSync(path.join(dir, 'S.gpg-agent'), { force: true });
  }

  // PKCS#12 made by openssl: the empty password and no encryption at all are both open; a password is not.
  const key = path.join(work, 'k.pem');
  const crt = path.join(work, 'c.pem');
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-subj', '/CN=hostleak-test', '-days', '1']);
  mkdirSync(path.join(root, 'etc/ssl/private'), { recursive: true });
  run('openssl', ['pkcs12', '-export', '-in', crt, '-inkey', key, '-passout', 'pass:', '-out', path.join(root, 'etc/ssl/private/empty.p12')]);
  run('openssl', ['pkcs12', '-export', '-in', crt, '-inkey', key, '-keypbe', 'NONE', '-certpbe', 'NONE', '-passout', 'pass:', '-out', path.join(root, 'etc/ssl/private/plain.pfx')]);
  run('openssl', ['pkcs12', '-export', '-in', crt, '-inkey', key, '-passout', 'pass:a-real-passphrase', '-out', path.join(root, 'etc/ssl/private/protected.p12')]);
  expect_('/etc/ssl/private/empty.p12', 'private-key');
  expect_('/etc/ssl/private/plain.pfx', 'private-key');
  secrets.push(...keyMaterial('etc/ssl/private/plain.pfx'));

  // certbot's account key: a JWK with "d".
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const certbot = 'etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/0123456789abcdef0123456789abcdef/private_key.json';
  put(certbot, JSON.stringify(jwk), 0o400);
  expect_(`/${certbot}`, 'secret-token');
  secrets.push(jwk.d!, jwk.p!);

  // systemd-creds' host key, written by systemd-creds setup.
  mkdirSync(path.join(root, 'var/lib/systemd'), { recursive: true });
  run('systemd-creds', ['setup'], { SYSTEMD_CREDENTIAL_SECRET: path.join(root, 'var/lib/systemd/credential.secret') });
  expect_('/var/lib/systemd/credential.secret', 'credential-file');
  secrets.push(readFileSync(path.join(root, 'var/lib/systemd/credential.secret')).subarray(-64).toString('hex'));

  // A binary: gcc compiles a token and the builder's home into it, and records its build folder (/build/...,
  // as sbuild's) in the debug info.
  const src = path.join(work, 'app.c');
  writeFileSync(src, `#include <stdio.h>\nstatic const char *token = "${FAKE_HF_TOKEN}";\nstatic const char *conf = "/home/ci-builder/src/app/app.conf";\nint main(void) { puts(token); puts(conf); return 0; }\n`);
  mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
  run('gcc', ['-g', '-O0', `-fdebug-prefix-map=${work}=/build/app-1.0`, '-o', path.join(root, 'usr/local/bin/app'), src]);
  expect_('/usr/local/bin/app', 'secret-token');
  expect_('/usr/local/bin/app', 'build-path-reference', 'warning');
  expect_('/usr/local/bin/app', 'host-identity-reference', 'warning');

  // Placeholder traps: none of these may be reported at warning or above.
  const X = (n: number, c = 'X') => c.repeat(n);
  put('etc/default/placeholders', `AWS_ACCESS_KEY_ID=AKIA${X(16)}\nAWS_SECRET_ACCESS_KEY=${X(40)}\nNPM_TOKEN=npm_${X(36)}\nGITHUB_TOKEN=ghp_${X(36, 'x')}\nSTRIPE_KEY=sk_live_${X(24, '0')}\n`);
  put('srv/app/.env.example', 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\nSECRET_KEY_BASE=changeme\n');
  put('srv/other/.env', 'DATABASE_URL=postgres://app:<password>@db:5432/app\nSECRET_KEY_BASE=${SECRET_KEY_BASE}\nAPI_KEY=your-api-key-here\n');
  put('home/alice/.m2/settings.xml', '<settings><servers><server><id>x</id><password>changeme</password></server></servers>\n<!-- <password>commented-out-real-looking-pass</password> -->\n</settings>\n');
  put('etc/apt/sources.list', 'deb https://deb.debian.org/debian bookworm main\n');
}, 120_000);

afterAll(() => { if (!process.env.H26KEEP) rmSync(work, { recursive: true, force: true }); });

const scan = (format: string) =>
  hostleak(['scan', root, '--backend', 'dir', '--format', format, '--fail-on', 'never', '--host-user', 'nobody-here', '--host-home', '/home/ci-builder']);

describe('issue 26 secret families planted by their tools', () => {
  let findings: Finding[];
  beforeAll(() => {
    const r = scan('json');
    expect(r.status).toBe(0);
    findings = json<Report>(r).targets[0]!.findings;
  });

  it('finds every family at its severity', () => {
    const got = (p: string, ruleId: string) => findings.filter((f) => f.path === p && f.ruleId === ruleId).map((f) => f.severity);
    expect(EXPECTED.map((e) => `${e.ruleId} ${e.path} ${got(e.path, e.ruleId).join(',')}`)).toEqual(EXPECTED.map((e) => `${e.ruleId} ${e.path} ${e.severity}`));
  });

  it('reports no placeholder and no password-protected PKCS#12 at warning or above, and one finding per key file', () => {
    const high = findings.filter((f) => f.severity !== 'info');
    expect(high.filter((f) => /placeholders|\.env\.example|\/srv\/other|alice\/\.m2|protected\.p12|sources\.list$/.test(f.path)).map((f) => `${f.ruleId} ${f.path}`)).toEqual([]);
    const keyFiles = high.filter((f) => f.path === '/opt/app/service-account.json');
    expect(keyFiles.map((f) => f.ruleId)).toEqual(['private-key']);
  });

  it.each([...FORMATS])('no planted secret in the %s output', (format) => {
    const r = scan(format);
    expect(r.status).toBe(0);
    const out = r.stdout + r.stderr;
    expect(out.length).toBeGreaterThan(100);
    expect(secrets.filter((s) => s.length >= 12 && out.includes(s))).toEqual([]);
  });
});
