/**
 * Well-known secret formats, shared by the secret-token and private-key rules and by every rule that quotes a line
 * of a file as evidence (which must redact any token on that line).
 */
import { isExampleSecret } from './example-secrets.js';
import { LiteralGroups } from './literal-groups.js';
import { redact } from './redact.js';

/** `scheme://user:password@host`: groups scheme, user, password, host (url-credentials.ts finds them). */
export const URL_CREDENTIAL_RE = /\b([a-z][a-z0-9+.-]{1,20}):\/\/([^\s:@/'"<>]{0,256}):([^\s@/'"<>]{1,512})@([A-Za-z0-9.[\]_-]{1,253})/gi;

export interface TokenKind {
  id: string;
  label: string;
  /** Global regex; capture group 1 (or the whole match) is the secret value. */
  re: RegExp;
}

export const TOKEN_KINDS: readonly TokenKind[] = [
  { id: 'aws-access-key-id', label: 'AWS access key id', re: /(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Z0-9])/g },
  {
    id: 'aws-secret-access-key',
    label: 'AWS secret access key',
    re: /aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/gi,
  },
  { id: 'github-token', label: 'GitHub token', re: /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,251})(?![A-Za-z0-9_])/g },
  { id: 'github-pat', label: 'GitHub fine-grained token', re: /(?<![A-Za-z0-9_])(github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])/g },
  { id: 'gitlab-token', label: 'GitLab token', re: /(?<![A-Za-z0-9_-])(gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas)-[A-Za-z0-9_-]{20,})(?![A-Za-z0-9_-])/g },
  { id: 'slack-token', label: 'Slack token', re: /(?<![A-Za-z0-9-])(xox[abposr]-(?:[0-9]+-)+[A-Za-z0-9-]{8,})(?![A-Za-z0-9-])/g },
  {
    id: 'slack-webhook',
    label: 'Slack webhook URL',
    re: /(https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,}\/B[A-Z0-9]{6,}\/[A-Za-z0-9]{20,})/g,
  },
  { id: 'npm-token', label: 'npm token', re: /(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/g },
  // The formats below: the vendors' documentation (each id's page) as catalogued by GitHub secret scanning,
  // gitleaks and secretlint's recommended preset (bench/secrets.mjs compares them).
  { id: 'google-api-key', label: 'Google API key', re: /(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/g },
  { id: 'stripe-key', label: 'Stripe secret key', re: /(?<![A-Za-z0-9_])((?:sk|rk)_live_[0-9A-Za-z]{24,247})(?![A-Za-z0-9_])/g },
  { id: 'sendgrid-key', label: 'SendGrid API key', re: /(?<![A-Za-z0-9_.-])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g },
  { id: 'docker-hub-token', label: 'Docker Hub token', re: /(?<![A-Za-z0-9_-])(dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})(?![A-Za-z0-9_-])/g },
  { id: 'pypi-token', label: 'PyPI token', re: /(?<![A-Za-z0-9_-])(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})(?![A-Za-z0-9_-])/g },
  { id: 'huggingface-token', label: 'Hugging Face token', re: /(?<![A-Za-z0-9_])(hf_[A-Za-z0-9]{34,40})(?![A-Za-z0-9_])/g },
  {
    id: 'openai-key',
    label: 'OpenAI API key',
    re: /(?<![A-Za-z0-9_-])(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48}))(?![A-Za-z0-9_-])/g,
  },
  { id: 'rubygems-key', label: 'RubyGems API key', re: /(?<![A-Za-z0-9_])(rubygems_[0-9a-f]{48})(?![A-Za-z0-9_])/g },
  { id: 'vault-token', label: 'HashiCorp Vault token', re: /(?<![A-Za-z0-9_.-])(hv[sbr]\.[A-Za-z0-9_-]{24,})(?![A-Za-z0-9_-])/g },
  { id: 'terraform-token', label: 'Terraform Cloud token', re: /(?<![A-Za-z0-9_-])([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,})(?![A-Za-z0-9_=-])/g },
  // A JSON Web Key's private part ("d"), e.g. certbot's account key (accounts/*/private_key.json), an OIDC signer.
  { id: 'jwk-private-key', label: 'JWK private key', re: /"d"\s*:\s*"([A-Za-z0-9_-]{22,})"/g },
  { id: 'crates-io-token', label: 'crates.io token', re: /(?<![A-Za-z0-9_])(cio[A-Za-z0-9]{32})(?![A-Za-z0-9_])/g },
];

