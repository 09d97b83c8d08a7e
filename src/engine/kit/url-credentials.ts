/**
 * Credentials inside URLs (`https://user:password@host/...`): apt sources, pip.conf index-url, git config,
 * DATABASE_URL in an .env file. The password (or a bare token as the user name) is the secret; placeholders
 * (`${PASSWORD}`, `changeme`, `xxxx`) are not.
 */
import { isExampleSecret } from './example-secrets.js';
import { findTokens, URL_CREDENTIAL_RE } from './secrets.js';

export interface UrlCredential {
  /** The secret: the password, or the user name when it is a token. */
  secret: string;
  user: string;
  host: string;
  /** Offset of the URL in the text. */
  index: number;
}

const TOKEN_USER_RE = /\b(https?):\/\/([^\s:@/'"<>]{20,512})@([A-Za-z0-9.[\]_-]{1,253})/gi;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Every URL in the text with a password in it (or a known token as its user name). */
export function findUrlCredentials(text: string): UrlCredential[] {
  if (!text.includes('://')) return [];
  const out: UrlCredential[] = [];
  for (const m of text.matchAll(URL_CREDENTIAL_RE)) {
    const secret = decode(m[3]!);
    if (isExampleSecret(secret) || isExampleSecret(m[3]!)) continue;
    out.push({ secret: m[3]!, user: decode(m[2]!), host: m[4]!, index: m.index ?? 0 });
  }
  for (const m of text.matchAll(TOKEN_USER_RE)) {
    if (findTokens(m[2]!).length === 0) continue;
    out.push({ secret: m[2]!, user: '', host: m[3]!, index: m.index ?? 0 });
  }
  return out.sort((a, b) => a.index - b.index);
}

