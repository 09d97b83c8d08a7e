/** Reporters are pure: (report, options) -> string. They never write or set exit codes. */
import type { Report, RuleMeta } from '../types.js';
import { formatGithub } from './github.js';
import { formatHtml } from './html.js';
import { formatJson } from './json.js';
import { formatJunit } from './junit.js';
import { formatSarif } from './sarif.js';
import { formatText } from './text.js';
import { formatJsonl } from './jsonl.js';

export type FormatName = 'text' | 'json' | 'jsonl' | 'sarif' | 'junit' | 'github' | 'html';
export const FORMATS: readonly FormatName[] = ['text', 'json', 'jsonl', 'sarif', 'junit', 'github', 'html'];

export interface FormatOptions {
  color: boolean;
  /** Metadata of the rules this run enabled (SARIF rule descriptors, JUnit testcases). */
  rules?: readonly RuleMeta[];
}

export function render(format: FormatName, report: Report, opts: FormatOptions): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'jsonl':
      return formatJsonl(report);
    case 'text':
      return formatText(report, { color: opts.color });
    case 'sarif':
      return formatSarif(report, { rules: opts.rules ?? [] });
    case 'junit':
      return formatJunit(report, { rules: opts.rules ?? [] });
    case 'github':
      return formatGithub(report);
    case 'html':
      return formatHtml(report);
  }
}
