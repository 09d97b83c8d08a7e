/**
 * The credentials this process holds (registry passwords and tokens read from auth files: src/remote/auth.ts,
 * registry.ts). The redaction chokepoint (src/engine/runtime/redact-result.ts) takes every one out of every output,
 * whatever its format; `docker://user:password@host/...` in a target name is cut to `docker://***@`.
 */
const credentials = new Set<string>();

export function registerCredential(value: string): void {
  if (value.length >= 4) credentials.add(value);
}

/** A string with every registered credential and a reference's `user:password@` replaced by `***`. */
export function redactCredentials(s: string): string {
  let out = s.replace(/(docker:\/\/)[^/@\s]*@/g, '$1***@');
  for (const c of credentials) if (out.includes(c)) out = out.split(c).join('***');
  return out;
}

