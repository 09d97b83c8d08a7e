/** Rule metadata as reporters see it: documentation links and a fallback for findings of unlisted rules. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DOCS_RULES_DIR } from '../paths.js';
import { RULE_CRASHED, type RuleMeta } from '../types.js';

export const REPOSITORY_URL = 'https://github.com/hostleak/hostleak';
export const DOCS_BASE_URL = `${REPOSITORY_URL}/blob/main/docs/rules/`;

/** A built-in rule's doc page (docs/rules/<id>.md in the repository); custom rules give their own or none. */
export function helpUriFor(meta: RuleMeta): string | null {
  return meta.helpUri === undefined ? `${DOCS_BASE_URL}${meta.id}.md` : meta.helpUri;
}

/**
 * Metadata for a rule id that appears in findings but not among the enabled rules (`rule-crashed`, or a report
 * re-rendered without the rules that produced it): enough for a descriptor, with no invented doc link.
 */
export function fallbackMeta(id: string, remediation: string | undefined): RuleMeta {
  if (id === RULE_CRASHED) {
    return {
      id,
      severity: 'error',
      tags: ['internal'],
      description: 'A rule crashed, so its part of the audit did not run',
      remediation: remediation ?? 'Report the rule id and the message as a bug.',
      helpUri: null,
    };
  }
  return { id, severity: 'warning', tags: [], description: id, remediation: remediation ?? '', helpUri: null };
}

/**
 * The rule list a reporter describes: the enabled rules in order, then any rule id found in the report that is not
 * among them.
 */
export function rulesForReport(rules: readonly RuleMeta[], findings: Iterable<{ ruleId: string; remediation: string }>): RuleMeta[] {
  const out = [...rules];
  const ids = new Set(out.map((r) => r.id));
  for (const f of findings) {
    if (ids.has(f.ruleId)) continue;
    ids.add(f.ruleId);
    out.push(fallbackMeta(f.ruleId, f.remediation));
  }
  return out;
}

/** The doc pages (docs/rules/<id>.md) of the built-in rules among `rules`, by id; custom rules have none. */
export function loadRuleDocs(rules: readonly RuleMeta[], dir = DOCS_RULES_DIR): Map<string, string> {
  const docs = new Map<string, string>();
  for (const meta of rules) {
    if (meta.helpUri !== undefined) continue;
    try {
      docs.set(meta.id, readFileSync(path.join(dir, `${meta.id}.md`), 'utf8'));
    } catch {
      /* a built-in rule without a page: test/rules/docs.test.ts fails on it; the report falls back to the metadata */
    }
  }
  return docs;
}
