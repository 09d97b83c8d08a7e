/** Runs the enabled rules over one image root and collects their findings. */
import { byCodePoint } from '../../arrays.js';
import { oneLine } from '../../errors.js';
import { TimeoutError, type Deadline } from '../../image/deadline.js';
import type { Finding, HostIdentity, ImageRoot, Severity } from '../../types.js';
import { RULE_CRASHED, SEVERITY_RANK } from '../../types.js';
import { loadAccounts, type Accounts } from './accounts.js';
import { createImageFs } from './imagefs.js';
import { fingerprintOf } from '../../fingerprint.js';
import { resolveRuleOptions, type ReportInput, type Rule } from '../kit/rule.js';
import { judgeShipped, type PackageDb } from '../kit/packages.js';
import { redactTokens } from '../kit/secrets.js';
import { textScanOptions } from '../kit/text.js';
import { loadPackageDb } from './packages.js';
import { TextPasses } from './textpass.js';

/** A rule as this run uses it: configured severity and options. */
export interface EnabledRule {
  rule: Rule;
  severity: Severity;
  options: Record<string, unknown>;
}

/**
 * One leaked file, one finding at warning or above: a finding on a file that a `coversFile` rule reports as a leak in
 * itself, at no higher severity than that report, shares its cause and is kept as info, naming the rule that
 * covers it. A finding more severe than the file's own (a token in a shell history) stays as it is.
 */
export function foldCovered(findings: Finding[], covering: ReadonlySet<string>): void {
  if (covering.size === 0) return;
  const cover = new Map<string, Finding>();
  for (const f of findings) {
    if (!covering.has(f.ruleId)) continue;
    const c = cover.get(f.path);
    if (!c || SEVERITY_RANK[f.severity] > SEVERITY_RANK[c.severity]) cover.set(f.path, f);
  }
  for (const f of findings) {
    const c = cover.get(f.path);
    if (!c || covering.has(f.ruleId) || f.severity === 'info' || SEVERITY_RANK[f.severity] > SEVERITY_RANK[c.severity]) continue;
    f.severity = 'info';
    f.message += ` (the file itself is reported by ${c.ruleId})`;
  }
}

export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
      byCodePoint(a.path, b.path) ||
      byCodePoint(a.ruleId, b.ruleId) ||
      byCodePoint(a.message, b.message),
  );
}

export interface RunResult {
  findings: Finding[];
  accounts: Accounts;
  /** The package database, when a rule asked for it (it is read lazily). */
  packages: PackageDb | null;
  batches: number;
  filesRead: number;
  /** Files the audit meant to read and could not, as one problem line (the target is then `partial`), or null. */
  unread: string | null;
}

