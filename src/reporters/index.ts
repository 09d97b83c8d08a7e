/**
 * Reporters are pure: (report, options) -> string. They never write or set exit codes. Each is loaded when its
 * format is asked for: a JSON report does not pay for the text report's colours and wrapping (chalk, wrap-ansi) or
 * the HTML report's assets (docs/performance.md, start-up).
 */
import type { FailOn } from '../exit.js';
import type { FormatName, Report, RuleMeta } from '../types.js';
import type { RunSummary } from './html.js';

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

export async function render(format: FormatName, report: Report, opts: FormatOptions): Promise<string> {
  switch (format) {
    case 'json':
      return (await import('./json.js')).formatJson(report);
    case 'jsonl':
      return (await import('./jsonl.js')).formatJsonl(report);
    case 'text':
      return (await import('./text.js')).formatText(report, { color: opts.color, columns: opts.columns });
    case 'sarif':
      return (await import('./sarif.js')).formatSarif(report, {
        rules: opts.rules ?? [],
        category: opts.sarifCategory,
        ruleDocs: opts.ruleDocs ?? (await import('./rule-docs.js')).loadRuleDocs(opts.rules ?? []),
      });
    case 'junit':
      return (await import('./junit.js')).formatJunit(report, { rules: opts.rules ?? [], failOn: opts.failOn });
    case 'github':
      return (await import('./github.js')).formatGithub(report, { rules: opts.rules });
    case 'markdown':
      return (await import('./markdown.js')).formatMarkdown(report, { rules: opts.rules, fullReport: opts.fullReport });
    case 'html':
      return (await import('./html.js')).formatHtml(report, { history: opts.history });
    case 'gitlab':
      return (await import('./gitlab.js')).formatGitlab(report, { rules: opts.rules });
  }
}
