import picomatch from 'picomatch';
import { forEachEntry, baseName, defineRule, type Entry, isExampleSecret, lines, redact, secretsKey } from '../src/engine/kit/index.js';

export interface Credential {
  /** What the file holds, e.g. "a password for example.com". */
  what: string;
  /** The secret value (redacted before it is shown). */
  value: string;
  /** 1-based line it is on, when the format has lines. */
  line?: number;
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
];
const MATCHERS = KINDS.map((k) => ({ ...k, match: picomatch(k.glob, { dot: true }) }));
const NAMES = new Set(['.netrc', '_netrc', '.git-credentials', 'credentials', 'config.json', '.npmrc', 'npmrc', '.pypirc', 'nix.conf', 'hosts.yml', 'config']);
const KUBE_CONF = /\.conf$/;

export default defineRule({
  meta: {
    id: 'credential-file',
    severity: 'error',
    tags: ['secret'],
    description: 'A credential file (.netrc, .git-credentials, AWS, Docker, npm, PyPI, nix.conf access-tokens, gh, kubeconfig) holds a secret',
    remediation:
      "The builder's credentials were copied into the image (a home directory copied whole, a build step that " +
      'logged in). Rotate the secret now, remove the file, and pass credentials to the build through a secret ' +
      'mechanism that is not written to the target filesystem (e.g. Nix netrc-file on the builder only).',
    references: ['https://nix.dev/manual/nix/latest/command-ref/conf-file.html#conf-access-tokens', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    const candidates: Array<{ e: Entry; kind: (typeof MATCHERS)[number] }> = [];
    await forEachEntry(inventory, '/', (e) => {
      if (e.type !== 'file' && e.type !== 'symlink') return;
      const name = baseName(e.path);
      if (!NAMES.has(name) && !KUBE_CONF.test(name)) return;
      const kind = MATCHERS.find((k) => k.match(e.path));
      if (kind) candidates.push({ e, kind });
    });
    await Promise.all(
      candidates.map(async ({ e, kind }) => {
        const text = await fs.readText(e.path, { maxBytes: 1024 * 1024 });
        if (!text) return;
        const creds = kind.judge(text);
        if (creds.length === 0) return;
        const inStore = e.path.startsWith('/nix/store/');
        report({
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
