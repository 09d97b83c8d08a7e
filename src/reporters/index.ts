/** Reporters are pure: (report, options) -> string. They never write or set exit codes. */
import type { Report } from '../types.js';
import { formatHtml } from './html.js';
import { formatJson } from './json.js';
import { formatText } from './text.js';

export type FormatName = 'text' | 'json' | 'html';
export const FORMATS: readonly FormatName[] = ['text', 'json', 'html'];

export interface FormatOptions {
  color: boolean;
}

export function render(format: FormatName, report: Report, opts: FormatOptions): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'text':
      return formatText(report, { color: opts.color });
    case 'html':
      return formatHtml(report);
  }
}
