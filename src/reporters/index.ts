/** Reporters are pure: (report, options) -> string. They never write or set exit codes. */
import type { Report } from '../types.js';
import { formatJson } from './json.js';
import { formatText } from './text.js';
import { formatJsonl } from './jsonl.js';

export type FormatName = 'text' | 'json' | 'jsonl';
export const FORMATS: readonly FormatName[] = ['text', 'json', 'jsonl'];

export interface FormatOptions {
  color: boolean;
}

export function render(format: FormatName, report: Report, opts: FormatOptions): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'jsonl':
      return formatJsonl(report);
    case 'text':
      return formatText(report, { color: opts.color });
  }
}
