/**
 * What an audit is expected to read, from a file's path and size alone: the content pass's candidates (every option
 * set of the rules that declare `readsText`) and what rules declare with `reads`. Archive readers ask it during their
 * one streaming pass over a compressed archive, to keep those bytes instead of decompressing the archive again when
 * the rules ask for them. Only a prediction: a file it leaves out is still read when asked for, by one more pass.
 */
import type { ExpectedRead } from '../../types.js';
import { resolveRuleOptions } from '../kit/rule.js';
import { isTextCandidate, textScanOptions, type TextScanOptions } from '../kit/text.js';
import { GROUP, MAX_ACCOUNT_FILE, PASSWD } from './accounts.js';
import { DB_FILES, DPKG_INFO, MAX_DB_FILE, MAX_RPM_DB, RPM_DB_DIRS } from './packages.js';
import type { EnabledRule } from './runner.js';

/** Bytes of a regular file at `path` (its path in the final tree) of `size` bytes read outside the content pass. */
export type ReadGuess = (path: string, size: number) => number;

const DB = new Set(DB_FILES);
// Made once: this runs for every file an archive lists (147k on the bench tree), where a prefix made per call cost
// more than the tests.
const DPKG_PREFIX = `${DPKG_INFO}/`;
const RPM_PREFIXES = RPM_DB_DIRS.map((d) => `${d}/`);

/** What the engine itself reads, whatever the rules: the account files and the package database (named there). */
const engineReads: ReadGuess = (p, size) => {
  if (p === PASSWD || p === GROUP) return MAX_ACCOUNT_FILE;
  if (DB.has(p)) return MAX_DB_FILE;
  if (p.startsWith(DPKG_PREFIX)) return size;
  for (const d of RPM_PREFIXES) if (p.startsWith(d)) return MAX_RPM_DB;
  return 0;
};

/**
 * `extra`: what the audit reads besides the rules and the engine (the heads of possible nested images). A file read
 * outside the content pass is `scattered`: asked for in no order a backend chose.
 */
export function readPlan(rules: EnabledRule[], extra: ReadGuess[] = []): (path: string, size: number) => ExpectedRead | null {
  const passes = new Map<string, TextScanOptions>();
  const own: ReadGuess[] = [engineReads, ...extra];
  for (const { rule, options } of rules) {
    let resolved: Record<string, unknown>;
    try {
      resolved = resolveRuleOptions(rule.meta, options);
    } catch {
      continue; // the runner reports the rule's bad options; it reads nothing
    }
    if (rule.readsText) {
      const o = textScanOptions(resolved);
      passes.set(`${o.includeStore}:${o.maxBytes}`, o);
    }
    const reads = rule.reads;
    if (reads) own.push((p, size) => reads(p, size, resolved));
  }
  const texts = [...passes.values()];
  return (path, size) => {
    let text = 0;
    for (const o of texts) if (isTextCandidate(path, size, o)) text = Math.max(text, Math.min(size, o.maxBytes));
    let other = 0;
    for (const r of own) other = Math.max(other, Math.min(size, r(path, size)));
    if (text === 0 && other === 0) return null;
    return { bytes: Math.max(text, other), scattered: other > 0 };
  };
}