/**
 * Literals one of which every match of a kind contains: a text that holds none of a kind's is not searched with its
 * regex (most files hold none, and the regexes cost far more than finding the literals). As precise as the regex
 * allows: a literal found in most texts (`gh`) would leave its regex to run on them all.
 */
export const TOKEN_HINTS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ['aws-access-key-id', ['AKIA', 'ASIA', 'ABIA', 'ACCA']],
  // The regex is case-insensitive: `aws` in every case.
  ['aws-secret-access-key', caseVariants('aws')],
  ['github-token', ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_']],
  ['github-pat', ['github_pat_']],
  ['gitlab-token', ['glpat-', 'gldt-', 'glrt-', 'glcbt-', 'glptt-', 'glft-', 'glimt-', 'glagent-', 'gloas-']],
  ['slack-token', ['xox']],
  ['slack-webhook', ['hooks.slack.com']],
  ['npm-token', ['npm_']],
  ['google-api-key', ['AIza']],
  ['stripe-key', ['_live_']],
  ['sendgrid-key', ['SG.']],
  ['docker-hub-token', ['dckr_']],
  ['pypi-token', ['pypi-AgEIcHlwaS5vcmc']],
  ['huggingface-token', ['hf_']],
  ['openai-key', ['sk-']],
  ['rubygems-key', ['rubygems_']],
  ['vault-token', ['hvs.', 'hvb.', 'hvr.']],
  ['terraform-token', ['.atlasv1.']],
  ['crates-io-token', ['cio']],
  // Not in the match: a JSON Web Key names its type, and a file without one holds no JWK.
  ['jwk-private-key', ['"kty"']],
]);

/** `s` (ASCII letters) in every mix of upper and lower case. */
function caseVariants(s: string): string[] {
  let out = [''];
  for (const ch of s) out = out.flatMap((p) => [p + ch.toLowerCase(), p + ch.toUpperCase()]);
  return [...new Set(out)];
}

/** Which kinds' hints a text holds (a kind without hints is always searched). */
const HINT_GROUPS = new LiteralGroups(TOKEN_KINDS.map((k) => TOKEN_HINTS.get(k.id) ?? null));

export interface TokenHit {
  kind: TokenKind;
  value: string;
  /** Offset of the value in the text. */
  index: number;
}

/** Every token of a known format in the text (published placeholder values excepted: example-secrets.ts). */
export function findTokens(text: string): TokenHit[] {
  const hits: TokenHit[] = [];
  const kinds = HINT_GROUPS.in(text);
  for (let k = 0; k < TOKEN_KINDS.length; k++) {
    if ((kinds & (1 << k)) === 0) continue;
    const kind = TOKEN_KINDS[k]!;
    kind.re.lastIndex = 0;
    for (const m of text.matchAll(kind.re)) {
      const value = m[1] ?? m[0];
      if (isExampleSecret(value)) continue;
      hits.push({ kind, value, index: (m.index ?? 0) + m[0].indexOf(value) });
    }
  }
  return hits.sort((a, b) => a.index - b.index);
}

/**
 * Every token of a known format in a name, a link target or a message, redacted (nothing else touched: paths stay
 * readable). Applied to every finding, so a token in a file name or a symlink target never reaches a report.
 */
export function redactTokens(s: string): string {
  if (s.length < 16) return s;
  let out = s;
  for (const h of findTokens(s)) out = out.split(h.value).join(redact(h.value));
  // A password inside a URL (`https://user:pass@host`): the user and host stay readable.
  return redactUrlPasswords(out, redact);
}

/** A line with every token on it (and any private key body) redacted: safe to use as evidence. */
export function redactSecrets(line: string): string {
  let out = line;
  for (const h of findTokens(line)) out = out.split(h.value).join(redact(h.value));
  out = redactUrlPasswords(out, redact);
  // A long mixed-case alphanumeric run (a key body line, an unknown token) is redacted too. Nix store hashes and
  // plain words are lower-case, so paths stay readable.
  return out.replace(/(?<![A-Za-z0-9+=_-])[A-Za-z0-9+=_-]{32,}/g, (m) =>
    /[a-z]/.test(m) && /[A-Z]/.test(m) && /[0-9]/.test(m) ? redact(m) : m,
  );
}

