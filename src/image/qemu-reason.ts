/**
 * Why qemu refuses an image, in qemu's own words and without host paths: libguestfs only says "qemu-img exited with
 * error status 1" and names its temporary overlay. `qemu-img info` on the (already checked: no backing file, no
 * external data, explicit format) image says what is wrong, under a time and memory limit like any parser of hostile
 * input.
 */
import path from 'node:path';
import { childProcess } from '../lazy.js';

const TIMEOUT_MS = 10_000;
const MEMORY = String(1024 * 1024 * 1024);

/** Host paths (temp files, the prepared copy) replaced by a word, so a message names no file of this machine. */
export function scrubPaths(msg: string, known: Array<[string, string]> = []): string {
  let out = msg;
  for (const [p, word] of known) out = out.split(p).join(word);
  return out
    .replace(/'?\/[^\s':,]*(?:hostleak-|libguestfs)[^\s':,]*'?/g, '(temporary file)')
    .replace(/\s+/g, ' ')
    .trim();
}

/** qemu's one-line reason for refusing `file` as `format`, or null when qemu-img opens it (or cannot be run). */
export function qemuReason(file: string, format: string): Promise<string | null> {
  return new Promise((resolve) => {
    let err = '';
    let settled = false;
    const done = (v: string | null) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const child = childProcess().spawn('prlimit', [`--as=${MEMORY}`, '--', 'qemu-img', 'info', '-f', format, '--output=json', '--', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(null);
    }, TIMEOUT_MS);
    timer.unref?.();
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    child.on('error', () => done(null));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) return done(null);
      const line = err.split('\n').map((l) => l.trim()).find((l) => l !== '');
      if (!line) return done(null);
      // "qemu-img: Could not open '/tmp/x/image.raw': Active L1 table offset invalid" -> the reason.
      const reason = line.replace(/^qemu-img:\s*/, '').replace(/^Could not open '[^']*':\s*/, '');
      done(scrubPaths(reason, [[file, 'the image'], [path.dirname(file), '(temporary directory)']]));
    });
  });
}
