/**
 * `hostleak diff OLD NEW`: what changed between two builds (entries added, removed, changed) and which findings are
 * new or fixed. Each image is opened once; its inventory serves both the entry diff and the rules.
 */
import { nodeCrypto } from '../lazy.js';
import { Chalk, type ChalkInstance } from 'chalk';
import type { ImageRoot, OpenedImage } from '../backends/backend.js';
import { parentOf } from '../inventory.js';
import type { Entry, Finding } from '../types.js';
import { atOrAbove, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK } from '../exit.js';
import { auditImage } from '../scan.js';
import { modeString, octalMode, partialNote, phase, withImage } from './common.js';
import { failOnFrom, hostIdentity, prepareGate, rulesFor, wantColor, type CommandContext, type RunResult } from './context.js';
import { pushAll } from '../arrays.js';
import { visible } from '../escape.js';
import { redactTokens } from '../engine/kit/secrets.js';

/** Regular files up to this size that keep path and size are compared by content hash. */
export const HASH_MAX_BYTES = 64 * 1024;
/** Subtrees (and Nix store paths) with more entries than this are summarised as one line in text output. */
const COLLAPSE_OVER = 8;
/** Collapsed per store path instead, so each changed package shows. */
const NEVER_COLLAPSE = new Set(['/nix', '/nix/store']);

export interface DiffEntry {
  path: string;
  type: Entry['type'];
  mode: string;
  uid: number;
  gid: number;
  size: number;
  target: string | null;
}

export interface EntryChange {
  path: string;
  changes: Record<string, { old: string | number | null; new: string | number | null }>;
}

export interface DiffReport {
  version: 1;
  old: string;
  new: string;
  added: DiffEntry[];
  removed: DiffEntry[];
  changed: EntryChange[];
  unchanged: number;
  findings: { new: Finding[]; fixed: Finding[] };
}

type Keyed = Map<string, { root: ImageRoot; entry: Entry }>;

function keyed(image: OpenedImage): Keyed {
  const m: Keyed = new Map();
  for (const root of image.roots) {
    for (const entry of root.inventory.entries()) m.set(root.prefix ? `${root.prefix}:${entry.path}` : entry.path, { root, entry });
  }
  return m;
}

function toDiffEntry(path: string, e: Entry): DiffEntry {
  return { path, type: e.type, mode: octalMode(e.mode), uid: e.uid, gid: e.gid, size: e.size, target: e.target ?? null };
}

async function hashes(items: Array<{ root: ImageRoot; entry: Entry }>): Promise<Map<Entry, string>> {
  const byRoot = new Map<ImageRoot, Entry[]>();
  for (const it of items) {
    const list = byRoot.get(it.root) ?? [];
    list.push(it.entry);
    byRoot.set(it.root, list);
  }
  const out = new Map<Entry, string>();
  for (const [root, entries] of byRoot) {
    const res = await root.readFiles(entries.map((e) => e.path), HASH_MAX_BYTES);
    for (const e of entries) {
      const c = res.get(e.path);
      out.set(e, c && !(c instanceof Error) ? nodeCrypto().createHash('sha256').update(c.data).digest('hex').slice(0, 16) : 'unreadable');
    }
  }
  return out;
}

export function findingKey(f: Finding): string {
  return `${f.ruleId}\0${f.path}`;
}

