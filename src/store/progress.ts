/**
 * Progress of a store audit. On a terminal, a one-line bar: images done of total, the current image, an ETA. Outside
 * one (cron mail, a Kubernetes or CI log), plain lines on stderr: one every N seconds and one at the end, each with
 * images done of total, how many failed and the time elapsed, so a log never stays silent for hours.
 */
import stringWidth from 'string-width';
import { visible } from '../escape.js';
import type { TargetStatus } from '../types.js';

export interface Progress {
  start(target: string): void;
  done(target: string, status?: TargetStatus): void;
  finish(): void;
}

export const NO_PROGRESS: Progress = { start() {}, done() {}, finish() {} };

function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * `line` cut by display width (a wide or combining character in a name is not one column) to fit a terminal of
 * `columns`. A terminal that reports no size (a pty nobody sized: 0 columns) counts as 80; the cut always ends.
 */
export function fitWidth(line: string, columns: number): string {
  const max = Math.max(10, (columns > 0 ? columns : 80) - 1);
  if (stringWidth(line) <= max) return line;
  let cut = line;
  while (cut.length > 0 && stringWidth(cut) > max - 1) cut = cut.slice(0, -1);
  return `${cut}…`;
}

export function terminalProgress(total: number, write: (s: string) => void, columns = 80, now = Date.now): Progress {
  const started = now();
  const running = new Set<string>();
  let finished = 0;
  const draw = () => {
    const width = 20;
    const filled = Math.round((finished / Math.max(1, total)) * width);
    const elapsed = now() - started;
    const eta = finished > 0 ? fmtDuration((elapsed / finished) * (total - finished)) : '?';
    const current = visible([...running].pop() ?? '');
    let line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${total} ETA ${eta} ${current}`;
    write(`\r\x1b[2K${fitWidth(line, columns)}`);
  };
  return {
    start(t) {
      running.add(t);
      draw();
    },
    done(t) {
      running.delete(t);
      finished++;
      draw();
    },
    finish() {
      write('\r\x1b[2K');
    },
  };
}

/** Every `everyS` seconds and at the end: `hostleak: progress: 12/96 images, 1 failed, 3m12s elapsed`. */
export function logProgress(
  total: number,
  write: (s: string) => void,
  everyS: number,
  now = Date.now,
): Progress {
  const started = now();
  let finished = 0;
  let failed = 0;
  let partial = 0;
  const line = (what: string) =>
    write(
      `hostleak: ${what}: ${finished}/${total} images, ${failed} failed${partial > 0 ? `, ${partial} partial` : ''}, ` +
        `${fmtDuration(now() - started)} elapsed\n`,
    );
  const timer = everyS > 0 ? setInterval(() => line('progress'), everyS * 1000) : null;
  timer?.unref();
  return {
    start() {},
    done(_t, status) {
      finished++;
      if (status === 'failed') failed++;
      else if (status === 'partial') partial++;
    },
    finish() {
      if (timer) clearInterval(timer);
      line('done');
    },
  };
}
