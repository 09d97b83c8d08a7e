/** Where a match sits in a file's text, as rules report it (`ReportInput.line/column/endColumn`) and SARIF shows it. */
import { excerpt } from './redact.js';
import { redactSecrets } from './secrets.js';
import { lineAt, type ScannedFile } from './text.js';

export interface TextLocation {
  /** 1-based line. */
  line: number;
  /** 1-based column of the first character, in Unicode code points (SARIF `columnKind: unicodeCodePoints`). */
  column: number;
  /** 1-based column just after the match, when the match has a length and ends on the same line. */
  endColumn?: number;
}

export function locate(text: string, offset: number, length = 0): TextLocation {
  const at = lineAt(text, offset);
  const column = [...at.line.slice(0, at.col)].length + 1;
  const match = text.slice(offset, offset + length);
  const loc: TextLocation = { line: at.n, column };
  if (length > 0 && !match.includes('\n')) loc.endColumn = column + [...match].length;
  return loc;
}

/**
 * Where in a scanned file a hit is, for a content finding: in a text file its line (`first on line N`, the line as
 * redacted evidence, its location); in a binary file the printable string holding it (no line: a binary has none).
 */
export function placeOf(
  file: ScannedFile,
  text: string,
  index: number,
  length = 0,
): { first: string; evidence: string; location: Partial<TextLocation> } {
  const at = lineAt(text, index);
  if (file.binary) return { first: 'in its printable strings', evidence: `string: ${redactSecrets(excerpt(at.line, at.col))}`, location: {} };
  return { first: `first on line ${at.n}`, evidence: `line ${at.n}: ${redactSecrets(excerpt(at.line, at.col))}`, location: locate(text, index, length) };
}
