/**
 * The stable, versioned JSON report (see docs: "JSON report").
 *
 * Written in pieces so `scan --format json` can stream it: the head, each target as it is ready (in report order),
 * the tail. The pieces joined are byte for byte `JSON.stringify(report, null, 2)` plus a newline, so a streamed
 * report and a rendered one are the same file.
 */
import type { Report, TargetResult } from '../types.js';

/** Everything before the first target. */
export function jsonHead(tool: Report['tool']): string {
  return `{\n  "version": 1,\n  "tool": ${JSON.stringify(tool, null, 2).replace(/\n/g, '\n  ')},\n  "targets": [`;
}

/** One target, as the element at `index` of the targets array. */
export function jsonTarget(t: TargetResult, index: number): string {
  return `${index === 0 ? '' : ','}\n    ${JSON.stringify(t, null, 2).replace(/\n/g, '\n    ')}`;
}

/** Everything after the last of `count` targets. */
export function jsonTail(count: number): string {
  return count === 0 ? ']\n}\n' : '\n  ]\n}\n';
}

export function formatJson(report: Report): string {
  return jsonHead(report.tool) + report.targets.map(jsonTarget).join('') + jsonTail(report.targets.length);
}

/**
 * Targets finishing in any order, written in report order: a target is held only until every one before it was
 * written, so memory holds the targets still out of order, not the whole report.
 */
export class JsonStream {
  private next = 0;
  private readonly waiting = new Map<number, TargetResult>();

  constructor(
    private readonly tool: Report['tool'],
    private readonly write: (s: string) => void | Promise<void>,
  ) {}

  async add(t: TargetResult, index: number): Promise<void> {
    this.waiting.set(index, t);
    let out = '';
    for (let w = this.waiting.get(this.next); w; w = this.waiting.get(this.next)) {
      if (this.next === 0) out += jsonHead(this.tool);
      out += jsonTarget(w, this.next);
      this.waiting.delete(this.next++);
    }
    if (out) await this.write(out);
  }

  /** The tail, once every target was added. */
  async end(): Promise<void> {
    if (this.waiting.size > 0) throw new Error(`json stream: ${this.waiting.size} target(s) never written`);
    await this.write((this.next === 0 ? jsonHead(this.tool) : '') + jsonTail(this.next));
  }
}
