/**
 * Published placeholder secrets: values that vendors print in their documentation so that readers can paste
 * examples. They grant nothing, ship in countless packages' docs and tests, and are never findings. This is the ONE
 * list: every entry names where the value is published. Keys and certificates that packages ship as test fixtures
 * are not listed here: they are recognised through the package database (a file a package installed unchanged).
 */
export interface ExampleSecret {
  value: string;
  what: string;
  source: string;
}

export const EXAMPLE_SECRETS: readonly ExampleSecret[] = [
  {
    value: 'AKIAIOSFODNN7EXAMPLE',
    what: 'AWS example access key id',
    source: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html (and the AWS CLI/SDK docs)',
  },
  {
    value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    what: 'AWS example secret access key',
    source: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html (and the AWS CLI/SDK docs)',
  },
  {
    value: 'AKIAI44QH8DHBEXAMPLE',
    what: 'AWS example access key id (second pair)',
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html',
  },
  {
    value: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
    what: 'AWS example secret access key (second pair)',
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html',
  },
  {
    value: 'ASIAIOSFODNN7EXAMPLE',
    what: 'AWS example temporary (STS) access key id',
    source: 'https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html',
  },
];

const VALUES = new Set(EXAMPLE_SECRETS.map((e) => e.value));

/**
 * AWS documents its placeholder keys with the EXAMPLE / EXAMPLEKEY suffix (every pair above follows it), and
 * tutorials derive more from it; no issued key ends that way (real ids are upper-case base32 without such words).
 * Source: the AWS pages above.
 */
const AWS_EXAMPLE_SUFFIX = /EXAMPLE(?:KEY)?$/;

/** A token's vendor prefix (`AKIA`, `ghp_`, `npm_`, `sk_live_`, `glpat-`, `xoxb-`...), left out of the repeat test. */
const VENDOR_PREFIX = /^(?:(?:AKIA|ASIA|ABIA|ACCA|AIza)|(?:[A-Za-z]{1,10}[_-]){1,3})/;
/** A template or a reference instead of a value: `${VAR}`, `$VAR`, `$(cmd)`, `<your-token>`, `{{ .Token }}`, `%VAR%`. */
const TEMPLATE = /^(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|<[^<>]*>|\{\{[^}]*\}\}|%[A-Za-z_][A-Za-z0-9_]*%)$/;
/** What people type where a secret goes: `changeme`, `password`, `your-api-key-here`, `xxx`, `***`, `REDACTED`... */
const PLACEHOLDER_WORD =
  /^(?:change[-_ ]?me|change[-_ ]?it|changeit|password|passwd|passw0rd|secret|token|api[-_]?key|redacted|placeholder|dummy|todo|fixme|tbd|replace[-_ ]?me|none|null|nil|undefined|empty|test|testing|s3cr3t|hunter2|insert[-_ ].*|(?:your|my)[-_ ].*|.*[-_ ]here)$/i;

/**
 * True for a value that only stands for a secret: a run of one repeated character after the vendor prefix
 * (`AKIAXXXXXXXXXXXXXXXX`, `npm_` + 36 X, `ghp_` + 36 x, 40 X as an AWS secret), a value with `EXAMPLE` in it, a
 * template or variable reference, a `changeme`-style word. Such values ship in documentation, sample configs and
 * placeholder traps; they grant nothing and are never findings.
 */
export function isPlaceholder(value: string): boolean {
  const v = value.trim().replace(/^["']|["']$/g, '');
  if (v === '') return true;
  if (/example/i.test(v) || TEMPLATE.test(v) || PLACEHOLDER_WORD.test(v)) return true;
  // One repeated character (separators aside), after the vendor prefix: at most one distinct character is left.
  const body = v.replace(VENDOR_PREFIX, '').replace(/[-_.\s/+=]/g, '').toLowerCase();
  return body.length > 0 && /^(.)\1*$/.test(body);
}

/** True for a published placeholder value or any placeholder (isPlaceholder): never a finding. */
export function isExampleSecret(value: string): boolean {
  return VALUES.has(value) || AWS_EXAMPLE_SUFFIX.test(value) || isPlaceholder(value);
}
