import {
  defineRule,
  findTokens,
  isExampleSecret,
  isStorePath,
  joinPath,
  lines,
  redact,
  secretsKey,
  textScanOptions,
  entriesByName,
  TEXT_SCAN_OPTIONS,
} from '../src/engine/kit/index.js';

export interface GitCredential {
  /** Where it is: the remote or header key. */
  where: string;
  /** The URL or header with the secret redacted (safe to show). */
  shown: string;
  secret: string;
}

/** Credentials in a git config: `url = https://user:pass@host/...`, a token as the user name, an auth extraheader. */
export function gitConfigCredentials(text: string): GitCredential[] {
  const out: GitCredential[] = [];
  let section = '';
  for (const { line } of lines(text)) {
    const s = /^\s*\[([^\]]+)\]/.exec(line);
    if (s) { section = s[1]!.trim(); continue; }
    const kv = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!kv) continue;
    const key = kv[1]!.toLowerCase();
    const value = kv[2]!.replace(/^"|"$/g, '');
    if (key === 'url' || key === 'pushurl' || key === 'insteadof' || key === 'pushinsteadof') {
      const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/\s]+)@(.*)$/i.exec(value);
      if (!m) continue;
      const userinfo = m[2]!;
      const colon = userinfo.indexOf(':');
      // user:password, or a bare token as the user name (https://ghp_...@github.com/...).
      const secret = colon >= 0 ? userinfo.slice(colon + 1) : findTokens(userinfo).length > 0 || /^[A-Za-z0-9_-]{20,}$/.test(userinfo) ? userinfo : '';
      if (!secret || isExampleSecret(secret)) continue;
      const user = colon >= 0 ? userinfo.slice(0, colon) : '';
      out.push({ where: `[${section}] ${key}`, shown: `${m[1]}${user ? `${user}:` : ''}${redact(secret)}@${m[3]}`, secret });
    } else if (key === 'extraheader') {
      // actions/checkout persists `AUTHORIZATION: basic <base64>` here unless persist-credentials is false.
      const m = /^(authorization:\s*(?:basic|bearer|token)\s+)(\S+)/i.exec(value);
      if (m) out.push({ where: `[${section}] extraheader`, shown: `${m[1]}${redact(m[2]!)}`, secret: m[2]! });
    }
  }
  return out;
}

export default defineRule({
  meta: {
    id: 'git-remote-credentials',
    options: { ...TEXT_SCAN_OPTIONS },
    severity: 'error',
    tags: ['secret'],
    description: 'A .git folder\'s config holds credentials: a password or token in a remote URL, or an Authorization extraheader',
    remediation:
      'A repository was cloned into the image with credentials in its URL (or by actions/checkout with persisted ' +
      'credentials): the token is now in every copy. Revoke it, then clone with a credential helper or ' +
      'GIT_ASKPASS that is not written to disk, pass persist-credentials: false to actions/checkout, or remove ' +
      'the .git folder from the image.',
    references: ['https://git-scm.com/docs/git-config#Documentation/git-config.txt-httpextraHeader', 'https://github.com/actions/checkout#usage'],
  },
  async check({ inventory, fs, options, report }) {
    const { includeStore } = textScanOptions(options);
    const configs: string[] = [];
    for (const e of entriesByName(inventory).get('.git') ?? []) {
      if (e.type !== 'dir' || (!includeStore && isStorePath(e.path))) continue;
      const c = inventory.get(joinPath(e.path, 'config'));
      if (c?.type === 'file' && c.size > 0) configs.push(c.path);
    }
    await Promise.all(
      configs.map(async (p) => {
        const text = await fs.readText(p, { maxBytes: 1024 * 1024 });
        const creds = text ? gitConfigCredentials(text) : [];
        if (creds.length === 0) return;
        report({
          path: p,
          message: `${p} holds ${creds.length === 1 ? 'a credential' : `${creds.length} credentials`} (${[...new Set(creds.map((c) => c.where))].join(', ')})`,
          evidence: creds.slice(0, 3).map((c) => c.shown).join('; '),
          key: secretsKey(creds.map((c) => ({ kind: c.where, value: c.secret }))),
        });
      }),
    );
  },
});
