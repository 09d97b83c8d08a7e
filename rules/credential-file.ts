import picomatch from 'picomatch';
import {
  forEachEntry, defineRule, type Entry, findUrlCredentials, isExampleSecret, lines, redact, secretsKey, type Severity,
} from '../src/engine/kit/index.js';

export interface Credential {
  /** What the file holds, e.g. "a password for example.com". */
  what: string;
  /** The secret value (redacted before it is shown). */
  value: string;
  /** 1-based line it is on, when the format has lines. */
  line?: number;
  /** Lower than the rule's severity when the secret is protected (a passphrase-protected GnuPG key). */
  severity?: Severity;
}

type Judge = (text: string) => Credential[];

/** `key = value` / `key: value` lines (ini, yaml, npmrc, nix.conf) whose key matches. */
function keyed(text: string, keyRe: RegExp, what: (key: string) => string, equalsOnly = false): Credential[] {
  const out: Credential[] = [];
  const lineRe = equalsOnly
    ? /^\s*["']?([^=#;\s"']+)["']?\s*=\s*(.*?)\s*$/
    : /^\s*(?:-\s*)?["']?([^=:#;\s"']+)["']?\s*[=:]\s*(.*?)\s*$/;
  for (const { line, n } of lines(text)) {
    const m = lineRe.exec(line);
    if (!m || !keyRe.test(m[1]!)) continue;
    const value = m[2]!.replace(/^["']|["']$/g, '');
    // An empty value or a reference to the environment (${NPM_TOKEN}) is not a credential.
    if (value === '' || /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(value) || value === 'null' || value === '~' || isExampleSecret(value)) continue;
    // A value that is a URL counts only for a password inside it (urls below).
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) continue;
    out.push({ what: what(m[1]!), value, line: n });
  }
  return out;
}

const netrc: Judge = (text) => {
  const out: Credential[] = [];
  const words = text.split(/\s+/).filter(Boolean);
  let machine = 'default';
  for (let i = 0; i < words.length; i++) {
    if (words[i] === 'machine') machine = words[i + 1] ?? machine;
    if ((words[i] === 'password' || words[i] === 'account') && words[i + 1]) out.push({ what: `a password for ${machine}`, value: words[i + 1]! });
  }
  return out;
};

const gitCredentials: Judge = (text) => {
  const out: Credential[] = [];
  for (const { line, n } of lines(text)) {
    const m = /^\s*[a-z][a-z0-9+.-]*:\/\/([^:@/\s]*):([^@\s]+)@([^/\s]+)/i.exec(line);
    if (m) out.push({ what: `a password for ${m[1]}@${m[3]}`, value: decodeURIComponent(m[2]!), line: n });
  }
  return out;
};

const dockerConfig: Judge = (text) => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const auths = (json as { auths?: Record<string, Record<string, unknown>> })?.auths;
  if (!auths || typeof auths !== 'object') return [];
  const out: Credential[] = [];
  for (const [registry, entry] of Object.entries(auths)) {
    for (const k of ['auth', 'identitytoken', 'password', 'registrytoken']) {
      const v = entry?.[k];
      if (typeof v === 'string' && v !== '') out.push({ what: `registry credentials for ${registry}`, value: v });
    }
  }
  return out;
};

/** Passwords inside URLs, anywhere in the file (apt sources, pip.conf index-url, git config, DATABASE_URL). */
const urls: Judge = (text) =>
  findUrlCredentials(text).map((c) => ({
    what: c.user ? `a password for ${c.user}@${c.host} in a URL` : `a token for ${c.host} in a URL`,
    value: c.secret,
    line: text.slice(0, c.index).split('\n').length,
  }));