export async function diffImages(
  oldImage: OpenedImage,
  newImage: OpenedImage,
  labels: { old: string; new: string },
  findings: { old: Finding[]; new: Finding[] },
): Promise<DiffReport> {
  const a = keyed(oldImage);
  const b = keyed(newImage);
  const added: DiffEntry[] = [];
  const removed: DiffEntry[] = [];
  const changed: EntryChange[] = [];
  const toHash: Array<[string, { root: ImageRoot; entry: Entry }, { root: ImageRoot; entry: Entry }]> = [];
  let unchanged = 0;
  for (const [path, nb] of b) {
    const na = a.get(path);
    if (!na) {
      added.push(toDiffEntry(path, nb.entry));
      continue;
    }
    const [x, y] = [na.entry, nb.entry];
    const changes: EntryChange['changes'] = {};
    if (x.type !== y.type) changes.type = { old: x.type, new: y.type };
    if (x.mode !== y.mode) changes.mode = { old: octalMode(x.mode), new: octalMode(y.mode) };
    if (x.uid !== y.uid) changes.uid = { old: x.uid, new: y.uid };
    if (x.gid !== y.gid) changes.gid = { old: x.gid, new: y.gid };
    if (x.type === y.type && x.type !== 'dir' && x.size !== y.size) changes.size = { old: x.size, new: y.size };
    if ((x.target ?? null) !== (y.target ?? null)) changes.target = { old: x.target ?? null, new: y.target ?? null };
    if (Object.keys(changes).length > 0) changed.push({ path, changes });
    else if (x.type === 'file' && x.size <= HASH_MAX_BYTES && x.size > 0 && !path.startsWith('/nix/store/')) {
      toHash.push([path, na, nb]);
    } else unchanged++;
  }
  for (const [path, na] of a) if (!b.has(path)) removed.push(toDiffEntry(path, na.entry));

  if (toHash.length > 0) {
    const ha = await hashes(toHash.map((t) => t[1]));
    const hb = await hashes(toHash.map((t) => t[2]));
    for (const [path, na, nb] of toHash) {
      const [x, y] = [ha.get(na.entry)!, hb.get(nb.entry)!];
      if (x !== y) changed.push({ path, changes: { content: { old: x, new: y } } });
      else unchanged++;
    }
  }
  const byPath = (p: { path: string }, q: { path: string }) => (p.path < q.path ? -1 : p.path > q.path ? 1 : 0);
  const oldKeys = new Set(findings.old.map(findingKey));
  const newKeys = new Set(findings.new.map(findingKey));
  return {
    version: 1,
    old: labels.old,
    new: labels.new,
    added: added.sort(byPath),
    removed: removed.sort(byPath),
    changed: changed.sort(byPath),
    unchanged,
    findings: {
      new: findings.new.filter((f) => !oldKeys.has(findingKey(f))),
      fixed: findings.old.filter((f) => !newKeys.has(findingKey(f))),
    },
  };
}

/** A store path (`/nix/store/<hash>-name`) or a big added/removed subtree becomes one line with a count. */
function collapse(entries: DiffEntry[]): Array<{ entry: DiffEntry; below: number }> {
  const out: Array<{ entry: DiffEntry; below: number }> = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let j = i + 1;
    const prefix = e.path + '/';
    while (j < entries.length && entries[j]!.path.startsWith(prefix)) j++;
    const below = j - i - 1;
    const storePath = /^\/nix\/store\/[^/]+$/.test(e.path);
    if (e.type === 'dir' && (storePath || (below > COLLAPSE_OVER && !NEVER_COLLAPSE.has(e.path)))) {
      out.push({ entry: e, below });
      i = j - 1;
    } else out.push({ entry: e, below: 0 });
  }
  return out;
}

/**
 * Items grouped under their parent directory, groups in path order (`/` first). A standalone filesystem's entries
 * (`/dev/sda1:/x`) keep their device in the group name, so they never mix with the assembled root's.
 */
