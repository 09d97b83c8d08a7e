/** `hostleak inventory TARGET --format jsonl|csv`: every entry, one per line, for jq and grep. */
import type { ImageRoot } from '../backends/backend.js';
import type { Entry } from '../types.js';
import { EXIT_INCOMPLETE, EXIT_OK } from '../exit.js';
import { isoTime, octalMode, partialNote, phase, withImage } from './common.js';
import { prepareGate, type CommandContext, type RunResult } from './context.js';
import { csvField } from '../escape.js';
import { redactTokens } from '../engine/kit/secrets.js';

import type { InventoryFormat } from '../types.js';
export { INVENTORY_FORMATS, type InventoryFormat } from '../types.js';

const COLUMNS = ['path', 'type', 'mode', 'uid', 'gid', 'size', 'mtime', 'target', 'filesystem'] as const;

function row(root: ImageRoot, e: Entry) {
  return {
    path: redactTokens(root.prefix ? `${root.prefix}:${e.path}` : e.path),
    type: e.type,
    mode: octalMode(e.mode),
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: isoTime(e.mtime),
    target: e.target === undefined ? null : redactTokens(e.target),
    filesystem: e.fs,
  };
}

export { csvField };

export function* inventoryLines(roots: ImageRoot[], format: InventoryFormat): Generator<string> {
  if (format === 'csv') yield COLUMNS.join(',') + '\n';
  for (const root of roots) {
    for (const e of root.inventory.entries()) {
      const r = row(root, e);
      yield format === 'jsonl' ? JSON.stringify(r) + '\n' : COLUMNS.map((c) => csvField(r[c])).join(',') + '\n';
    }
  }
}

export async function inventoryCommand(ctx: CommandContext): Promise<RunResult> {
  const { args } = ctx;
  const target = String(args.target);
  return withImage(ctx, await prepareGate(ctx), target, async (image, log) => {
    const lines = await phase(
      log,
      'report',
      () => [...inventoryLines(image.roots, args.format as InventoryFormat)],
      (l) => `${args.format}, ${l.length} lines`,
    );
    return { exitCode: image.problems.length ? EXIT_INCOMPLETE : EXIT_OK, stdout: lines.join(''), stderr: partialNote(image, target) };
  });
}