const both = (...judges: Judge[]): Judge => (text) => judges.flatMap((j) => j(text));

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** String values of `keys` anywhere in a JSON document (bounded depth). */
function jsonValues(json: unknown, keys: RegExp, depth = 0, path = ''): Array<{ key: string; value: string; path: string }> {
  if (depth > 8 || json === null || typeof json !== 'object') return [];
  const out: Array<{ key: string; value: string; path: string }> = [];
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    if (typeof v === 'string' && keys.test(k) && v !== '' && !isExampleSecret(v)) out.push({ key: k, value: v, path });
    else if (v && typeof v === 'object') out.push(...jsonValues(v, keys, depth + 1, path ? `${path}.${k}` : k));
  }
  return out;
}

/** Maven settings.xml: `<password>` (and `<passphrase>`, `<privateKey>`-less) values outside XML comments. */
const mavenSettings: Judge = (text) => {
  const out: Credential[] = [];
  const uncommented = text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
  for (const m of uncommented.matchAll(/<(password|passphrase)>\s*([^<]*?)\s*<\/\1>/g)) {
    const v = m[2]!;
    if (v === '' || isExampleSecret(v)) continue;
    const server = /<id>([^<]*)<\/id>/.exec(uncommented.slice(Math.max(0, (m.index ?? 0) - 400), m.index))?.[1];
    out.push({ what: `a Maven ${m[1]}${server ? ` for server ${server}` : ''}`, value: v, line: uncommented.slice(0, m.index).split('\n').length });
  }
  return out;
};

/** A file whose whole content is the secret (Vault's ~/.vault-token). */
const wholeFile = (what: string): Judge => (text) => {
  const v = text.trim();
  return v === '' || v.includes('\n') || isExampleSecret(v) ? [] : [{ what, value: v, line: 1 }];
};

/** `.env` files: KEY=value where the key names a secret, and URLs with a password (DATABASE_URL). */
const SECRET_KEY = /(?:PASSWORD|PASSWD|_PASS$|^PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|SALT)/i;
const dotenv: Judge = (text) => {
  const out: Credential[] = [];
  for (const { line, n } of lines(text)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const value = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
    if (SECRET_KEY.test(m[1]!) && value !== '' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !isExampleSecret(value) && !/^(?:true|false|\d{1,6})$/i.test(value)) {
      out.push({ what: `${m[1]}`, value, line: n });
    }
  }
  return [...out, ...urls(text)];
};

/** GnuPG's private-keys-v1.d/<keygrip>.key: `(private-key` unprotected, `(protected-private-key` with a passphrase. */
const gnupgKey: Judge = (text) => {
  if (text.includes('protected-private-key')) {
    return [{ what: 'a GnuPG secret key (passphrase-protected)', value: text.slice(0, 4096), severity: 'warning' }];
  }
  if (text.includes('private-key')) return [{ what: 'a GnuPG secret key without a passphrase', value: text.slice(0, 4096) }];
  return [];
};

/** systemd's credential.secret: the host key systemd-creds encrypts credentials with (binary, any size > 0). */
const systemdCredentialSecret: Judge = (text) =>
  // Binary: shown (redacted) as hex, never as the raw bytes.
  text.length > 0 ? [{ what: "systemd-creds' host key (every credential encrypted for this image can be decrypted by anyone with it)", value: Buffer.from(text).toString('hex') }] : [];

