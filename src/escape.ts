/**
 * Image strings (names, link targets, contents quoted as evidence, reader messages naming them) escaped for the
 * sinks that interpret bytes: terminals (text report, ls, diff, stderr) and spreadsheets (CSV). A name holding ESC,
 * an OSC-8 hyperlink, CR or a newline must show as such, never clear a screen or forge a report line.
 * JSON, SARIF, JUnit, GitHub and HTML outputs escape in their own reporters.
 */

// C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, zero-width marks, line/paragraph separators.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
// The same, but newline kept: for whole multi-line texts whose lines we wrote ourselves.
// eslint-disable-next-line no-control-regex
const INVISIBLE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\e' };

function show(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const c = ch.charCodeAt(0);
  return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

/** One field for a terminal: every control, bidi and invisible character shown as an escape (`\e`, `\n`, `\x07`). */
export function visible(s: string): string {
  INVISIBLE.lastIndex = 0;
  return INVISIBLE.test(s) ? s.replace(INVISIBLE, show) : s;
}

/** A whole text for a terminal (stderr): the same, newlines kept. The last guard before bytes leave the process. */
export function visibleText(s: string): string {
  INVISIBLE_BUT_NEWLINE.lastIndex = 0;
  return INVISIBLE_BUT_NEWLINE.test(s) ? s.replace(INVISIBLE_BUT_NEWLINE, show) : s;
}

/**
 * One CSV field (RFC 4180 quoting), neutralised against formula injection: a field a spreadsheet would evaluate
 * (starting with = + - @, tab or CR) gets a leading `'` (OWASP's advice), so `=HYPERLINK(...)` stays text. Control
 * characters are shown as escapes like in the terminal (the jsonl format keeps exact bytes).
 */
export function csvField(v: unknown): string {
  let s = visible(v === null || v === undefined ? '' : String(v));
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
