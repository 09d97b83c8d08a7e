#!/usr/bin/env node
/** The only place that touches the real process: argv in, output and exit code out. */
import { run } from '../cli.js';
import { exitCodeOf } from '../errors.js';
import { visibleText } from '../escape.js';

try {
  const tty = process.stdout.isTTY === true;
  const result = await run(process.argv.slice(2), {
    color: tty,
    tty,
    progress: process.stderr.isTTY === true && !process.env.CI,
    columns: process.stderr.columns,
    writeStdout: (s) => process.stdout.write(s),
    writeStderr: (s) => process.stderr.write(s),
  });
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stdoutBytes) process.stdout.write(result.stdoutBytes);
  // The last guard: whatever reached stderr, no control character from an image drives the terminal.
  if (result.stderr) process.stderr.write(visibleText(result.stderr));
  process.exitCode = result.exitCode;
} catch (err) {
  process.stderr.write(`hostleak: internal error: ${visibleText(String((err as Error)?.message ?? err))}\n`);
  if (process.env.HOSTLEAK_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
  process.exitCode = exitCodeOf(err);
}
