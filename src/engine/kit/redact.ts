/**
 * Redaction of secret values. Every rule that shows a secret goes through here, so no output format (and no flag)
 * can print one in full: a redacted value keeps a few leading characters (enough to tell an `AKIA` key from a
 * `ghp_` token), the length and a short hash (enough to tell two findings apart or match a known secret).
 */
import { nodeCrypto } from '../../lazy.js';

/** How many leading characters a redacted value keeps at most. */
export const REDACT_KEEP = 4;

/** `ghp_…[40 chars, sha256:1a2b3c4d]`. Short values keep fewer characters so at least 3/4 stays hidden. */
export function redact(value: string): string {
  const len = [...value].length;
  const keep = Math.min(REDACT_KEEP, Math.floor(len / 4));
  const hash = nodeCrypto().createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);
  return `${[...value].slice(0, keep).join('')}…[${len} chars, sha256:${hash}]`;
}

/** Replace each of `secrets` inside `text` by its redacted form (longest first, so overlapping values all go). */
export function redactIn(text: string, secrets: Iterable<string>): string {
  const list = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  let out = text;
  for (const s of list) out = out.split(s).join(redact(s));
  return out;
}

/** Shorten a line of evidence around a position, marking cuts with an ellipsis. */
export function excerpt(line: string, at = 0, width = 120): string {
  const clean = line.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?').replace(/\t/g, ' ');
  if (clean.length <= width) return clean.trim();
  const start = Math.max(0, Math.min(at - Math.floor(width / 3), clean.length - width));
  return `${start > 0 ? '…' : ''}${clean.slice(start, start + width).trim()}${start + width < clean.length ? '…' : ''}`;
}