/** Which judge applies to which file: glob over the path, evaluated on every regular file (outside the store too). */
const KINDS: Array<{ glob: string[]; label: string; judge: Judge }> = [
  { glob: ['/**/.netrc', '/**/_netrc'], label: '.netrc', judge: netrc },
  { glob: ['/**/.git-credentials', '/**/.config/git/credentials'], label: '.git-credentials', judge: gitCredentials },
  {
    glob: ['/**/.aws/credentials'],
    label: 'AWS credentials',
    judge: (t) => keyed(t, /^aws_(secret_access_key|session_token)$/i, (k) => `an ${k}`),
  },
  { glob: ['/**/.docker/config.json'], label: 'Docker config', judge: dockerConfig },
  {
    glob: ['/**/.npmrc', '/etc/npmrc', '/**/etc/npmrc'],
    label: '.npmrc',
    judge: (t) => keyed(t, /(?:^|:)_(authToken|auth|password)$/, (k) => `an npm ${k.replace(/^.*:/, '')}`, true),
  },
  { glob: ['/**/.pypirc'], label: '.pypirc', judge: (t) => keyed(t, /^password$/i, () => 'a package index password') },
  { glob: ['/**/nix.conf'], label: 'nix.conf', judge: (t) => keyed(t, /^access-tokens$/, () => 'Nix access-tokens') },
  { glob: ['/**/.config/gh/hosts.yml'], label: 'GitHub CLI hosts.yml', judge: (t) => keyed(t, /^oauth_token$/, () => 'a GitHub OAuth token') },
  {
    glob: ['/**/.kube/config', '/etc/kubernetes/*.conf'],
    label: 'kubeconfig',
    judge: (t) => keyed(t, /^(token|client-key-data|password|id-token|refresh-token)$/, (k) => `a Kubernetes ${k}`),
  },
  { glob: ['/etc/apt/auth.conf', '/etc/apt/auth.conf.d/*'], label: 'apt auth.conf', judge: netrc },
  { glob: ['/etc/apt/sources.list', '/etc/apt/sources.list.d/*'], label: 'apt sources', judge: urls },
  {
    glob: ['/etc/pip.conf', '/etc/xdg/pip/pip.conf', '/**/.config/pip/pip.conf', '/**/.pip/pip.conf'],
    label: 'pip.conf',
    judge: both(urls, (t) => keyed(t, /^password$/i, () => 'a package index password')),
  },
  { glob: ['/etc/gitconfig', '/**/.gitconfig', '/**/.config/git/config'], label: 'git config', judge: urls },
  { glob: ['/**/.m2/settings.xml', '/etc/maven/settings.xml', '/usr/share/maven/conf/settings.xml', '/**/maven/conf/settings.xml'], label: 'Maven settings.xml', judge: mavenSettings },
  {
    glob: ['/**/.config/gcloud/application_default_credentials.json', '/**/.config/gcloud/legacy_credentials/*/adc.json'],
    label: 'gcloud application-default credentials',
    judge: (t) => jsonValues(parseJson(t), /^(refresh_token|private_key)$/).map((v) => ({ what: `a Google ${v.key}`, value: v.value })),
  },
  { glob: ['/**/.vault-token'], label: 'Vault token file', judge: wholeFile('a HashiCorp Vault token') },
  {
    glob: ['/**/.gem/credentials', '/**/.local/share/gem/credentials'],
    label: 'RubyGems credentials',
    judge: (t) => keyed(t.replace(/^(\s*):/gm, '$1'), /^[a-z_]*api_key$/, (k) => `a RubyGems ${k}`),
  },
  { glob: ['/**/.cargo/credentials.toml', '/**/.cargo/credentials'], label: 'Cargo credentials', judge: (t) => keyed(t, /^token$/, () => 'a Cargo registry token', true) },
  {
    glob: ['/**/.terraform.d/credentials.tfrc.json'],
    label: 'Terraform credentials',
    judge: (t) => jsonValues(parseJson(t), /^token$/).map((v) => ({ what: `a Terraform token for ${v.path.replace(/^credentials\./, '')}`, value: v.value })),
  },
  { glob: ['/**/.env', '/**/.env.*', '/**/*.env'], label: '.env', judge: dotenv },
  { glob: ['/**/private-keys-v1.d/*.key'], label: 'GnuPG private key', judge: gnupgKey },
  { glob: ['/var/lib/systemd/credential.secret'], label: 'systemd credential secret', judge: systemdCredentialSecret },
];
/**
 * A test of a path's last component that every path a kind's globs match passes (`*` may match nothing here), so
 * the glob is compiled (picomatch, ~0.1 ms a pattern) only when a file might be one: a scan compiles a few, not all.
 */