function groupByDir<T extends { path: string }>(items: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const dev = /^\/dev\/[^:]+:/.exec(it.path)?.[0] ?? '';
    const dir = dev + parentOf(it.path.slice(dev.length));
    const list = m.get(dir) ?? [];
    list.push(it);
    m.set(dir, list);
  }
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function entryCount(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

function dirHeading(dir: string): string {
  return visible(dir.endsWith('/') ? dir : dir + '/');
}

function entryLine(c: ChalkInstance, sign: string, color: ChalkInstance, e: DiffEntry, below: number): string {
  const name = visible(redactTokens(e.path.slice(e.path.lastIndexOf('/') + 1))) + (e.type === 'dir' ? '/' : '');
  const meta = `${modeString({ type: e.type, mode: parseInt(e.mode, 8) })} ${e.uid}:${e.gid}`;
  const link = e.target !== null ? ` -> ${visible(redactTokens(e.target))}` : '';
  const more = below > 0 ? c.dim(` (+${below} entries below)`) : '';
  return `    ${color(`${sign} ${name}${link}`)}  ${c.dim(meta)}${more}`;
}

function findingLines(c: ChalkInstance, title: string, list: Finding[], color: ChalkInstance): string[] {
  const lines = [c.bold(`${title} (${list.length})`)];
  for (const f of list) {
    lines.push(`  ${color(f.severity.padEnd(7))} ${c.bold(visible(f.path))}  ${c.dim(f.ruleId)}`, `          ${visible(f.message)}`);
  }
  return lines;
}

export function formatDiffText(d: DiffReport, color: boolean): string {
  const c = new Chalk({ level: color ? 1 : 0 });
  const lines: string[] = [c.red(`--- ${visible(d.old)}`), c.green(`+++ ${visible(d.new)}`), ''];
  for (const [title, list, sign, col] of [
    ['Added', d.added, '+', c.green],
    ['Removed', d.removed, '-', c.red],
  ] as const) {
    const rows = collapse(list);
    lines.push(c.bold(`${title} (${entryCount(list.length)})`));
    for (const [dir, items] of groupByDir(rows.map((r) => ({ path: r.entry.path, r })))) {
      lines.push(`  ${dirHeading(dir)}`);
      for (const { r } of items) lines.push(entryLine(c, sign, col, r.entry, r.below));
    }
    lines.push('');
  }
  lines.push(c.bold(`Changed (${entryCount(d.changed.length)})`));
  for (const [dir, items] of groupByDir(d.changed)) {
    lines.push(`  ${dirHeading(dir)}`);
    for (const ch of items) {
      const what = Object.entries(ch.changes).map(([k, v]) => `${k} ${visible(String(v.old ?? '(none)'))} -> ${visible(String(v.new ?? '(none)'))}`);
      lines.push(`    ${c.yellow(`~ ${visible(ch.path.slice(ch.path.lastIndexOf('/') + 1))}`)}  ${what.join(', ')}`);
    }
  }
  lines.push(c.dim(`Unchanged: ${d.unchanged} entries`), '');
  pushAll(lines, findingLines(c, 'New findings', d.findings.new, c.red)).push('');
  pushAll(lines, findingLines(c, 'Fixed findings', d.findings.fixed, c.green)).push('');
  const n = d.findings.new.length;
  const fixed = d.findings.fixed.length;
  lines.push(
    (n > 0 ? c.red.bold : c.green.bold)(
      `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed; ${n} new finding${n === 1 ? '' : 's'}, ${fixed} fixed`,
    ),
  );
  return lines.join('\n') + '\n';
}

export async function diffCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, env } = ctx;
  const [oldT, newT] = [String(args.old), String(args.new)];
  const gate = await prepareGate(ctx);
  const rules = rulesFor(gate, args);
  const host = hostIdentity(args, env, gate.config.host);
  return withImage(ctx, gate, oldT, (oldImage, log) =>
    withImage(
      ctx,
      gate,
      newT,
      async (newImage) => {
        const audit = (image: OpenedImage, t: string) =>
          phase(log, 'rules', () => auditImage(image, { rules, host, verbose: log.verbose }, t), (f) => `${t}: ${rules.length} rules, ${f.length} findings`);
        const findings = { old: await audit(oldImage, oldT), new: await audit(newImage, newT) };
        const d = await phase(
          log,
          'diff',
          () => diffImages(oldImage, newImage, { old: oldT, new: newT }, findings),
          (r) => `${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`,
        );
        const stdout = await phase(
          log,
          'report',
          () => (args.format === 'json' ? JSON.stringify(d, null, 2) + '\n' : formatDiffText(d, wantColor(ctx))),
          () => String(args.format),
        );
        const incomplete = oldImage.problems.length > 0 || newImage.problems.length > 0;
        const failOn = failOnFrom(args, gate);
        const exitCode = incomplete
          ? EXIT_INCOMPLETE
          : d.findings.new.some((f) => atOrAbove(f.severity, failOn))
            ? EXIT_FINDINGS
            : EXIT_OK;
        return { exitCode, stdout, stderr: partialNote(oldImage, oldT) + partialNote(newImage, newT) };
      },
      log,
    ),
  );
}