export interface PrivateKeyHit {
  /** `RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, ... */
  label: string;
  encrypted: boolean;
  /** Offset of the BEGIN line. */
  index: number;
  /** The base64 body (joined), for a fingerprint of the redacted value. */
  body: string;
}

const BEGIN_RE = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----/g;
/** A key body line: base64 only (PEM headers like `Proc-Type:` are skipped). */
const BODY_LINE = /^[A-Za-z0-9+/= ]{16,}$/;

/**
 * PEM/OpenSSH private keys with real material: a BEGIN line followed by base64 lines (at least 64 characters of
 * body in all). A header alone (a string in a script, documentation) is not key material.
 */
export function findPrivateKeys(text: string): PrivateKeyHit[] {
  const hits: PrivateKeyHit[] = [];
  BEGIN_RE.lastIndex = 0;
  for (const m of text.matchAll(BEGIN_RE)) {
    const label = m[1]!;
    // The body: the lines after the BEGIN line, within 64 KiB, up to END or the first line that is not base64. Read
    // line by line from the match (never a 64 KiB copy per BEGIN): a file of BEGIN lines costs one pass.
    const start = (m.index ?? 0) + m[0].length;
    const limit = Math.min(text.length, start + 64 * 1024);
    // A PEM inside a JSON string (a GCP service-account key, a JWT signer's config): lines end in a literal `\n`.
    if (text.startsWith('\\n', start)) {
      const end = text.indexOf('-----END', start);
      if (end < 0 || end > limit) continue;
      const parts = text.slice(start, end).split('\\n').map((l) => l.trim()).filter((l) => l !== '');
      const encrypted = /ENCRYPTED/.test(label) || parts.some((l) => /^Proc-Type:.*ENCRYPTED/.test(l));
      const body = parts.filter((l) => !/^(Proc-Type|DEK-Info):/.test(l));
      if (!body.every((l) => BODY_LINE.test(l))) continue;
      const joined = body.join('').replace(/ /g, '');
      if (joined.length >= 64) hits.push({ label, encrypted, index: m.index ?? 0, body: joined });
      continue;
    }
    const firstNl = text.indexOf('\n', start);
    let pos = firstNl < 0 || firstNl >= limit ? limit : firstNl + 1;
    const body: string[] = [];
    let encrypted = /ENCRYPTED/.test(label);
    while (pos < limit) {
      let end = text.indexOf('\n', pos);
      if (end < 0 || end > limit) end = limit;
      const line = text.slice(pos, end).trim();
      pos = end + 1;
      if (line.startsWith('-----END')) break;
      if (/^(Proc-Type|DEK-Info):/.test(line)) {
        if (/ENCRYPTED/.test(line)) encrypted = true;
        continue;
      }
      if (line === '') continue;
      if (!BODY_LINE.test(line)) break;
      body.push(line.replace(/ /g, ""));
    }
    const joined = body.join('');
    if (joined.length < 64) continue;
    if (label === 'OPENSSH PRIVATE KEY' && !/^b3BlbnNzaC1rZXktdjEA/.test(joined)) continue;
    if (label === 'OPENSSH PRIVATE KEY') encrypted = opensshCipher(joined) !== 'none';
    hits.push({ label, encrypted, index: m.index ?? 0, body: joined });
  }
  return hits;
}

/** The cipher name of an openssh-key-v1 blob (`none` when unencrypted). */
function opensshCipher(b64: string): string {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length < 19) return '';
  const len = buf.readUInt32BE(15);
  return buf.subarray(19, 19 + Math.min(len, 64)).toString('latin1');
}

/** Evidence for a private key: its type and a redacted fingerprint of the body, never the body. */
export function describeKey(k: PrivateKeyHit): string {
  return `-----BEGIN ${k.label}----- (${k.encrypted ? 'encrypted, ' : ''}body ${redact(k.body)})`;
}

/** The text with the password of every URL in it redacted by `redactValue` (the user and host kept). */
export function redactUrlPasswords(text: string, redactValue: (s: string) => string): string {
  if (!text.includes('://') || !text.includes('@')) return text;
  return text.replace(URL_CREDENTIAL_RE, (all, scheme: string, user: string, pass: string, host: string) =>
    isExampleSecret(pass) ? all : `${scheme}://${user}:${redactValue(pass)}@${host}`,
  );
}
