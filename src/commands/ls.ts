/** `hostleak ls TARGET [PATH] [-l] [-R]`: entries from the inventory, owners named from the image's own accounts. */
import type { ImageRoot } from '../backends/backend.js';
import { loadAccounts, type Accounts } from '../engine/runtime/accounts.js';
import { createImageFs } from '../engine/runtime/imagefs.js';
import { joinPath, describeFailure } from '../inventory.js';
import type { Entry } from '../types.js';
import { RequestError } from '../errors.js';
import { EXIT_INCOMPLETE, EXIT_OK } from '../exit.js';
import { isoTime, modeString, partialNote, phase, selectRoot, withImage } from './common.js';
import { prepareGate, type CommandContext, type RunResult } from './context.js';
import { maxOf } from '../arrays.js';
import { visible } from '../escape.js';
import { redactTokens } from '../engine/kit/secrets.js';

export interface LsOptions {
  long: boolean;
  recursive: boolean;
}

function owner(accounts: Accounts, e: Entry): [string, string] {
  return [accounts.userByUid(e.uid)?.name ?? String(e.uid), accounts.groupByGid(e.gid)?.name ?? String(e.gid)];
}

function linkNote(root: ImageRoot, e: Entry): string {
  if (e.type !== 'symlink') return '';
  const r = root.inventory.resolve(e.path);
  return ` -> ${visible(redactTokens(e.target ?? ''))}${r.ok ? '' : `  [dangling: ${visible(redactTokens(describeFailure(r)))}]`}`;
}

/** Render the listing. With -R every line shows the full path (like `virt-ls -lR`), so it greps well. */
export async function ls(root: ImageRoot, path: string, opts: LsOptions): Promise<string> {
  const inv = root.inventory;
  const lstat = inv.get(path);
  if (!lstat) {
    const r = inv.resolve(path);
    throw new RequestError(`${path}: not in the image${r.ok ? '' : ` (${describeFailure(r)})`}`);
  }
  // Like ls: a symlink given as the argument is followed when it leads to a directory.
  let dir: string | null = null;
  if (lstat.type === 'dir') dir = path;
  else if (lstat.type === 'symlink') {
    const r = inv.resolve(path);
    if (r.ok && r.entry.type === 'dir' && !opts.long) dir = r.path;
  }
  const accounts = opts.long ? await loadAccounts(createImageFs(root)) : null;
  const prefix = root.prefix ? `${root.prefix}:` : '';
  const rows: string[][] = [];
  const show = (e: Entry, name: string) => {
    // -R marks folders with a slash, as `find -type d` paths would end; the root is already one.
    if (!accounts) return rows.push([visible(redactTokens(name)) + (e.type === 'dir' && opts.recursive && !name.endsWith('/') ? '/' : '')]);
    const [u, g] = owner(accounts, e);
    rows.push([modeString(e), visible(u), visible(g), String(e.size), isoTime(e.mtime), visible(redactTokens(name)) + linkNote(root, e)]);
  };
  if (dir === null) show(lstat, prefix + path);
  else if (opts.recursive) {
    show(inv.get(dir)!, prefix + dir);
    for (const e of [...inv.walk(dir)].sort((a, b) => (a.path < b.path ? -1 : 1))) show(e, prefix + e.path);
  } else {
    for (const name of inv.children(dir)) show(inv.get(joinPath(dir, name))!, name);
  }
  return alignColumns(rows);
}

/** Pad every column but the last to its widest cell; numbers (size) right-aligned. */
export function alignColumns(rows: string[][]): string {
  if (rows.length === 0) return '';
  const cols = maxOf(rows.map((r) => r.length));
  const widths = Array.from({ length: cols - 1 }, (_, i) => maxOf(rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r.map((cell, i) => (i === r.length - 1 ? cell : i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' '),
      )
      .join('\n') + '\n'
  );
}

export async function lsCommand(ctx: CommandContext): Promise<RunResult> {
  const { args } = ctx;
  const target = String(args.target);
  return withImage(ctx, await prepareGate(ctx), target, async (image, log) => {
    const { root, path: p } = selectRoot(image, String(args.path ?? '/'));
    const stdout = await phase(
      log,
      'ls',
      () => ls(root, p, { long: Boolean(args.long), recursive: Boolean(args.recursive) }),
      (out) => `${out === '' ? 0 : out.split('\n').length - 1} lines`,
    );
    return { exitCode: image.problems.length ? EXIT_INCOMPLETE : EXIT_OK, stdout, stderr: partialNote(image, target) };
  });
}
