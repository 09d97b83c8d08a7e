/**
 * The CLI wired to the real process: argv in, output and exit code out. src/bin/hostleak.ts starts it (from the
 * bundled script when the build made one).
 *
 * A reader that goes away (`hostleak scan ... | head`) closes stdout: writes then fail with EPIPE. That is not an
 * error of the audit: output stops quietly, the run finishes, and the exit code is still the audit's (a gate piped
 * into `head` under `set -o pipefail` still fails on findings). No stack trace, no "internal error".
 */
import { run } from './cli.js';
import { exitCodeOf } from './exit.js';
import { visibleText } from './escape.js';

export async function main(): Promise<void> {
  let stdoutClosed = false;
  const closed = (err: NodeJS.ErrnoException) => err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED';
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!closed(err)) throw err;
    stdoutClosed = true;
  });
  // stderr gone too (`2>&-` into a closed pipe): nothing left to tell anyone.
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (!closed(err)) throw err;
  });
  const out = (s: string | Buffer) => {
    if (!stdoutClosed) process.stdout.write(s);
  };

  try {
    const tty = process.stdout.isTTY === true;
    const result = await run(process.argv.slice(2), {
      color: tty,
      tty,
      progress: process.stderr.isTTY === true && !process.env.CI && process.env.TERM !== 'dumb',
      columns: process.stdout.columns ?? process.stderr.columns,
      writeStdout: out,
      writeStderr: (s) => process.stderr.write(s),
    });
    if (result.stdout) out(result.stdout);
    if (result.stdoutBytes) out(result.stdoutBytes);
    // The last guard: whatever reached stderr, no control character from an image drives the terminal.
    if (result.stderr) process.stderr.write(visibleText(result.stderr));
    process.exitCode = result.exitCode;
  } catch (err) {
    process.stderr.write(`hostleak: internal error: ${visibleText(String((err as Error)?.message ?? err))}\n`);
    if (process.env.HOSTLEAK_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    process.exitCode = exitCodeOf(err);
  }
}
