/** A one-line progress bar for terminals: images done of total, the current image, an ETA. Never in CI logs. */
import { visible } from '../escape.js';

export interface Progress {
  start(target: string): void;
  done(target: string): void;
  finish(): void;
}

export const NO_PROGRESS: Progress = { start() {}, done() {}, finish() {} };

function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
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
    if (line.length > columns - 1) line = line.slice(0, columns - 2) + '…';
    write(`\r\x1b[2K${line}`);
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
