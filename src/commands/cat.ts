/** `hostleak cat TARGET PATH`: a regular file's contents, symlinks resolved inside the image. */
import type { ImageRoot } from '../backends/backend.js';
import { isBinary } from '../engine/kit/text.js';
import { describeFailure } from '../inventory.js';
import { RequestError } from '../errors.js';
import { EXIT_OK } from '../exit.js';
import { phase, selectRoot, withImage } from './common.js';
import { prepareGate, type CommandContext, type RunResult } from './context.js';

/** The largest file cat prints (a bigger one is cut, with a note on stderr). */
export const CAT_MAX_BYTES = 256 * 1024 * 1024;

export async function cat(root: ImageRoot, path: string): Promise<{ data: Buffer; truncated: boolean; resolved: string }> {
  const r = root.inventory.resolve(path);
  if (!r.ok) throw new RequestError(`${path}: does not resolve inside the image (${describeFailure(r)})`);
  const t = r.entry.type;
  if (t === 'dir') throw new RequestError(`${path}: is a directory (try: hostleak ls TARGET ${path})`);
  if (t !== 'file') throw new RequestError(`${path}: is a ${t}, not a regular file`);
  const res = await root.readFiles([r.path], Math.min(r.entry.size, CAT_MAX_BYTES));
  const c = res.get(r.path);
  if (!c || c instanceof Error) throw new RequestError(`${path}: cannot read (${c?.message ?? 'no data'})`);
  return { data: c.data, truncated: c.truncated, resolved: r.path };
}

export async function catCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, io } = ctx;
  const target = String(args.target);
  return withImage(ctx, await prepareGate(ctx), target, async (image, log) => {
    const { root, path: p } = selectRoot(image, String(args.path));
    const { data, truncated } = await phase(log, 'read', () => cat(root, p), (r) => `${r.resolved}, ${r.data.length} bytes`);
    if (isBinary(data) && (io.tty ?? io.color ?? false) && !args.force) {
      throw new RequestError(`${p}: binary data; refusing to write it to a terminal (redirect it, or add --force)`);
    }
    const note = truncated ? `hostleak: ${p}: cut at ${data.length} bytes\n` : '';
    return { exitCode: EXIT_OK, stdout: '', stdoutBytes: data, stderr: note };
  });
}