export async function runRules(root: ImageRoot, rules: EnabledRule[], host: HostIdentity, deadline?: Deadline): Promise<RunResult> {
  const fs = createImageFs(root);
  const accounts = await loadAccounts(fs);
  const name = (p: string) => (root.prefix ? `${root.prefix}:${p}` : p);
  const filesystemOf = (p: string) => root.inventory.get(p)?.fs ?? null;
  const findings: Finding[] = [];
  const seen = new Set<string>();
  let packageDb: Promise<PackageDb> | null = null;
  const packages = () => (packageDb ??= loadPackageDb(fs, root.inventory));
  // Every rule that declares it reads text files has its place in the shared pass before any check starts.
  const textPasses = new TextPasses(fs, root.inventory, packages, root.readOrder && ((p: string) => root.readOrder!(p)));
  // Options as each check sees them: declared defaults filled in (the gate already refused invalid ones).
  const resolved = rules.map(({ rule, options }) => {
    try {
      return resolveRuleOptions(rule.meta, options);
    } catch (err) {
      return err as Error;
    }
  });
  const tickets = rules.map(({ rule }, i) => {
    const o = resolved[i]!;
    return rule.readsText && !(o instanceof Error) ? textPasses.expect(textScanOptions(o)) : null;
  });

  await Promise.all(
    rules.map(async ({ rule, severity }, i) => {
      const { meta } = rule;
      const ticket = tickets[i]!;
      const options = resolved[i]!;
      // Findings waiting for their judgement against the package database (`shipped`), judged one at a time in the
      // order reported: a rule may report 100,000 of them in one go, and a pending judgement each (an async frame,
      // its promise and closure) held ~280 MiB more at the peak than the findings themselves.
      const waiting: ReportInput[] = [];
      let judging: Promise<void> | null = null;
      const judgeWaiting = async (): Promise<void> => {
        for (let i = 0; i < waiting.length; i++) {
          const { shipped, ...rest } = waiting[i]!;
          waiting[i] = undefined as unknown as ReportInput;
          const j = await judgeShipped(packages, rest.path, shipped === true ? undefined : shipped);
          emit({ ...rest, message: rest.message + j.suffix, severity: rest.severity ?? j.severity });
        }
        // All judged (nothing can be pushed between the last test of the length and here): a later report starts
        // a new round.
        waiting.length = 0;
        judging = null;
      };
      const emit = (f: ReportInput) => {
        const key = `${meta.id}\0${f.path}\0${f.message}`;
        if (seen.has(key)) return;
        seen.add(key);
        const note = root.noteOf?.(f.path);
        const finding: Finding = {
          ruleId: meta.id,
          severity: f.severity ?? severity,
          // A token in a name or a link target is redacted like one in a file's contents.
          path: redactTokens(name(f.path)),
          filesystem: filesystemOf(f.path),
          message: redactTokens(note ? `${f.message} (${note})` : f.message),
          evidence: f.evidence == null ? null : redactTokens(f.evidence),
          remediation: meta.remediation,
        };
        if (f.line !== undefined) finding.line = f.line;
        if (f.column !== undefined) finding.column = f.column;
        if (f.endColumn !== undefined) finding.endColumn = f.endColumn;
        finding.fingerprint = fingerprintOf(meta.id, finding.path, f.key);
        findings.push(finding);
      };
      try {
        if (options instanceof Error) throw options;
        await rule.check({
          inventory: root.inventory,
          fs,
          accounts,
          host,
          packages,
          options,
          scanText(visitor) {
            if (!ticket) throw new Error(`rule '${meta.id}' reads text files without declaring readsText`);
            return textPasses.subscribe(ticket, visitor);
          },
          report(f) {
            if (f.shipped === undefined) return emit(f);
            waiting.push(f);
            if (!judging) {
              judging = judgeWaiting();
              // Awaited after the check; a check that crashes first leaves it settled, not unhandled.
              judging.catch(() => {});
            }
          },
        });
        while (judging) await judging;
      } catch (err) {
        if (err instanceof TimeoutError) throw err;
        findings.push({
          ruleId: RULE_CRASHED,
          severity: 'error',
          path: name('/'),
          filesystem: null,
          message: `rule '${meta.id}' crashed: ${oneLine(err)}`,
          evidence: null,
          remediation: 'This is a bug in hostleak or in a custom rule: report it with the rule id and the message.',
          fingerprint: fingerprintOf(RULE_CRASHED, name('/'), meta.id),
        });
      } finally {
        if (ticket) textPasses.release(ticket);
      }
    }),
  );
  deadline?.check();
  foldCovered(findings, new Set(rules.filter((r) => r.rule.coversFile).map((r) => r.rule.meta.id)));
  const db = await (packageDb as Promise<PackageDb> | null)?.catch(() => null);
  return {
    findings: sortFindings(findings),
    accounts,
    packages: db ?? null,
    batches: fs.stats.batches,
    filesRead: fs.stats.filesRead,
    unread: fs.unread.problem(redactTokens, root.prefix ? `${root.prefix}:` : ''),
  };
}
