/**
 * JUnit XML for CI test views (GitLab `artifacts:reports:junit`, Jenkins, Azure, ...): one <testsuite> per target,
 * one <testcase> per enabled rule. The report mirrors the gate: a rule with findings at or above `--fail-on` fails
 * with exactly one <failure> (JUnit's schema allows one; Jenkins, Azure and the GitHub JUnit actions show only the
 * first, GitLab keeps one per classname + name) whose message counts those findings and whose body lists every one
 * of them; findings below the threshold (all of them under `--fail-on never`) do not fail the case, they are listed
 * in its <system-out> and counted in a `below-fail-on` property, so the test view is green exactly when the gate
 * is. A rule without findings passes. A target that could not be audited completely adds an `audit` testcase with
 * an <error> (exit 3 whatever the threshold); when it was not audited at all, the rule testcases are <skipped>.
 */
import type { create as Create } from 'xmlbuilder2';
import { xmlbuilder2 } from '../lazy.js';

// Loaded on first use: xmlbuilder2 costs ~60 ms of start-up that every other format would pay.
const create: typeof Create = ((...args: Parameters<typeof Create>) =>
  (xmlbuilder2().create as (...a: unknown[]) => unknown)(...args)) as typeof Create;
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { atOrAbove, type FailOn } from '../exit.js';
import { filesystemSource } from '../finding-path.js';
import { RULE_CRASHED, SEVERITY_RANK, type Finding, type Report, type RuleMeta, type TargetResult } from '../types.js';
import { helpUriFor, rulesForReport } from './rule-docs.js';

export interface JunitOptions {
  rules: readonly RuleMeta[];
  /** The gate's threshold: findings below it are not failures (default `error`, the CLI's default). */
  failOn?: FailOn;
}

/** Characters XML 1.0 cannot carry at all, even escaped: dropped (image data can contain anything). */
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
export function xmlSafe(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function failureText(f: Finding): string {
  const lines = [`${f.severity}: ${f.path}${f.line !== undefined ? `:${f.line}` : ''}`, f.message];
  if (f.filesystem) lines.push(`filesystem: ${f.filesystem}`);
  if (f.evidence) lines.push(`evidence: ${f.evidence}`);
  lines.push(`how to fix: ${f.remediation}`);
  return xmlSafe(lines.join('\n'));
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function suite(parent: XMLBuilder, t: TargetResult, rules: readonly RuleMeta[], failOn: FailOn): Counts {
  const metas = rulesForReport(rules, t.findings);
  const c: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  const s = parent.ele('testsuite', { name: xmlSafe(t.target) });
  const props = s.ele('properties');
  props.ele('property', { name: 'status', value: t.status });
  props.ele('property', { name: 'backend', value: t.backend ?? '' });
  props.ele('property', { name: 'fail-on', value: failOn });
  for (const fs of t.filesystems) {
    props.ele('property', {
      name: 'filesystem',
      value: xmlSafe(`${filesystemSource(fs)} ${fs.type}${fs.label ? ` "${fs.label}"` : ''}${fs.mountpoint ? ` on ${fs.mountpoint}` : ''}`),
    });
  }
  const classname = xmlSafe(t.target);
  if (t.status !== 'ok') {
    c.tests++;
    c.errors++;
    s.ele('testcase', { classname, name: 'audit', time: seconds(t.durationMs) })
      .ele('error', {
        type: t.status === 'failed' ? 'target-failed' : 'target-partial',
        message: xmlSafe(`${t.status === 'failed' ? 'not audited' : 'audited only in part'}: ${t.error ?? 'unknown error'}`),
      })
      .txt(xmlSafe(`${t.target}: ${t.error ?? 'unknown error'}`));
  }
  for (const meta of metas) {
    c.tests++;
    const tc = s.ele('testcase', { classname, name: meta.id, time: '0' });
    if (t.status === 'failed') {
      c.skipped++;
      tc.ele('skipped', { message: 'the target was not audited' });
      continue;
    }
    const mine = t.findings.filter((f) => f.ruleId === meta.id);
    const active = mine.filter((f) => !f.suppressed && atOrAbove(f.severity, failOn));
    const below = mine.filter((f) => !f.suppressed && !atOrAbove(f.severity, failOn));
    const suppressed = mine.filter((f) => f.suppressed);
    if (below.length > 0) tc.ele('properties').ele('property', { name: 'below-fail-on', value: String(below.length) });
    if (active.length > 0) {
      if (meta.id === RULE_CRASHED) c.errors++;
      else c.failures++;
    }
    if (active.length > 0) {
      const worst = active.reduce((a, f) => (SEVERITY_RANK[f.severity] > SEVERITY_RANK[a.severity] ? f : a), active[0]!);
      const message =
        active.length === 1 ? active[0]!.message : `${active.length} findings: ${active.map((f) => f.path).join(', ')}`;
      tc.ele(meta.id === RULE_CRASHED ? 'error' : 'failure', {
        type: worst.severity,
        message: xmlSafe(message.length > 500 ? `${message.slice(0, 499)}…` : message),
      }).txt(active.map(failureText).join('\n\n'));
    }
    const out: string[] = [meta.description];
    const help = helpUriFor(meta);
    if (help) out.push(`docs: ${help}`);
    for (const f of below) out.push(`below --fail-on ${failOn}: ${failureText(f)}`);
    for (const f of suppressed) {
      out.push(`suppressed (${f.suppressed!.kind}: ${f.suppressed!.reason}): ${f.path}: ${f.message}`);
    }
    tc.ele('system-out').txt(xmlSafe(out.join('\n')));
  }
  s.att({
    tests: String(c.tests),
    failures: String(c.failures),
    errors: String(c.errors),
    skipped: String(c.skipped),
    time: seconds(t.durationMs),
  });
  return c;
}

export function formatJunit(report: Report, opts: JunitOptions): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele('testsuites', { name: 'hostleak' });
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  let ms = 0;
  for (const t of report.targets) {
    const c = suite(root, t, opts.rules, opts.failOn ?? 'error');
    total.tests += c.tests;
    total.failures += c.failures;
    total.errors += c.errors;
    total.skipped += c.skipped;
    ms += t.durationMs;
  }
  root.att({
    tests: String(total.tests),
    failures: String(total.failures),
    errors: String(total.errors),
    skipped: String(total.skipped),
    time: seconds(ms),
  });
  return doc.end({ prettyPrint: true }) + '\n';
}
