/** Reporters are pure: (report, options) -> string. They never write or set exit codes. */
import type { FailOn } from '../exit.js';
import type { FormatName, Report, RuleMeta } from '../types.js';
import { formatGitlab } from './gitlab.js';
import { formatGithub } from './github.js';
import { formatHtml, type RunSummary } from './html.js';
import { formatJson } from './json.js';
import { formatJunit } from './junit.js';
import { formatSarif } from './sarif.js';
import { formatText } from './text.js';
import { formatJsonl } from './jsonl.js';
import { formatMarkdown } from './markdown.js';
import { loadRuleDocs } from './rule-docs.js';

export { FORMATS, type FormatName } from '../types.js';

export interface FormatOptions {
  color: boolean;
  /** Earlier runs, drawn as a trend by the HTML report (`--history DIR`). */
  history?: readonly RunSummary[];
  /** Where the full report is, named by a step summary (markdown) that had to be cut. */
  fullReport?: string;
  /** The terminal's width, when the text report goes to one: lines wrap to it. */
  columns?: number;
  /** Metadata of the rules this run enabled (SARIF rule descriptors, JUnit testcases). */
  rules?: readonly RuleMeta[];
  /** SARIF `automationDetails.id` (the code-scanning category); default: derived from the targets. */
  sarifCategory?: string;
  /** Rule doc pages by id (SARIF help.markdown); loaded for SARIF when absent. */
  ruleDocs?: ReadonlyMap<string, string>;
  /** The gate's threshold (JUnit fails only the findings at or above it); default `error`. */
  failOn?: FailOn;
}

export function render(format: FormatName, report: Report, opts: FormatOptions): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'jsonl':
      return formatJsonl(report);
    case 'text':
      return formatText(report, { color: opts.color, columns: opts.columns });
    case 'sarif':
      return formatSarif(report, {
        rules: opts.rules ?? [],
        category: opts.sarifCategory,
        ruleDocs: opts.ruleDocs ?? loadRuleDocs(opts.rules ?? []),
      });
    case 'junit':
      return formatJunit(report, { rules: opts.rules ?? [], failOn: opts.failOn });
    case 'github':
      return formatGithub(report, { rules: opts.rules });
    case 'markdown':
      return formatMarkdown(report, { rules: opts.rules, fullReport: opts.fullReport });
    case 'html':
      return formatHtml(report, { history: opts.history });
    case 'gitlab':
      return formatGitlab(report, { rules: opts.rules });
  }
}