function lastComponent(globs: string[]): RegExp {
  const parts = globs.map((g) => g.slice(g.lastIndexOf('/') + 1));
  if (parts.some((p) => !/^[\w.*-]+$/.test(p))) return /(?:)/;
  return new RegExp(`^(?:${parts.map((p) => p.replace(/\./g, '\\.').replace(/\*/g, '.*')).join('|')})$`);
}
const MATCHERS = KINDS.map((k) => {
  let match: ((path: string) => boolean) | undefined;
  const last = lastComponent(k.glob);
  return { ...k, match: (path: string, name: string) => last.test(name) && (match ??= picomatch(k.glob, { dot: true }))(path) };
});
const NAMES = new Set([
  '.netrc', '_netrc', '.git-credentials', 'credentials', 'config.json', '.npmrc', 'npmrc', '.pypirc', 'nix.conf', 'hosts.yml', 'config',
  'auth.conf', 'sources.list', 'pip.conf', 'gitconfig', '.gitconfig', 'settings.xml', 'application_default_credentials.json', 'adc.json',
  '.vault-token', 'credentials.toml', 'credentials.tfrc.json', '.env', 'credential.secret',
]);
/** Names judged by their folder or suffix: kubeconfigs (*.conf), apt's *.d folders, .env variants, GnuPG keys. */
const OTHER_NAMES = /\.conf$|\.list$|\.sources$|^\.env\.|\.env$|\.key$/;
/** .env templates meant to be copied and filled in: placeholders, not credentials. */
const ENV_TEMPLATE = /\.(?:example|sample|template|dist|defaults?|tpl|in)$/;

export default defineRule({
  meta: {
    id: 'credential-file',
    severity: 'error',
    tags: ['secret'],
    description:
      'A credential file (.netrc, .git-credentials, AWS, Docker, npm, PyPI, nix.conf access-tokens, gh, kubeconfig, apt auth.conf, ' +
      'Maven, gcloud, Vault, RubyGems, Cargo, Terraform, .env, GnuPG, systemd-creds) or a URL in apt sources, pip.conf or git config holds a secret',
    remediation:
      "The builder's credentials were copied into the image (a home directory copied whole, a build step that " +
      'logged in). Rotate the secret now, remove the file, and pass credentials to the build through a secret ' +
      'mechanism that is not written to the target filesystem (e.g. Nix netrc-file on the builder only).',
    references: ['https://nix.dev/manual/nix/latest/command-ref/conf-file.html#conf-access-tokens', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  // The credential file is the leak; a token another rule finds in it is the same one.
  coversFile: true,
  async check({ inventory, fs, report }) {
    const candidates: Array<{ e: Entry; kind: (typeof MATCHERS)[number] }> = [];
    await forEachEntry(
      inventory,
      '/',
      (e) => {
        const kind = MATCHERS.find((k) => k.match(e.path, e.name));
        if (kind) candidates.push({ e: e.entry(), kind });
      },
      { types: ['file', 'symlink'], names: (name) => (NAMES.has(name) || OTHER_NAMES.test(name)) && !ENV_TEMPLATE.test(name) },
    );
    await Promise.all(
      candidates.map(async ({ e, kind }) => {
        const text = await fs.readText(e.path, { maxBytes: 1024 * 1024 });
        if (!text) return;
        const creds = kind.judge(text);
        if (creds.length === 0) return;
        const inStore = e.path.startsWith('/nix/store/');
        const severity = inStore ? undefined : creds.every((c) => c.severity) ? creds[0]!.severity : undefined;
        report({
          ...(severity ? { severity } : {}),
          path: e.path,
          message:
            `${e.path} (${kind.label}) holds ${creds[0]!.what}` +
            (creds.length > 1 ? ` and ${creds.length - 1} more secret${creds.length > 2 ? 's' : ''}` : '') +
            (inStore ? ', world-readable in /nix/store' : ''),
          evidence: creds.slice(0, 3).map((c) => redact(c.value)).join(', '),
          // The file's kind and its secrets' values (hashed): a rotated secret is a new finding.
          key: secretsKey(creds.map((c) => ({ kind: kind.label, value: c.value }))),
          line: creds[0]!.line,
        });
      }),
    );
  },
});
