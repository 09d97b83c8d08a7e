/** Where a match sits in a file's text, as rules report it (`ReportInput.line/column/endColumn`) and SARIF shows it. */
import { lineAt } from './text.js';

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
